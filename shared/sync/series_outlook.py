"""Recurring meetings made in Outlook -> one IBSS booking per occurrence (pure decision, no I/O).

``plan_series(master, instances, bookings, base, window, ...) -> SeriesPlan``

* **Desired bookings.** The room copy's ``patternedRecurrence`` is expanded with ``shared.recurrence``
  (dateutil rrule, in the meeting's own zone) over ``[window.start, window.end)``. Each pattern slot
  (its ``originalStart``) is then looked up in the room's ``/instances``: no instance means the
  occurrence was cancelled or the room declined it (Exchange drops it from the room calendar); an
  ``exception`` instance brings its own times; a cancelled instance or one the room declined is not
  booked. Slots that started before ``window.start`` are never touched (the past stays as it was).
* **Current bookings.** IBSS bookings of the series (found by ``Booking_Ext_Ref`` =
  ``series_ref(series_uid, slot)``, one per slot). A booking belongs to the slot the stored base says,
  else to the slot in its ext ref (recovery after lost state).
* **Plan.** Missing slots are created (one IBSS series call for all of them), bookings of slots that
  moved (exception, master time change) are moved, bookings of slots that are no longer wanted are
  cancelled. When the pattern changes, leftover bookings are paired in time order with new slots and
  moved rather than cancelled and recreated. Series-wide fields (name, parties, online) change with one
  series PATCH. A cancelled or vanished master cancels every future booking and ends the series.
* **Reliability.** A slot whose booking was cancelled in IBSS by someone else is never booked again
  (no resurrection), and the room declines that occurrence with the reason (``DeclineOccurrences``,
  as the single path frees the room: the organizer keeps the meeting and is told). Duplicate bookings
  of one slot (two workers) are cancelled down to one. A slot IBSS refused is declined by the room once
  (``DeclineOccurrences``, the organizer is told the dates) and never retried. A plan computed from the
  base of its own result is a no-op (echo-free).
* **No-shows** (``shared/sync/no_shows.py``). A booking IBSS auto-cancelled: the room declines that
  occurrence with the reason, the slot is never booked again, the outcome is remembered in the base (as is
  a check-in). ``release_after`` = N no-shows in a row: ``ReleaseSeries`` (the room declines the master)
  and every remaining booking cancelled with the reason; the base is ``released`` and ``ended``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, time
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from shared.recurrence import PatternedRecurrence, expand, zone
from shared.sync.model import BookingStatus, Gone, Observed, Party, Present, SpaceRef, Unread
from shared.sync.no_shows import (
    Outcome,
    no_show_comment,
    no_show_streak,
    outcome_of,
    release_comment,
    release_due,
    release_reason,
    remember,
)
from shared.sync.reconcile import CANCELLED_IN_IBSS

SERIES_REF_PREFIX = "m365s:"
_SLOT_FORMAT = "%Y%m%dT%H%M%SZ"


def slot_key(original_start: datetime) -> str:
    """A pattern slot: its original start in UTC (stable while the master's time and pattern stay)."""
    return original_start.astimezone(UTC).strftime(_SLOT_FORMAT)


def slot_start(slot: str) -> datetime:
    return datetime.strptime(slot, _SLOT_FORMAT).replace(tzinfo=UTC)


def series_ref(series_uid: str, slot: str) -> str:
    """``Booking_Ext_Ref`` of one occurrence's booking: the idempotency key of its create."""
    return f"{SERIES_REF_PREFIX}{series_uid}|{slot}"


def parse_series_ref(ext_ref: str | None) -> tuple[str, str] | None:
    """(series iCalUId, slot) of a booking made by the Outlook series path, else None."""
    if not ext_ref or not ext_ref.startswith(SERIES_REF_PREFIX):
        return None
    uid, sep, slot = ext_ref[len(SERIES_REF_PREFIX) :].rpartition("|")
    if not sep or not uid:
        return None
    try:
        slot_start(slot)
    except ValueError:
        return None
    return uid, slot


def is_outlook_series_ref(ext_ref: str | None) -> bool:
    """True for bookings owned by the Outlook series path: the single-link path must leave them alone."""
    return parse_series_ref(ext_ref) is not None


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SeriesMaster(_Frozen):
    """The room's copy of a series master, reduced to what the decision needs."""

    event_id: str
    series_uid: str
    room_mailbox: str
    recurrence: PatternedRecurrence
    start: datetime  # the master's own start/end (first slot), aware
    end: datetime
    time_zone: str  # the meeting's zone (Windows or IANA name)
    name: str
    owner_email: str
    parties: frozenset[Party] = frozenset()
    online_meeting: bool = False
    cancelled: bool = False  # the series was cancelled, or the room declined it as a whole


class SeriesInstance(_Frozen):
    """One item of the room's ``/instances``: an occurrence or an exception."""

    event_id: str
    original_start: datetime
    start: datetime
    end: datetime
    is_exception: bool = False
    is_cancelled: bool = False
    room_declined: bool = False


class SeriesBooking(_Frozen):
    """An IBSS booking that carries a series ref (or is known to the base)."""

    booking_id: str
    slot: str | None  # from the ext ref
    start: datetime
    end: datetime
    status: BookingStatus
    version: str = ""
    series_id: str | None = None
    checked_in: bool = False  # IBSS: Early/Late CheckIn or In Progress (the occurrence was attended)


class SlotState(StrEnum):
    BOOKED = "booked"
    IBSS_CANCELLED = "ibss_cancelled"  # cancelled in IBSS by someone else: never booked again
    DECLINED = "declined"  # IBSS refused it: the room declined the occurrence, never retried
    NO_SHOW = "no_show"  # IBSS auto-cancelled it: the room declined the occurrence, never booked again


class SlotBase(_Frozen):
    state: SlotState = SlotState.BOOKED
    booking_id: str | None = None
    start: datetime
    end: datetime
    version: str = ""


class SeriesBase(_Frozen):
    """What the series looked like after our last completed plan (a table row)."""

    series_uid: str
    room_mailbox: str
    master_event_id: str
    node_id: int
    space_id: str
    name: str = ""
    owner_email: str = ""
    parties: frozenset[Party] = frozenset()
    online_meeting: bool = False
    ibss_series_ids: tuple[str, ...] = ()
    slots: dict[str, SlotBase] = Field(default_factory=dict)
    ended: bool = False  # the series was cancelled: terminal
    # What IBSS decided about past occurrences (slot -> no-show / attended): counts consecutive no-shows
    # after the slots themselves dropped out of the base.
    outcomes: dict[str, Outcome] = Field(default_factory=dict)
    released: bool = False  # the room was released after repeated no-shows (then also ``ended``)

    def booking_slot(self, booking_id: str) -> str | None:
        for slot, value in self.slots.items():
            if value.booking_id == booking_id:
                return slot
        return None


class Window(_Frozen):
    start: datetime  # now: earlier slots are left alone
    end: datetime  # the building's sync horizon


class Busy(_Frozen):
    """Another IBSS booking holding the space (not one of this series)."""

    start: datetime
    end: datetime


# --------------------------------------------------------------------------- actions


class NewSlot(_Frozen):
    slot: str
    start: datetime
    end: datetime


class CreateSeriesBookings(_Frozen):
    kind: str = "create_series_bookings"
    space: SpaceRef
    name: str
    owner_email: str
    parties: tuple[Party, ...] = ()
    online_meeting: bool = False
    slots: tuple[NewSlot, ...]
    series_uid: str


class MoveSeriesBooking(_Frozen):
    kind: str = "move_series_booking"
    booking_id: str
    slot: str  # the slot the booking serves after the move
    start: datetime
    end: datetime
    if_match: str | None = None


class CancelSeriesBooking(_Frozen):
    kind: str = "cancel_series_booking"
    booking_id: str
    series_id: str | None = None
    reason: str


class UpdateSeriesFields(_Frozen):
    kind: str = "update_series_fields"
    series_ids: tuple[str, ...]
    name: str | None = None
    parties: tuple[Party, ...] | None = None
    online_meeting: bool | None = None


class RefusedOccurrence(_Frozen):
    slot: str
    event_id: str
    start: datetime
    end: datetime


class DeclineOccurrences(_Frozen):
    """The room declines occurrences IBSS refused; the organizer is told which dates failed."""

    kind: str = "decline_occurrences"
    room_mailbox: str
    occurrences: tuple[RefusedOccurrence, ...]
    reason: str
    comment: str | None = None  # the room's reply as is (no-shows); else built by ``decline_comment``


class ReleaseSeries(_Frozen):
    """Repeated no-shows: the room declines the series master (the rest of the series leaves the room's
    calendar in one request, one reply to the organizer, also beyond the horizon)."""

    kind: str = "release_series"
    room_mailbox: str
    master_event_id: str
    comment: str


SeriesAction = (
    CreateSeriesBookings
    | MoveSeriesBooking
    | CancelSeriesBooking
    | UpdateSeriesFields
    | DeclineOccurrences
    | ReleaseSeries
)


class SeriesPlan(_Frozen):
    actions: tuple[SeriesAction, ...] = ()
    new_base: SeriesBase | None = None
    explanation: tuple[str, ...] = ()

    @property
    def is_noop(self) -> bool:
        return not self.actions

    def of(self, kind: type[BaseModel]) -> list[BaseModel]:
        return [a for a in self.actions if isinstance(a, kind)]


# --------------------------------------------------------------------------- decision


def pattern_slots(master: SeriesMaster, window: Window) -> dict[str, tuple[datetime, datetime]]:
    """slot -> (start, end) the pattern itself defines in the window (the meeting's own zone)."""
    tz_name = master.recurrence.range.recurrence_time_zone or master.time_zone
    local_start = master.start.astimezone(zone(tz_name))
    wall = time(local_start.hour, local_start.minute, local_start.second)
    duration = master.end - master.start
    found = expand(master.recurrence, wall, duration, master.time_zone, window.start, window.end)
    return {slot_key(o.original_start_utc): (o.start_utc, o.end_utc) for o in found}


def desired_slots(
    master: SeriesMaster, instances: Sequence[SeriesInstance] | None, window: Window
) -> dict[str, tuple[datetime, datetime]]:
    """slot -> (start, end) of every occurrence that should hold a booking now.

    ``instances=None`` (not read) trusts the pattern alone; otherwise a slot without an instance was
    cancelled or declined by the room."""
    by_original = {slot_key(i.original_start): i for i in instances or ()}
    out: dict[str, tuple[datetime, datetime]] = {}
    for slot, planned in pattern_slots(master, window).items():
        times = planned
        if instances is not None:
            inst = by_original.pop(slot, None)
            if inst is None or inst.is_cancelled or inst.room_declined:
                continue
            times = (inst.start, inst.end)  # an exception brings its own times
        if times[0] >= window.start:
            out[slot] = times
    # Exceptions whose pattern slot lies outside the window but which were moved into it.
    for slot, inst in by_original.items():
        live = inst.is_exception and not (inst.is_cancelled or inst.room_declined)
        if live and window.start <= inst.start < window.end:
            out[slot] = (inst.start, inst.end)
    return out


def _active(b: SeriesBooking) -> bool:
    return b.status == BookingStatus.ACTIVE


def _overlaps(start: datetime, end: datetime, busy: Iterable[Busy]) -> bool:
    return any(b.start < end and b.end > start for b in busy)


def plan_series(  # noqa: PLR0917 - the decision inputs, one to one
    master: Observed[SeriesMaster],
    instances: Sequence[SeriesInstance] | None,
    bookings: Sequence[SeriesBooking],
    base: SeriesBase | None,
    window: Window,
    space: SpaceRef,
    busy: Sequence[Busy] = (),
    release_after: int | None = None,
) -> SeriesPlan:
    """``release_after``: the building's ``no_show_release_after`` (None: no series release)."""
    if isinstance(master, Unread):
        return SeriesPlan(new_base=base, explanation=("master unread: decide later",))
    if base is not None and base.ended:
        return SeriesPlan(new_base=base, explanation=("series ended: terminal",))
    future = [b for b in bookings if b.start >= window.start]

    if isinstance(master, Gone) or (isinstance(master, Present) and master.value.cancelled):
        if base is None and not any(_active(b) for b in future):
            return SeriesPlan(explanation=("series gone and never booked",))
        cancels = tuple(
            CancelSeriesBooking(
                booking_id=b.booking_id, series_id=b.series_id, reason="Outlook series cancelled"
            )
            for b in future
            if _active(b)
        )
        ended = base.model_copy(update={"ended": True}) if base is not None else None
        return SeriesPlan(actions=cancels, new_base=ended, explanation=("series cancelled in Outlook",))

    assert isinstance(master, Present)
    m = master.value
    want = desired_slots(m, instances, window)
    pattern = pattern_slots(m, window)
    slots: dict[str, SlotBase] = dict(base.slots) if base else {}
    actions: list[SeriesAction] = []
    why: list[str] = []

    # No-shows and check-ins IBSS decided (also of occurrences that started before ``window.start``).
    outcomes, no_shows = _observe_outcomes(bookings, base, slots, why)
    if release_due(outcomes, release_after):
        return _release(m, bookings, base, space, window, slots, outcomes, why)
    actions += _free_dates(m, instances, no_shows, "no check-in", no_show_comment())

    # Which slot each booking serves: the base knows best, the ext ref recovers lost state.
    serving: dict[str, list[SeriesBooking]] = {}
    cancelled_in_ibss: list[tuple[str, SeriesBooking]] = []
    for b in future:
        slot = (base.booking_slot(b.booking_id) if base else None) or b.slot
        if slot is None:
            continue
        known = slots.get(slot)
        if not _active(b):
            if known is not None and known.booking_id == b.booking_id and known.state is SlotState.BOOKED:
                # Cancelled in IBSS by someone else (ours would have left the slot's base): keep it so.
                slots[slot] = known.model_copy(update={"state": SlotState.IBSS_CANCELLED})
                cancelled_in_ibss.append((slot, b))
                why.append(f"{slot}: cancelled in IBSS, not booked again; the room declines that date")
            continue
        serving.setdefault(slot, []).append(b)

    actions += _free_dates(m, instances, cancelled_in_ibss, "cancelled in IBSS", CANCELLED_IN_IBSS)

    # Duplicates of one slot (two workers raced): keep the one the base knows, else the first id.
    keep: dict[str, SeriesBooking] = {}
    for slot, found in serving.items():
        known_id = slots[slot].booking_id if slot in slots else None
        found.sort(key=lambda b: (b.booking_id != known_id, b.booking_id))
        keep[slot] = found[0]
        for extra in found[1:]:
            actions.append(
                CancelSeriesBooking(
                    booking_id=extra.booking_id, series_id=extra.series_id, reason="duplicate"
                )
            )
            why.append(f"{slot}: duplicate booking cancelled")

    def blocked(slot: str) -> bool:
        known = slots.get(slot)
        return known is not None and known.state is not SlotState.BOOKED

    missing = sorted(s for s in want if s not in keep and not blocked(s))
    unwanted = sorted(s for s in keep if s not in want or blocked(s))

    # A changed pattern or master time: bookings of slots the pattern no longer has move to the new
    # slots (in time order) instead of cancel + create. A cancelled occurrence's booking is cancelled.
    leftovers = [s for s in unwanted if s not in pattern and not blocked(s)]
    moves = list(zip(leftovers, missing, strict=False))
    for old, new in moves:
        b = keep.pop(old)
        start, end = want[new]
        if _overlaps(start, end, busy):
            keep[old] = b  # cannot move there: cancel below, refuse the new slot below
            continue
        actions.append(
            MoveSeriesBooking(
                booking_id=b.booking_id, slot=new, start=start, end=end, if_match=b.version or None
            )
        )
        slots.pop(old, None)
        slots[new] = SlotBase(booking_id=b.booking_id, start=start, end=end, version=b.version)
        keep[new] = b.model_copy(update={"start": start, "end": end, "slot": new})
        why.append(f"{old} -> {new}: booking moved (pattern changed)")
    for old in [s for s in unwanted if s in keep]:
        b = keep.pop(old)
        actions.append(
            CancelSeriesBooking(
                booking_id=b.booking_id, series_id=b.series_id, reason="Outlook occurrence removed"
            )
        )
        if slots.get(old) is not None and slots[old].state is SlotState.BOOKED:
            slots.pop(old)
        why.append(f"{old}: occurrence cancelled, declined or no longer in the pattern")

    # Times of kept bookings follow Outlook (exceptions, a master time change).
    for slot, b in sorted(keep.items()):
        if slot not in want:
            continue
        start, end = want[slot]
        known = slots.get(slot)
        if (b.start, b.end) != (start, end):
            edited_in_ibss = (
                known is not None and known.version != b.version and (known.start, known.end) == (start, end)
            )
            if edited_in_ibss:
                # IBSS moved it and Outlook did not change since: the other direction's business.
                why.append(f"{slot}: moved in IBSS, left alone")
                slots[slot] = SlotBase(booking_id=b.booking_id, start=start, end=end, version=b.version)
                continue
            already = any(isinstance(a, MoveSeriesBooking) and a.booking_id == b.booking_id for a in actions)
            if not already:
                actions.append(
                    MoveSeriesBooking(
                        booking_id=b.booking_id, slot=slot, start=start, end=end, if_match=b.version or None
                    )
                )
                why.append(f"{slot}: booking moved with its occurrence")
            slots[slot] = SlotBase(booking_id=b.booking_id, start=start, end=end, version=b.version)
        elif known is None or known.booking_id != b.booking_id or known.version != b.version:
            slots[slot] = SlotBase(booking_id=b.booking_id, start=start, end=end, version=b.version)

    # New slots: refused up front when another booking holds the space (the room declines them).
    to_create: list[NewSlot] = []
    refused: list[str] = []
    taken = [s for s in missing if s in keep]
    for slot in missing:
        if slot in taken:
            continue
        start, end = want[slot]
        if _overlaps(start, end, busy):
            refused.append(slot)
        else:
            to_create.append(NewSlot(slot=slot, start=start, end=end))
    if to_create:
        actions.append(
            CreateSeriesBookings(
                space=space,
                name=m.name,
                owner_email=m.owner_email,
                parties=tuple(sorted(m.parties, key=lambda p: p.email)),
                online_meeting=m.online_meeting,
                slots=tuple(to_create),
                series_uid=m.series_uid,
            )
        )
        why.append(f"{len(to_create)} occurrence(s) booked")
    if refused:
        by_original = {slot_key(i.original_start): i for i in instances or ()}
        declines = tuple(
            RefusedOccurrence(slot=s, event_id=by_original[s].event_id, start=want[s][0], end=want[s][1])
            for s in refused
            if s in by_original
        )
        for s in refused:
            slots[s] = SlotBase(state=SlotState.DECLINED, start=want[s][0], end=want[s][1])
        if declines:
            actions.append(
                DeclineOccurrences(
                    room_mailbox=m.room_mailbox,
                    occurrences=declines,
                    reason="the room is already booked in IBSS at that time",
                )
            )
        why.append(f"{len(refused)} occurrence(s) refused: space taken in IBSS")

    # Series-wide fields: one PATCH per IBSS series (applies to its future bookings).
    ids = tuple(
        dict.fromkeys(
            [*(base.ibss_series_ids if base else ()), *(b.series_id for b in keep.values() if b.series_id)]
        )
    )
    if base is not None and ids and any(k in keep for k in want):
        name = m.name if m.name != base.name else None
        parties = tuple(sorted(m.parties, key=lambda p: p.email)) if m.parties != base.parties else None
        online = m.online_meeting if m.online_meeting != base.online_meeting else None
        if name is not None or parties is not None or online is not None:
            actions.append(
                UpdateSeriesFields(series_ids=ids, name=name, parties=parties, online_meeting=online)
            )
            why.append("series-wide fields changed")

    # Past slots drop out of the base: the row stays small as the horizon rolls on.
    slots = {s: v for s, v in slots.items() if v.end > window.start or s in want}
    new_base = SeriesBase(
        series_uid=m.series_uid,
        room_mailbox=m.room_mailbox,
        master_event_id=m.event_id,
        node_id=space.node_id,
        space_id=space.space_id,
        name=m.name,
        owner_email=m.owner_email,
        parties=m.parties,
        online_meeting=m.online_meeting,
        ibss_series_ids=ids,
        slots=slots,
        outcomes=outcomes,
    )
    return SeriesPlan(actions=tuple(actions), new_base=new_base, explanation=tuple(why))


def _free_dates(
    m: SeriesMaster,
    instances: Sequence[SeriesInstance] | None,
    freed: Sequence[tuple[str, SeriesBooking]],
    reason: str,
    comment: str,
) -> list[SeriesAction]:
    """As the single path frees the room: the room declines those dates (not yet declined) with the reason;
    the organizer keeps the meeting and is told."""
    by_original = {slot_key(i.original_start): i for i in instances or ()}
    dates = tuple(
        RefusedOccurrence(slot=s, event_id=by_original[s].event_id, start=b.start, end=b.end)
        for s, b in freed
        if s in by_original and not by_original[s].room_declined
    )
    if not dates:
        return []
    return [
        DeclineOccurrences(room_mailbox=m.room_mailbox, occurrences=dates, reason=reason, comment=comment)
    ]


def _observe_outcomes(
    bookings: Sequence[SeriesBooking],
    base: SeriesBase | None,
    slots: dict[str, SlotBase],
    why: list[str],
) -> tuple[dict[str, Outcome], list[tuple[str, SeriesBooking]]]:
    """Outcomes with what IBSS newly decided; ``slots`` updated in place (a no-show's slot is never
    booked again). Returns the new no-shows (slot, booking) the room still has to decline."""
    outcomes: dict[str, Outcome] = dict(base.outcomes) if base else {}
    fresh: list[tuple[str, SeriesBooking]] = []
    for b in sorted(bookings, key=lambda b: b.start):
        slot = (base.booking_slot(b.booking_id) if base else None) or b.slot
        if slot is None:
            continue
        known = slots.get(slot)
        if known is not None and known.booking_id not in (None, b.booking_id):
            continue  # an older booking of a slot that holds another one now (moved, duplicate)
        outcome = outcome_of(
            auto_cancelled=b.status == BookingStatus.AUTO_CANCELLED,
            checked_in=b.checked_in,
            completed=b.status == BookingStatus.COMPLETED,
        )
        if outcome is None or outcomes.get(slot) is outcome:
            continue
        outcomes = remember(outcomes, slot, outcome)
        if outcome is Outcome.NO_SHOW:
            slots[slot] = SlotBase(
                state=SlotState.NO_SHOW, booking_id=b.booking_id, start=b.start, end=b.end, version=b.version
            )
            fresh.append((slot, b))
            why.append(f"{slot}: no-show (auto-cancelled in IBSS), the room declines that occurrence")
        else:
            why.append(f"{slot}: attended, no-show count reset")
    return outcomes, fresh


def _release(  # noqa: PLR0917 - the plan's state, passed on
    m: SeriesMaster,
    bookings: Sequence[SeriesBooking],
    base: SeriesBase | None,
    space: SpaceRef,
    window: Window,
    slots: dict[str, SlotBase],
    outcomes: dict[str, Outcome],
    why: list[str],
) -> SeriesPlan:
    """Repeated no-shows: the room leaves the series, every remaining booking is cancelled with a reason
    its owner sees in IBSS; the series is terminal afterwards (never booked again)."""
    streak = no_show_streak(outcomes)
    cancels = tuple(
        CancelSeriesBooking(booking_id=b.booking_id, series_id=b.series_id, reason=release_reason(streak))
        for b in bookings
        if _active(b) and b.start >= window.start and not b.checked_in
    )
    why.append(f"{streak} no-shows in a row: room released from the rest of the series")
    new_base = SeriesBase(
        series_uid=m.series_uid,
        room_mailbox=m.room_mailbox,
        master_event_id=m.event_id,
        node_id=space.node_id,
        space_id=space.space_id,
        name=m.name,
        owner_email=m.owner_email,
        parties=m.parties,
        online_meeting=m.online_meeting,
        ibss_series_ids=base.ibss_series_ids if base else (),
        slots=slots,
        outcomes=outcomes,
        released=True,
        ended=True,
    )
    release = ReleaseSeries(
        room_mailbox=m.room_mailbox, master_event_id=m.event_id, comment=release_comment(streak)
    )
    return SeriesPlan(actions=(release, *cancels), new_base=new_base, explanation=tuple(why))


# --------------------------------------------------------------------------- after the calls


def record_created(base: SeriesBase, series_id: str, created: Sequence[SeriesBooking]) -> SeriesBase:
    """The base after a create: each new booking is linked to its slot (from its ext ref)."""
    slots = dict(base.slots)
    for b in created:
        if b.slot is None:
            continue
        slots[b.slot] = SlotBase(booking_id=b.booking_id, start=b.start, end=b.end, version=b.version)
    ids = base.ibss_series_ids if series_id in base.ibss_series_ids else (*base.ibss_series_ids, series_id)
    return base.model_copy(update={"slots": slots, "ibss_series_ids": ids})


def record_version(base: SeriesBase, booking_id: str, version: str) -> SeriesBase:
    """The version our write produced: its hook compares equal and costs nothing."""
    slot = base.booking_slot(booking_id)
    if slot is None:
        return base
    slots = dict(base.slots)
    slots[slot] = slots[slot].model_copy(update={"version": version})
    return base.model_copy(update={"slots": slots})


def record_refused(base: SeriesBase, refused: Iterable[NewSlot]) -> SeriesBase:
    """Slots IBSS refused at create time (a race with a Flex booking): declined, never retried."""
    slots = dict(base.slots)
    for s in refused:
        slots[s.slot] = SlotBase(state=SlotState.DECLINED, start=s.start, end=s.end)
    return base.model_copy(update={"slots": slots})


def decline_comment(occurrences: Sequence[RefusedOccurrence], time_zone: str, reason: str) -> str:
    """The room's reply: which dates failed and why (local dates in the meeting's zone)."""
    tz = zone(time_zone)
    days = ", ".join(
        o.start.astimezone(tz).strftime("%a %d %b %Y %H:%M")
        for o in sorted(occurrences, key=lambda o: o.start)
    )
    return f"Declined for {days} ({time_zone}): {reason}. The other occurrences are booked."
