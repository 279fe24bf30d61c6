"""An independent oracle for recurrence expansion: RFC 5545 via ``icalendar`` + ``recurring-ical-events``.

A Graph ``patternedRecurrence`` (plus the series' wall time and zone) is written as a VEVENT with an
RRULE, parsed with ``icalendar`` and expanded with ``recurring-ical-events``; the occurrence starts
are compared with ``shared.recurrence.expand`` (the product) and with the Graph emulator's expansion.
Nothing here calls product or emulator code to build the expectation: the Windows zone names, the
first occurrence and the RRULE are all worked out in this module.

Where Outlook differs from plain RFC 5545 the mapping encodes Outlook's rule (each cited below):

* DTSTART is the series' **first real occurrence**, because RFC 5545 always counts DTSTART as an
  instance and counts INTERVAL and COUNT from it, while Graph's ``startDate`` need not be an occurrence.
* ``dayOfMonth`` 29-31 (and Feb 29 yearly) fall on the month's last day where the month is shorter;
  RFC 5545 skips such months.
* ``index`` picks the n-th (or last) day among **all** listed ``daysOfWeek`` in the month.
* ``endDate`` is inclusive: the whole local day in the series zone.
* ``numbered`` counts from the first occurrence.
"""

from __future__ import annotations

import calendar
import random
import time as _time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
import pytest
import recurring_ical_events
from dateutil import rrule as rr

from emulators.graph import recurrence as emu
from shared.recurrence import PatternedRecurrence, expand

SERIES = 3000
SEED = 20_170_829  # fixed: the cases never depend on today's date
DURATION = timedelta(minutes=30)

# Windows names as Graph sends them, mapped here by hand (CLDR windowsZones.xml, territory 001), so
# the oracle does not share the product's table. IANA names are sent as they are.
WINDOWS_TO_IANA = {
    "W. Europe Standard Time": "Europe/Berlin",
    "Eastern Standard Time": "America/New_York",
    "AUS Eastern Standard Time": "Australia/Sydney",
    "India Standard Time": "Asia/Kolkata",
    "GMT Standard Time": "Europe/London",
    "Pacific Standard Time": "America/Los_Angeles",
    "Lord Howe Standard Time": "Australia/Lord_Howe",  # 30-minute DST shift
    "Pacific SA Standard Time": "America/Santiago",  # changes at midnight
    "New Zealand Standard Time": "Pacific/Auckland",
    "Tokyo Standard Time": "Asia/Tokyo",
    "UTC": "UTC",
}
IANA_ZONES = ("Europe/Berlin", "America/New_York", "Australia/Sydney", "Asia/Kolkata")
ZONES = (*WINDOWS_TO_IANA, *IANA_ZONES)
REQUIRED_ZONES = frozenset(
    {
        *IANA_ZONES,
        "W. Europe Standard Time",
        "Eastern Standard Time",
        "AUS Eastern Standard Time",
        "India Standard Time",
    }
)

DAYS = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")
_ICAL_DAY = dict(zip(DAYS, ("SU", "MO", "TU", "WE", "TH", "FR", "SA"), strict=True))
_SETPOS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "last": -1}
_FREQ = {
    "daily": "DAILY",
    "weekly": "WEEKLY",
    "absoluteMonthly": "MONTHLY",
    "relativeMonthly": "MONTHLY",
    "absoluteYearly": "YEARLY",
    "relativeYearly": "YEARLY",
}
KINDS = tuple(_FREQ)
RANGES = ("endDate", "noEnd", "numbered")
YEARS = (2016, 2034)
_MONTH_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def iana(name: str) -> str:
    return WINDOWS_TO_IANA.get(name, name)


# ---------------------------------------------------------------- Graph pattern -> RFC 5545


