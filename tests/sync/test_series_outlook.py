"""The pure decision for recurring meetings made in Outlook (shared/sync/series_outlook.py)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from shared.recurrence import PatternedRecurrence
from shared.sync.model import GONE, UNREAD, BookingStatus, Party, Present, SpaceRef
from shared.sync.reconcile import CANCELLED_IN_IBSS
from shared.sync.series_outlook import (
    Busy,
    CancelSeriesBooking,
    CreateSeriesBookings,
    DeclineOccurrences,
    MoveSeriesBooking,
    NewSlot,
    RefusedOccurrence,
    SeriesBase,
    SeriesBooking,
    SeriesInstance,
    SeriesMaster,
    SeriesPlan,
    SlotState,
    UpdateSeriesFields,
    Window,
    decline_comment,
    is_outlook_series_ref,
    parse_series_ref,
    pattern_slots,
    plan_series,
    record_created,
    record_refused,
    record_version,
    series_ref,
    slot_key,
)

ROOM = "aurora@contoso.example"
SPACE = SpaceRef(node_id=1001, space_id="HQ-1-AURORA", room_mailbox=ROOM)
UID = "040000008200E00074C5B7101A82E008000000001"
NOW = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)  # a Monday, before the 09:00 Berlin meeting
WINDOW = Window(start=NOW, end=NOW + timedelta(days=56))
_ids = itertools.count(1)


def weekly(
    start_date: str = "2026-03-02", interval: int = 1, days: tuple[str, ...] = ("monday",)
) -> PatternedRecurrence:
    return PatternedRecurrence.model_validate(
        {
            "pattern": {
                "type": "weekly",
                "interval": interval,
                "daysOfWeek": list(days),
                "firstDayOfWeek": "sunday",
            },
            "range": {"type": "noEnd", "startDate": start_date, "recurrenceTimeZone": "Europe/Berlin"},
        }
    )


def master(**changes: object) -> SeriesMaster:
    values: dict[str, object] = {
        "event_id": "m1",
        "series_uid": UID,
        "room_mailbox": ROOM,
        "recurrence": weekly(),
        "start": datetime(2026, 3, 2, 8, 0, tzinfo=UTC),  # 09:00 CET
        "end": datetime(2026, 3, 2, 9, 0, tzinfo=UTC),
        "time_zone": "W. Europe Standard Time",
        "name": "Weekly sync",
        "owner_email": "bob@contoso.example",
    }
    values.update(changes)
    return SeriesMaster.model_validate(values)


def instances_of(
    m: SeriesMaster, overrides: dict[str, SeriesInstance | None] | None = None, window: Window = WINDOW
) -> list[SeriesInstance]:
    """The room's /instances for the plain pattern, with some slots replaced (or removed with None)."""
    overrides = overrides or {}
    out = []
    for slot, (start, end) in pattern_slots(m, window).items():
        if slot in overrides:
            replaced = overrides[slot]
            if replaced is not None:
                out.append(replaced)
            continue
        out.append(SeriesInstance(event_id=f"occ-{slot}", original_start=start, start=start, end=end))
    return out


class FakeIbss:
    """IBSS as far as the plans touch it: carries a plan out like the worker does."""

    def __init__(self) -> None:
        self.bookings: dict[str, SeriesBooking] = {}
        self.writes = 0

    def listing(self) -> list[SeriesBooking]:
        return list(self.bookings.values())

    def apply(self, plan: SeriesPlan) -> SeriesBase | None:
        base = plan.new_base
        for action in plan.actions:
            self.writes += 1
            if isinstance(action, CreateSeriesBookings):
                sid = f"s{next(_ids)}"
                made = []
                for s in action.slots:
                    b = SeriesBooking(
                        booking_id=f"b{next(_ids)}",
                        slot=s.slot,
                        start=s.start,
                        end=s.end,
                        status=BookingStatus.ACTIVE,
                        version=f"v{next(_ids)}",
                        series_id=sid,
                    )
                    self.bookings[b.booking_id] = b
                    made.append(b)
                assert base is not None
                base = record_created(base, sid, made)
            elif isinstance(action, MoveSeriesBooking):
                old = self.bookings[action.booking_id]
                version = f"v{next(_ids)}"
                self.bookings[old.booking_id] = old.model_copy(
                    update={"start": action.start, "end": action.end, "version": version}
                )
                assert base is not None
                base = record_version(base, old.booking_id, version)
            elif isinstance(action, CancelSeriesBooking):
                old = self.bookings[action.booking_id]
                self.bookings[old.booking_id] = old.model_copy(
                    update={"status": BookingStatus.CANCELLED, "version": f"v{next(_ids)}"}
                )
        return base

    def active(self) -> list[SeriesBooking]:
        return sorted(
            (b for b in self.bookings.values() if b.status == BookingStatus.ACTIVE), key=lambda b: b.start
        )


