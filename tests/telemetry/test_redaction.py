"""What leaves the process in spans (URLs without queries or mailbox addresses) and trace continuation."""

from __future__ import annotations

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from shared import telemetry


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
