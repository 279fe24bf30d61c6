"""Actions the adapters carry out, and the plan the core returns.

Every action is a frozen value with all the data its adapter needs. ``SyncPlan.new_base`` is the state
to persist once every action succeeded (with an outbox: no reconcile of the link while actions are
pending), so an echo of our own writes compares equal to it.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.sync.model import Email, Party, Side, SpaceRef, SyncBase, UtcDateTime


class _Action(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class MeetingTarget(_Action):
    """The meeting copy we write: the owner's/organizer's event or the room-organized event."""

    role: Literal["organizer", "room"]
    mailbox: Email
    event_id: str | None  # None only before the create response was recorded


class RoomMove(_Action):
    old: Email | None
    new: Email | None  # None: release the room only


# ---- IBSS side


class CreateBooking(_Action):
    kind: Literal["create_booking"] = "create_booking"
    space: SpaceRef
    start: UtcDateTime
    end: UtcDateTime
    name: str
    owner_email: Email
    parties: tuple[Party, ...] = ()
    origin_ical_uid: str  # written into the booking so a retried create or lost state is recoverable
    room_event_id: str


class BookingChanges(_Action):
    start: UtcDateTime | None = None
    end: UtcDateTime | None = None
    space: SpaceRef | None = None
    name: str | None = None
    parties: tuple[Party, ...] | None = None  # full new party list when it changed


class UpdateBooking(_Action):
    kind: Literal["update_booking"] = "update_booking"
    booking_id: str
    changes: BookingChanges
    if_match: str | None = None  # the IBSS version the decision was based on


class CancelBooking(_Action):
    kind: Literal["cancel_booking"] = "cancel_booking"
    booking_id: str
    reason: str  # visible to the booking owner


# ---- Outlook side


class CreateMeeting(_Action):
    kind: Literal["create_meeting"] = "create_meeting"
    target_mailbox: Email  # owner (owner mode) or room (room mode)
    organizer_is_room: bool
    subject: str
    start: UtcDateTime
    end: UtcDateTime
    attendees: tuple[Email, ...]  # people, without the room
    room_mailbox: Email  # invited as resource attendee + location (owner mode) or the organizer (room mode)
    booking_id_marker: str
    transaction_id: str
    online_meeting: bool = False
    require_room_free: bool = False  # room mode: nothing arbitrates, check the room's calendar first


class MeetingChanges(_Action):
    start: UtcDateTime | None = None
    end: UtcDateTime | None = None
    subject: str | None = None
    attendees_add: tuple[Email, ...] = ()
    attendees_remove: tuple[Email, ...] = ()
    room: RoomMove | None = None


class UpdateMeeting(_Action):
    kind: Literal["update_meeting"] = "update_meeting"
    target: MeetingTarget
    changes: MeetingChanges
    require_room_free: bool = False


class CancelMeeting(_Action):
    kind: Literal["cancel_meeting"] = "cancel_meeting"
    target: MeetingTarget
    comment: str


class DeclineRoomEvent(_Action):
    """The room declines its copy (frees the room, tells the organizer why)."""

    kind: Literal["decline_room_event"] = "decline_room_event"
    room_mailbox: Email
    event_id: str
    comment: str


class AcceptRoomEvent(_Action):
    """The room accepts its copy again with a comment: the organizer gets a response saying why
    (booking-policy warnings, ``shared/sync/policy.py``)."""

    kind: Literal["accept_room_event"] = "accept_room_event"
    room_mailbox: Email
    event_id: str
    comment: str


# ---- bookkeeping (no external write)


class LinkOnly(_Action):
    """Adopt an existing counterpart found by marker/iCalUId/origin (e.g. after lost state)."""

    kind: Literal["link_only"] = "link_only"
    booking_id: str | None
    room_event_id: str | None
    ical_uid: str | None
    organizer_event_id: str | None


class RecordConflict(_Action):
    kind: Literal["record_conflict"] = "record_conflict"
    field: str
    winner: Side
    ibss_value: str
    outlook_value: str
    reason: str


class RetryLater(_Action):
    kind: Literal["retry_later"] = "retry_later"
    reason: str


Action = Annotated[
    CreateBooking
    | UpdateBooking
    | CancelBooking
    | CreateMeeting
    | UpdateMeeting
    | CancelMeeting
    | DeclineRoomEvent
    | AcceptRoomEvent
    | LinkOnly
    | RecordConflict
    | RetryLater,
    Field(discriminator="kind"),
]

IBSS_WRITES = (CreateBooking, UpdateBooking, CancelBooking)
OUTLOOK_WRITES = (CreateMeeting, UpdateMeeting, CancelMeeting, DeclineRoomEvent, AcceptRoomEvent)


class SyncPlan(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    actions: tuple[Action, ...] = ()
    new_base: SyncBase | None = None  # None: nothing to persist (never linked / out of scope)
    explanation: tuple[str, ...] = ()

    @property
    def conflicts(self) -> tuple[RecordConflict, ...]:
        return tuple(a for a in self.actions if isinstance(a, RecordConflict))

    @property
    def ibss_writes(self) -> tuple[CreateBooking | UpdateBooking | CancelBooking, ...]:
        return tuple(a for a in self.actions if isinstance(a, IBSS_WRITES))

    @property
    def outlook_writes(
        self,
    ) -> tuple[CreateMeeting | UpdateMeeting | CancelMeeting | DeclineRoomEvent | AcceptRoomEvent, ...]:
        return tuple(a for a in self.actions if isinstance(a, OUTLOOK_WRITES))

    @property
    def is_noop(self) -> bool:
        """No external writes (the base may still change, e.g. new versions after an echo)."""
        return not self.ibss_writes and not self.outlook_writes
