"""Async IBSS REST client (httpx).

Usage::

    async with IbssClient("https://api.ibss.example.iconics.cloud", api_key) as ibss:
        async for booking in ibss.iter_bookings(1001, space_id="HQ-1-AURORA", start=t0, end=t1):
            ...

Retries: 429, 502, 503, 504 and transport errors are retried up to ``RetryPolicy.max_retries`` times,
honouring ``Retry-After`` (seconds or HTTP date) and otherwise backing off exponentially with jitter.
A POST (create) is only retried when the request cannot have been processed (429, 503, connection
refused / connect timeout), so that a booking is never created twice. When a wait would exceed
``RetryPolicy.max_retry_after`` or the call's total ``RetryPolicy.max_total_wait``, the client does not
sleep but raises :class:`IbssThrottled` with ``retry_after`` (an Azure Function re-queues the work
instead of sleeping). The API key is never logged and is hidden from ``repr``.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Generic, Self, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ValidationError

from shared.ibss import fields
from shared.ibss.errors import (
    IbssError,
    IbssHttpError,
    IbssInvalidResponse,
    IbssNotFound,
    IbssServerError,
    IbssThrottled,
    IbssTimeout,
    IbssTransportError,
    error_class_for,
)
from shared.ibss.models import (
    Booking,
    BookingCreate,
    BookingPartyRow,
    BookingPolicy,
    BookingSeries,
    BookingSeriesCreate,
    BookingSeriesUpdate,
    BookingStatus,
    BookingUpdate,
    Building,
    Space,
    UserPreferences,
    Visit,
    VisitCreate,
    VisitUpdate,
)
from shared.ibss.odata import Clause, build_filter

logger = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)

RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})
# Statuses after which a non-idempotent POST certainly was not processed.
_POST_SAFE_STATUSES = frozenset({429, 503})
_MAX_PAGES = 100_000


@dataclass(frozen=True)
class RetryPolicy:
    """How the client retries transient failures.

    ``max_retry_after``: the longest single wait the client will sleep; ``max_total_wait``: the most it
    sleeps in one call. Beyond either, :class:`IbssThrottled` is raised with ``retry_after`` set.
    Set both to 0 for a worker that must never sleep.
    """

    max_retries: int = 3
    backoff_initial: float = 0.5
    backoff_max: float = 8.0
    max_retry_after: float = 30.0
    max_total_wait: float = 60.0
    jitter: float = 0.2

    def backoff(self, attempt: int) -> float:
        base = min(self.backoff_max, self.backoff_initial * (2.0**attempt))
        return base * (1.0 + random.uniform(0.0, self.jitter)) if self.jitter else base


@dataclass
class Page(Generic[M]):
    """One server page: its items and the ``@odata.nextLink`` (None on the last page)."""

    items: list[M]
    next_link: str | None = None


@dataclass
class _CallStats:
    attempts: int = 0
    waited: float = 0.0
    waits: list[float] = field(default_factory=list)


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds (delta-seconds or HTTP date); None when absent or unparseable."""
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


def _seg(value: str | int) -> str:
    return quote(str(value), safe="")


