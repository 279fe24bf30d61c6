"""IBSS booking series -> one recurring Outlook meeting: the pure decision (no I/O, no clock).

``decide_series(bookings, base, config, busy)`` looks at every booking sharing one ``Booking_Series_Id``,
the stored series base (what we last wrote to Outlook) and, before a create, the room's busy intervals,
and returns a ``SeriesPlan``:

* New series with >= 2 live bookings, one room, one length, one name/owner/parties, dates that fit a
  pattern (``to_patterned_recurrence``): ``CreateSeriesMeeting`` (one ``seriesMaster``).
* ...with some dates already busy in the room: create without invitations, ``CancelOccurrence`` and
  ``CancelBooking`` (``ROOM_BUSY``, the owner sees it) for those dates, then
  ``UpdateSeriesMaster(invite=True)``: people and room are invited once, to the series without those
  dates (a room's attendant declines a whole series that conflicts on any occurrence).
* ...with every live date busy: every booking cancelled with the reason, no meeting.
* Otherwise (one booking, irregular dates, mixed lengths/rooms/names, made from Outlook):
  ``SyncSingly``, the single-booking path, for good.
* One booking cancelled: ``CancelOccurrence``. One booking moved or renamed: ``UpdateOccurrence`` (an
  exception). A booking moved to another space: its occurrence cancelled, the booking goes single.
* Every future booking renamed or re-partied alike (IBSS series PATCH): ``UpdateSeriesMaster`` (subject,
  attendees), not N exceptions. Every future unmoved booking shifted alike on the wall clock:
  ``UpdateSeriesMaster`` (start, end; recurrence when the days change). Exchange drops exceptions and
  cancelled occurrences when a series' time changes, so those are planned again after it.
* No booking live any more and none completed: ``CancelSeriesMeeting`` (terminal, never re-created).
* ``config.no_show_release_after`` = N and the last N occurrences IBSS decided were auto-cancelled
  (``shared/sync/no_shows.py``): the bookings not started yet are cancelled with the reason, and the room
  leaves the meeting (``RoomDeclinesSeries`` in owner mode, ``CancelSeriesMeeting`` in room mode); terminal.

Past occurrences are not rewritten except by a series-level change, which (as in Outlook) applies to the
whole series. The base holds what we wrote, so re-running on the same input yields a no-op (echo-free).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field

from shared.recurrence import PatternedRecurrence, to_patterned_recurrence, zone
from shared.recurrence.expand import local_to_utc
from shared.sync.model import BookingSnapshot, BookingStatus, Email, OrganizerMode, UtcDateTime
from shared.sync.no_shows import (
    Outcome,
    no_show_streak,
    outcome_of,
    release_comment,
    release_due,
    release_reason,
)
from shared.sync.normalize import normalize_email
from shared.sync.plan import CancelBooking, UpdateBooking
from shared.sync.reconcile import ROOM_BUSY

# The value of our single booking-id extended property on a series master (single meetings carry the
# bare booking id). Lets every reader tell "a series this service made from IBSS" from anything else.
SERIES_MARKER_PREFIX = "ibss-series:"
SERIES_CANCEL_COMMENT = "The booking series was cancelled in IBSS."
OCCURRENCE_CANCEL_COMMENT = "This booking was cancelled in IBSS."
_TXN_NAMESPACE = uuid.UUID("5b0e4a63-0c51-4f7e-9a43-6f3c1f0b7a21")


def series_marker(series_id: str) -> str:
    return f"{SERIES_MARKER_PREFIX}{series_id}"


def is_series_marker(value: str | None) -> bool:
    return bool(value) and str(value).startswith(SERIES_MARKER_PREFIX)


def series_master_uid(ical_uid: str) -> str:
    """The series' iCalUId from an occurrence's: Exchange global object ids carry the instance date in
    bytes 16-19 (hex 32-40); the clean id (zeros there) is the master's. Other ids pass unchanged."""
    if len(ical_uid) >= 40 and ical_uid[:8].upper() == "04000000":
        return ical_uid[:32] + "00000000" + ical_uid[40:]
    return ical_uid


def is_occurrence_uid(ical_uid: str) -> bool:
    return series_master_uid(ical_uid) != ical_uid


