"""``OutlookWriter``: carries out the Outlook-side actions of a ``SyncPlan`` through ``GraphCalendar``.

What goes on the wire (one Graph request per action unless noted):

* ``CreateMeeting``, owner mode: ``POST /users/{owner}/events`` with the people as required
  attendees, the room as ``resource`` attendee and as ``location``/``locations``
  (``locationEmailAddress``), the booking id marker, ``transactionId`` and, for online meetings,
  ``isOnlineMeeting``/``onlineMeetingProvider=teamsForBusiness``. The room's attendant makes the room
  copy; its id is learnt from the room mailbox's notification (or with ``resolve_room_copy=True``:
  one more GET).
* ``CreateMeeting``, room mode: ``POST /users/{room}/events`` (the room organizes; people invited;
  the room only as location). With ``require_room_free``, first ``GET /users/{room}/calendarView`` for
  the slot (2 requests); an overlapping live item raises ``RoomBusy`` and nothing is written. Our own
  earlier create of the same booking (marker) is not a conflict, so a retried create stays idempotent.
* ``UpdateMeeting``: ``PATCH /users/{mailbox}/events/{id}`` with only the changed fields. Attendee
  and room changes rewrite Graph's full attendee/location lists, so they need the current event: pass
  the ``Event`` the worker already read (``current=``) or the writer GETs it first (2 requests). When
  the writer has the current event it sends ``If-Match`` with its etag, so a concurrent Outlook edit
  gives ``GraphPreconditionFailed`` (re-read and re-decide) instead of being overwritten.
  Owner-mode room move: the old room's resource attendee and location entry are replaced by the new
  room's; Exchange cancels the old room's copy and the new room's attendant accepts or declines.
  A room move of a room-organized meeting (``target.role == "room"``) cannot be a PATCH (the meeting
  lives in the old room's mailbox): the core plans it as ``CancelMeeting`` + ``CreateMeeting`` and the
  writer refuses such an ``UpdateMeeting`` with ``UnsupportedAction``. ``require_room_free`` (room
  mode, new times) checks the room's calendarView first, ignoring the meeting itself.
* ``CancelMeeting``: ``POST .../events/{id}/cancel`` with the comment (organizer cancel; attendees and
  the room get the cancellation).
* ``DeclineRoomEvent``: ``POST /users/{room}/events/{id}/decline`` with the comment and
  ``sendResponse=true`` (the organizer sees the room declined; the room is freed).
* ``AcceptRoomEvent``: ``POST /users/{room}/events/{id}/accept`` with the comment and
  ``sendResponse=true`` (the room keeps the meeting; the organizer gets a response with the comment).

Cancel, decline and accept of an item that is already gone (404) count as done (``already_done=True``): a
re-dispatched outbox entry must not fail forever.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from msgraph.generated.models.event import Event

from shared.graph.calendar import GraphCalendar
from shared.graph.errors import GraphNotFound, RoomBusy
from shared.graph.mapping import create_body, etag_of, needs_current, parse_graph_time, patch_body
from shared.sync.normalize import normalize_email
from shared.sync.plan import AcceptRoomEvent, CancelMeeting, CreateMeeting, DeclineRoomEvent, UpdateMeeting

OutlookAction = CreateMeeting | UpdateMeeting | CancelMeeting | DeclineRoomEvent | AcceptRoomEvent


class UnsupportedAction(ValueError):
    """The action cannot be carried out as given (e.g. a room move of a room-organized meeting)."""


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What the caller records after an Outlook write."""

    kind: str  # the action's kind
    mailbox: str  # the mailbox written
    event_id: str | None  # the written event's id in ``mailbox``
    ical_uid: str | None = None
    change_key: str | None = None  # after our write: the base's organizer/room change key
    etag: str | None = None
    room_event_id: str | None = None  # the room's copy when known (room mode: the event itself)
    already_done: bool = False  # cancel/decline of an item that was already gone


