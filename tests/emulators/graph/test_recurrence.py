"""The hand-written recurrence oracle on known calendars and properties."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emulators.graph import recurrence as rec


def dates(pattern: dict, rng: dict, n: int = 50) -> list[date]:
    p, r = rec.parse({"pattern": pattern, "range": rng})
    out = []
    for d in rec.occurrence_dates(p, r):
        out.append(d)
        if len(out) >= n:
            break
    return out


def test_daily_interval_numbered():
    got = dates(
        {"type": "daily", "interval": 3},
        {"type": "numbered", "startDate": "2026-01-30", "numberOfOccurrences": 4},
    )
    assert got == [date(2026, 1, 30), date(2026, 2, 2), date(2026, 2, 5), date(2026, 2, 8)]


def test_weekly_multiple_days_interval_two_first_day_monday():
    got = dates(
        {"type": "weekly", "interval": 2, "daysOfWeek": ["monday", "thursday"], "firstDayOfWeek": "monday"},
        {"type": "endDate", "startDate": "2026-11-19", "endDate": "2026-12-20"},
    )
    # Starts Thursday 19 Nov (week of Mon 16 Nov); next active week is Mon 30 Nov.
    assert got == [
        date(2026, 11, 19),
        date(2026, 11, 30),
        date(2026, 12, 3),
        date(2026, 12, 14),
        date(2026, 12, 17),
    ]


def test_weekly_first_day_of_week_changes_grouping():
    # Sunday-first weeks: Sun 22 Nov opens a new week, so interval 2 skips it.
    sun = dates(
        {"type": "weekly", "interval": 2, "daysOfWeek": ["saturday", "sunday"], "firstDayOfWeek": "sunday"},
        {"type": "numbered", "startDate": "2026-11-21", "numberOfOccurrences": 3},
    )
    mon = dates(
        {"type": "weekly", "interval": 2, "daysOfWeek": ["saturday", "sunday"], "firstDayOfWeek": "monday"},
        {"type": "numbered", "startDate": "2026-11-21", "numberOfOccurrences": 3},
    )
    assert sun == [date(2026, 11, 21), date(2026, 11, 29), date(2026, 12, 5)]
    assert mon == [date(2026, 11, 21), date(2026, 11, 22), date(2026, 12, 5)]


def test_absolute_monthly_31st_falls_on_last_day():
    got = dates(
        {"type": "absoluteMonthly", "interval": 1, "dayOfMonth": 31},
        {"type": "numbered", "startDate": "2026-01-31", "numberOfOccurrences": 5},
    )
    assert got == [
        date(2026, 1, 31),
        date(2026, 2, 28),
        date(2026, 3, 31),
        date(2026, 4, 30),
        date(2026, 5, 31),
    ]


def test_absolute_yearly_feb_29():
    got = dates(
        {"type": "absoluteYearly", "interval": 1, "dayOfMonth": 29, "month": 2},
        {"type": "numbered", "startDate": "2028-02-29", "numberOfOccurrences": 5},
    )
    assert got == [
        date(2028, 2, 29),
        date(2029, 2, 28),
        date(2030, 2, 28),
        date(2031, 2, 28),
        date(2032, 2, 29),
    ]


def test_relative_monthly_second_tuesday_and_last_friday():
    second_tue = dates(
        {"type": "relativeMonthly", "interval": 1, "daysOfWeek": ["tuesday"], "index": "second"},
        {"type": "numbered", "startDate": "2026-01-01", "numberOfOccurrences": 3},
    )
    assert second_tue == [date(2026, 1, 13), date(2026, 2, 10), date(2026, 3, 10)]
    last_fri = dates(
        {"type": "relativeMonthly", "interval": 2, "daysOfWeek": ["friday"], "index": "last"},
        {"type": "numbered", "startDate": "2026-01-31", "numberOfOccurrences": 3},
    )
    # January's last Friday (30th) is before startDate, so the first occurrence is February's, and
    # every other month counts from February (Exchange anchors the interval on the first occurrence).
    assert last_fri == [date(2026, 2, 27), date(2026, 4, 24), date(2026, 6, 26)]


def test_relative_monthly_several_days_picks_nth_matching_day():
    got = dates(
        {"type": "relativeMonthly", "interval": 1, "daysOfWeek": ["saturday", "sunday"], "index": "first"},
        {"type": "numbered", "startDate": "2026-11-01", "numberOfOccurrences": 2},
    )
    assert got == [date(2026, 11, 1), date(2026, 12, 5)]


def test_relative_yearly_fourth_thursday_of_november():
    got = dates(
        {"type": "relativeYearly", "interval": 1, "daysOfWeek": ["thursday"], "index": "fourth", "month": 11},
        {"type": "noEnd", "startDate": "2026-01-01"},
        3,
    )
    assert got == [date(2026, 11, 26), date(2027, 11, 25), date(2028, 11, 23)]


@pytest.mark.parametrize(
    ("tz", "utc_hours"),
    [("W. Europe Standard Time", [8, 8, 7, 7]), ("Eastern Standard Time", [14, 13, 13, 13])],
)
def test_weekly_across_dst_keeps_wall_time(tz, utc_hours):
    p, r = rec.parse(
        {
            "pattern": {"type": "daily", "interval": 7},
            "range": {
                "type": "numbered",
                "startDate": "2026-03-15" if "Eastern" not in tz else "2026-03-01",
                "numberOfOccurrences": 4,
            },
        }
    )
    start = datetime(2026, 1, 1, tzinfo=UTC)
    hour = 9
    occ = rec.expand(p, r, time(hour), timedelta(hours=1), tz, start, start + timedelta(days=400))
    assert [o.start.hour for o in occ] == utc_hours
    assert all(o.local_start.hour == hour for o in occ)


@pytest.mark.parametrize(
    "bad",
    [
        {
            "pattern": {"type": "daily", "interval": 1, "dayOfMonth": 3},
            "range": {"type": "noEnd", "startDate": "2026-01-01"},
        },
        {"pattern": {"type": "weekly", "interval": 1}, "range": {"type": "noEnd", "startDate": "2026-01-01"}},
        {
            "pattern": {"type": "absoluteMonthly", "interval": 1, "dayOfMonth": 32},
            "range": {"type": "noEnd", "startDate": "2026-01-01"},
        },
        {"pattern": {"type": "daily", "interval": 0}, "range": {"type": "noEnd", "startDate": "2026-01-01"}},
        {
            "pattern": {"type": "daily", "interval": 1},
            "range": {"type": "numbered", "startDate": "2026-01-01"},
        },
        {
            "pattern": {"type": "daily", "interval": 1},
            "range": {"type": "endDate", "startDate": "2026-01-02", "endDate": "2026-01-01"},
        },
    ],
)
def test_invalid_patterns_rejected(bad):
    with pytest.raises(rec.RecurrenceError):
        rec.parse(bad)


def _fits(p: rec.Pattern, d: date) -> bool:
    """Whether ``d`` satisfies the pattern, ignoring the interval."""
    if p.type == "daily":
        return True
    if p.type == "weekly":
        return d.weekday() in p.days_of_week
    if p.type in ("absoluteMonthly", "relativeMonthly"):
        return d == _target(p, d.year, d.month)
    return d.month == p.month and d == _target(p, d.year, d.month)


def _brute(p: rec.Pattern, r: rec.Range, n: int) -> list[date]:
    """Day-by-day reference: a date matches if it satisfies the pattern's definition, with the
    interval counted from the first fitting date on or after startDate (Exchange's anchor)."""
    out: list[date] = []
    first = r.start_date
    while not _fits(p, first):
        first += timedelta(days=1)
    d = first
    week0 = first - timedelta(days=(first.weekday() - p.first_day_of_week) % 7)
    while len(out) < n and d.year < r.start_date.year + 45:
        months = (d.year - first.year) * 12 + d.month - first.month
        years = d.year - first.year
        ok = False
        if _fits(p, d):
            if p.type == "daily":
                ok = (d - first).days % p.interval == 0
            elif p.type == "weekly":
                ok = ((d - week0).days // 7) % p.interval == 0
            elif p.type in ("absoluteMonthly", "relativeMonthly"):
                ok = months % p.interval == 0
            else:
                ok = years % p.interval == 0
        if ok:
            if r.type == "endDate" and r.end_date and d > r.end_date:
                break
            out.append(d)
            if r.type == "numbered" and len(out) >= r.count:
                break
        d += timedelta(days=1)
    return out


def _target(p: rec.Pattern, y: int, m: int) -> date:
    if p.type.startswith("absolute"):
        return rec._clamped(y, m, p.day_of_month)
    return rec._nth_weekday(y, m, p.days_of_week, p.index)


days_st = st.lists(st.sampled_from(rec.DAY_NAMES), min_size=1, max_size=7, unique=True)


@st.composite
def patterns(draw: st.DrawFn) -> dict:
    ptype = draw(st.sampled_from(rec.PATTERN_TYPES))
    pat: dict = {
        "type": ptype,
        "interval": draw(st.integers(1, 3)),
        "firstDayOfWeek": draw(st.sampled_from(rec.DAY_NAMES)),
    }
    if ptype in ("weekly", "relativeMonthly", "relativeYearly"):
        pat["daysOfWeek"] = draw(days_st)
    if ptype.startswith("relative"):
        pat["index"] = draw(st.sampled_from(rec.INDEXES))
    if ptype.startswith("absolute"):
        pat["dayOfMonth"] = draw(st.integers(1, 31))
    if ptype.endswith("Yearly"):
        pat["month"] = draw(st.integers(1, 12))
    return pat


@settings(max_examples=150, deadline=None)
@given(patterns(), st.dates(date(2020, 1, 1), date(2030, 12, 31)), st.integers(1, 12))
def test_generator_matches_day_by_day_definition(pattern, start, count):
    p, r = rec.parse(
        {
            "pattern": pattern,
            "range": {"type": "numbered", "startDate": start.isoformat(), "numberOfOccurrences": count},
        }
    )
    assert list(rec.occurrence_dates(p, r)) == _brute(p, r, count)
