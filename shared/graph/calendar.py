"""``GraphCalendar``: the Graph calendar port the sync workers use (msgraph-sdk, app-only).

Every call is one Graph request (kiota's retry handler may repeat it for short waits, see
``worker_client_settings``); errors come out as the typed ``shared.graph.errors`` exceptions.
Reads always ``$select`` ``EVENT_SELECT`` (never body, bodyPreview or attachments), expand only the
booking id marker and ask for UTC times (``Prefer: outlook.timezone="UTC"``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kiota_abstractions.base_request_configuration import RequestConfiguration
from kiota_abstractions.headers_collection import HeadersCollection
from msgraph.generated.models.event import Event
from msgraph.generated.models.event_collection_response import EventCollectionResponse
from msgraph.generated.users.item.calendar_view.calendar_view_request_builder import (
    CalendarViewRequestBuilder,
)
from msgraph.generated.users.item.events.events_request_builder import EventsRequestBuilder
from msgraph.generated.users.item.events.item.accept.accept_post_request_body import AcceptPostRequestBody
from msgraph.generated.users.item.events.item.cancel.cancel_post_request_body import CancelPostRequestBody
from msgraph.generated.users.item.events.item.decline.decline_post_request_body import DeclinePostRequestBody
from msgraph.generated.users.item.events.item.event_item_request_builder import EventItemRequestBuilder
from msgraph.generated.users.item.events.item.instances.instances_request_builder import (
    InstancesRequestBuilder,
)
from msgraph.graph_service_client import GraphServiceClient

from shared.graph.client import GraphClientSettings
from shared.graph.errors import GraphNotFound, graph_errors
from shared.graph.mapping import (
    EVENT_SELECT,
    MARKER_EXPAND,
    PREFER_UTC,
    marker_filter,
    marker_of,
    odata_literal,
    parse_graph_time,
)
from shared.sync.normalize import iso_utc

# Queue workers: retry a 429/503/504 in-process only when the wait is short, otherwise hand the
# Retry-After to the caller (GraphThrottled) so it can re-enqueue with a visibility delay.
WORKER_MAX_RETRIES = 2
WORKER_MAX_RETRY_AFTER_SECONDS = 2.0


def worker_client_settings(settings: GraphClientSettings) -> GraphClientSettings:
    """``settings`` with the adapter's retry policy: ≤ 2 retries, each after ≤ 2 s, no base delay."""
    return settings.model_copy(
        update={
            "max_retries": WORKER_MAX_RETRIES,
            "retry_delay_seconds": 0.0,
            "max_retry_after_seconds": WORKER_MAX_RETRY_AFTER_SECONDS,
        }
    )


def _headers(*pairs: tuple[str, str]) -> HeadersCollection:
    headers = HeadersCollection()
    headers.add("Prefer", PREFER_UTC)
    for name, value in pairs:
        headers.add(name, value)
    return headers


@dataclass(frozen=True, slots=True)
class BusySlot:
    """An item that holds the room in a window (for the room-mode free check)."""

    event_id: str
    ical_uid: str | None
    start: datetime
    end: datetime
    booking_id_marker: str | None


