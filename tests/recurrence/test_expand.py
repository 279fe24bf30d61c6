"""Known calendars: expand() against dates and UTC instants worked out by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest

from shared.recurrence import (
    PatternedRecurrence,
    RecurrenceError,
    UnknownTimeZone,
    expand,
    occurrence_dates,
    to_rrule,
)

BERLIN = "W. Europe Standard Time"
NEW_YORK = "Eastern Standard Time"
SYDNEY = "AUS Eastern Standard Time"
HOUR = timedelta(hours=1)


def rec(pattern: dict[str, Any], **range_: Any) -> PatternedRecurrence:
    range_.setdefault("type", "noEnd")
    return PatternedRecurrence.model_validate({"pattern": pattern, "range": range_})


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def starts(r: PatternedRecurrence, at: time, zone: str, ws: datetime, we: datetime) -> list[datetime]:
    return [o.start_utc for o in expand(r, at, HOUR, zone, ws, we)]


def dates(r: PatternedRecurrence, n: int) -> list[date]:
    return occurrence_dates(r, n)


# ---------------------------------------------------------------- calendars


def test_second_tuesday() -> None:
    r = rec(
        {"type": "relativeMonthly", "interval": 1, "daysOfWeek": ["tuesday"], "index": "second"},
        startDate="2026-01-01",
    )
    assert dates(r, 5) == [
        date(2026, 1, 13),
        date(2026, 2, 10),
        date(2026, 3, 10),
        date(2026, 4, 14),
        date(2026, 5, 12),
    ]


def test_last_friday_is_bysetpos_minus_one() -> None:
    r = rec(
        {"type": "relativeMonthly", "interval": 1, "daysOfWeek": ["friday"], "index": "last"},
        startDate="2026-01-01",
    )
    assert dates(r, 5) == [
        date(2026, 1, 30),
        date(2026, 2, 27),
        date(2026, 3, 27),
        date(2026, 4, 24),
        date(2026, 5, 29),
    ]
    rule = to_rrule(r, datetime(2026, 1, 1, 9))
    assert "BYSETPOS=-1" in str(rule)
    assert "BYDAY=FR" in str(rule)


def test_first_weekend_day_with_several_weekdays() -> None:
    # Graph: "With several daysOfWeek on relative types, the event falls on the first day that
    # satisfies the pattern."
    r = rec(
        {"type": "relativeMonthly", "interval": 1, "daysOfWeek": ["saturday", "sunday"], "index": "first"},
        startDate="2026-02-01",
    )
    assert dates(r, 3) == [date(2026, 2, 1), date(2026, 3, 1), date(2026, 4, 4)]


def test_relative_yearly_last_monday_of_may() -> None:
    r = rec(
        {"type": "relativeYearly", "interval": 1, "month": 5, "daysOfWeek": ["monday"], "index": "last"},
        startDate="2026-01-01",
    )
    assert dates(r, 3) == [date(2026, 5, 25), date(2027, 5, 31), date(2028, 5, 29)]


def test_feb_29_yearly_falls_on_feb_28_in_common_years() -> None:
    r = rec(
        {"type": "absoluteYearly", "interval": 1, "month": 2, "dayOfMonth": 29},
        type="numbered",
        startDate="2024-02-29",
        numberOfOccurrences=5,
    )
    assert dates(r, 10) == [
        date(2024, 2, 29),
        date(2025, 2, 28),
        date(2026, 2, 28),
        date(2027, 2, 28),
        date(2028, 2, 29),
    ]


def test_31st_monthly_is_the_last_day_of_shorter_months() -> None:
    r = rec({"type": "absoluteMonthly", "interval": 1, "dayOfMonth": 31}, startDate="2026-01-01")
    assert dates(r, 6) == [
        date(2026, 1, 31),
        date(2026, 2, 28),
        date(2026, 3, 31),
        date(2026, 4, 30),
        date(2026, 5, 31),
        date(2026, 6, 30),
    ]
    leap = rec({"type": "absoluteMonthly", "interval": 1, "dayOfMonth": 30}, startDate="2028-01-15")
    assert dates(leap, 3) == [date(2028, 1, 30), date(2028, 2, 29), date(2028, 3, 30)]


def test_monthly_interval_counts_from_the_first_occurrence() -> None:
    # 15 Jan is before startDate, so the first occurrence is 15 Feb and every third month counts from
    # February (MS-OXOCAL 2.2.1.44.1: the interval's anchor is derived from the first occurrence).
    r = rec({"type": "absoluteMonthly", "interval": 3, "dayOfMonth": 15}, startDate="2026-01-20")
    assert dates(r, 3) == [date(2026, 2, 15), date(2026, 5, 15), date(2026, 8, 15)]


def test_graph_example_first_thursday_of_every_other_month_starts_in_september() -> None:
    # Graph "Schedule repeating appointments": "Because the value of startDate is after the first
    # Thursday in August, the first occurrence of this series will be in September."
    r = rec(
        {"type": "relativeMonthly", "interval": 2, "daysOfWeek": ["thursday"], "index": "first"},
        startDate="2017-08-29",
    )
    assert dates(r, 3) == [date(2017, 9, 7), date(2017, 11, 2), date(2018, 1, 4)]


def test_weekly_interval_counts_from_the_week_of_the_first_occurrence() -> None:
    # Every other Tuesday from Wednesday 7 Jan 2026: the first Tuesday is 13 Jan, and its week
    # (MS-OXOCAL 2.2.1.44.1.1: the week "in which the first event of the recurring series occurs")
    # is week 0, whichever day starts the week.
    for first_day in ("sunday", "monday", "wednesday"):
        r = rec(
            {"type": "weekly", "interval": 2, "daysOfWeek": ["tuesday"], "firstDayOfWeek": first_day},
            startDate="2026-01-07",
        )
        assert dates(r, 3) == [date(2026, 1, 13), date(2026, 1, 27), date(2026, 2, 10)], first_day
    # Mon+Fri every other week from Saturday 3 Jan, weeks starting Monday: the first occurrence is
    # Monday 5 Jan, so that week is active and the week of 12 Jan is not.
    r = rec(
        {"type": "weekly", "interval": 2, "daysOfWeek": ["monday", "friday"], "firstDayOfWeek": "monday"},
        startDate="2026-01-03",
    )
    assert dates(r, 4) == [date(2026, 1, 5), date(2026, 1, 9), date(2026, 1, 19), date(2026, 1, 23)]


def test_yearly_interval_counts_from_the_year_of_the_first_occurrence() -> None:
    absolute = rec(
        {"type": "absoluteYearly", "interval": 2, "month": 3, "dayOfMonth": 10}, startDate="2026-06-01"
    )
    assert dates(absolute, 3) == [date(2027, 3, 10), date(2029, 3, 10), date(2031, 3, 10)]
    relative = rec(
        {"type": "relativeYearly", "interval": 3, "month": 5, "daysOfWeek": ["monday"], "index": "last"},
        startDate="2026-05-26",  # after the last Monday of May 2026 (25th)
    )
    assert dates(relative, 2) == [date(2027, 5, 31), date(2030, 5, 27)]


def test_numbered_counts_from_the_first_occurrence() -> None:
    r = rec(
        {"type": "absoluteMonthly", "interval": 2, "dayOfMonth": 31},
        type="numbered",
        startDate="2026-02-01",  # January's 31st is before it: the first occurrence is 28 Feb
        numberOfOccurrences=3,
    )
    assert dates(r, 10) == [date(2026, 2, 28), date(2026, 4, 30), date(2026, 6, 30)]


def test_weekly_interval_two_depends_on_first_day_of_week() -> None:
    base = {"type": "weekly", "interval": 2, "daysOfWeek": ["sunday", "monday"]}
    sunday = rec({**base, "firstDayOfWeek": "sunday"}, startDate="2026-01-05")  # a Monday
    monday = rec({**base, "firstDayOfWeek": "monday"}, startDate="2026-01-05")
    assert dates(sunday, 5) == [
        date(2026, 1, 5),
        date(2026, 1, 18),
        date(2026, 1, 19),
        date(2026, 2, 1),
        date(2026, 2, 2),
    ]
    assert dates(monday, 5) == [
        date(2026, 1, 5),
        date(2026, 1, 11),
        date(2026, 1, 19),
        date(2026, 1, 25),
        date(2026, 2, 2),
    ]


def test_start_date_off_pattern_starts_at_the_first_match() -> None:
    r = rec({"type": "weekly", "interval": 1, "daysOfWeek": ["monday"]}, startDate="2026-01-07")  # Wednesday
    assert dates(r, 2) == [date(2026, 1, 12), date(2026, 1, 19)]


# ---------------------------------------------------------------- time zones and DST


def test_berlin_weekly_keeps_wall_clock_across_both_transitions() -> None:
    r = rec({"type": "weekly", "interval": 1, "daysOfWeek": ["monday"]}, startDate="2026-03-16")
    got = starts(r, time(9), BERLIN, utc(2026, 3, 16), utc(2026, 4, 7))
    assert got == [utc(2026, 3, 16, 8), utc(2026, 3, 23, 8), utc(2026, 3, 30, 7), utc(2026, 4, 6, 7)]
    autumn = starts(r, time(9), BERLIN, utc(2026, 10, 19), utc(2026, 11, 3))
    assert autumn == [utc(2026, 10, 19, 7), utc(2026, 10, 26, 8), utc(2026, 11, 2, 8)]


def test_new_york_weekly_across_dst() -> None:
    r = rec({"type": "weekly", "interval": 1, "daysOfWeek": ["friday"]}, startDate="2026-02-27")
    got = starts(r, time(9), NEW_YORK, utc(2026, 2, 27), utc(2026, 3, 14))
    assert got == [utc(2026, 2, 27, 14), utc(2026, 3, 6, 14), utc(2026, 3, 13, 13)]  # DST from 8 March


def test_sydney_southern_hemisphere() -> None:
    r = rec({"type": "weekly", "interval": 1, "daysOfWeek": ["monday"]}, startDate="2026-03-30")
    got = starts(r, time(9), SYDNEY, utc(2026, 3, 29), utc(2026, 4, 14))
    # 09:00 AEDT (+11) = 22:00Z the day before; from 5 April 09:00 AEST (+10) = 23:00Z.
    assert got == [utc(2026, 3, 29, 22), utc(2026, 4, 5, 23), utc(2026, 4, 12, 23)]
    spring = starts(r, time(9), SYDNEY, utc(2026, 9, 27), utc(2026, 10, 13))
    assert spring == [utc(2026, 9, 27, 23), utc(2026, 10, 4, 22), utc(2026, 10, 11, 22)]  # DST from 4 Oct


def test_lord_howe_half_hour_dst() -> None:
    r = rec({"type": "daily", "interval": 1}, startDate="2026-04-04")
    got = starts(r, time(9), "Lord Howe Standard Time", utc(2026, 4, 3), utc(2026, 4, 6))
    # DST (+11) ends on 5 April 02:00 local; standard time is +10:30.
    assert got == [utc(2026, 4, 3, 22), utc(2026, 4, 4, 22, 30), utc(2026, 4, 5, 22, 30)]


def test_spring_forward_gap_uses_the_offset_before_the_gap() -> None:
    r = rec({"type": "daily", "interval": 1}, startDate="2026-03-28")
    got = expand(r, time(2, 30), HOUR, BERLIN, utc(2026, 3, 27), utc(2026, 3, 31))
    assert [o.start_utc for o in got] == [
        utc(2026, 3, 28, 1, 30),
        utc(2026, 3, 29, 1, 30),
        utc(2026, 3, 30, 0, 30),
    ]
    # 29 March: 02:30 does not exist, so the start is 01:30Z (03:30 CEST). The end is the wall-clock
    # end 03:30 CEST = 01:30Z as well: the duration is kept on the wall clock, not as elapsed time.
    assert got[1].end_utc == utc(2026, 3, 29, 1, 30)
    assert got[0].end_utc - got[0].start_utc == HOUR


def test_fall_back_ambiguous_time_is_the_first_occurrence() -> None:
    r = rec({"type": "daily", "interval": 1}, startDate="2026-10-24")
    got = starts(r, time(2, 30), BERLIN, utc(2026, 10, 23), utc(2026, 10, 27))
    assert got == [utc(2026, 10, 24, 0, 30), utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30)]


def test_recurrence_time_zone_wins_over_the_event_zone() -> None:
    r = rec(
        {"type": "daily", "interval": 1}, startDate="2026-07-01", recurrenceTimeZone="Tokyo Standard Time"
    )
    assert starts(r, time(9), BERLIN, utc(2026, 7, 1), utc(2026, 7, 2)) == [utc(2026, 7, 1, 0)]


def test_mexico_mountain_has_no_dst_since_2022() -> None:
    r = rec({"type": "weekly", "interval": 1, "daysOfWeek": ["monday"]}, startDate="2026-03-30")
    got = starts(r, time(9), "Mountain Standard Time (Mexico)", utc(2026, 3, 30), utc(2026, 4, 7))
    assert got == [utc(2026, 3, 30, 16), utc(2026, 4, 6, 16)]


# ---------------------------------------------------------------- ranges and windows


def test_numbered_counts_from_the_series_start_not_the_window() -> None:
    r = rec({"type": "daily", "interval": 1}, type="numbered", startDate="2026-05-01", numberOfOccurrences=10)
    got = starts(r, time(9), "UTC", utc(2026, 5, 8), utc(2026, 6, 1))
    assert got == [utc(2026, 5, 8, 9), utc(2026, 5, 9, 9), utc(2026, 5, 10, 9)]


def test_end_date_is_inclusive_by_local_date() -> None:
    # 08:00 Tokyo on the end date is 23:00Z the day before; it is still inside the range.
    r = rec({"type": "daily", "interval": 1}, type="endDate", startDate="2026-05-01", endDate="2026-05-03")
    got = starts(r, time(8), "Tokyo Standard Time", utc(2026, 4, 1), utc(2026, 6, 1))
    assert got == [utc(2026, 4, 30, 23), utc(2026, 5, 1, 23), utc(2026, 5, 2, 23)]
    late = starts(r, time(23, 30), "New Zealand Standard Time", utc(2026, 4, 1), utc(2026, 6, 1))
    assert late[-1] == utc(2026, 5, 3, 11, 30)  # 23:30 NZST on 3 May


def test_no_end_is_bounded_by_the_window() -> None:
    r = rec({"type": "daily", "interval": 1}, startDate="2016-01-01")
    got = starts(r, time(9), "UTC", utc(2030, 1, 1), utc(2030, 1, 4))
    assert got == [utc(2030, 1, 1, 9), utc(2030, 1, 2, 9), utc(2030, 1, 3, 9)]


def test_overlap_semantics_at_the_window_edges() -> None:
    r = rec({"type": "daily", "interval": 1}, startDate="2026-05-01")
    # An occurrence 09:00-10:00 ending exactly at the window start is out; one starting at the end is out.
    assert starts(r, time(9), "UTC", utc(2026, 5, 1, 10), utc(2026, 5, 2, 9)) == []
    # Partly overlapping ones are in.
    assert starts(r, time(9), "UTC", utc(2026, 5, 1, 9, 59), utc(2026, 5, 2, 9, 1)) == [
        utc(2026, 5, 1, 9),
        utc(2026, 5, 2, 9),
    ]
    # Zero-length occurrences count when start_window <= start < end_window.
    zero = expand(r, time(9), timedelta(0), "UTC", utc(2026, 5, 1, 9), utc(2026, 5, 2, 9))
    assert [o.start_utc for o in zero] == [utc(2026, 5, 1, 9)]


def test_multi_day_occurrence_reaching_into_the_window() -> None:
    r = rec({"type": "weekly", "interval": 1, "daysOfWeek": ["monday"]}, startDate="2026-05-04")
    got = expand(r, time(9), timedelta(days=3), "UTC", utc(2026, 5, 6), utc(2026, 5, 7))
    assert [(o.start_utc, o.end_utc) for o in got] == [(utc(2026, 5, 4, 9), utc(2026, 5, 7, 9))]
    assert got[0].original_start_utc == got[0].start_utc


# ---------------------------------------------------------------- bad input


def test_bad_inputs_are_clear_errors() -> None:
    r = rec({"type": "daily", "interval": 1}, startDate="2026-05-01")
    with pytest.raises(RecurrenceError, match="timezone-aware"):
        expand(r, time(9), HOUR, "UTC", datetime(2026, 5, 1), utc(2026, 5, 2))
    with pytest.raises(RecurrenceError, match="negative"):
        expand(r, time(9), -HOUR, "UTC", utc(2026, 5, 1), utc(2026, 5, 2))
    with pytest.raises(UnknownTimeZone, match="Mars Standard Time"):
        expand(r, time(9), HOUR, "Mars Standard Time", utc(2026, 5, 1), utc(2026, 5, 2))
    assert expand(r, time(9), HOUR, "UTC", utc(2026, 5, 2), utc(2026, 5, 1)) == []