class OutlookWriter:
    def __init__(self, calendar: GraphCalendar, *, resolve_room_copy: bool = False) -> None:
        self.calendar = calendar
        self.resolve_room_copy = resolve_room_copy

    async def apply(
        self, action: OutlookAction, current: Event | None = None, if_match: str | None = None
    ) -> WriteResult:
        """Carry out one action. ``current``: the target event as the worker read it (saves a GET).
        ``if_match``: the etag the decision was based on; an update then fails (412) if the person changed
        the meeting since, instead of overwriting their edit."""
        if isinstance(action, CreateMeeting):
            return await self.create_meeting(action)
        if isinstance(action, UpdateMeeting):
            return await self.update_meeting(action, current, if_match)
        if isinstance(action, CancelMeeting):
            return await self.cancel_meeting(action)
        if isinstance(action, AcceptRoomEvent):
            return await self.accept_room_event(action)
        return await self.decline_room_event(action)

    # ------------------------------------------------------------------ create

    async def create_meeting(self, action: CreateMeeting) -> WriteResult:
        mailbox = normalize_email(action.target_mailbox)
        room = normalize_email(action.room_mailbox)
        if action.organizer_is_room and mailbox != room:
            raise UnsupportedAction("a room-organized meeting must be created in the room's mailbox")
        if action.require_room_free:
            busy = await self.calendar.busy_slots(
                room, action.start, action.end, ignore_marker=action.booking_id_marker
            )
            if busy:
                raise RoomBusy(room, tuple(b.event_id for b in busy))
        created = await self.calendar.create_event(mailbox, create_body(action), action.transaction_id)
        room_event_id: str | None = created.id if action.organizer_is_room else None
        if room_event_id is None and self.resolve_room_copy and created.i_cal_u_id:
            copy = await self.calendar.find_by_ical_uid(room, created.i_cal_u_id)
            room_event_id = copy.id if copy is not None else None
        return WriteResult(
            kind=action.kind,
            mailbox=mailbox,
            event_id=created.id,
            ical_uid=created.i_cal_u_id,
            change_key=created.change_key,
            etag=etag_of(created),
            room_event_id=room_event_id,
        )

    # ------------------------------------------------------------------ update

    async def update_meeting(
        self, action: UpdateMeeting, current: Event | None = None, if_match: str | None = None
    ) -> WriteResult:
        target = action.target
        changes = action.changes
        mailbox = normalize_email(target.mailbox)
        if target.event_id is None:
            raise UnsupportedAction("the target event id is not known yet")
        if target.role == "room" and changes.room is not None:
            raise UnsupportedAction(
                "a room-organized meeting cannot move rooms by PATCH: cancel it and create it in the new room"
            )
        if current is not None and current.id not in (None, target.event_id):
            raise UnsupportedAction("current is not the target event")
        check_room = action.require_room_free and (changes.start is not None or changes.end is not None)
        both_times = changes.start is not None and changes.end is not None
        if current is None and (needs_current(changes) or (check_room and not both_times)):
            current = await self.calendar.get_event(mailbox, target.event_id)
            if current is None:
                raise GraphNotFound("the meeting to update is gone", status=404, code="ErrorItemNotFound")
        if check_room:
            room = mailbox if target.role == "room" else (changes.room.new if changes.room else None)
            if room is not None:
                start = changes.start or parse_graph_time(current.start if current else None)
                end = changes.end or parse_graph_time(current.end if current else None)
                own = [current.i_cal_u_id] if current is not None and current.i_cal_u_id else []
                busy = [
                    b
                    for b in await self.calendar.busy_slots(room, start, end, ignore_ical_uids=own)
                    if b.event_id != target.event_id
                ]
                if busy:
                    raise RoomBusy(room, tuple(b.event_id for b in busy))
        patch = patch_body(changes, current, organizer_mailbox=mailbox)
        if_match = if_match or (etag_of(current) if current is not None else None)
        updated = await self.calendar.update_event(mailbox, target.event_id, patch, if_match)
        return WriteResult(
            kind=action.kind,
            mailbox=mailbox,
            event_id=updated.id or target.event_id,
            ical_uid=updated.i_cal_u_id,
            change_key=updated.change_key,
            etag=etag_of(updated),
            room_event_id=updated.id if target.role == "room" else None,
        )

    # ------------------------------------------------------------------ cancel / decline

    async def cancel_meeting(self, action: CancelMeeting) -> WriteResult:
        target = action.target
        mailbox = normalize_email(target.mailbox)
        if target.event_id is None:
            raise UnsupportedAction("the target event id is not known yet")
        try:
            await self.calendar.cancel_event(mailbox, target.event_id, action.comment)
        except GraphNotFound as exc:
            if exc.mailbox_missing:
                raise
            return WriteResult(action.kind, mailbox, target.event_id, already_done=True)
        return WriteResult(action.kind, mailbox, target.event_id)

    async def decline_room_event(self, action: DeclineRoomEvent) -> WriteResult:
        return await self._room_reply(action, self.calendar.decline_event)

    async def accept_room_event(self, action: AcceptRoomEvent) -> WriteResult:
        return await self._room_reply(action, self.calendar.accept_event)

    async def _room_reply(
        self, action: DeclineRoomEvent | AcceptRoomEvent, reply: Callable[..., Awaitable[None]]
    ) -> WriteResult:
        """The room answers its copy with a comment the organizer sees; a copy already gone is done."""
        room = normalize_email(action.room_mailbox)
        try:
            await reply(room, action.event_id, action.comment, send_response=True)
        except GraphNotFound as exc:
            if exc.mailbox_missing:
                raise
            return WriteResult(
                action.kind, room, action.event_id, room_event_id=action.event_id, already_done=True
            )
        return WriteResult(action.kind, room, action.event_id, room_event_id=action.event_id)