def series_transaction_id(series_id: str, generation: int) -> str:
    return str(uuid.uuid5(_TXN_NAMESPACE, f"{series_id}|{generation}"))


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SeriesMode(StrEnum):
    RECURRING = "recurring"  # one recurring meeting holds the series
    SINGLES = "singles"  # the bookings are synced one by one (single-booking path)
    CANCELLED = "cancelled"  # terminal: the meeting was cancelled, nothing is re-created


class SeriesSlot(_Frozen):
    """One occurrence of our meeting and the booking it stands for, as we last wrote it."""

    booking_id: str
    original_start: UtcDateTime  # the slot the pattern defines (Graph's originalStart)
    start: UtcDateTime
    end: UtcDateTime
    subject: str
    cancelled: bool = False
    detached: bool = False  # the booking left the series meeting (other space): single path


class IbssSeriesBase(_Frozen):
    series_id: str
    node_id: int
    mode: SeriesMode
    generation: int = 0
    space_id: str = ""
    room_mailbox: Email | None = None
    organizer_mailbox: Email | None = None  # where the master lives (owner, or the room)
    organizer_is_room: bool = False
    time_zone: str = "UTC"
    master_event_id: str | None = None
    master_ical_uid: str | None = None
    recurrence: PatternedRecurrence | None = None
    start: UtcDateTime | None = None  # the master's (first occurrence's) start and end
    end: UtcDateTime | None = None
    subject: str = ""
    attendees: tuple[Email, ...] = ()  # people (owner mode: parties; room mode: owner + parties)
    online_meeting: bool = False
    slots: tuple[SeriesSlot, ...] = ()
    versions: dict[str, str] = Field(default_factory=dict)  # booking id -> IBSS etag last handled


class SeriesConfig(_Frozen):
    now: UtcDateTime
    organizer_mode: OrganizerMode = OrganizerMode.OWNER
    time_zone: str = "UTC"  # the building's zone: the series' wall clock
    internal_domains: frozenset[str] = frozenset()
    no_show_release_after: int | None = None  # the building's setting; None: no series release
    # Internal-looking owners Graph has no mailbox for (the single path learns them): the room organizes.
    without_mailbox: frozenset[str] = frozenset()


class _SeriesAction(_Frozen):
    pass


class CreateSeriesMeeting(_SeriesAction):
    kind: Literal["create_series_meeting"] = "create_series_meeting"
    target_mailbox: Email
    organizer_is_room: bool
    room_mailbox: Email
    subject: str
    start: UtcDateTime
    end: UtcDateTime
    time_zone: str
    recurrence: PatternedRecurrence
    attendees: tuple[Email, ...]
    online_meeting: bool = False
    marker: str
    transaction_id: str
    invite_later: bool = False  # create without people (and, owner mode, without the room)


class UpdateSeriesMaster(_SeriesAction):
    kind: Literal["update_series_master"] = "update_series_master"
    start: UtcDateTime | None = None
    end: UtcDateTime | None = None
    recurrence: PatternedRecurrence | None = None
    subject: str | None = None
    attendees: tuple[Email, ...] | None = None  # the full list of people
    invite: bool = False  # send the people (and the room) the invitation deferred at create


class UpdateOccurrence(_SeriesAction):
    kind: Literal["update_occurrence"] = "update_occurrence"
    booking_id: str
    original_start: UtcDateTime
    start: UtcDateTime | None = None
    end: UtcDateTime | None = None
    subject: str | None = None


class CancelOccurrence(_SeriesAction):
    kind: Literal["cancel_occurrence"] = "cancel_occurrence"
    booking_id: str
    original_start: UtcDateTime
    comment: str = OCCURRENCE_CANCEL_COMMENT


class CancelSeriesMeeting(_SeriesAction):
    kind: Literal["cancel_series_meeting"] = "cancel_series_meeting"
    comment: str = SERIES_CANCEL_COMMENT


class RoomDeclinesSeries(_SeriesAction):
    """Repeated no-shows (owner mode): the room declines its copy of the series master with the reason;
    the owner (organizer) is told and keeps the meeting, as for a single no-show."""

    kind: Literal["room_declines_series"] = "room_declines_series"
    comment: str


class SyncSingly(_SeriesAction):
    kind: Literal["sync_singly"] = "sync_singly"
    booking_ids: tuple[str, ...]