def rule_parts(pattern: dict[str, Any]) -> list[str]:
    """FREQ and the BY* parts of the pattern, without INTERVAL, COUNT or UNTIL."""
    kind = pattern["type"]
    parts = [f"FREQ={_FREQ[kind]}"]
    if kind in ("absoluteYearly", "relativeYearly"):
        parts.append(f"BYMONTH={pattern['month']}")
    if kind in ("absoluteMonthly", "absoluteYearly"):
        day = int(pattern["dayOfMonth"])
        if day <= 28:
            parts.append(f"BYMONTHDAY={day}")
        else:
            # Outlook: a dayOfMonth past the month's end is the month's last day (EWS DayOfMonth: "If
            # for a particular month this value is larger than the number of days in the month, the
            # last day of the month is assumed"; CDO: Feb 29 yearly is Feb 28 in common years).
            # RFC 5545 would skip such months: take the earlier of that day and the last day.
            parts += [f"BYMONTHDAY={day},-1", "BYSETPOS=1"]
    if kind in ("weekly", "relativeMonthly", "relativeYearly"):
        parts.append("BYDAY=" + ",".join(_ICAL_DAY[d] for d in pattern["daysOfWeek"]))
    if kind in ("relativeMonthly", "relativeYearly"):
        # Graph recurrencePattern: with several daysOfWeek "the event falls on the first day that
        # satisfies the pattern": the index counts over all listed days (BYSETPOS over the BYDAY set).
        parts.append(f"BYSETPOS={_SETPOS[pattern.get('index', 'first')]}")
    if kind == "weekly":
        # firstDayOfWeek decides which days share a week for interval > 1 (Graph default sunday).
        parts.append("WKST=" + _ICAL_DAY[pattern.get("firstDayOfWeek", "sunday")])
    return parts


def first_occurrence(pattern: dict[str, Any], start_date: date) -> date | None:
    """The first date on or after ``startDate`` that fits the pattern, ignoring the interval.

    Graph recurrenceRange: "The first occurrence of the meeting may be this date or later, depending
    on the recurrence pattern"; Graph's example: "first Thursday of every other month starting August
    29, 2017 ... the first occurrence of this series will be in September". With INTERVAL=1 every
    period counts, so dateutil's first instance (it never adds DTSTART itself) is that date.
    """
    rule = rr.rrulestr(";".join(rule_parts(pattern)), dtstart=datetime.combine(start_date, time(0)))
    first = next(iter(rule), None)
    return first.date() if first is not None else None


def vevent(recurrence: dict[str, Any], wall: time, zone_name: str) -> str | None:
    """The VCALENDAR text of the series, or None when the series has no occurrence at all."""
    pattern, rng = recurrence["pattern"], recurrence["range"]
    tz_name = iana(rng.get("recurrenceTimeZone") or zone_name)
    start_date = date.fromisoformat(rng["startDate"])
    first = first_occurrence(pattern, start_date)
    if first is None:
        return None
    parts = rule_parts(pattern)
    # MS-OXOCAL 2.2.1.44.1: the pattern's StartDate is the first occurrence and FirstDateTime (the
    # interval's anchor) is derived from it; 2.2.1.44.1.1 weekly: the week "in which the first event
    # of the recurring series occurs", by FirstDOW. RFC 5545 counts INTERVAL from DTSTART's period.
    parts.insert(1, f"INTERVAL={pattern['interval']}")
    if rng["type"] == "numbered":
        # recurrenceRange numbered: "the number of times to repeat the event", from the first one.
        parts.append(f"COUNT={rng['numberOfOccurrences']}")
    elif rng["type"] == "endDate":
        end = date.fromisoformat(rng["endDate"])
        if end < first:
            # RFC 5545 would still list DTSTART; Graph: only days between startDate and endDate.
            return None
        # recurrenceRange endDate is a date in the recurrence zone and inclusive ("repeat the event
        # from June 1 to June 15"): UNTIL is the end of that local day, in UTC as RFC 5545 requires.
        until = datetime.combine(end, time(23, 59, 59), ZoneInfo(tz_name)).astimezone(UTC)
        parts.append("UNTIL=" + until.strftime("%Y%m%dT%H%M%SZ"))
    dtstart = datetime.combine(first, wall).strftime("%Y%m%dT%H%M%S")
    return "\r\n".join(
        [
            "BEGIN:VCALENDAR",
            "VERSION:2.0",
            "PRODID:-//ibss-m365-sync//recurrence oracle//EN",
            "BEGIN:VEVENT",
            "UID:oracle@example.invalid",
            "DTSTAMP:20170829T000000Z",
            f"DTSTART;TZID={tz_name}:{dtstart}",
            f"DURATION:PT{int(DURATION.total_seconds() // 60)}M",
            "RRULE:" + ";".join(parts),
            "END:VEVENT",
            "END:VCALENDAR",
            "",
        ]
    )


