"""Normalized snapshots, the per-link sync base and the configuration of the decision core.

Adapters build these from IBSS and Graph payloads; the core never sees raw payloads or bodies.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Generic, TypeAlias, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from shared.sync.normalize import iso_utc, normalize_email, parse_utc


def _aware_utc(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("datetime must be timezone-aware")
    return parse_utc(iso_utc(value))


UtcDateTime = Annotated[datetime, AfterValidator(_aware_utc)]
Email = Annotated[str, AfterValidator(normalize_email)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# --------------------------------------------------------------------------- enums


class OrganizerMode(StrEnum):
    OWNER = "owner"  # IBSS-made meetings live in the owner's calendar, the room is invited
    ROOM = "room"  # least privilege: the service only touches room mailboxes


class Side(StrEnum):
    IBSS = "ibss"
    OUTLOOK = "outlook"


class BookingStatus(StrEnum):
    ACTIVE = "active"
    CANCELLED = "cancelled"
    AUTO_CANCELLED = "auto_cancelled"  # no-show release by IBSS
    COMPLETED = "completed"  # checked out / ended


class Sensitivity(StrEnum):
    NORMAL = "normal"
    PERSONAL = "personal"
    PRIVATE = "private"
    CONFIDENTIAL = "confidential"


class Response(StrEnum):
    NONE = "none"
    ORGANIZER = "organizer"
    ACCEPTED = "accepted"
    TENTATIVE = "tentativelyAccepted"
    DECLINED = "declined"
    NOT_RESPONDED = "notResponded"


class AttendeeType(StrEnum):
    REQUIRED = "required"
    OPTIONAL = "optional"
    RESOURCE = "resource"


class Managed(StrEnum):
    """Who holds the meeting the link writes to."""

    OWNER_ORGANIZED = "owner_organized"  # created by us in the owner's calendar (owner mode)
    ROOM_ORGANIZED = "room_organized"  # created by us in the room's calendar (room mode)
    ADOPTED = "adopted"  # made in Outlook/Teams by a person; we only created the booking


class LinkState(StrEnum):
    ACTIVE = "active"
    CANCELLED = "cancelled"  # terminal: never recreated (no resurrection)
    COMPLETED = "completed"  # terminal: booking ended/checked out
    DETACHED = "detached"  # terminal: the booking left the synced scope


TERMINAL_STATES = frozenset({LinkState.CANCELLED, LinkState.COMPLETED, LinkState.DETACHED})


# --------------------------------------------------------------------------- observation


T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Present(Generic[T]):
    """The side was read and the item exists."""

    value: T


@dataclass(frozen=True, slots=True)
class Gone:
    """Confirmed absent: 404, ``@removed`` in delta, or a lookup that found nothing."""

    reason: str = ""


@dataclass(frozen=True, slots=True)
class Unread:
    """Not fetched or not readable (permissions, throttling, room mode). Never means "deleted"."""

    reason: str = ""


Observed: TypeAlias = Present[T] | Gone | Unread

GONE = Gone()
UNREAD = Unread()


def value_of(observed: Observed[T]) -> T | None:
    return observed.value if isinstance(observed, Present) else None


# --------------------------------------------------------------------------- snapshots


class Party(_Frozen):
    email: Email
    is_visitor: bool = False


class Attendee(_Frozen):
    email: Email
    type: AttendeeType = AttendeeType.REQUIRED
    response: Response = Response.NONE


class SpaceRef(_Frozen):
    """A synced IBSS space: building ``Bkng_Ext_System = 1`` and space ``Meta_Ext_Booking_System = 1``."""

    node_id: int
    space_id: str
    room_mailbox: Email  # Meta_Ext_Booking_SpaceId


class BookingSnapshot(_Frozen):
    booking_id: str
    node_id: int
    space_id: str
    room_mailbox: Email | None  # resolved by the adapter; None when the space is not synced
    start: UtcDateTime
    end: UtcDateTime
    name: str
    owner_email: Email
    parties: frozenset[Party] = frozenset()
    status: BookingStatus = BookingStatus.ACTIVE
    online_meeting: bool = False
    version: str  # IBSS etag / concurrency stamp
    modified: UtcDateTime
    series_id: str | None = None
    origin_ical_uid: str | None = None  # set by the service on bookings it creates from Outlook
    # Booking_Completed_Time of a completed booking: the check-out time (IBSS's clock is the truth).
    checked_out_at: UtcDateTime | None = None
    # IBSS says someone checked in (Early/Late CheckIn, In Progress): the occurrence was attended.
    checked_in: bool = False

    @property
    def party_emails(self) -> frozenset[str]:
        return frozenset(p.email for p in self.parties)


class _EventBase(_Frozen):
    event_id: str
    ical_uid: str
    start: UtcDateTime
    end: UtcDateTime
    subject: str = ""
    organizer_email: Email
    organizer_name: str = ""
    attendees: tuple[Attendee, ...] = ()
    is_cancelled: bool = False
    sensitivity: Sensitivity = Sensitivity.NORMAL
    change_key: str
    last_modified: UtcDateTime
    booking_id_marker: str | None = None  # our single-value extended property; None = not ours

    @model_validator(mode="after")
    def _times_ordered(self) -> _EventBase:
        if self.end < self.start:
            raise ValueError("event ends before it starts")
        return self


class RoomEventSnapshot(_EventBase):
    """The room mailbox's copy (or, in room mode, the room-organized meeting itself)."""

    room_mailbox: Email
    room_response: Response = Response.NONE
    is_organizer_room: bool = False