SeriesAction = Annotated[
    CreateSeriesMeeting
    | UpdateSeriesMaster
    | UpdateOccurrence
    | CancelOccurrence
    | CancelSeriesMeeting
    | RoomDeclinesSeries
    | SyncSingly
    | CancelBooking
    | UpdateBooking,  # an Outlook edit of the series (shared/sync/ibss_series_outlook.py)
    Field(discriminator="kind"),
]


class SeriesPlan(_Frozen):
    actions: tuple[SeriesAction, ...] = ()
    new_base: IbssSeriesBase | None = None
    explanation: tuple[str, ...] = ()

    @property
    def outlook_writes(self) -> int:
        return sum(
            1
            for a in self.actions
            if not isinstance(a, SyncSingly | CancelBooking | UpdateBooking)
            and not (isinstance(a, UpdateSeriesMaster) and a == UpdateSeriesMaster())
        )


# =============================================================================== the decision

_GONE_STATUSES = (BookingStatus.CANCELLED, BookingStatus.AUTO_CANCELLED)


def decide_series(
    bookings: Sequence[BookingSnapshot],
    base: IbssSeriesBase | None,
    config: SeriesConfig,
    busy: Sequence[tuple[datetime, datetime]] = (),
) -> SeriesPlan:
    """What to write for one IBSS series (see the module docstring for the table)."""
    bookings = sorted(bookings, key=lambda b: (b.start, b.booking_id))
    versions = {b.booking_id: b.version for b in bookings}
    if base is not None and base.mode is SeriesMode.CANCELLED:
        return SeriesPlan(new_base=base.model_copy(update={"versions": versions}), explanation=("cancelled",))
    if base is not None and base.mode is SeriesMode.SINGLES:
        changed = tuple(b.booking_id for b in bookings if base.versions.get(b.booking_id) != b.version)
        return SeriesPlan(
            actions=(SyncSingly(booking_ids=changed),) if changed else (),
            new_base=base.model_copy(update={"versions": versions}),
            explanation=("synced one by one",),
        )
    if base is None or base.mode is not SeriesMode.RECURRING:
        return _first(bookings, config, busy, versions, base)
    return _follow(bookings, base, config, versions)


def _singles(
    bookings: Sequence[BookingSnapshot], config: SeriesConfig, versions: dict[str, str], why: str
) -> SeriesPlan:
    first = bookings[0] if bookings else None
    base = IbssSeriesBase(
        series_id=(first.series_id or "") if first else "",
        node_id=first.node_id if first else 0,
        mode=SeriesMode.SINGLES,
        time_zone=config.time_zone,
        versions=versions,
    )
    ids = tuple(b.booking_id for b in bookings)
    return SeriesPlan(
        actions=(SyncSingly(booking_ids=ids),) if ids else (), new_base=base, explanation=(why,)
    )


def _live(b: BookingSnapshot, now: datetime) -> bool:
    return b.status is BookingStatus.ACTIVE and b.end > now


def _people(b: BookingSnapshot, organizer_is_room: bool) -> tuple[str, ...]:
    people = set(b.party_emails)
    if organizer_is_room:
        if b.owner_email:  # a kiosk's booking has no owner to invite
            people.add(b.owner_email)
    else:
        people.discard(b.owner_email)
    return tuple(sorted(normalize_email(p) for p in people))


def _organizer_is_room(b: BookingSnapshot, config: SeriesConfig) -> bool:
    if config.organizer_mode is OrganizerMode.ROOM:
        return True
    # An owner without a tenant mailbox cannot hold the meeting: the room organizes it (single path rule).
    if not b.owner_email or b.owner_email in config.without_mailbox:
        return True
    domain = b.owner_email.rsplit("@", 1)[-1]
    return bool(config.internal_domains) and domain not in config.internal_domains


