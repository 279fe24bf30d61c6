"""The Outlook side of a reconcile over msgraph-sdk: snapshots to read, plan actions to carry out."""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TypeVar

from msgraph.generated.models.event import Event

from shared.graph.calendar import GraphCalendar
from shared.graph.errors import (
    GraphForbidden,
    GraphNotFound,
    GraphPreconditionFailed,
    GraphThrottled,
    RoomBusy,
    translate,
)
from shared.graph.mapping import to_organizer_snapshot, to_room_snapshot
from shared.graph.outlook_writer import OutlookWriter
from shared.sync import GONE, UNREAD, Observed, OrganizerEventSnapshot, Present, RoomEventSnapshot
from shared.sync.plan import AcceptRoomEvent, CancelMeeting, CreateMeeting, DeclineRoomEvent, UpdateMeeting
from shared.worker.errors import OrganizerWithoutMailbox, RetryAfter, RoomUnavailable, StaleRead
from shared.worker.reconciler import MeetingWritten

T = TypeVar("T")


async def _graph(call: Awaitable[T]) -> T:
    """Run a Graph call, turning throttling into a re-queue and stale versions into a re-read."""
    try:
        return await call
    except Exception as exc:
        error = translate(exc)
        if isinstance(error, GraphThrottled):
            raise RetryAfter(error.retry_after, str(error)) from exc
        if isinstance(error, GraphPreconditionFailed):
            raise StaleRead(str(error)) from exc
        if isinstance(error, RoomBusy):
            raise RoomUnavailable(str(error)) from exc
        if error is not None and error is not exc:
            raise error from exc
        raise


@dataclass
class GraphOutlookSide:
    calendar: GraphCalendar
    writer: OutlookWriter

    async def _read(self, call: Awaitable[Event | None]) -> Observed[Event]:
        try:
            event = await _graph(call)
        except GraphNotFound as exc:
            return UNREAD if exc.mailbox_missing else GONE
        except GraphForbidden:
            return UNREAD  # a mailbox outside the app's scope: we cannot know, so we do not act
        return Present(event) if event is not None else GONE

    async def room_event(self, room_mailbox: str, event_id: str) -> Observed[RoomEventSnapshot]:
        found = await self._read(self.calendar.get_event(room_mailbox, event_id))
        return Present(to_room_snapshot(found.value, room_mailbox)) if isinstance(found, Present) else found

    async def room_event_by_uid(self, room_mailbox: str, ical_uid: str) -> Observed[RoomEventSnapshot]:
        found = await self._read(self.calendar.find_by_ical_uid(room_mailbox, ical_uid))
        return Present(to_room_snapshot(found.value, room_mailbox)) if isinstance(found, Present) else found

    async def organizer_event(self, mailbox: str, ical_uid: str) -> Observed[OrganizerEventSnapshot]:
        found = await self._read(self.calendar.find_by_ical_uid(mailbox, ical_uid))
        return Present(to_organizer_snapshot(found.value, mailbox)) if isinstance(found, Present) else found

    async def apply(
        self,
        action: CreateMeeting | UpdateMeeting | CancelMeeting | DeclineRoomEvent | AcceptRoomEvent,
        based_on_change_key: str | None = None,
    ) -> MeetingWritten | None:
        if_match = f'W/"{based_on_change_key}"' if based_on_change_key else None
        try:
            result = await _graph(self.writer.apply(action, if_match=if_match))
        except GraphNotFound as exc:
            if exc.mailbox_missing and isinstance(action, CreateMeeting) and not action.organizer_is_room:
                raise OrganizerWithoutMailbox(action.target_mailbox) from exc
            raise
        if result is None or not result.event_id:
            return None
        return MeetingWritten(
            event_id=result.event_id, ical_uid=result.ical_uid or "", change_key=result.change_key or ""
        )
