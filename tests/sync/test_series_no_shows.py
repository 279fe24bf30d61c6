"""Repeated no-shows in an Outlook-made series (shared/sync/no_shows.py and its use in plan_series)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.rooms.models import BuildingConfig
from shared.sync.ibss_series import (
    CancelSeriesMeeting,
    RoomDeclinesSeries,
    SeriesConfig,
    SeriesMode,
    decide_series,
)
from shared.sync.model import BookingStatus, OrganizerMode, Present
from shared.sync.no_shows import (
    MAX_REMEMBERED,
    Outcome,
    no_show_streak,
    outcome_of,
    release_due,
    remember,
)
from shared.sync.plan import CancelBooking
from shared.sync.series_outlook import (
    CancelSeriesBooking,
    CreateSeriesBookings,
    DeclineOccurrences,
    ReleaseSeries,
    SeriesBase,
    SeriesPlan,
    SlotState,
    Window,
    plan_series,
)
from tests.sync.test_ibss_series import cfg as ibss_cfg
from tests.sync.test_ibss_series import created, edit, kinds, weekly
from tests.sync.test_series_outlook import (
    SPACE,
    WINDOW,
    FakeIbss,
    booked_series,
    instances_of,
    master,
)

NO, YES = Outcome.NO_SHOW, Outcome.ATTENDED


def _slots(*outcomes: Outcome) -> dict[str, Outcome]:
    day = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    return {(day + timedelta(weeks=i)).strftime("%Y%m%dT%H%M%SZ"): o for i, o in enumerate(outcomes)}


# --------------------------------------------------------------------------- the count


def test_outcome_is_what_ibss_decided() -> None:
    assert outcome_of(auto_cancelled=True, checked_in=False, completed=False) is NO
    assert outcome_of(auto_cancelled=False, checked_in=True, completed=False) is YES
    assert outcome_of(auto_cancelled=False, checked_in=False, completed=True) is YES
    assert outcome_of(auto_cancelled=False, checked_in=False, completed=False) is None  # not decided yet


@pytest.mark.parametrize(
    ("outcomes", "streak"),
    [
        ((), 0),
        ((NO,), 1),
        ((NO, NO, NO), 3),
        ((NO, NO, YES), 0),  # a check-in resets the count
        ((YES, NO, NO), 2),
        ((NO, YES, NO), 1),
    ],
)
def test_streak_counts_the_latest_no_shows_in_a_row(outcomes: tuple[Outcome, ...], streak: int) -> None:
    assert no_show_streak(_slots(*outcomes)) == streak


def test_streak_follows_slot_time_not_insertion_order() -> None:
    later_first = dict(reversed(list(_slots(YES, NO, NO).items())))
    assert no_show_streak(later_first) == 2


def test_release_is_off_by_default_and_needs_n_in_a_row() -> None:
    two = _slots(NO, NO)
    assert not release_due(two, None)
    assert not release_due(two, 0)
    assert not release_due(two, 3)
    assert release_due(two, 2)
    assert release_due(two, 1)
    assert not release_due(_slots(NO, NO, YES), 2)


def test_remember_keeps_only_the_latest_outcomes() -> None:
    outcomes: dict[str, Outcome] = {}
    for slot, outcome in _slots(*([YES] * (MAX_REMEMBERED + 5))).items():
        outcomes = remember(outcomes, slot, outcome)
    assert len(outcomes) == MAX_REMEMBERED
    assert min(outcomes) == sorted(_slots(*([YES] * (MAX_REMEMBERED + 5))))[5]


# --------------------------------------------------------------------------- in plan_series


def _auto_cancel(ibss: FakeIbss, index: int) -> str:
    b = ibss.active()[index]
    ibss.bookings[b.booking_id] = b.model_copy(
        update={"status": BookingStatus.AUTO_CANCELLED, "version": f"x{b.version}"}
    )
    return b.booking_id


def _check_in(ibss: FakeIbss, index: int) -> None:
    b = ibss.active()[index]
    ibss.bookings[b.booking_id] = b.model_copy(update={"checked_in": True, "version": f"c{b.version}"})


def _plan(ibss: FakeIbss, base: SeriesBase, release_after: int | None, window: Window = WINDOW) -> SeriesPlan:
    m = master()
    return plan_series(
        Present(m), instances_of(m, window=window), ibss.listing(), base, window, SPACE, (), release_after
    )


def test_a_no_show_declines_that_occurrence_and_is_never_booked_again() -> None:
    ibss, base = booked_series()
    gone = _auto_cancel(ibss, 0)
    plan = _plan(ibss, base, None)
    (decline,) = plan.actions
    assert isinstance(decline, DeclineOccurrences)
    assert len(decline.occurrences) == 1
    assert decline.comment is not None
    assert "no check-in" in decline.comment
    assert plan.new_base is not None
    slot = base.booking_slot(gone)
    assert slot is not None
    assert plan.new_base.slots[slot].state is SlotState.NO_SHOW
    assert plan.new_base.outcomes == {slot: NO}
    # Echo-free: deciding again from the stored base writes nothing (and does not rebook the date).
    again = _plan(ibss, plan.new_base, None)
    assert again.is_noop
    assert not again.of(CreateSeriesBookings)


def test_setting_off_never_releases_the_series() -> None:
    ibss, base = booked_series()
    for _ in range(3):
        _auto_cancel(ibss, 0)
        plan = _plan(ibss, base, None)
        assert not plan.of(ReleaseSeries)
        assert not plan.of(CancelSeriesBooking)
        assert plan.new_base is not None
        base = plan.new_base
    assert len(ibss.active()) == 5  # 8 booked, 3 no-shows; the rest stay booked
    assert not base.released


def test_n_no_shows_in_a_row_release_the_rest_of_the_series() -> None:
    ibss, base = booked_series()
    _auto_cancel(ibss, 0)
    first = _plan(ibss, base, 2)
    assert not first.of(ReleaseSeries)
    assert first.new_base is not None
    _auto_cancel(ibss, 0)
    plan = _plan(ibss, first.new_base, 2)
    (release,) = plan.of(ReleaseSeries)
    assert isinstance(release, ReleaseSeries)
    assert release.master_event_id == "m1"
    assert "last 2 occurrences" in release.comment
    cancels = [a for a in plan.actions if isinstance(a, CancelSeriesBooking)]
    assert {c.booking_id for c in cancels} == {b.booking_id for b in ibss.active()}
    assert all("no check-in" in c.reason for c in cancels)
    assert plan.new_base is not None
    assert plan.new_base.released
    assert plan.new_base.ended  # terminal: nothing is booked again
    ibss.apply(plan)
    assert _plan(ibss, plan.new_base, 2).is_noop


def test_a_check_in_resets_the_count() -> None:
    ibss, base = booked_series()
    _auto_cancel(ibss, 0)
    plan = _plan(ibss, base, 2)
    assert plan.new_base is not None
    _check_in(ibss, 0)
    plan = _plan(ibss, plan.new_base, 2)
    assert plan.is_noop
    assert plan.new_base is not None
    assert list(plan.new_base.outcomes.values()) == [NO, YES]
    _auto_cancel(ibss, 1)  # the next unchecked occurrence: one no-show after the check-in
    plan = _plan(ibss, plan.new_base, 2)
    assert not plan.of(ReleaseSeries)


def test_no_shows_of_occurrences_that_started_before_now_count() -> None:
    """In production the auto-cancel comes after the start: the booking lies before ``window.start``."""
    ibss, base = booked_series()
    gone = _auto_cancel(ibss, 0)
    start = ibss.bookings[gone].start
    later = Window(start=start + timedelta(minutes=16), end=WINDOW.end)
    plan = _plan(ibss, base, 1, later)
    assert plan.of(ReleaseSeries)
    assert plan.new_base is not None
    assert plan.new_base.outcomes == {base.booking_slot(gone): NO}


# --------------------------------------------------------------------------- IBSS-made series


def _ibss_cfg(mode: OrganizerMode, release_after: int | None) -> SeriesConfig:
    return ibss_cfg(mode).model_copy(update={"no_show_release_after": release_after})


@pytest.mark.parametrize("mode", [OrganizerMode.OWNER, OrganizerMode.ROOM])
def test_ibss_series_released_after_n_no_shows(mode: OrganizerMode) -> None:
    bookings = weekly(6)
    base = created(bookings, mode)
    first = [edit(bookings[0], status=BookingStatus.AUTO_CANCELLED), *bookings[1:]]
    one = decide_series(first, base, _ibss_cfg(mode, 2))
    assert kinds(one) == ["cancel_occurrence"]  # one no-show: that occurrence only, as before
    assert one.new_base is not None
    second = [first[0], edit(first[1], status=BookingStatus.AUTO_CANCELLED), *first[2:]]
    plan = decide_series(second, one.new_base, _ibss_cfg(mode, 2))
    leave = plan.actions[0]
    if mode is OrganizerMode.OWNER:
        assert isinstance(leave, RoomDeclinesSeries)  # the owner keeps the meeting, the room leaves
    else:
        assert isinstance(leave, CancelSeriesMeeting)  # the room's own meeting: cancelled
    assert "last 2 occurrences" in leave.comment
    cancels = [a for a in plan.actions if isinstance(a, CancelBooking)]
    assert [c.booking_id for c in cancels] == ["b2", "b3", "b4", "b5"]
    assert all("no check-in" in c.reason for c in cancels)
    assert plan.new_base is not None
    assert plan.new_base.mode is SeriesMode.CANCELLED  # terminal
    # The cancellations' own hooks change nothing.
    done = [*second[:2], *(edit(b, status=BookingStatus.CANCELLED) for b in second[2:])]
    assert not decide_series(done, plan.new_base, _ibss_cfg(mode, 2)).actions


def test_ibss_series_setting_off_or_check_in_keeps_the_series() -> None:
    bookings = weekly(6)
    base = created(bookings)
    two = [edit(b, status=BookingStatus.AUTO_CANCELLED) for b in bookings[:2]] + bookings[2:]
    off = decide_series(two, base, _ibss_cfg(OrganizerMode.OWNER, None))
    assert set(kinds(off)) == {"cancel_occurrence"}
    attended = [
        edit(bookings[0], status=BookingStatus.AUTO_CANCELLED),
        edit(bookings[1], checked_in=True),
        edit(bookings[2], status=BookingStatus.AUTO_CANCELLED),
        *bookings[3:],
    ]
    plan = decide_series(attended, base, _ibss_cfg(OrganizerMode.OWNER, 2))
    assert "room_declines_series" not in kinds(plan)
    assert "cancel_booking" not in kinds(plan)


@pytest.mark.parametrize(
    ("raw", "expected"), [(None, None), (2, 2), ("3", 3), (" 4 ", 4), (0, None), (-1, None), ("two", None)]
)
def test_building_setting_typos_mean_off(raw: object, expected: int | None) -> None:
    entity = {"PartitionKey": "building", "RowKey": "1001", "node_id": 1001, "no_show_release_after": raw}
    assert BuildingConfig.from_entity(entity).no_show_release_after == expected
