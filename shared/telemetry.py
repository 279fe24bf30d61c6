"""OpenTelemetry: instruments, trace context across queues, and HTTP client metrics for Graph and IBSS.

Exported to Azure Monitor only when ``APPLICATIONINSIGHTS_CONNECTION_STRING`` is set; otherwise the
API's no-op providers are used and nothing is sent (spans are not recording, messages carry no
``traceparent``). Metric names are fixed: infra/app/monitoring.bicep and the workbook query them.

One trace per change: the HTTP intake opens a span and writes its W3C ``traceparent`` into the queue
message; the queue worker continues that trace (:func:`consumer_span`), the reconciler adds its spans and
the httpx instrumentation adds one client span per Graph or IBSS request. URLs of exported spans are
redacted (no query strings, no mailbox addresses in paths).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Literal

from opentelemetry import metrics, trace
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.context import Context
from opentelemetry.sdk.trace import Event, ReadableSpan, SpanProcessor
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util.types import AttributeValue

from shared.logs import redact

log = logging.getLogger(__name__)

INSTRUMENTATION_NAME = "ibss_m365_sync"
_meter = metrics.get_meter(INSTRUMENTATION_NAME)
tracer = trace.get_tracer(INSTRUMENTATION_NAME)

# ---------------------------------------------------------------------------------------------- metrics
notifications_accepted = _meter.create_counter(
    "notifications_accepted", description="Graph change/lifecycle notifications accepted and enqueued"
)
notifications_rejected = _meter.create_counter(
    "notifications_rejected", description="Graph notifications dropped at intake, by reason"
)
hooks_accepted = _meter.create_counter("ibss_hooks_accepted", description="IBSS booking hooks accepted")
hooks_rejected = _meter.create_counter(
    "ibss_hooks_rejected", description="IBSS booking hooks rejected, by reason"
)
poison_messages = _meter.create_counter(
    "poison_messages", description="Queue messages moved to a poison queue, by queue and reason"
)
sync_propagation_lag_ms = _meter.create_histogram(
    "sync_propagation_lag_ms",
    unit="ms",
    description="From the modification time of a booking or room event to our write on the other side",
)
sync_conflicts = _meter.create_counter(
    "sync_conflicts", description="Fields changed differently on both sides (dimensions: kind, room)"
)
echoes_suppressed = _meter.create_counter(
    "echoes_suppressed", description="Changes recognised as our own writes coming back (no write made)"
)
graph_requests = _meter.create_counter("graph_requests", description="HTTP requests sent to Microsoft Graph")
graph_throttled = _meter.create_counter(
    "graph_throttled", description="Graph answers that asked us to slow down (429, 503 with Retry-After)"
)
ibss_requests = _meter.create_counter("ibss_requests", description="HTTP requests sent to the IBSS API")
ibss_throttled = _meter.create_counter(
    "ibss_throttled", description="IBSS answers that asked us to slow down (429, 503 with Retry-After)"
)
subscriptions_near_expiry = _meter.create_gauge(
    "subscriptions_near_expiry",
    description="Graph subscriptions expiring within NEAR_EXPIRY_HOURS (renewal is overdue)",
)
ibss_feeds_stale = _meter.create_gauge(
    "ibss_feeds_stale",
    description="Buildings whose IBSS change feed has not polled successfully for 15 minutes",
)
subscription_renewal_failed = _meter.create_counter(
    "subscription_renewal_failed", description="Graph subscription renewals or re-creations that failed"
)
sync_jobs = _meter.create_counter("sync_jobs", description="Sync queue jobs by kind and outcome")

NEAR_EXPIRY_HOURS = 12.0

# ---------------------------------------------------------------------------------------- trace context
_PROPAGATOR = TraceContextTextMapPropagator()


def current_traceparent() -> str | None:
    """The W3C traceparent of the current span, for a queue message; None when nothing is recording."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier.get("traceparent")


def context_from(traceparent: str | None) -> Context | None:
    """The parent context a queue worker continues (None: a new trace)."""
    if not traceparent:
        return None
    return _PROPAGATOR.extract({"traceparent": traceparent})