def _first(
    bookings: Sequence[BookingSnapshot],
    config: SeriesConfig,
    busy: Sequence[tuple[datetime, datetime]],
    versions: dict[str, str],
    base: IbssSeriesBase | None,
) -> SeriesPlan:
    if any(b.origin_ical_uid for b in bookings):
        return _singles(bookings, config, versions, "made from an Outlook meeting: not ours to shape")
    live = [b for b in bookings if _live(b, config.now)]
    if len(live) < 2:
        return _singles(bookings, config, versions, "fewer than two live bookings")
    head = live[0]
    shape = {
        (b.room_mailbox, b.end - b.start, b.name, b.owner_email, b.party_emails, b.online_meeting)
        for b in live
    }
    if head.room_mailbox is None or len(shape) != 1:
        return _singles(bookings, config, versions, "rooms, lengths or details differ: individual meetings")
    recurrence = to_patterned_recurrence([b.start for b in live], config.time_zone)
    if recurrence is None:
        return _singles(bookings, config, versions, "the dates fit no Outlook pattern: individual meetings")
    taken = [b for b in live if any(s < b.end and e > b.start for s, e in busy)]
    cancels = [CancelBooking(booking_id=b.booking_id, reason=ROOM_BUSY) for b in taken]
    series_id = head.series_id or ""
    if len(taken) == len(live):
        return SeriesPlan(
            actions=tuple(cancels),
            new_base=IbssSeriesBase(
                series_id=series_id, node_id=head.node_id, mode=SeriesMode.CANCELLED, versions=versions
            ),
            explanation=("every date is taken in the room: the bookings are cancelled",),
        )
    by_room = _organizer_is_room(head, config)
    room = head.room_mailbox
    people = _people(head, by_room)
    generation = base.generation if base is not None else 0
    create = CreateSeriesMeeting(
        target_mailbox=room if by_room else head.owner_email,
        organizer_is_room=by_room,
        room_mailbox=room,
        subject=head.name,
        start=head.start,
        end=head.end,
        time_zone=config.time_zone,
        recurrence=recurrence,
        attendees=people,
        online_meeting=head.online_meeting,
        marker=series_marker(series_id),
        transaction_id=series_transaction_id(series_id, generation),
        invite_later=bool(taken),
    )
    taken_ids = {b.booking_id for b in taken}
    actions: list[SeriesAction] = [create]
    actions += [CancelOccurrence(booking_id=b.booking_id, original_start=b.start, comment="") for b in taken]
    actions += cancels
    if taken:
        actions.append(UpdateSeriesMaster(attendees=people, invite=True))
    slots = tuple(
        SeriesSlot(
            booking_id=b.booking_id,
            original_start=b.start,
            start=b.start,
            end=b.end,
            subject=b.name,
            cancelled=b.booking_id in taken_ids,
        )
        for b in live
    )
    new_base = IbssSeriesBase(
        series_id=series_id,
        node_id=head.node_id,
        mode=SeriesMode.RECURRING,
        generation=generation,
        space_id=head.space_id,
        room_mailbox=room,
        organizer_mailbox=create.target_mailbox,
        organizer_is_room=by_room,
        time_zone=config.time_zone,
        recurrence=recurrence,
        start=head.start,
        end=head.end,
        subject=head.name,
        attendees=people,
        online_meeting=head.online_meeting,
        slots=slots,
        versions=versions,
    )
    why = f"one recurring meeting ({recurrence.pattern.type.value}, {len(live)} dates)"
    if taken:
        why += f"; {len(taken)} date(s) taken in the room: those bookings are cancelled"
    return SeriesPlan(actions=tuple(actions), new_base=new_base, explanation=(why,))


def _wall(instant: datetime, tz: ZoneInfo) -> datetime:
    return instant.astimezone(tz).replace(tzinfo=None)


