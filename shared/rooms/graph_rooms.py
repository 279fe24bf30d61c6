"""msgraph-sdk adapter for rooms (places), event subscriptions and calendarView delta.

The client is built with SDK retries off: a 429/503 surfaces as :class:`GraphThrottled` with its
Retry-After so the caller re-queues the work with a visibility delay instead of sleeping. Every request
holds a per-mailbox slot, so this process never has more than ``per_mailbox`` requests in flight
against one mailbox (Outlook's MailboxConcurrency limit is 4)."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from kiota_abstractions.api_error import APIError
from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph.generated.models.event import Event
from msgraph.generated.models.subscription import Subscription
from msgraph.generated.places.graph_room.graph_room_request_builder import GraphRoomRequestBuilder
from msgraph.generated.users.item.calendar_view.delta.delta_request_builder import DeltaRequestBuilder
from msgraph.graph_service_client import GraphServiceClient

from shared.rooms.ports import CreatedSubscription, DeltaPage, GraphRoom

T = TypeVar("T")

DEFAULT_RETRY_AFTER_SECONDS = 5.0
PLACES_PAGE = 100


class GraphRoomsError(Exception):
    def __init__(self, status: int | None, code: str | None, message: str = "") -> None:
        super().__init__(f"{status} {code}: {message[:200]}")
        self.status = status
        self.code = code or "unknown"


class GraphThrottled(GraphRoomsError):
    """429, or 503 with Retry-After: re-queue after ``retry_after`` seconds."""

    def __init__(self, status: int | None, code: str | None, retry_after: float) -> None:
        super().__init__(status, code, f"retry after {retry_after}s")
        self.retry_after = retry_after


class DeltaResyncRequired(GraphRoomsError):
    """410 Gone / resyncRequired / syncStateNotFound: the delta token is unusable, start over."""


class SubscriptionGone(GraphRoomsError):
    """404 on a subscription: Graph removed or expired it."""


def _header(headers: Any, name: str) -> str | None:
    if not headers:
        return None
    try:
        value = headers.get(name) or headers.get(name.lower())
    except AttributeError:
        return None
    return str(value) if value is not None else None


def translate(exc: APIError, *, subscription: bool = False) -> GraphRoomsError:
    status = exc.response_status_code
    error = getattr(exc, "error", None)
    code = str(getattr(error, "code", None) or "") or None
    retry_after = _header(exc.response_headers, "Retry-After")
    if status == 429 or (status == 503 and retry_after is not None):
        try:
            seconds = float(retry_after) if retry_after is not None else DEFAULT_RETRY_AFTER_SECONDS
        except ValueError:
            seconds = DEFAULT_RETRY_AFTER_SECONDS
        return GraphThrottled(status, code, max(0.0, seconds))
    lowered = (code or "").lower()
    if status == 410 or lowered in {"syncstatenotfound", "resyncrequired", "syncstateinvalid"}:
        return DeltaResyncRequired(status, code)
    if subscription and status == 404:
        return SubscriptionGone(status, code)
    return GraphRoomsError(status, code, str(getattr(error, "message", "") or ""))


def retry_delay_seconds(retry_after: float) -> int:
    """Queue visibility delays are whole seconds: round up, at least 1."""
    return max(1, math.ceil(retry_after))


@dataclass
class MailboxLimiter:
    """At most ``per_mailbox`` concurrent requests per mailbox in this process (one per event loop)."""

    per_mailbox: int = 4
    _slots: dict[str, asyncio.Semaphore] = field(default_factory=dict)
    _inflight: dict[str, int] = field(default_factory=dict)
    peak: int = 0

    @asynccontextmanager
    async def slot(self, mailbox: str) -> AsyncIterator[None]:
        key = mailbox.lower()
        sem = self._slots.get(key)
        if sem is None:
            sem = self._slots[key] = asyncio.Semaphore(self.per_mailbox)
        async with sem:
            self._inflight[key] = self._inflight.get(key, 0) + 1
            self.peak = max(self.peak, self._inflight[key])
            try:
                yield
            finally:
                self._inflight[key] -= 1
                if self._inflight[key] == 0:
                    del self._inflight[key]
                    if not sem.locked():
                        self._slots.pop(key, None)


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class GraphRooms:
    client: GraphServiceClient
    limiter: MailboxLimiter = field(default_factory=MailboxLimiter)
    delta_page_size: int = 100
    requests: int = 0

    async def _call(self, mailbox: str, request: Awaitable[T], *, subscription: bool = False) -> T:
        async with self.limiter.slot(mailbox):
            self.requests += 1
            try:
                return await request
            except APIError as exc:
                raise translate(exc, subscription=subscription) from exc

    async def list_rooms(self) -> list[GraphRoom]:
        builder = self.client.places.graph_room
        qp = GraphRoomRequestBuilder.GraphRoomRequestBuilderGetQueryParameters(top=PLACES_PAGE)
        page = await self._call("-places", builder.get(RequestConfiguration(query_parameters=qp)))
        rooms: list[GraphRoom] = []
        while page is not None:
            for room in page.value or []:
                if room.email_address and room.id:
                    rooms.append(
                        GraphRoom(room.id, room.email_address.lower(), room.display_name or "", room.building)
                    )
            if not page.odata_next_link:
                break
            page = await self._call("-places", builder.with_url(page.odata_next_link).get())
        return rooms

    async def delta_page(
        self,
        mailbox: str,
        user_id: str,
        *,
        url: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> DeltaPage:
        builder = self.client.users.by_user_id(user_id).calendar_view.delta
        config: RequestConfiguration[Any] = RequestConfiguration()
        config.headers.add("Prefer", f"odata.maxpagesize={self.delta_page_size}")
        if url is not None:
            request = builder.with_url(url).get(config)
        else:
            if start is None or end is None:
                raise ValueError("an initial delta round needs a window")
            config.query_parameters = DeltaRequestBuilder.DeltaRequestBuilderGetQueryParameters(
                start_date_time=_iso(start), end_date_time=_iso(end)
            )
            request = builder.get(config)
        response = await self._call(mailbox, request)
        page = DeltaPage()
        if response is None:
            return page
        for event in response.value or []:
            removed = (event.additional_data or {}).get("@removed")
            if removed is not None:
                if event.id:
                    page.removed_ids.append(event.id)
            elif isinstance(event, Event) and event.id:
                page.changed.append(event)
        page.next_link = response.odata_next_link
        page.delta_link = response.odata_delta_link
        return page

    async def create_subscription(
        self,
        mailbox: str,
        user_id: str,
        *,
        notification_url: str,
        lifecycle_url: str,
        client_state: str,
        expiration: datetime,
    ) -> CreatedSubscription:
        body = Subscription(
            change_type="created,updated,deleted",
            notification_url=notification_url,
            lifecycle_notification_url=lifecycle_url,
            resource=f"/users/{user_id}/events",
            expiration_date_time=expiration,
            client_state=client_state,
            latest_supported_tls_version="v1_2",
        )
        created = await self._call(mailbox, self.client.subscriptions.post(body))
        if created is None or not created.id:
            raise GraphRoomsError(None, "emptyResponse", "subscription create returned no id")
        return CreatedSubscription(created.id, created.expiration_date_time or expiration)

    async def renew_subscription(self, mailbox: str, subscription_id: str, expiration: datetime) -> datetime:
        """PATCH expirationDateTime: renews and, as Graph documents, also reauthorizes."""
        builder = self.client.subscriptions.by_subscription_id(subscription_id)
        updated = await self._call(
            mailbox, builder.patch(Subscription(expiration_date_time=expiration)), subscription=True
        )
        return (updated.expiration_date_time if updated else None) or expiration

    async def delete_subscription(self, mailbox: str, subscription_id: str) -> None:
        builder = self.client.subscriptions.by_subscription_id(subscription_id)
        with suppress(SubscriptionGone):
            await self._call(mailbox, builder.delete(), subscription=True)
