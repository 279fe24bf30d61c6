"""Outlook edits of a recurring meeting made from an IBSS series (shared/sync/ibss_series_outlook.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shared.recurrence import PatternedRecurrence
from shared.sync.ibss_series import CancelOccurrence, IbssSeriesBase, SeriesMode, decide_series
from shared.sync.ibss_series_outlook import (
    OCCURRENCE_CANCELLED_IN_OUTLOOK,
    OutlookOccurrence,
    OutlookSeries,
    outlook_series_edits,
)
from shared.sync.model import BookingStatus, OrganizerMode
from shared.sync.plan import CancelBooking, UpdateBooking
from shared.sync.reconcile import CANCELLED_IN_OUTLOOK, ROOM_REMOVED
from tests.sync.test_ibss_series import BERLIN, NOW, cfg, created, edit, kinds, weekly

WINDOW = (NOW - timedelta(days=1), NOW + timedelta(days=120))


def as_written(base: IbssSeriesBase, **update: object) -> OutlookSeries:
    """Outlook holding exactly what we wrote: every slot's occurrence, the master's time and name."""
    occurrences = tuple(
        OutlookOccurrence(original_start=s.original_start, start=s.start, end=s.end)
        for s in base.slots
        if not s.cancelled
    )
    seen = OutlookSeries(
        subject=base.subject,
        start=base.start,
        end=base.end,
        recurrence=base.recurrence,
        window_start=WINDOW[0],
        window_end=WINDOW[1],
        occurrences=occurrences,
    )
    return seen.model_copy(update=update)


def test_outlook_as_we_wrote_it_is_no_write() -> None:
    bookings = weekly()
    base = created(bookings)
    plan = outlook_series_edits(base, as_written(base), bookings, NOW)
    assert plan.actions == ()
    assert plan.new_base == base


def test_series_cancelled_in_outlook_cancels_every_booking_not_started() -> None:
    bookings = weekly()
    base = created(bookings)
    later = NOW + timedelta(days=9)  # the first booking (9 March) has started: history
    plan = outlook_series_edits(base, as_written(base, gone=True), bookings, later)
    assert kinds(plan) == ["cancel_booking"] * 5
    assert {a.reason for a in plan.actions if isinstance(a, CancelBooking)} == {CANCELLED_IN_OUTLOOK}
    assert plan.new_base is not None
    assert plan.new_base.mode is SeriesMode.CANCELLED
    # The hooks of those cancellations find a terminal series: nothing more is written anywhere.
    cancelled = [edit(b, status=BookingStatus.CANCELLED) for b in bookings[1:]]
    echo = decide_series([bookings[0], *cancelled], plan.new_base, cfg())
    assert echo.outlook_writes == 0
    assert not [a for a in echo.actions if isinstance(a, CancelBooking)]


def test_room_removed_from_the_series_cancels_the_bookings() -> None:
    bookings = weekly()
    base = created(bookings)
    plan = outlook_series_edits(base, as_written(base, room_invited=False), bookings, NOW)
    assert {a.reason for a in plan.actions if isinstance(a, CancelBooking)} == {ROOM_REMOVED}
    assert len(plan.actions) == 6


def test_one_occurrence_cancelled_in_outlook_cancels_its_booking_only() -> None:
    bookings = weekly()
    base = created(bookings)
    seen = as_written(base)
    seen = seen.model_copy(update={"occurrences": seen.occurrences[:2] + seen.occurrences[3:]})
    plan = outlook_series_edits(base, seen, bookings, NOW)
    assert plan.actions == (CancelBooking(booking_id="b2", reason=OCCURRENCE_CANCELLED_IN_OUTLOOK),)
    assert plan.new_base is not None
    assert [s.cancelled for s in plan.new_base.slots] == [False, False, True, False, False, False]
    # IBSS's hook of that cancel: the occurrence is already gone, nothing is written back.
    after = [edit(b, status=BookingStatus.CANCELLED) if b.booking_id == "b2" else b for b in bookings]
    assert decide_series(after, plan.new_base, cfg()).actions == ()


def test_one_occurrence_moved_in_outlook_moves_its_booking() -> None:
    bookings = weekly()
    base = created(bookings)
    seen = as_written(base)
    moved = seen.occurrences[1].model_copy(
        update={
            "start": seen.occurrences[1].start + timedelta(hours=3),
            "end": seen.occurrences[1].end + timedelta(hours=3),
        }
    )
    seen = seen.model_copy(update={"occurrences": (seen.occurrences[0], moved, *seen.occurrences[2:])})
    plan = outlook_series_edits(base, seen, bookings, NOW)
    (update,) = plan.actions
    assert isinstance(update, UpdateBooking)
    assert update.booking_id == "b1"
    assert (update.changes.start, update.changes.end) == (moved.start, moved.end)
    assert update.if_match == "v1"
    # The hook of our booking update: the booking equals the new base, so Outlook is not written again.
    after = [edit(b, start=moved.start, end=moved.end) if b.booking_id == "b1" else b for b in bookings]
    assert decide_series(after, plan.new_base, cfg()).actions == ()


def test_series_time_changed_in_outlook_moves_every_future_booking_on_the_wall_clock() -> None:
    bookings = weekly()  # Mondays 10:00 Berlin, across the DST change
    base = created(bookings)
    assert base.start is not None
    assert base.end is not None
    # The organizer moves the series to 14:00-15:30: Graph lists every occurrence at the new time.
    new_start = datetime(2026, 3, 9, 14, 0, tzinfo=BERLIN).astimezone(UTC)
    occurrences = []
    for b in bookings:
        local = b.start.astimezone(BERLIN).replace(hour=14, tzinfo=None).replace(tzinfo=BERLIN)
        start = local.astimezone(UTC)
        occurrences.append(
            OutlookOccurrence(original_start=start, start=start, end=start + timedelta(minutes=90))
        )
    seen = as_written(
        base, start=new_start, end=new_start + timedelta(minutes=90), occurrences=tuple(occurrences)
    )
    plan = outlook_series_edits(base, seen, bookings, NOW)
    updates = [a for a in plan.actions if isinstance(a, UpdateBooking)]
    assert len(updates) == 6
    assert {a.changes.start.astimezone(BERLIN).hour for a in updates if a.changes.start} == {14}
    assert {(a.changes.end - a.changes.start) for a in updates if a.changes.end and a.changes.start} == {
        timedelta(minutes=90)
    }
    # Our own writes coming back: IBSS's series equals the new base, Outlook is not written again.
    assert plan.new_base is not None
    moved = {a.booking_id: a.changes for a in updates}
    after = [edit(b, start=moved[b.booking_id].start, end=moved[b.booking_id].end) for b in bookings]
    assert decide_series(after, plan.new_base, cfg()).actions == ()


def test_series_renamed_in_outlook_renames_the_future_bookings() -> None:
    bookings = weekly()
    base = created(bookings)
    plan = outlook_series_edits(base, as_written(base, subject="Weekly planning"), bookings, NOW)
    assert {a.changes.name for a in plan.actions if isinstance(a, UpdateBooking)} == {"Weekly planning"}
    assert len(plan.actions) == 6
    after = [edit(b, name="Weekly planning") for b in bookings]
    assert decide_series(after, plan.new_base, cfg()).actions == ()


def test_a_booking_changed_in_ibss_too_is_left_to_ibss() -> None:
    bookings = weekly()
    base = created(bookings)
    moved_in_flex = edit(
        bookings[1], start=bookings[1].start + timedelta(hours=1), end=bookings[1].end + timedelta(hours=1)
    )
    seen = as_written(base)
    seen = seen.model_copy(update={"occurrences": seen.occurrences[:1] + seen.occurrences[2:]})
    plan = outlook_series_edits(base, seen, [bookings[0], moved_in_flex, *bookings[2:]], NOW)
    assert plan.actions == ()  # IBSS wins: decide_series writes the Flex move to Outlook


def test_dates_outside_the_window_read_are_not_taken_for_cancelled() -> None:
    bookings = weekly()
    base = created(bookings)
    seen = as_written(base, window_end=bookings[2].start)
    seen = seen.model_copy(update={"occurrences": seen.occurrences[:2]})
    assert outlook_series_edits(base, seen, bookings, NOW).actions == ()


def test_room_mode_series_is_not_outlooks_to_change() -> None:
    bookings = weekly()
    base = created(bookings, OrganizerMode.ROOM)
    plan = outlook_series_edits(base, as_written(base, gone=True), bookings, NOW)
    assert plan.actions == ()


def test_recurrence_is_kept_with_a_reshaped_series() -> None:
    bookings = weekly()
    base = created(bookings)
    assert base.recurrence is not None
    fortnightly = PatternedRecurrence.model_validate(
        {
            **base.recurrence.model_dump(mode="json", by_alias=True),
            "pattern": {**base.recurrence.pattern.model_dump(mode="json", by_alias=True), "interval": 2},
        }
    )
    assert base.start is not None
    assert base.end is not None
    seen = as_written(
        base,
        start=base.start + timedelta(hours=1),
        end=base.end + timedelta(hours=1),
        recurrence=fortnightly,
        occurrences=(),
    )
    plan = outlook_series_edits(base, seen, bookings, NOW)
    assert plan.new_base is not None
    assert plan.new_base.recurrence == fortnightly
    # Every date it no longer has (none listed at the new time) is a cancelled booking.
    assert kinds(plan) == ["cancel_booking"] * 6


def test_a_series_time_change_brings_a_cancelled_date_back_and_it_is_cancelled_again() -> None:
    bookings = weekly()
    base = created(bookings)
    seen = as_written(base)
    cancel_one = outlook_series_edits(
        base,
        seen.model_copy(update={"occurrences": seen.occurrences[:1] + seen.occurrences[2:]}),
        bookings,
        NOW,
    )
    assert cancel_one.new_base is not None
    after = [edit(b, status=BookingStatus.CANCELLED) if b.booking_id == "b1" else b for b in bookings]
    # An hour later for the whole series: Graph lists all six dates again, b1's included.
    shifted = tuple(
        OutlookOccurrence(
            original_start=b.start + timedelta(hours=1),
            start=b.start + timedelta(hours=1),
            end=b.end + timedelta(hours=1),
        )
        for b in bookings
    )
    assert base.start is not None
    assert base.end is not None
    reshaped = as_written(
        cancel_one.new_base,
        start=base.start + timedelta(hours=1),
        end=base.end + timedelta(hours=1),
        occurrences=shifted,
    )
    plan = outlook_series_edits(cancel_one.new_base, reshaped, after, NOW)
    assert sorted(kinds(plan)) == ["cancel_occurrence"] + ["update_booking"] * 5
    (again,) = [a for a in plan.actions if isinstance(a, CancelOccurrence)]
    assert again.booking_id == "b1"
    assert again.original_start == bookings[1].start + timedelta(hours=1)