@contextmanager
def consumer_span(
    name: str, traceparent: str | None, attributes: Mapping[str, AttributeValue] | None = None
) -> Iterator[Span]:
    """A queue worker's span, continuing the trace of the message's producer. Exceptions are recorded on
    the span and re-raised (the host's retry and poison semantics stay)."""
    with tracer.start_as_current_span(
        name, context=context_from(traceparent), kind=SpanKind.CONSUMER, attributes=attributes
    ) as span:
        yield span


def mark_error(span: Span, exc: BaseException) -> None:
    span.set_status(Status(StatusCode.ERROR, type(exc).__name__))


# ------------------------------------------------------------------------------------ propagation lag
@dataclass
class LagCapture:
    """The lags recorded while a job ran (for its sync event row)."""

    values_ms: list[float] = field(default_factory=list)

    @property
    def max_ms(self) -> float | None:
        return max(self.values_ms) if self.values_ms else None


_lag_capture: ContextVar[LagCapture | None] = ContextVar("lag_capture", default=None)


@contextmanager
def capture_propagation_lag() -> Iterator[LagCapture]:
    capture = LagCapture()
    token = _lag_capture.set(capture)
    try:
        yield capture
    finally:
        _lag_capture.reset(token)


def record_propagation_lag(lag_ms: float, direction: Literal["ibss_to_outlook", "outlook_to_ibss"]) -> None:
    value = max(0.0, lag_ms)
    sync_propagation_lag_ms.record(value, {"direction": direction})
    capture = _lag_capture.get()
    if capture is not None:
        capture.values_ms.append(value)


# ------------------------------------------------------------------------------- HTTP client telemetry
_MAILBOX_SEGMENT = re.compile(r"[^/()']*(?:@|%40)[^/()']*", re.IGNORECASE)
_URL_ATTRIBUTES = ("url.full", "http.url", "http.target", "url.path", "url.query")


def redact_url(url: str) -> str:
    """A URL fit for telemetry: no query string, mailbox addresses in the path replaced."""
    without_query = url.split("?", 1)[0].split("#", 1)[0]
    scheme_host, sep, path = without_query.partition("://")
    if sep:
        host, slash, rest = path.partition("/")
        return f"{scheme_host}://{host}{slash}{_MAILBOX_SEGMENT.sub('{mailbox}', rest)}"
    return _MAILBOX_SEGMENT.sub("{mailbox}", without_query)


@dataclass
class _ApiPrefixes:
    ibss: str | None = None
    graph: str | None = None

    def classify(self, url: str) -> Literal["ibss", "graph"] | None:
        if self.ibss and url.startswith(self.ibss):
            return "ibss"
        if self.graph and url.startswith(self.graph):
            return "graph"
        return None


_prefixes = _ApiPrefixes()


def _prefix(base_url: str | None) -> str | None:
    return base_url.rstrip("/") + "/" if base_url else None


def _is_throttle(status: int, headers: Any) -> bool:
    """429 and 503 ("repeat the request after a delay", Graph's errors page), a 504 that names a wait."""
    if status in (429, 503):
        return True
    try:
        return status == 504 and headers is not None and "retry-after" in headers
    except TypeError:
        return False


def _on_request(span: Span, request: Any) -> None:
    api = _prefixes.classify(str(request.url))
    if api is None:
        return
    method = str(request.method.decode() if isinstance(request.method, bytes) else request.method)
    (ibss_requests if api == "ibss" else graph_requests).add(1, {"method": method})
    if span.is_recording():
        span.update_name(f"{api.upper()} {method}")
        span.set_attribute("peer.service", api)


def _on_response(span: Span, request: Any, response: Any) -> None:
    api = _prefixes.classify(str(request.url))
    if api is None:
        return
    status = int(response.status_code)
    if _is_throttle(status, response.headers):
        (ibss_throttled if api == "ibss" else graph_throttled).add(1, {"status_code": status})


async def _on_request_async(span: Span, request: Any) -> None:
    _on_request(span, request)