class GraphCalendar:
    """Event reads and writes in user and room mailboxes (``/users/{mailbox}/events``)."""

    def __init__(self, client: GraphServiceClient, page_size: int = 50) -> None:
        self._client = client
        self._page_size = page_size

    # ------------------------------------------------------------------ reads

    async def get_event(self, mailbox: str, event_id: str) -> Event | None:
        """The event with the marker expanded; None when the item does not exist (404)."""
        query = EventItemRequestBuilder.EventItemRequestBuilderGetQueryParameters(
            select=list(EVENT_SELECT), expand=[MARKER_EXPAND]
        )
        try:
            async with graph_errors():
                return (
                    await self._events(mailbox)
                    .by_event_id(event_id)
                    .get(
                        request_configuration=RequestConfiguration(headers=_headers(), query_parameters=query)
                    )
                )
        except GraphNotFound as exc:
            if exc.mailbox_missing:
                raise
            return None

    async def find_by_ical_uid(self, mailbox: str, ical_uid: str) -> Event | None:
        """This mailbox's copy of a meeting (single instance or series master) by iCalUId.

        Occurrences have their own iCalUId and are not listed by ``/events``: read those with
        ``calendar_view`` and match ``i_cal_u_id``.
        """
        return await self._find_one(mailbox, f"iCalUId eq {odata_literal(ical_uid)}")

    async def find_by_marker(self, mailbox: str, booking_id: str) -> Event | None:
        """The event carrying our booking id marker (recovery after lost state)."""
        return await self._find_one(mailbox, marker_filter(booking_id))

    async def _find_one(self, mailbox: str, odata_filter: str) -> Event | None:
        query = EventsRequestBuilder.EventsRequestBuilderGetQueryParameters(
            filter=odata_filter, select=list(EVENT_SELECT), expand=[MARKER_EXPAND], top=2
        )
        async with graph_errors():
            page = await self._events(mailbox).get(
                request_configuration=RequestConfiguration(headers=_headers(), query_parameters=query)
            )
        items = (page.value if page else None) or []
        # Prefer a live item when a cancelled copy with the same key is still in the calendar.
        items.sort(key=lambda e: bool(e.is_cancelled))
        return items[0] if items else None

    async def calendar_view(self, mailbox: str, start: datetime, end: datetime) -> list[Event]:
        """Single instances, occurrences and exceptions overlapping [start, end), all pages."""
        query = CalendarViewRequestBuilder.CalendarViewRequestBuilderGetQueryParameters(
            start_date_time=iso_utc(start),
            end_date_time=iso_utc(end),
            select=list(EVENT_SELECT),
            expand=[MARKER_EXPAND],
            top=self._page_size,
        )
        builder = self._client.users.by_user_id(mailbox).calendar_view
        return await self._all_pages(builder, query)

    async def _all_pages(self, builder: Any, query: Any) -> list[Event]:
        """Every page of an event collection (calendarView, instances), following @odata.nextLink."""
        out: list[Event] = []
        async with graph_errors():
            page: EventCollectionResponse | None = await builder.get(
                request_configuration=RequestConfiguration(headers=_headers(), query_parameters=query)
            )
            while page is not None:
                out.extend(page.value or [])
                if not page.odata_next_link:
                    break
                page = await builder.with_url(page.odata_next_link).get(
                    request_configuration=RequestConfiguration(headers=_headers())
                )
        return out

    async def instances(self, mailbox: str, master_id: str, start: datetime, end: datetime) -> list[Event]:
        """GET /users/{mailbox}/events/{master}/instances: a series' occurrences and exceptions in
        [start, end), all pages (cancelled occurrences are not listed)."""
        query = InstancesRequestBuilder.InstancesRequestBuilderGetQueryParameters(
            start_date_time=iso_utc(start),
            end_date_time=iso_utc(end),
            select=list(EVENT_SELECT),
            top=self._page_size,
        )
        builder = self._events(mailbox).by_event_id(master_id).instances
        return await self._all_pages(builder, query)

    async def busy_slots(
        self,
        room_mailbox: str,
        start: datetime,
        end: datetime,
        *,
        ignore_ical_uids: Sequence[str] = (),
        ignore_marker: str | None = None,
    ) -> list[BusySlot]:
        """Items that hold the room in [start, end): not cancelled, not shown as free, not ignored."""
        busy: list[BusySlot] = []
        for ev in await self.calendar_view(room_mailbox, start, end):
            marker = marker_of(ev)
            show_as = getattr(ev.show_as, "value", ev.show_as)
            if ev.is_cancelled or show_as == "free" or not ev.id:
                continue
            if ev.i_cal_u_id and ev.i_cal_u_id in ignore_ical_uids:
                continue
            if ignore_marker is not None and marker == ignore_marker:
                continue
            s, e = parse_graph_time(ev.start), parse_graph_time(ev.end)
            if s < end and e > start:
                busy.append(BusySlot(ev.id, ev.i_cal_u_id, s, e, marker))
        return busy

    # ------------------------------------------------------------------ writes

    async def create_event(self, mailbox: str, body: Event, transaction_id: str) -> Event:
        """POST /users/{mailbox}/events with ``transactionId``: a repeated create returns the first event."""
        body.transaction_id = transaction_id
        async with graph_errors():
            created = await self._events(mailbox).post(
                body, request_configuration=RequestConfiguration(headers=_headers())
            )
        if created is None:  # pragma: no cover - Graph always answers 201 with the event
            raise GraphNotFound("create returned no event", status=201)
        return created

    async def update_event(self, mailbox: str, event_id: str, patch: Event, if_match: str | None) -> Event:
        """PATCH the event; ``if_match`` (``@odata.etag`` or changeKey) makes a stale write a 412."""
        extra = (("If-Match", if_match),) if if_match else ()
        async with graph_errors():
            updated = (
                await self._events(mailbox)
                .by_event_id(event_id)
                .patch(patch, request_configuration=RequestConfiguration(headers=_headers(*extra)))
            )
        if updated is None:  # pragma: no cover
            raise GraphNotFound("update returned no event", status=200)
        return updated

    async def cancel_event(self, mailbox: str, event_id: str, comment: str) -> None:
        """Organizer cancel: attendees (and rooms) get the cancellation with ``comment``."""
        async with graph_errors():
            await (
                self._events(mailbox)
                .by_event_id(event_id)
                .cancel.post(CancelPostRequestBody(comment=comment))
            )

    async def delete_event(self, mailbox: str, event_id: str, if_match: str | None = None) -> None:
        """DELETE (an organizer's delete also sends cancellations)."""
        extra = (("If-Match", if_match),) if if_match else ()
        async with graph_errors():
            await (
                self._events(mailbox)
                .by_event_id(event_id)
                .delete(request_configuration=RequestConfiguration(headers=_headers(*extra)))
            )

    async def decline_event(
        self, mailbox: str, event_id: str, comment: str, send_response: bool = True
    ) -> None:
        """The mailbox (a room) declines its copy; with ``send_response`` the organizer is told."""
        async with graph_errors():
            await (
                self._events(mailbox)
                .by_event_id(event_id)
                .decline.post(DeclinePostRequestBody(comment=comment, send_response=send_response))
            )

    async def accept_event(
        self, mailbox: str, event_id: str, comment: str, send_response: bool = True
    ) -> None:
        """The mailbox (a room) accepts its copy; with ``send_response`` the organizer gets the comment."""
        async with graph_errors():
            await (
                self._events(mailbox)
                .by_event_id(event_id)
                .accept.post(AcceptPostRequestBody(comment=comment, send_response=send_response))
            )

    # ------------------------------------------------------------------ helpers

    def _events(self, mailbox: str) -> EventsRequestBuilder:
        return self._client.users.by_user_id(mailbox).events