def oracle_starts(series: Series) -> list[datetime]:
    text = vevent(series.recurrence, series.wall, series.zone)
    if text is None:
        return []
    cal = icalendar.Calendar.from_ical(text)
    events = recurring_ical_events.of(cal).between(
        series.window_start - timedelta(days=1), series.window_end + timedelta(days=1)
    )
    return series.starts_in_window(e["DTSTART"].dt for e in events)


def product_starts(series: Series) -> list[datetime]:
    rec = PatternedRecurrence.model_validate(series.recurrence)
    got = expand(rec, series.wall, DURATION, series.zone, series.window_start, series.window_end)
    return series.starts_in_window(o.start_utc for o in got)


def emulator_starts(series: Series) -> list[datetime]:
    p, r = emu.parse(series.recurrence)
    got = emu.expand(p, r, series.wall, DURATION, series.zone, series.window_start, series.window_end)
    return series.starts_in_window(o.start for o in got)


# ---------------------------------------------------------------- random series


@dataclass(frozen=True)
class Series:
    zone: str  # the event's start.timeZone as Graph sends it
    wall: time  # wall-clock start in the series zone
    recurrence: dict[str, Any]  # Graph JSON
    window_start: datetime  # aware UTC; the whole series for bounded ranges
    window_end: datetime

    def starts_in_window(self, starts: Iterable[datetime]) -> list[datetime]:
        """Starts in ``[window_start, window_end)`` as UTC instants (the three engines differ in
        how they treat occurrences that merely overlap the window; starts are what is compared)."""
        out = (s.astimezone(UTC) for s in starts)
        return sorted(s for s in out if self.window_start <= s < self.window_end)

    def describe(self) -> str:
        return (
            f"zone={self.zone!r} wall={self.wall.isoformat()} recurrence={self.recurrence} "
            f"window=[{self.window_start.isoformat()}, {self.window_end.isoformat()})"
        )