def run(
    ibss: FakeIbss,
    m: SeriesMaster | None,
    base: SeriesBase | None,
    instances: list[SeriesInstance] | None = None,
    busy: tuple[Busy, ...] = (),
    window: Window = WINDOW,
) -> tuple[SeriesPlan, SeriesBase | None]:
    observed = Present(m) if m is not None else GONE
    if m is not None and instances is None:
        instances = instances_of(m, window=window)
    plan = plan_series(observed, instances, ibss.listing(), base, window, SPACE, busy)
    return plan, ibss.apply(plan)


def booked_series() -> tuple[FakeIbss, SeriesBase]:
    ibss = FakeIbss()
    _plan, base = run(ibss, master(), None)
    assert base is not None
    return ibss, base


# --------------------------------------------------------------------------- refs


def test_series_ref_round_trip_and_foreign_refs() -> None:
    slot = slot_key(datetime(2026, 3, 2, 8, 0, tzinfo=UTC))
    ref = series_ref(UID, slot)
    assert parse_series_ref(ref) == (UID, slot)
    assert is_outlook_series_ref(ref)
    for other in (None, "", UID, "m365s:", f"m365s:{UID}|notaslot", "m365s:|20260302T080000Z"):
        assert parse_series_ref(other) is None
        assert not is_outlook_series_ref(other)


# --------------------------------------------------------------------------- booking a series


def test_new_series_books_every_occurrence_in_the_horizon_as_one_ibss_series() -> None:
    ibss = FakeIbss()
    plan, base = run(ibss, master(), None)
    creates = [a for a in plan.actions if isinstance(a, CreateSeriesBookings)]
    assert len(plan.actions) == 1
    assert len(creates) == 1
    # 8 Mondays in 56 days; 09:00 Berlin is 08:00Z before 29 Mar 2026 and 07:00Z after (DST).
    starts = [s.start for s in creates[0].slots]
    assert len(starts) == 8
    assert starts[0] == datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    assert starts[3] == datetime(2026, 3, 23, 8, 0, tzinfo=UTC)
    assert starts[4] == datetime(2026, 3, 30, 7, 0, tzinfo=UTC)
    assert all(s.end - s.start == timedelta(hours=1) for s in creates[0].slots)
    assert base is not None
    assert len(base.ibss_series_ids) == 1
    assert {b.series_id for b in ibss.active()} == set(base.ibss_series_ids)


def test_a_second_run_is_a_noop_echo_free() -> None:
    ibss, base = booked_series()
    plan, again = run(ibss, master(), base)
    assert plan.is_noop
    assert again == base


def test_unread_master_or_terminal_base_decides_nothing() -> None:
    ibss, base = booked_series()
    assert plan_series(UNREAD, None, ibss.listing(), base, WINDOW, SPACE).is_noop
    ended = base.model_copy(update={"ended": True})
    assert plan_series(Present(master()), None, ibss.listing(), ended, WINDOW, SPACE).is_noop


def test_past_and_started_occurrences_are_left_alone() -> None:
    ibss = FakeIbss()
    late = Window(start=datetime(2026, 3, 2, 8, 30, tzinfo=UTC), end=WINDOW.end)  # first one has started
    plan, _ = run(ibss, master(), None, window=late)
    create = plan.actions[0]
    assert isinstance(create, CreateSeriesBookings)
    assert create.slots[0].start == datetime(2026, 3, 9, 8, 0, tzinfo=UTC)


