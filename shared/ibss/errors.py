"""Typed errors of the IBSS client. Every failure the client raises is an :class:`IbssError`."""

from __future__ import annotations

from typing import Any


class IbssError(Exception):
    """Base of every IBSS client error.

    ``status`` is the HTTP status (``None`` for transport errors), ``reason`` the machine-readable
    reason from the error body when present, ``details`` any structured details from the body.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        reason: str | None = None,
        details: Any = None,
        method: str | None = None,
        url: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.reason = reason
        self.details = details
        self.method = method
        self.url = url

    def __str__(self) -> str:
        where = f" ({self.method} {self.url})" if self.method and self.url else ""
        status = f"HTTP {self.status}: " if self.status is not None else ""
        reason = f"[{self.reason}] " if self.reason else ""
        return f"{status}{reason}{self.message}{where}"


class IbssHttpError(IbssError):
    """An HTTP error status without a more specific class (e.g. 405, 422)."""


class IbssBadRequest(IbssHttpError):
    """400: the request breaks a validation or platform rule (past start, booking policy, ...)."""


class IbssUnauthorized(IbssHttpError):
    """401: missing or wrong API key."""


class IbssForbidden(IbssHttpError):
    """403: the application user may not act on this node or resource."""


class IbssNotFound(IbssHttpError):
    """404: unknown node, space, booking, series or visit."""


class IbssConflict(IbssHttpError):
    """409: the space is already booked, or the booking's state forbids the action."""


class IbssPreconditionFailed(IbssHttpError):
    """412: optimistic concurrency: the ``If-Match`` ETag is stale (someone else changed the booking)."""


class IbssThrottled(IbssHttpError):
    """429 (or a retryable status whose wait exceeds the retry policy): try again after ``retry_after``.

    A worker that must not sleep (an Azure Function) re-queues the work with this delay.
    """

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class IbssServerError(IbssHttpError):
    """5xx from IBSS after retries were exhausted."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class IbssTransportError(IbssError):
    """The request did not get an HTTP response (connection refused, reset, DNS, ...)."""


class IbssTimeout(IbssTransportError):
    """The request timed out."""


class IbssInvalidResponse(IbssError):
    """IBSS answered with something the client cannot accept (not JSON, wrong shape, foreign nextLink)."""


class IbssHookVerificationError(IbssError):
    """A booking hook failed Standard Webhooks verification or has an invalid body."""


STATUS_ERRORS: dict[int, type[IbssHttpError]] = {
    400: IbssBadRequest,
    401: IbssUnauthorized,
    403: IbssForbidden,
    404: IbssNotFound,
    409: IbssConflict,
    412: IbssPreconditionFailed,
    429: IbssThrottled,
}


def error_class_for(status: int) -> type[IbssHttpError]:
    if status >= 500:
        return IbssServerError
    return STATUS_ERRORS.get(status, IbssHttpError)