@cache
def transitions(zone_name: str) -> tuple[tuple[datetime, int], ...]:
    """Offset changes in YEARS: (wall time at which the change happens, old offset; shift in minutes)."""
    tz = ZoneInfo(iana(zone_name))
    out: list[tuple[datetime, int]] = []
    t = datetime(YEARS[0], 1, 1, tzinfo=UTC)
    prev = t.astimezone(tz).utcoffset()
    while t.year <= YEARS[1]:
        nxt = t + timedelta(hours=12)
        off = nxt.astimezone(tz).utcoffset()
        if off != prev and off is not None and prev is not None:
            lo, hi = t, nxt
            while hi - lo > timedelta(minutes=1):
                mid = lo + (hi - lo) / 2
                lo, hi = (mid, hi) if mid.astimezone(tz).utcoffset() == prev else (lo, mid)
            # Offsets change on whole minutes: hi is within a minute after the change.
            at = hi.replace(tzinfo=None, second=0, microsecond=0) + prev
            out.append((at, int((off - prev).total_seconds() // 60)))
        prev, t = off, nxt
    return tuple(out)


def _days(r: random.Random, most: int) -> list[str]:
    return r.sample(DAYS, r.randint(1, most))


def random_pattern(r: random.Random, kind: str) -> tuple[dict[str, Any], int]:
    """A Graph recurrencePattern (intervals 1-4) and its period in days."""
    interval = r.randint(1, 4)
    if kind == "daily":
        return {"type": kind, "interval": interval}, 1
    if kind == "weekly":
        days = _days(r, 7) if r.random() < 0.5 else _days(r, 2)
        return {
            "type": kind,
            "interval": interval,
            "daysOfWeek": days,
            "firstDayOfWeek": r.choice(DAYS),
        }, 7
    if kind == "absoluteMonthly":
        day = r.randint(29, 31) if r.random() < 0.4 else r.randint(1, 28)
        return {"type": kind, "interval": interval, "dayOfMonth": day}, 31
    if kind == "relativeMonthly":
        return {
            "type": kind,
            "interval": interval,
            "daysOfWeek": _days(r, r.choice((1, 1, 1, 2, 3, 7))),
            "index": r.choice(tuple(_SETPOS)),
        }, 31
    month = 2 if r.random() < 0.3 else r.randint(1, 12)
    if kind == "absoluteYearly":
        # Never past the month's length (CDO: a yearly day "cannot be set past the last possible day
        # in the selected month"); Feb 29 is allowed and falls on Feb 28 in common years.
        last = _MONTH_DAYS[month - 1]
        day = last if r.random() < 0.3 else r.randint(1, last)
        return {"type": kind, "interval": interval, "month": month, "dayOfMonth": day}, 366
    return {
        "type": kind,
        "interval": interval,
        "month": month,
        "daysOfWeek": _days(r, r.choice((1, 1, 2))),
        "index": r.choice(tuple(_SETPOS)),
    }, 366


def random_series(r: random.Random) -> Series:
    zone_name = r.choice(ZONES)
    changes = transitions(zone_name)
    kind = r.choice(KINDS)
    pattern, period = random_pattern(r, kind)
    wall = time(r.choice((0, 1, 2, 3, 8, 9, 12, 17, 23)), r.choice((0, 15, 30, 45)))
    roll = r.random()
    if changes and roll < 0.45:
        # Near an offset change; often at a wall time inside the skipped or repeated interval.
        at, shift = r.choice(changes)
        start_date = at.date() + timedelta(days=r.randint(-12, 12))
        if r.random() < 0.5:
            base = at if shift > 0 else at + timedelta(minutes=shift)
            wall = (base + timedelta(minutes=15 * r.randint(0, abs(shift) // 15))).time()
            # Let daily and weekly series reach the transition day itself.
            step = int(pattern["interval"]) * (7 if kind == "weekly" else 1)
            start_date = at.date() - timedelta(days=step * r.randint(0, 3))
            if kind == "weekly":
                pattern["daysOfWeek"] = sorted({*pattern["daysOfWeek"], DAYS[(at.weekday() + 1) % 7]})
    elif roll < 0.65:
        # Month ends and leap days.
        year = r.randint(YEARS[0], YEARS[1] - 2)
        month = r.randint(1, 12)
        last = calendar.monthrange(year, month)[1]
        start_date = date(year, month, last - r.randint(0, 3))
        if r.random() < 0.3:
            year = r.choice([y for y in range(YEARS[0], YEARS[1] - 2) if calendar.isleap(y)])
            start_date = date(year, 2, r.choice((27, 28, 29, 29)))
    else:
        start_date = date(YEARS[0], 1, 1) + timedelta(days=r.randint(0, 365 * (YEARS[1] - YEARS[0] - 2)))
    range_type = r.choice(RANGES)
    rng: dict[str, Any] = {"type": range_type, "startDate": start_date.isoformat()}
    span = period * int(pattern["interval"])  # days per period
    if r.random() < 0.5:
        rng["recurrenceTimeZone"] = zone_name
    far = datetime(2100, 1, 1, tzinfo=UTC)
    ws = datetime.combine(start_date, time(0), UTC) - timedelta(days=2)
    we = far
    if range_type == "endDate":
        days = r.randint(0, min(span * 25, 365 * 30)) if r.random() < 0.9 else r.randint(0, 40)
        rng["endDate"] = (start_date + timedelta(days=days)).isoformat()
    elif range_type == "numbered":
        rng["numberOfOccurrences"] = r.randint(1, 8 if period > 31 else 30)
    else:
        # noEnd: a window somewhere in the series (sometimes starting before it).
        ws += timedelta(days=r.randint(0, span * 12), hours=r.randint(0, 23))
        we = ws + timedelta(hours=r.randint(24, min(span * 10, 365 * 4) * 24))
    return Series(zone_name, wall, {"pattern": pattern, "range": rng}, ws, we)


def all_series() -> list[Series]:
    r = random.Random(SEED)
    return [random_series(r) for _ in range(SERIES)]


# ---------------------------------------------------------------- known answers


def _starts(recurrence: dict[str, Any], zone_name: str, wall: time) -> list[list[date]]:
    """Local dates from the oracle, the product and the emulator for a hand-written series."""
    ws = datetime.combine(date.fromisoformat(recurrence["range"]["startDate"]), time(0), UTC)
    series = Series(zone_name, wall, recurrence, ws - timedelta(days=2), ws + timedelta(days=8 * 366))
    tz = ZoneInfo(iana(zone_name))
    return [
        [s.astimezone(tz).date() for s in f(series)] for f in (oracle_starts, product_starts, emulator_starts)
    ]


def test_graph_example_first_thursday_of_every_other_month() -> None:
    # Graph "Schedule repeating appointments": "first Thursday of every other month starting August
    # 29, 2017 ... Because the value of startDate is after the first Thursday in August, the first
    # occurrence of this series will be in September." Every other month from September.
    recurrence = {
        "pattern": {"type": "relativeMonthly", "interval": 2, "daysOfWeek": ["thursday"], "index": "first"},
        "range": {"type": "numbered", "startDate": "2017-08-29", "numberOfOccurrences": 3},
    }
    expected = [date(2017, 9, 7), date(2017, 11, 2), date(2018, 1, 4)]
    assert _starts(recurrence, "Eastern Standard Time", time(14)) == [expected] * 3


def test_weekly_interval_counts_from_the_week_of_the_first_occurrence() -> None:
    # Every other Monday from Saturday 3 Jan 2026, weeks starting Sunday: the first Monday is 5 Jan
    # (the next week); MS-OXOCAL anchors the interval on that week, not on startDate's.
    recurrence = {
        "pattern": {"type": "weekly", "interval": 2, "daysOfWeek": ["monday"], "firstDayOfWeek": "sunday"},
        "range": {"type": "numbered", "startDate": "2026-01-03", "numberOfOccurrences": 3},
    }
    expected = [date(2026, 1, 5), date(2026, 1, 19), date(2026, 2, 2)]
    assert _starts(recurrence, "W. Europe Standard Time", time(9)) == [expected] * 3


def test_yearly_interval_counts_from_the_year_of_the_first_occurrence() -> None:
    # Every 2 years on Feb 29 from 1 March 2024: the first occurrence is 28 Feb 2025 (clamped).
    recurrence = {
        "pattern": {"type": "absoluteYearly", "interval": 2, "month": 2, "dayOfMonth": 29},
        "range": {"type": "endDate", "startDate": "2024-03-01", "endDate": "2029-12-31"},
    }
    expected = [date(2025, 2, 28), date(2027, 2, 28), date(2029, 2, 28)]
    assert _starts(recurrence, "AUS Eastern Standard Time", time(9)) == [expected] * 3


def test_vevent_for_month_end_and_index_over_several_days() -> None:
    text = vevent(
        {
            "pattern": {"type": "absoluteMonthly", "interval": 3, "dayOfMonth": 31},
            "range": {"type": "endDate", "startDate": "2026-02-01", "endDate": "2026-12-31"},
        },
        time(9),
        "W. Europe Standard Time",
    )
    assert text is not None
    assert "DTSTART;TZID=Europe/Berlin:20260228T090000" in text
    assert "RRULE:FREQ=MONTHLY;INTERVAL=3;BYMONTHDAY=31,-1;BYSETPOS=1;UNTIL=20261231T225959Z" in text
    weekend = rule_parts(
        {"type": "relativeMonthly", "interval": 1, "daysOfWeek": ["saturday", "sunday"], "index": "last"}
    )
    assert weekend == ["FREQ=MONTHLY", "BYDAY=SA,SU", "BYSETPOS=-1"]


# ---------------------------------------------------------------- property test


def _diff(name: str, got: list[datetime], want: list[datetime]) -> str:
    extra = sorted(set(got) - set(want))[:3]
    missing = sorted(set(want) - set(got))[:3]
    return f"{name}: {len(got)} vs oracle {len(want)}, extra={extra} missing={missing}"


@pytest.mark.slow
def test_product_and_emulator_match_the_rfc5545_oracle(capsys: pytest.CaptureFixture[str]) -> None:
    began = _time.perf_counter()
    stats: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    zones: Counter[str] = Counter()
    mismatches: list[str] = []
    for series in all_series():
        pattern, rng = series.recurrence["pattern"], series.recurrence["range"]
        want = oracle_starts(series)
        product = product_starts(series)
        emulator = emulator_starts(series)
        stats["series"] += 1
        stats["occurrences"] += len(want)
        kinds[f"{pattern['type']}/{rng['type']}"] += 1
        zones[series.zone] += 1
        _count_features(stats, series, want)
        if product != want:
            stats["product mismatches"] += 1
        if emulator != want:
            stats["emulator mismatches"] += 1
        if product != want or emulator != want:
            text = vevent(series.recurrence, series.wall, series.zone) or "(no occurrence)"
            mismatches.append(
                f"{series.describe()}\n    {_diff('product', product, want)}\n"
                f"    {_diff('emulator', emulator, want)}\n    " + text.replace("\r\n", " | ")
            )
    elapsed = _time.perf_counter() - began
    summary = (
        f"oracle: {stats['series']} series, product {stats['product mismatches']} mismatches, "
        f"emulator {stats['emulator mismatches']} mismatches ({stats['occurrences']} occurrences, "
        f"{elapsed:.1f} s)"
    )
    features = ", ".join(f"{k}={v}" for k, v in sorted(stats.items()) if k.startswith("with "))
    with capsys.disabled():
        print(f"\n{summary}\n  {features}")
        print("  pattern/range: " + ", ".join(f"{k}={v}" for k, v in sorted(kinds.items())))
        for line in mismatches[:5]:
            print("  MISMATCH " + line)
    assert len(kinds) == len(KINDS) * len(RANGES), sorted(kinds)
    assert set(zones) >= REQUIRED_ZONES, sorted(zones)
    assert stats["with interval > 1 and startDate not an occurrence"] >= 500, features
    assert stats["with an offset change inside the series"] >= 300, features
    assert stats["with a wall time in a gap or repeated hour"] >= 50, features
    assert stats["with Feb 29 start or occurrence"] >= 30, features
    counts = (stats["product mismatches"], stats["emulator mismatches"])
    assert counts == (0, 0), summary + "\n" + "\n".join(mismatches[:5])


def _count_features(stats: Counter[str], series: Series, starts: list[datetime]) -> None:
    """Coverage figures for the report (and floors the test asserts)."""
    pattern, rng = series.recurrence["pattern"], series.recurrence["range"]
    start_date = date.fromisoformat(rng["startDate"])
    tz = ZoneInfo(iana(rng.get("recurrenceTimeZone") or series.zone))
    if first_occurrence(pattern, start_date) != start_date:
        stats["with startDate not an occurrence"] += 1
        if int(pattern["interval"]) > 1:
            stats["with interval > 1 and startDate not an occurrence"] += 1
    local = [s.astimezone(tz) for s in starts]
    if len({s.utcoffset() for s in local}) > 1:
        stats["with an offset change inside the series"] += 1
    walls = (datetime.combine(s.date(), series.wall, tz) for s in local)
    if any(w.astimezone(UTC) != w.replace(fold=1).astimezone(UTC) for w in walls):
        stats["with a wall time in a gap or repeated hour"] += 1
    if (start_date.month, start_date.day) == (2, 29) or any((s.month, s.day) == (2, 29) for s in local):
        stats["with Feb 29 start or occurrence"] += 1
    if start_date.day == calendar.monthrange(start_date.year, start_date.month)[1]:
        stats["with startDate on a month's last day"] += 1