def _follow(
    bookings: Sequence[BookingSnapshot],
    base: IbssSeriesBase,
    config: SeriesConfig,
    versions: dict[str, str],
) -> SeriesPlan:
    now = config.now
    tz = zone(base.time_zone)
    by_id = {b.booking_id: b for b in bookings}
    known = {s.booking_id for s in base.slots}
    strangers = tuple(b.booking_id for b in bookings if b.booking_id not in known)
    assert base.start is not None
    assert base.end is not None
    duration = _wall(base.end, tz) - _wall(base.start, tz)
    slots = [s for s in base.slots if not s.detached]
    detached = [s for s in base.slots if s.detached]

    def booking_of(s: SeriesSlot) -> BookingSnapshot | None:
        return by_id.get(s.booking_id)

    def holds_room(b: BookingSnapshot | None) -> bool:
        return b is not None and b.room_mailbox == base.room_mailbox

    singles = tuple(s.booking_id for s in detached if s.booking_id in by_id) + strangers
    changed_singles = tuple(i for i in singles if base.versions.get(i) != by_id[i].version)

    def kept(s: SeriesSlot) -> bool:
        b = booking_of(s)
        return b is not None and (
            b.status is BookingStatus.COMPLETED or (b.status is BookingStatus.ACTIVE and holds_room(b))
        )

    released = _release_after_no_shows(slots, booking_of, base, config, versions)
    if released is not None:
        return released

    if not any(kept(s) for s in slots):
        # Bookings still live elsewhere (the series moved to an unsynced or other space) go single.
        moved = tuple(
            s.booking_id
            for s in slots
            if (b := booking_of(s)) is not None and b.status is BookingStatus.ACTIVE
        )
        ends: list[SeriesAction] = [CancelSeriesMeeting()]
        if moved or changed_singles:
            ends.append(SyncSingly(booking_ids=tuple(dict.fromkeys(moved + changed_singles))))
        moved_ids = set(moved)
        return SeriesPlan(
            actions=tuple(ends),
            new_base=base.model_copy(
                update={
                    "mode": SeriesMode.CANCELLED,
                    "versions": versions,
                    "slots": tuple(
                        s.model_copy(
                            update={"cancelled": True, "detached": s.detached or s.booking_id in moved_ids}
                        )
                        for s in base.slots
                    ),
                }
            ),
            explanation=("no booking of the series is left in the room: the meeting is cancelled",),
        )

    # ---- series-level changes: every future live booking agrees on a new value
    future = [
        (s, b)
        for s in slots
        if (b := booking_of(s)) is not None
        and b.status is BookingStatus.ACTIVE
        and holds_room(b)
        and not s.cancelled
        and b.start > now
    ]
    master = UpdateSeriesMaster()
    new_subject, new_people = base.subject, base.attendees
    names = {b.name for _, b in future}
    if len(future) >= 2 and len(names) == 1 and (name := next(iter(names))) != base.subject:
        new_subject = name
        master = master.model_copy(update={"subject": name})
    people = {_people(b, base.organizer_is_room) for _, b in future}
    if len(future) >= 2 and len(people) == 1 and (who := next(iter(people))) != base.attendees:
        new_people = who
        master = master.model_copy(update={"attendees": who})
    unmoved = [
        (s, b)
        for s, b in future
        if (s.start, s.end) == (s.original_start, s.original_start + (base.end - base.start))
    ]
    shifts = {
        (_wall(b.start, tz) - _wall(s.original_start, tz), _wall(b.end, tz) - _wall(b.start, tz))
        for s, b in unmoved
    }
    shift = timedelta(0)
    new_duration = duration
    reshaped = False
    new_recurrence = base.recurrence
    new_start, new_end = base.start, base.end
    if len(unmoved) >= 2 and len(shifts) == 1:
        cand_shift, cand_duration = next(iter(shifts))
        if (cand_shift, cand_duration) != (timedelta(0), duration):
            starts = [local_to_utc(_wall(s.original_start, tz) + cand_shift, tz) for s in slots]
            fitted = to_patterned_recurrence(starts, base.time_zone) if len(starts) >= 2 else None
            if fitted is not None:
                shift, new_duration, reshaped = cand_shift, cand_duration, True
                new_recurrence = fitted
                new_start = local_to_utc(_wall(base.start, tz) + shift, tz)
                new_end = local_to_utc(_wall(new_start, tz) + new_duration, tz)
                master = master.model_copy(update={"start": new_start, "end": new_end})
                if fitted != base.recurrence:
                    master = master.model_copy(update={"recurrence": fitted})

    actions: list[SeriesAction] = [master] if master != UpdateSeriesMaster() else []
    why: list[str] = []
    if actions:
        why.append("every future booking changed alike: the series master is updated")

    # ---- per slot: cancelled occurrences and exceptions, against what Outlook now holds
    new_slots: list[SeriesSlot] = list(detached)
    for s in slots:
        b = booking_of(s)
        original = local_to_utc(_wall(s.original_start, tz) + shift, tz) if reshaped else s.original_start
        if reshaped:
            # Exchange dropped the slot's exception or cancellation with the time change.
            current = SeriesSlot(
                booking_id=s.booking_id,
                original_start=original,
                start=original,
                end=local_to_utc(_wall(original, tz) + new_duration, tz),
                subject=new_subject,
            )
        else:
            current = s
            if master.subject is not None and s.subject == base.subject:
                current = current.model_copy(update={"subject": new_subject})
        if b is None or b.status in _GONE_STATUSES:
            if not current.cancelled:
                actions.append(CancelOccurrence(booking_id=s.booking_id, original_start=original))
                why.append("a booking was cancelled: its occurrence is cancelled")
            new_slots.append(current.model_copy(update={"cancelled": True}))
            continue
        if current.cancelled or b.status is BookingStatus.COMPLETED:
            new_slots.append(current)  # never resurrected; completed bookings are history
            continue
        if not holds_room(b):
            actions.append(CancelOccurrence(booking_id=s.booking_id, original_start=original))
            actions.append(SyncSingly(booking_ids=(b.booking_id,)))
            why.append("a booking moved to another space: it leaves the series meeting")
            new_slots.append(current.model_copy(update={"cancelled": True, "detached": True}))
            continue
        update = UpdateOccurrence(
            booking_id=s.booking_id,
            original_start=original,
            start=b.start if (b.start, b.end) != (current.start, current.end) else None,
            end=b.end if (b.start, b.end) != (current.start, current.end) else None,
            subject=b.name if b.name != current.subject else None,
        )
        if update.start is not None or update.subject is not None:
            actions.append(update)
            why.append("one booking changed: its occurrence becomes an exception")
        new_slots.append(current.model_copy(update={"start": b.start, "end": b.end, "subject": b.name}))
    if changed_singles:
        actions.append(SyncSingly(booking_ids=changed_singles))
    new_base = base.model_copy(
        update={
            "recurrence": new_recurrence,
            "start": new_start,
            "end": new_end,
            "subject": new_subject,
            "attendees": new_people,
            "slots": tuple(sorted(new_slots, key=lambda x: (x.original_start, x.booking_id))),
            "versions": versions,
        }
    )
    return SeriesPlan(
        actions=tuple(actions),
        new_base=new_base,
        explanation=tuple(dict.fromkeys(why)) or ("in sync",),
    )