def test_numbered_and_end_date_ranges_bound_the_bookings() -> None:
    numbered = master(
        recurrence=PatternedRecurrence.model_validate(
            {
                "pattern": {"type": "daily", "interval": 2},
                "range": {"type": "numbered", "startDate": "2026-03-02", "numberOfOccurrences": 3},
            }
        )
    )
    plan, _ = run(FakeIbss(), numbered, None)
    assert [len(a.slots) for a in plan.actions if isinstance(a, CreateSeriesBookings)] == [3]


# --------------------------------------------------------------------------- single occurrences


def test_cancelled_occurrence_cancels_its_booking_only() -> None:
    ibss, base = booked_series()
    m = master()
    third = slot_key(datetime(2026, 3, 16, 8, 0, tzinfo=UTC))
    plan, base2 = run(ibss, m, base, instances_of(m, {third: None}))
    cancels = [a for a in plan.actions if isinstance(a, CancelSeriesBooking)]
    assert len(plan.actions) == 1
    assert len(cancels) == 1
    assert cancels[0].booking_id == base.slots[third].booking_id
    assert base2 is not None
    assert third not in base2.slots
    # Replayed: nothing more, and the slot is not booked again.
    plan, _ = run(ibss, m, base2, instances_of(m, {third: None}))
    assert plan.is_noop
    assert len(ibss.active()) == 7


def test_moved_occurrence_moves_its_booking() -> None:
    ibss, base = booked_series()
    m = master()
    second = datetime(2026, 3, 9, 8, 0, tzinfo=UTC)
    key = slot_key(second)
    moved = SeriesInstance(
        event_id="exc",
        original_start=second,
        start=second + timedelta(days=1, hours=2),
        end=second + timedelta(days=1, hours=3),
        is_exception=True,
    )
    plan, base2 = run(ibss, m, base, instances_of(m, {key: moved}))
    assert len(plan.actions) == 1
    move = plan.actions[0]
    assert isinstance(move, MoveSeriesBooking)
    assert move.booking_id == base.slots[key].booking_id
    assert move.start == moved.start
    assert move.if_match == base.slots[key].version
    plan, _ = run(ibss, m, base2, instances_of(m, {key: moved}))
    assert plan.is_noop


def test_exception_moved_into_the_window_from_outside_is_booked() -> None:
    ibss, base = booked_series()
    m = master()
    outside = datetime(2026, 5, 4, 7, 0, tzinfo=UTC)  # slot after the window end
    moved = SeriesInstance(
        event_id="exc",
        original_start=outside,
        start=datetime(2026, 4, 21, 7, 0, tzinfo=UTC),
        end=datetime(2026, 4, 21, 8, 0, tzinfo=UTC),
        is_exception=True,
    )
    plan, _ = run(ibss, m, base, [*instances_of(m), moved])
    create = plan.actions[0]
    assert isinstance(create, CreateSeriesBookings)
    assert create.slots[0].slot == slot_key(outside)


def test_occurrence_the_room_declined_is_not_booked() -> None:
    ibss = FakeIbss()
    m = master()
    first = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    declined = SeriesInstance(
        event_id="x", original_start=first, start=first, end=first + timedelta(hours=1), room_declined=True
    )
    plan, _ = run(ibss, m, None, instances_of(m, {slot_key(first): declined}))
    create = plan.actions[0]
    assert isinstance(create, CreateSeriesBookings)
    assert len(create.slots) == 7


# --------------------------------------------------------------------------- whole-series changes


def test_master_time_change_moves_every_future_booking() -> None:
    ibss, base = booked_series()
    later = master(start=datetime(2026, 3, 2, 9, 0, tzinfo=UTC), end=datetime(2026, 3, 2, 10, 0, tzinfo=UTC))
    plan, base2 = run(ibss, later, base)
    moves = [a for a in plan.actions if isinstance(a, MoveSeriesBooking)]
    assert len(moves) == 8
    assert len(plan.actions) == 8
    assert [b.start.hour for b in ibss.active()] == [9, 9, 9, 9, 8, 8, 8, 8]  # 10:00 Berlin, DST on 29 Mar
    assert run(ibss, later, base2)[0].is_noop


