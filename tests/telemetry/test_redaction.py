"""What leaves the process in spans (URLs without queries or mailbox addresses) and trace continuation."""

from __future__ import annotations

import sys

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from shared import telemetry
from shared.logs import redact


def test_urls_lose_queries_and_mailboxes() -> None:
    assert (
        telemetry.redact_url(
            "https://graph.microsoft.com/v1.0/users/alice@contoso.example/events/AAMk=?$select=x"
        )
        == "https://graph.microsoft.com/v1.0/users/{mailbox}/events/AAMk="
    )
    assert telemetry.redact_url("http://h:1/v1.0/users('a%40b.example')/events") == (
        "http://h:1/v1.0/users('{mailbox}')/events"
    )
    assert telemetry.redact_url("/v2/1001/bookings?$filter=Owner eq 'bob@x.example'") == "/v2/1001/bookings"


def test_processor_rewrites_url_attributes_before_export() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()  # a private provider: the global one belongs to the session fixture
    provider.add_span_processor(telemetry.RedactingSpanProcessor())
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with provider.get_tracer("t").start_as_current_span("GET") as span:
        span.set_attribute("url.full", "https://g/v1.0/users/room@contoso.example/calendar/events?x=1")
        span.set_attribute("http.status_code", 200)
    (done,) = exporter.get_finished_spans()
    assert done.attributes == {
        "url.full": "https://g/v1.0/users/{mailbox}/calendar/events",
        "http.status_code": 200,
    }


def test_worker_span_continues_the_trace_of_the_message() -> None:
    assert telemetry.context_from(None) is None
    parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    with telemetry.consumer_span("job", parent) as span:
        assert format(span.get_span_context().trace_id, "032x") == "0af7651916cd43dd8448eb211c80319c"


# What an IBSS client error looked like: the request URL inside the exception's text.
FAILED_CALL = (
    "Client error '404 Not Found' for url "
    "'http://ibss.example/v2/userpreferences/dave%40contoso.example?$select=x&key=k1'"
)


def test_exception_texts_lose_addresses_and_query_strings() -> None:
    cleaned = redact(f"{FAILED_CALL}; owner Bob.Smith@Contoso.example refused")
    assert "contoso" not in cleaned.lower()
    assert "key=k1" not in cleaned
    assert "$select" not in cleaned
    assert cleaned == (
        "Client error '404 Not Found' for url 'http://ibss.example/v2/userpreferences/{address}'; "
        "owner {address} refused"
    )
    assert redact("no address here: 3 of 4 at 10:00") == "no address here: 3 of 4 at 10:00"


def test_processor_rewrites_exception_events_and_status_before_export() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(telemetry.RedactingSpanProcessor())
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    try:
        with provider.get_tracer("t").start_as_current_span("job"):
            raise RuntimeError(FAILED_CALL)
    except RuntimeError:
        pass
    (done,) = exporter.get_finished_spans()
    exported = repr([dict(e.attributes or {}) for e in done.events]) + str(done.status.description)
    assert "exception.message" in exported
    assert "contoso" not in exported
    assert "key=k1" not in exported


def test_log_lines_lose_addresses_in_messages_extras_and_tracebacks() -> None:
    import logging  # noqa: PLC0415

    from shared.logs import JsonFormatter  # noqa: PLC0415

    try:
        raise RuntimeError(FAILED_CALL)
    except RuntimeError as exc:
        record = logging.LogRecord("t", logging.ERROR, __file__, 1, "failed: %s", (exc,), sys.exc_info())
    record.reason = FAILED_CALL
    line = JsonFormatter().format(record)
    assert "contoso" not in line
    assert "key=k1" not in line
    assert "{address}" in line