def _release_after_no_shows(
    slots: Sequence[SeriesSlot],
    booking_of: Callable[[SeriesSlot], BookingSnapshot | None],
    base: IbssSeriesBase,
    config: SeriesConfig,
    versions: dict[str, str],
) -> SeriesPlan | None:
    """N auto-cancelled occurrences in a row (IBSS's statuses; undecided ones do not count): every booking
    not yet started is cancelled with the reason, and the room leaves the series: owner mode, the room
    declines its copy (the owner is told, keeps the meeting); room mode, the room's meeting is cancelled
    (the only way a room frees itself from its own meeting; the owner and parties are told). Terminal."""
    outcomes: dict[str, Outcome] = {}
    for s in slots:
        b = booking_of(s)
        if b is None:
            continue
        outcome = outcome_of(
            auto_cancelled=b.status is BookingStatus.AUTO_CANCELLED,
            checked_in=b.checked_in,
            completed=b.status is BookingStatus.COMPLETED,
        )
        if outcome is not None:
            outcomes[s.original_start.strftime("%Y%m%dT%H%M%SZ")] = outcome
    if not release_due(outcomes, config.no_show_release_after):
        return None
    streak = no_show_streak(outcomes)
    cancels = [
        CancelBooking(booking_id=b.booking_id, reason=release_reason(streak))
        for s in slots
        if (b := booking_of(s)) is not None
        and b.status is BookingStatus.ACTIVE
        and not b.checked_in
        and b.start > config.now
    ]
    leave: SeriesAction = (
        CancelSeriesMeeting(comment=release_comment(streak))
        if base.organizer_is_room
        else RoomDeclinesSeries(comment=release_comment(streak))
    )
    return SeriesPlan(
        actions=(leave, *cancels),
        new_base=base.model_copy(
            update={
                "mode": SeriesMode.CANCELLED,
                "versions": versions,
                "slots": tuple(s.model_copy(update={"cancelled": True}) for s in base.slots),
            }
        ),
        explanation=(f"{streak} no-shows in a row: the room is released from the rest of the series",),
    )


def index_key(ical_uid: str) -> str:
    """Table key of a series master's iCalUId (hashed: iCalUIds are long and may hold '/')."""
    return hashlib.sha256(series_master_uid(ical_uid).encode()).hexdigest()[:40]
