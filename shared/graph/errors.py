"""Typed Graph errors for the calendar adapter, converted from msgraph/kiota exceptions.

kiota raises ``APIError`` (msgraph's ``ODataError`` is a subclass) for every non-2xx response that
the middleware did not absorb. ``HttpxRequestAdapter`` fills ``response_status_code`` and
``response_headers`` (the ``httpx.Headers`` of the final response, case-insensitive), so the
``Retry-After`` of a 429/503 that the retry handler gave back is readable here. When a throttling
response carries no ``Retry-After`` (Graph documents that this can happen), ``GraphThrottled`` uses
``DEFAULT_RETRY_AFTER_SECONDS`` and sets ``retry_after_from_header=False`` so callers can back off
exponentially instead.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
from kiota_abstractions.api_error import APIError

DEFAULT_RETRY_AFTER_SECONDS = 5.0  # 429/503 without a usable Retry-After header


class GraphError(Exception):
    """A Graph call failed. ``status`` is the HTTP status (None for transport failures)."""

    retryable = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.request_id = request_id

    def __str__(self) -> str:
        parts = [self.message]
        if self.status is not None:
            parts.append(f"status {self.status}")
        if self.code:
            parts.append(f"code {self.code}")
        return " | ".join(parts)


class GraphNotFound(GraphError):
    """404: the item (``ErrorItemNotFound``) or the mailbox (``ErrorInvalidUser``) does not exist."""

    @property
    def mailbox_missing(self) -> bool:
        return (self.code or "").lower() in {"errorinvaliduser", "mailboxnotenabledforrestapi"}


class GraphPreconditionFailed(GraphError):
    """412 (``ErrorIrresolvableConflict``): the If-Match change key is stale. Re-read and re-decide."""


class GraphThrottled(GraphError):
    """429/503 (or 504) the retry handler gave back: re-queue the work after ``retry_after`` seconds."""

    retryable = True

    def __init__(
        self,
        message: str,
        *,
        retry_after: float,
        retry_after_from_header: bool = True,
        status: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message, status=status, code=code, request_id=request_id)
        self.retry_after = retry_after
        self.retry_after_from_header = retry_after_from_header


class GraphForbidden(GraphError):
    """403 (``ErrorAccessDenied``, "Access to OData is disabled." for out-of-scope mailboxes)."""


class GraphUnauthorized(GraphForbidden):
    """401: the token was refused (a credential or clock problem, not a permission scope)."""


class GraphBadRequest(GraphError):
    """Other 4xx: the request is wrong (400, 405, 409, 415, 422 ...); retrying will not help."""


class GraphServerError(GraphError):
    """5xx other than throttling, or a transport failure (timeout, connection reset): retry later."""

    retryable = True


class RoomBusy(GraphError):
    """Room mode: the room's calendar already holds an overlapping meeting; nothing was written."""

    def __init__(self, room_mailbox: str, conflicting_event_ids: tuple[str, ...]) -> None:
        super().__init__("the room is already booked for this time", status=None, code="RoomBusy")
        self.room_mailbox = room_mailbox
        self.conflicting_event_ids = conflicting_event_ids


_NUMBER = re.compile(r"^\s*\d+(?:\.\d+)?\s*$")


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds from a ``Retry-After`` value: decimal seconds (Graph sends ``2.128``) or an HTTP date."""
    if value is None:
        return None
    text = value.strip()
    if _NUMBER.match(text):
        return max(0.0, float(text))
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _header(headers: Any, name: str) -> str | None:
    if headers is None:
        return None
    if isinstance(headers, httpx.Headers):
        found = headers.get(name)
        return None if found is None else str(found)
    if isinstance(headers, Mapping):
        for key, value in headers.items():
            if str(key).lower() == name.lower():
                return str(value) if not isinstance(value, list | tuple | set) else str(next(iter(value)))
    return None


def _odata_details(exc: APIError) -> tuple[str | None, str | None]:
    """(code, message) of an ``ODataError`` body, when the SDK parsed one."""
    main = getattr(exc, "error", None)
    code = getattr(main, "code", None)
    message = getattr(main, "message", None)
    return (str(code) if code else None), (str(message) if message else None)


def from_api_error(exc: APIError) -> GraphError:
    """The typed error for a kiota ``APIError``/msgraph ``ODataError``."""
    status = exc.response_status_code
    code, detail = _odata_details(exc)
    headers = exc.response_headers
    request_id = _header(headers, "request-id")
    message = detail or exc.message or type(exc).__name__
    kw: dict[str, Any] = {"status": status, "code": code, "request_id": request_id}
    if status in (429, 503, 504):
        parsed = parse_retry_after(_header(headers, "Retry-After"))
        # Graph documents 503 as "repeat the request after a delay, which may be given in Retry-After":
        # throttling with or without the header. A 504 is only throttling when it names a wait.
        if status in (429, 503) or parsed is not None:
            return GraphThrottled(
                message,
                retry_after=parsed if parsed is not None else DEFAULT_RETRY_AFTER_SECONDS,
                retry_after_from_header=parsed is not None,
                **kw,
            )
        return GraphServerError(message, **kw)
    if status == 404:
        return GraphNotFound(message, **kw)
    if status == 412:
        return GraphPreconditionFailed(message, **kw)
    if status == 401:
        return GraphUnauthorized(message, **kw)
    if status == 403:
        return GraphForbidden(message, **kw)
    if status is not None and 400 <= status < 500:
        return GraphBadRequest(message, **kw)
    return GraphServerError(message, **kw)


def translate(exc: BaseException) -> GraphError | None:
    """The typed error for an SDK or transport exception, or None when it is not a Graph failure."""
    if isinstance(exc, GraphError):
        return exc
    if isinstance(exc, APIError):
        return from_api_error(exc)
    if isinstance(exc, httpx.TransportError):
        return GraphServerError(f"transport failure: {type(exc).__name__}")
    return None


@asynccontextmanager
async def graph_errors() -> AsyncIterator[None]:
    """``async with graph_errors(): await client...`` raises typed errors instead of SDK ones."""
    try:
        yield
    except (APIError, httpx.TransportError) as exc:
        typed = translate(exc)
        assert typed is not None
        raise typed from exc