async def _on_response_async(span: Span, request: Any, response: Any) -> None:
    _on_response(span, request, response)


def instrument_http_clients(ibss_base_url: str | None, graph_base_url: str | None) -> None:
    """Spans for every httpx request, and the graph_/ibss_ request and throttle counters.

    Requests are attributed by URL prefix (the IBSS base URL, the Graph base URL with its version path,
    so token requests are not counted). Idempotent: later calls only update the prefixes."""
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor  # noqa: PLC0415 - optional

    _prefixes.ibss = _prefix(ibss_base_url)
    _prefixes.graph = _prefix(graph_base_url)
    instrumentor = HTTPXClientInstrumentor()
    if not instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.instrument(
            request_hook=_on_request,
            response_hook=_on_response,
            async_request_hook=_on_request_async,
            async_response_hook=_on_response_async,
        )


def uninstrument_http_clients() -> None:
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor  # noqa: PLC0415

    instrumentor = HTTPXClientInstrumentor()
    if instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.uninstrument()


class RedactingSpanProcessor(SpanProcessor):
    """Rewrites URL attributes of ended spans (ours, httpx's, kiota's) before any exporter sees them:
    Graph paths hold mailbox addresses and IBSS queries can hold owner addresses. Register it before
    the exporting processor."""

    def on_end(self, span: ReadableSpan) -> None:
        self._clean_exceptions(span)
        attrs = span.attributes or {}
        if not any(isinstance(attrs.get(k), str) for k in _URL_ATTRIBUTES):
            return
        cleaned: dict[str, AttributeValue] = dict(attrs)
        for key in _URL_ATTRIBUTES:
            value = cleaned.get(key)
            if isinstance(value, str):
                cleaned[key] = "" if key == "url.query" else redact_url(value)
        # Ended spans are immutable through the API; the SDK documents no other hook to edit them.
        span._attributes = BoundedAttributes(attributes=cleaned, immutable=True)

    @staticmethod
    def _clean_exceptions(span: ReadableSpan) -> None:
        """Recorded exceptions (message, stack trace) and the error status carry the failed call's text."""
        events = []
        for event in span.events:
            attrs = dict(event.attributes or {})
            for key in ("exception.message", "exception.stacktrace"):
                value = attrs.get(key)
                if isinstance(value, str):
                    attrs[key] = redact(value)
            events.append(Event(event.name, attrs, event.timestamp))
        span._events = tuple(events)
        description = span.status.description
        if description:
            span._status = Status(span.status.status_code, redact(description))


# --------------------------------------------------------------------------------------- configuration
_configured = False


def configure_telemetry() -> bool:
    """Wire azure-monitor-opentelemetry if APPLICATIONINSIGHTS_CONNECTION_STRING is set; else send nothing."""
    global _configured  # noqa: PLW0603 - process-wide, idempotent switch
    if _configured or not os.environ.get("APPLICATIONINSIGHTS_CONNECTION_STRING"):
        return _configured
    from azure.monitor.opentelemetry import configure_azure_monitor  # noqa: PLC0415 - heavy, optional

    credential = None
    if "Authorization=AAD" in os.environ.get("APPLICATIONINSIGHTS_AUTHENTICATION_STRING", ""):
        # App Insights has local auth disabled in our infra: the exporter must present an Entra token.
        from azure.identity import ManagedIdentityCredential  # noqa: PLC0415

        credential = ManagedIdentityCredential(client_id=os.environ.get("AZURE_CLIENT_ID"))
    configure_azure_monitor(
        logger_name="ibss_m365_sync",
        credential=credential,
        span_processors=[RedactingSpanProcessor()],
        # httpx is instrumented below, with the hooks that count Graph and IBSS requests.
        instrumentation_options={"httpx": {"enabled": False}},
    )
    instrument_http_clients(
        os.environ.get("IBSS_BASE_URL"),
        os.environ.get("GRAPH_BASE_URL", "https://graph.microsoft.com/v1.0"),
    )
    _configured = True
    logging.getLogger(__name__).info("telemetry exporting to Azure Monitor")
    return True