class IbssClient:
    """Async client of the IBSS v2 REST API. Use as an async context manager."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float | httpx.Timeout = 15.0,
        max_retries: int | None = None,
        retry_policy: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        user_agent: str = "ibss-m365-sync/0.1",
    ) -> None:
        if not api_key:
            raise ValueError("api_key is required")
        policy = retry_policy or RetryPolicy()
        if max_retries is not None:
            policy = RetryPolicy(
                max_retries=max_retries,
                backoff_initial=policy.backoff_initial,
                backoff_max=policy.backoff_max,
                max_retry_after=policy.max_retry_after,
                max_total_wait=policy.max_total_wait,
                jitter=policy.jitter,
            )
        self.retry_policy = policy
        self._base = httpx.URL(base_url.rstrip("/") + "/")
        self._sleep = sleep
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers={
                fields.AUTH_HEADER: f"{fields.AUTH_SCHEME} {api_key}",
                "Accept": "application/json",
                "User-Agent": user_agent,
            },
            timeout=timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout),
            transport=transport,
            follow_redirects=False,
        )

    def __repr__(self) -> str:
        return f"IbssClient(base_url={str(self._base)!r}, api_key='***')"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # ------------------------------------------------------------------------------------------
    # Transport, retries, errors
    # ------------------------------------------------------------------------------------------
    async def _request(
        self,
        method: str,
        url: str,
        *,
        params: dict[str, str] | None = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        policy = self.retry_policy
        stats = _CallStats()
        idempotent = method.upper() != "POST"
        while True:
            stats.attempts += 1
            retry_after: float | None = None
            status: int | None = None
            try:
                resp = await self._http.request(method, url, params=params, json=json, headers=headers)
            except httpx.TimeoutException as exc:
                not_sent = isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout)
                error: IbssError = IbssTimeout(
                    f"request timed out ({type(exc).__name__})", method=method, url=self._safe_url(url)
                )
                retryable = idempotent or not_sent
            except httpx.TransportError as exc:
                not_sent = isinstance(exc, httpx.ConnectError)
                error = IbssTransportError(
                    f"transport error ({type(exc).__name__})", method=method, url=self._safe_url(url)
                )
                retryable = idempotent or not_sent
            else:
                logger.debug("IBSS %s %s -> %s", method, resp.request.url.path, resp.status_code)
                if resp.status_code < 400:
                    return resp
                status = resp.status_code
                error = self._error_from(resp)
                retry_after = parse_retry_after(resp.headers.get(fields.RETRY_AFTER_HEADER))
                retryable = status in RETRYABLE_STATUSES and (idempotent or status in _POST_SAFE_STATUSES)
            if not retryable:
                raise error
            wait = retry_after if retry_after is not None else policy.backoff(stats.attempts - 1)
            if stats.attempts > policy.max_retries:
                if isinstance(error, IbssThrottled | IbssServerError) and error.retry_after is None:
                    error.retry_after = wait
                raise error
            if wait > policy.max_retry_after or stats.waited + wait > policy.max_total_wait:
                raise IbssThrottled(
                    f"IBSS asked to wait {wait:.1f}s, more than the retry policy allows",
                    retry_after=wait,
                    status=status,
                    reason=error.reason,
                    method=method,
                    url=self._safe_url(url),
                ) from error
            logger.info(
                "IBSS %s %s failed (%s); retry %d/%d in %.2fs",
                method,
                self._safe_url(url),
                status if status is not None else type(error).__name__,
                stats.attempts,
                policy.max_retries,
                wait,
            )
            await self._sleep(wait)
            stats.waited += wait
            stats.waits.append(wait)

    def _safe_url(self, url: str) -> str:
        return str(self._base.join(url.lstrip("/")).copy_with(query=None))

    def _error_from(self, resp: httpx.Response) -> IbssHttpError:
        status = resp.status_code
        reason: str | None = None
        details: Any = None
        message = resp.reason_phrase or f"HTTP {status}"
        try:
            body = resp.json()
        except ValueError:
            text = resp.text.strip()
            if text:
                message = text[:300]
        else:
            if isinstance(body, dict):
                msg = body.get(fields.ERROR_MESSAGE)
                if isinstance(msg, str) and msg:
                    message = msg
                rsn = body.get(fields.ERROR_REASON)
                reason = rsn if isinstance(rsn, str) else None
                details = body.get(fields.ERROR_DETAILS)
        cls = error_class_for(status)
        kwargs: dict[str, Any] = {
            "status": status,
            "reason": reason,
            "details": details,
            "method": resp.request.method,
            "url": str(resp.request.url.copy_with(query=None)),
        }
        if cls in (IbssThrottled, IbssServerError):
            kwargs["retry_after"] = parse_retry_after(resp.headers.get(fields.RETRY_AFTER_HEADER))
        return cls(message, **kwargs)

    @staticmethod
    def _json(resp: httpx.Response) -> Any:
        try:
            return resp.json()
        except ValueError as exc:
            raise IbssInvalidResponse(
                "IBSS response is not JSON",
                status=resp.status_code,
                method=resp.request.method,
                url=str(resp.request.url.copy_with(query=None)),
            ) from exc

    @staticmethod
    def _parse(model: type[M], data: Any, resp: httpx.Response) -> M:
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5]
            )
            raise IbssInvalidResponse(
                f"IBSS returned an invalid {model.__name__}: {problems}",
                status=resp.status_code,
                method=resp.request.method,
                url=str(resp.request.url.copy_with(query=None)),
            ) from exc

    async def _get_one(self, model: type[M], url: str) -> M:
        resp = await self._request("GET", url)
        return self._booking_with_etag(self._parse(model, self._json(resp), resp), resp)

    @staticmethod
    def _booking_with_etag(obj: M, resp: httpx.Response) -> M:
        if isinstance(obj, Booking) and obj.etag is None and resp.headers.get(fields.ETAG_HEADER):
            obj.etag = resp.headers[fields.ETAG_HEADER]
        return obj

    def _check_next_link(self, link: Any, resp: httpx.Response) -> str | None:
        if link is None:
            return None
        if not isinstance(link, str) or not link:
            raise IbssInvalidResponse(f"{fields.ODATA_NEXT_LINK} is not a string", status=resp.status_code)
        target = self._base.join(link)
        if (target.scheme, target.host, target.port) != (self._base.scheme, self._base.host, self._base.port):
            # Never send the API key to another origin.
            raise IbssInvalidResponse(
                f"{fields.ODATA_NEXT_LINK} points to another origin ({target.host})", status=resp.status_code
            )
        return str(target)

    async def _page(self, model: type[M], url: str, params: dict[str, str] | None) -> Page[M]:
        resp = await self._request("GET", url, params=params)
        body = self._json(resp)
        if not isinstance(body, dict) or not isinstance(body.get(fields.ODATA_VALUE), list):
            raise IbssInvalidResponse(
                f"IBSS page has no '{fields.ODATA_VALUE}' list", status=resp.status_code, method="GET"
            )
        items = [self._parse(model, item, resp) for item in body[fields.ODATA_VALUE]]
        return Page(items=items, next_link=self._check_next_link(body.get(fields.ODATA_NEXT_LINK), resp))

    async def _iter_pages(
        self, model: type[M], url: str, params: dict[str, str] | None
    ) -> AsyncGenerator[Page[M], None]:
        seen: set[str] = set()
        next_url: str | None = url
        next_params = params
        for _ in range(_MAX_PAGES):
            if next_url is None:
                return
            page = await self._page(model, next_url, next_params)
            yield page
            if page.next_link is not None and page.next_link in seen:
                raise IbssInvalidResponse(f"{fields.ODATA_NEXT_LINK} repeats a page: paging loop")
            if page.next_link is not None:
                seen.add(page.next_link)
            next_url, next_params = page.next_link, None
        raise IbssInvalidResponse(f"more than {_MAX_PAGES} pages")

    @staticmethod
    def _list_params(clauses: Sequence[Clause], page_size: int | None) -> dict[str, str]:
        params: dict[str, str] = {}
        flt = build_filter(list(clauses))
        if flt:
            params[fields.ODATA_FILTER] = flt
        if page_size is not None:
            params[fields.ODATA_TOP] = str(page_size)
        return params

    # ------------------------------------------------------------------------------------------
    # Buildings, spaces, policies
    # ------------------------------------------------------------------------------------------
    async def list_buildings(self) -> list[Building]:
        return [
            b async for page in self._iter_pages(Building, fields.PATH_BUILDINGS, None) for b in page.items
        ]

    async def get_building(self, node_id: int) -> Building:
        return await self._get_one(Building, fields.PATH_BUILDING.format(node_id=_seg(node_id)))

    async def iter_spaces(
        self, node_id: int, *, space_type: str | None = None, page_size: int | None = None
    ) -> AsyncGenerator[Space, None]:
        clauses = [Clause(fields.SPACE_TYPE, "eq", space_type)] if space_type else []
        url = fields.PATH_SPACES.format(node_id=_seg(node_id))
        async for page in self._iter_pages(Space, url, self._list_params(clauses, page_size)):
            for space in page.items:
                yield space

    async def list_spaces(
        self, node_id: int, *, space_type: str | None = None, page_size: int | None = None
    ) -> list[Space]:
        return [s async for s in self.iter_spaces(node_id, space_type=space_type, page_size=page_size)]

    async def get_space(self, node_id: int, space_id: str) -> Space:
        return await self._get_one(
            Space, fields.PATH_SPACE.format(node_id=_seg(node_id), space_id=_seg(space_id))
        )

    async def list_booking_policies(
        self, node_id: int, *, page_size: int | None = None
    ) -> list[BookingPolicy]:
        url = fields.PATH_BOOKING_POLICIES.format(node_id=_seg(node_id))
        params = self._list_params([], page_size)
        return [p async for page in self._iter_pages(BookingPolicy, url, params) for p in page.items]

    async def get_space_policy(self, node_id: int, space_id: str) -> BookingPolicy | None:
        """The booking policy assigned to a space (None when the space has none)."""
        space = await self.get_space(node_id, space_id)
        if not space.policy_id:
            return None
        for policy in await self.list_booking_policies(node_id):
            if policy.id == space.policy_id:
                return policy
        raise IbssNotFound(f"booking policy {space.policy_id!r} of space {space_id!r} not found", status=404)

    # ------------------------------------------------------------------------------------------
    # Bookings
    # ------------------------------------------------------------------------------------------
    @staticmethod
    def booking_clauses(
        *,
        space_id: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        status: BookingStatus | str | None = None,
        series_id: str | None = None,
        owner_email: str | None = None,
        modified_since: datetime | None = None,
        ext_ref: str | None = None,
    ) -> list[Clause]:
        """Filter clauses: bookings overlapping [start, end) of a space, etc."""
        clauses: list[Clause] = []
        if space_id is not None:
            clauses.append(Clause(fields.BOOKING_SPACE_ID, "eq", space_id))
        if end is not None:
            clauses.append(Clause(fields.BOOKING_START, "lt", end))
        if start is not None:
            clauses.append(Clause(fields.BOOKING_END, "gt", start))
        if status is not None:
            clauses.append(Clause(fields.BOOKING_STATUS, "eq", str(status)))
        if series_id is not None:
            clauses.append(Clause(fields.BOOKING_SERIES_ID, "eq", series_id))
        if owner_email is not None:
            clauses.append(Clause(fields.BOOKING_OWNER_EMAIL, "eq", owner_email))
        if modified_since is not None:
            clauses.append(Clause(fields.BOOKING_MODIFIED, "ge", modified_since))
        if ext_ref is not None:
            clauses.append(Clause(fields.BOOKING_EXT_REF, "eq", ext_ref))
        return clauses

    async def iter_booking_pages(
        self,
        node_id: int,
        *,
        space_id: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        status: BookingStatus | str | None = None,
        series_id: str | None = None,
        owner_email: str | None = None,
        modified_since: datetime | None = None,
        page_size: int | None = None,
        next_link: str | None = None,
        ext_ref: str | None = None,
    ) -> AsyncGenerator[Page[Booking], None]:
        """Bookings of a building page by page; pass a saved ``next_link`` to resume."""
        if next_link is not None:
            url = self._check_next_link(next_link, httpx.Response(200)) or next_link
            params = None
        else:
            url = fields.PATH_BOOKINGS.format(node_id=_seg(node_id))
            clauses = self.booking_clauses(
                space_id=space_id,
                start=start,
                end=end,
                status=status,
                series_id=series_id,
                owner_email=owner_email,
                modified_since=modified_since,
                ext_ref=ext_ref,
            )
            params = self._list_params(clauses, page_size)
        async for page in self._iter_pages(Booking, url, params):
            yield page

    async def iter_bookings(
        self,
        node_id: int,
        *,
        space_id: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        status: BookingStatus | str | None = None,
        series_id: str | None = None,
        owner_email: str | None = None,
        modified_since: datetime | None = None,
        page_size: int | None = None,
        ext_ref: str | None = None,
    ) -> AsyncGenerator[Booking, None]:
        async for page in self.iter_booking_pages(
            node_id,
            space_id=space_id,
            start=start,
            end=end,
            status=status,
            series_id=series_id,
            owner_email=owner_email,
            modified_since=modified_since,
            page_size=page_size,
            ext_ref=ext_ref,
        ):
            for booking in page.items:
                yield booking

    async def list_bookings(
        self,
        node_id: int,
        *,
        space_id: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        status: BookingStatus | str | None = None,
        series_id: str | None = None,
        owner_email: str | None = None,
        modified_since: datetime | None = None,
        page_size: int | None = None,
        ext_ref: str | None = None,
    ) -> list[Booking]:
        """All bookings matching the filter, following ``@odata.nextLink`` across pages."""
        return [
            b
            async for b in self.iter_bookings(
                node_id,
                space_id=space_id,
                start=start,
                end=end,
                status=status,
                series_id=series_id,
                owner_email=owner_email,
                modified_since=modified_since,
                page_size=page_size,
                ext_ref=ext_ref,
            )
        ]

    def _booking_url(self, node_id: int, booking_id: str, template: str = fields.PATH_BOOKING) -> str:
        return template.format(node_id=_seg(node_id), booking_id=_seg(booking_id))

    async def _booking_call(
        self, method: str, url: str, *, body: Any = None, etag: str | None = None
    ) -> Booking:
        headers = {fields.IF_MATCH_HEADER: etag} if etag else None
        resp = await self._request(method, url, json=body, headers=headers)
        return self._booking_with_etag(self._parse(Booking, self._json(resp), resp), resp)

    async def get_booking(self, node_id: int, booking_id: str) -> Booking:
        return await self._booking_call("GET", self._booking_url(node_id, booking_id))

    async def create_booking(self, node_id: int, booking: BookingCreate) -> Booking:
        url = fields.PATH_BOOKINGS.format(node_id=_seg(node_id))
        return await self._booking_call("POST", url, body=booking.to_wire())

    async def update_booking(
        self, node_id: int, booking_id: str, changes: BookingUpdate, *, etag: str | None = None
    ) -> Booking:
        """PATCH the set fields. Pass ``etag`` (``booking.etag``) for optimistic concurrency: a stale
        ETag raises :class:`IbssPreconditionFailed`."""
        body = changes.to_wire(exclude_unset=True)
        return await self._booking_call("PATCH", self._booking_url(node_id, booking_id), body=body, etag=etag)

    async def cancel_booking(
        self, node_id: int, booking_id: str, *, etag: str | None = None, reason: str | None = None
    ) -> Booking:
        """Cancel (``DELETE``); the booking stays readable with status Cancelled and the reason."""
        url = self._booking_url(node_id, booking_id)
        if reason:
            url = str(httpx.URL(url).copy_add_param(fields.BOOKING_CANCEL_REASON, reason[:500]))
        return await self._booking_call("DELETE", url, etag=etag)

    async def check_in(self, node_id: int, booking_id: str) -> Booking:
        return await self._booking_call(
            "PUT", self._booking_url(node_id, booking_id, fields.PATH_BOOKING_CHECKIN)
        )

    async def check_out(self, node_id: int, booking_id: str) -> Booking:
        return await self._booking_call(
            "PUT", self._booking_url(node_id, booking_id, fields.PATH_BOOKING_CHECKOUT)
        )

    # ------------------------------------------------------------------------------------------
    # Series
    # ------------------------------------------------------------------------------------------
    async def _series_call(self, method: str, url: str, body: Any = None) -> BookingSeries:
        resp = await self._request(method, url, json=body)
        return self._parse(BookingSeries, self._json(resp), resp)

    async def create_series(self, node_id: int, series: BookingSeriesCreate) -> BookingSeries:
        """Create one booking per occurrence, all sharing a new ``Booking_Series_Id`` (all or nothing)."""
        url = fields.PATH_SERIES.format(node_id=_seg(node_id))
        return await self._series_call("POST", url, series.to_wire())

    async def update_series(
        self, node_id: int, series_id: str, changes: BookingSeriesUpdate
    ) -> BookingSeries:
        """Apply changes to every occurrence that has not started and is not cancelled."""
        url = fields.PATH_SERIES_ITEM.format(node_id=_seg(node_id), series_id=_seg(series_id))
        return await self._series_call("PATCH", url, changes.to_wire(exclude_unset=True))

    async def cancel_series(self, node_id: int, series_id: str) -> BookingSeries:
        """Cancel every occurrence that has not started and is not cancelled."""
        url = fields.PATH_SERIES_ITEM.format(node_id=_seg(node_id), series_id=_seg(series_id))
        return await self._series_call("DELETE", url)

    # ------------------------------------------------------------------------------------------
    # Parties and visitors
    # ------------------------------------------------------------------------------------------
    async def list_booking_parties(
        self,
        node_id: int,
        *,
        booking_id: str | None = None,
        email: str | None = None,
        page_size: int | None = None,
    ) -> list[BookingPartyRow]:
        url = fields.PATH_BOOKING_PARTIES.format(node_id=_seg(node_id))
        equal = {fields.BOOKING_ID: booking_id, fields.PARTY_EMAIL: email}
        return await self._list_where(BookingPartyRow, url, equal, page_size)

    async def list_visits(
        self,
        node_id: int,
        *,
        booking_id: str | None = None,
        email: str | None = None,
        page_size: int | None = None,
    ) -> list[Visit]:
        url = fields.PATH_VISITS.format(node_id=_seg(node_id))
        equal = {fields.VISIT_BOOKING_ID: booking_id, fields.VISITOR_EMAIL: email}
        return await self._list_where(Visit, url, equal, page_size)

    async def _list_where(
        self, model: type[M], url: str, equal: dict[str, str | None], page_size: int | None
    ) -> list[M]:
        """Every item of a paged list whose fields equal the given values (None: no condition)."""
        clauses = [Clause(name, "eq", value) for name, value in equal.items() if value is not None]
        params = self._list_params(clauses, page_size)
        return [item async for page in self._iter_pages(model, url, params) for item in page.items]

    async def get_visit(self, node_id: int, visit_id: str) -> Visit:
        return await self._get_one(
            Visit, fields.PATH_VISIT.format(node_id=_seg(node_id), visit_id=_seg(visit_id))
        )

    async def get_user_preferences(self, email: str) -> UserPreferences:
        """A person's preferences (IbssNotFound when IBSS keeps none for them)."""
        return await self._get_one(UserPreferences, fields.PATH_USER_PREFERENCES.format(email=_seg(email)))

    async def update_visit(self, node_id: int, visit_id: str, changes: VisitUpdate) -> Visit:
        url = fields.PATH_VISIT.format(node_id=_seg(node_id), visit_id=_seg(visit_id))
        resp = await self._request("PATCH", url, json=changes.to_wire(exclude_unset=True))
        return self._parse(Visit, self._json(resp), resp)

    async def create_visit(self, node_id: int, visit: VisitCreate) -> Visit:
        url = fields.PATH_VISITS.format(node_id=_seg(node_id))
        resp = await self._request("POST", url, json=visit.to_wire())
        return self._parse(Visit, self._json(resp), resp)


__all__ = ["IbssClient", "Page", "RetryPolicy", "parse_retry_after"]