def test_weekly_to_fortnightly_cancels_every_other_booking() -> None:
    ibss, base = booked_series()
    fortnightly = master(recurrence=weekly(interval=2))
    plan, base2 = run(ibss, fortnightly, base)
    assert all(isinstance(a, CancelSeriesBooking) for a in plan.actions)
    assert len(plan.actions) == 4
    assert [b.start.day for b in ibss.active()] == [2, 16, 30, 13]
    assert run(ibss, fortnightly, base2)[0].is_noop
    # And back: the missing weeks are booked again (a new IBSS series for the additions).
    plan, base3 = run(ibss, master(), base2)
    creates = [a for a in plan.actions if isinstance(a, CreateSeriesBookings)]
    assert len(creates) == 1
    assert len(creates[0].slots) == 4
    assert base3 is not None
    assert len(base3.ibss_series_ids) == 2
    assert len(ibss.active()) == 8


def test_changed_weekday_moves_bookings_instead_of_cancel_and_create() -> None:
    ibss, base = booked_series()
    tuesdays = master(
        recurrence=weekly(start_date="2026-03-03", days=("tuesday",)),
        start=datetime(2026, 3, 3, 8, 0, tzinfo=UTC),
        end=datetime(2026, 3, 3, 9, 0, tzinfo=UTC),
    )
    plan, base2 = run(ibss, tuesdays, base)
    assert len(plan.actions) == 8
    assert all(isinstance(a, MoveSeriesBooking) for a in plan.actions)
    assert all(b.start.weekday() == 1 for b in ibss.active())
    assert run(ibss, tuesdays, base2)[0].is_noop


def test_series_cancelled_or_gone_cancels_every_future_booking_and_ends() -> None:
    for cancelled in (master(cancelled=True), None):
        ibss, base = booked_series()
        plan, base2 = run(ibss, cancelled, base, instances=[] if cancelled else None)
        assert len(plan.actions) == 8
        assert all(isinstance(a, CancelSeriesBooking) for a in plan.actions)
        assert base2 is not None
        assert base2.ended
        assert not ibss.active()
        # Nothing is ever booked again for it (no resurrection), even if a stale read shows it alive.
        assert run(ibss, master(), base2)[0].is_noop


def test_series_gone_before_anything_was_booked_is_a_noop() -> None:
    assert plan_series(GONE, None, [], None, WINDOW, SPACE).is_noop


def test_series_wide_name_and_parties_change_is_one_series_update() -> None:
    ibss, base = booked_series()
    guest = Party(email="guest@fabrikam.example", is_visitor=True)
    renamed = master(name="Weekly sync (new)", parties=frozenset({guest}))
    plan, base2 = run(ibss, renamed, base)
    assert len(plan.actions) == 1
    update = plan.actions[0]
    assert isinstance(update, UpdateSeriesFields)
    assert update.name == "Weekly sync (new)"
    assert update.parties == (guest,)
    assert update.online_meeting is None
    assert update.series_ids == base.ibss_series_ids
    assert run(ibss, renamed, base2)[0].is_noop


# --------------------------------------------------------------------------- conflicts and reliability


def test_dates_taken_in_ibss_are_declined_once_and_never_retried() -> None:
    ibss = FakeIbss()
    m = master()
    taken = datetime(2026, 3, 16, 8, 30, tzinfo=UTC)
    busy = (Busy(start=taken, end=taken + timedelta(hours=1)),)
    plan, base = run(ibss, m, None, busy=busy)
    create = next(a for a in plan.actions if isinstance(a, CreateSeriesBookings))
    decline = next(a for a in plan.actions if isinstance(a, DeclineOccurrences))
    assert len(create.slots) == 7
    assert [o.start for o in decline.occurrences] == [datetime(2026, 3, 16, 8, 0, tzinfo=UTC)]
    assert base is not None
    slot = slot_key(datetime(2026, 3, 16, 8, 0, tzinfo=UTC))
    assert base.slots[slot].state is SlotState.DECLINED
    # Next run: the room now shows the occurrence declined, the space may even be free again.
    first = datetime(2026, 3, 16, 8, 0, tzinfo=UTC)
    declined = SeriesInstance(
        event_id="x", original_start=first, start=first, end=first + timedelta(hours=1), room_declined=True
    )
    assert run(ibss, m, base, instances_of(m, {slot: declined}))[0].is_noop
    assert run(ibss, m, base)[0].is_noop  # even before the decline shows: never retried