class OrganizerEventSnapshot(_EventBase):
    """The organizer's copy: truthful subject, rooms and attendees. Readable in owner mode."""

    mailbox: Email
    location_emails: frozenset[Email] = frozenset()


# --------------------------------------------------------------------------- configuration


class RoomRewrite(_Frozen):
    """The room's Set-CalendarProcessing subject settings (Exchange Online defaults)."""

    add_organizer_to_subject: bool = True
    delete_subject: bool = True


class SyncConfig(_Frozen):
    now: UtcDateTime
    organizer_mode: OrganizerMode = OrganizerMode.OWNER
    scope: dict[Email, SpaceRef] = Field(default_factory=dict)  # room mailbox -> synced space
    internal_domains: frozenset[str] = frozenset()
    attendees_as_parties_internal: bool = False
    private_booking_name: str = "Private booking"
    private_sensitivities: frozenset[Sensitivity] = frozenset({Sensitivity.PRIVATE, Sensitivity.CONFIDENTIAL})
    unknown_subject_name: str = "Outlook meeting"  # booking name when no truthful subject is readable
    # Same field changed differently on both sides with equal timestamps: the room calendar is the
    # availability arbiter, so Outlook wins ties by default.
    conflict_tie_winner: Side = Side.OUTLOOK
    room_rewrites: dict[Email, RoomRewrite] = Field(default_factory=dict)
    default_room_rewrite: RoomRewrite = RoomRewrite()
    owner_decline_cancels: bool = True  # room mode: the owner declining a room-organized meeting cancels
    # Internal-looking owners Graph has no mailbox for (a kiosk, a service account): the room organizes.
    without_mailbox: frozenset[Email] = frozenset()
    # The synced rooms that hold this link's meeting under links of their own (a meeting with several
    # rooms): when the link's room leaves the meeting, the booking follows none of them.
    held_elsewhere: frozenset[Email] = frozenset()

    def rewrite_for(self, room_mailbox: str) -> RoomRewrite:
        return self.room_rewrites.get(normalize_email(room_mailbox), self.default_room_rewrite)

    def in_scope(self, room_mailbox: str | None) -> bool:
        return room_mailbox is not None and normalize_email(room_mailbox) in self.scope


# --------------------------------------------------------------------------- sync base


class SyncBase(_Frozen):
    """The last converged state of one link (booking <-> meeting in one room), a Table Storage row.

    Canonical fields are what both sides agreed on. ``subject`` is the truthful Outlook subject and is
    ``None`` when unknown or private (private subjects are never stored). Versions and hashes let an
    unchanged side (including our own echo) be recognised without comparing timestamps.
    """

    # identity
    booking_id: str | None = None
    ical_uid: str | None = None
    room_event_id: str | None = None
    organizer_event_id: str | None = None
    organizer_mailbox: Email | None = None
    origin: Side
    managed: Managed
    generation: int = 0
    state: LinkState = LinkState.ACTIVE
    ended_by: Side | None = None  # which side ended the link (a terminal state's cause)
    # canonical fields
    node_id: int
    space_id: str
    room_mailbox: Email | None
    start: UtcDateTime
    end: UtcDateTime
    booking_name: str
    subject: str | None = None
    private: bool = False
    owner_email: Email
    parties: tuple[Email, ...] = ()  # sorted booking party emails
    visitors: tuple[Email, ...] = ()  # sorted subset of parties flagged as visitors
    attendees: tuple[Email, ...] = ()  # sorted meeting attendees (no rooms, organizer or owner)
    # versions and hashes of what each side looked like at convergence
    booking_version: str | None = None
    room_change_key: str | None = None
    organizer_change_key: str | None = None
    room_subject_hash: str | None = None
    booking_hash: str | None = None
    outlook_hash: str | None = None

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL_STATES

    def to_row(self) -> dict[str, str | int | bool]:
        """Flat Table Storage properties (ISO strings; tuples as JSON lists; None omitted)."""
        row: dict[str, str | int | bool] = {}
        for key, value in self.model_dump(mode="python").items():
            if value is None:
                continue
            if isinstance(value, datetime):
                row[key] = iso_utc(value)
            elif isinstance(value, tuple):
                row[key] = json.dumps(list(value))
            elif isinstance(value, StrEnum):
                row[key] = value.value
            elif isinstance(value, bool | int | str):
                row[key] = value
            else:  # pragma: no cover - every field is covered above
                raise TypeError(key)
        return row

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> SyncBase:
        data: dict[str, Any] = {}
        for key in cls.model_fields:
            if key not in row:
                continue
            value = row[key]
            if key in ("parties", "visitors", "attendees") and isinstance(value, str):
                value = tuple(json.loads(value))
            elif key in ("start", "end") and isinstance(value, str):
                value = parse_utc(value)
            data[key] = value
        return cls.model_validate(data)