def test_decline_comment_names_the_local_dates() -> None:
    occ = RefusedOccurrence(
        slot="s",
        event_id="e",
        start=datetime(2026, 3, 16, 8, 0, tzinfo=UTC),
        end=datetime(2026, 3, 16, 9, 0, tzinfo=UTC),
    )
    text = decline_comment([occ], "Europe/Berlin", "taken")
    assert "Mon 16 Mar 2026 09:00" in text
    assert "taken" in text


def test_refused_at_create_time_is_recorded_as_declined() -> None:
    _, base = booked_series()
    s = NewSlot(
        slot="20260601T070000Z",
        start=datetime(2026, 6, 1, 7, tzinfo=UTC),
        end=datetime(2026, 6, 1, 8, tzinfo=UTC),
    )
    assert record_refused(base, [s]).slots["20260601T070000Z"].state is SlotState.DECLINED


def test_booking_cancelled_in_ibss_frees_the_date_and_is_not_booked_again() -> None:
    ibss, base = booked_series()
    victim = ibss.active()[2]
    ibss.bookings[victim.booking_id] = victim.model_copy(
        update={"status": BookingStatus.CANCELLED, "version": "x"}
    )
    plan, base2 = run(ibss, master(), base)
    # As for a single meeting: the room declines that date with the reason; nothing is written to IBSS.
    (decline,) = plan.actions
    assert isinstance(decline, DeclineOccurrences)
    assert [o.slot for o in decline.occurrences] == [victim.slot]
    assert decline.comment == CANCELLED_IN_IBSS
    assert base2 is not None
    assert base2.slots[victim.slot or ""].state is SlotState.IBSS_CANCELLED
    assert run(ibss, master(), base2)[0].is_noop
    assert len(ibss.active()) == 7


def test_duplicates_from_racing_workers_are_cancelled_down_to_one() -> None:
    ibss, base = booked_series()
    first = ibss.active()[0]
    dup = first.model_copy(update={"booking_id": "zzz-dup", "version": "vd"})
    ibss.bookings[dup.booking_id] = dup
    plan, _ = run(ibss, master(), base)
    assert [a.booking_id for a in plan.actions if isinstance(a, CancelSeriesBooking)] == ["zzz-dup"]
    assert len(plan.actions) == 1


def test_lost_state_adopts_existing_bookings_by_their_ext_ref() -> None:
    ibss, _ = booked_series()
    plan, base = run(ibss, master(), None)
    assert plan.is_noop
    assert base is not None
    assert len(base.slots) == 8
    assert {v.booking_id for v in base.slots.values()} == {b.booking_id for b in ibss.active()}


def test_ibss_edit_of_one_booking_is_left_to_the_other_direction() -> None:
    ibss, base = booked_series()
    b = ibss.active()[1]
    ibss.bookings[b.booking_id] = b.model_copy(
        update={
            "start": b.start + timedelta(hours=3),
            "end": b.end + timedelta(hours=3),
            "version": "ibss-edit",
        }
    )
    plan, base2 = run(ibss, master(), base)
    assert plan.is_noop
    assert base2 is not None
    assert base2.slots[b.slot or ""].version == "ibss-edit"


@pytest.mark.parametrize("weeks", [4, 52])
def test_horizon_rolls_forward_and_old_slots_leave_the_base(weeks: int) -> None:
    ibss = FakeIbss()
    plan, base = run(ibss, master(), None)
    later = Window(start=NOW + timedelta(days=7 * weeks), end=WINDOW.end + timedelta(days=7 * weeks))
    plan, base2 = run(ibss, master(), base, window=later)
    creates = [a for a in plan.actions if isinstance(a, CreateSeriesBookings)]
    assert len(creates) == 1
    assert base2 is not None
    assert all(v.end > later.start for v in base2.slots.values())
    assert run(ibss, master(), base2, window=later)[0].is_noop
