"""Hypothesis strategies for recurrence cases near DST transitions (shared by tests and the bench)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from typing import Any

from hypothesis import strategies as st

from shared.recurrence import DayOfWeek, PatternedRecurrence, WeekIndex, zone

# Windows names (what Outlook and Graph send), plus a few IANA names Graph also accepts.
ZONES: tuple[str, ...] = (
    "W. Europe Standard Time",  # Berlin: DST, northern hemisphere, 02:00 -> 03:00
    "Romance Standard Time",  # Paris
    "GMT Standard Time",  # London: 01:00 -> 02:00
    "Central European Standard Time",  # Warsaw
    "Russian Standard Time",  # Moscow: no DST
    "Israel Standard Time",  # Jerusalem: DST starting on a Friday
    "Egypt Standard Time",  # Cairo: DST dropped 2015-2022, back in 2023, midnight transitions
    "Morocco Standard Time",  # Casablanca: "negative" DST during Ramadan
    "South Africa Standard Time",  # no DST
    "Arabian Standard Time",  # Dubai: no DST
    "Iran Standard Time",  # Tehran +03:30: DST until 2022, midnight transitions
    "India Standard Time",  # +05:30, no DST
    "Nepal Standard Time",  # +05:45, no DST
    "Singapore Standard Time",  # no DST
    "Tokyo Standard Time",  # no DST
    "AUS Eastern Standard Time",  # Sydney: DST, southern hemisphere
    "Cen. Australia Standard Time",  # Adelaide +09:30/+10:30
    "Lord Howe Standard Time",  # 30-minute DST shift
    "New Zealand Standard Time",  # Auckland: southern DST
    "Chatham Islands Standard Time",  # +12:45/+13:45
    "E. South America Standard Time",  # Sao Paulo: southern DST at midnight until 2019
    "Pacific SA Standard Time",  # Santiago: southern DST at 24:00
    "Paraguay Standard Time",  # Asuncion: southern DST at midnight until 2024
    "Newfoundland Standard Time",  # -03:30 with DST
    "Eastern Standard Time",  # New York
    "Central Standard Time",  # Chicago
    "Mountain Standard Time",  # Denver
    "Mountain Standard Time (Mexico)",  # Mazatlan: DST until 2022
    "Pacific Standard Time",  # Los Angeles
    "Hawaiian Standard Time",  # no DST
    "UTC",
    "Europe/Dublin",  # IANA name; tzdata models Irish winter time as negative DST
    "America/Havana",  # IANA name; midnight transitions
)

YEARS = range(2016, 2031)

# Wall-clock times around the usual transition hours (midnight, 01:00-03:00) and ordinary ones.
TIMES = (
    *(time(h, m) for h in (0, 1, 2, 3) for m in (0, 30)),
    time(23, 0),
    time(23, 30),
    time(2, 15),
    time(9, 0),
    time(12, 45),
    time(17, 30),
)
DURATIONS_MIN = (0, 15, 30, 60, 90, 120, 180, 24 * 60 + 30)


@cache
def transitions(zone_name: str) -> tuple[tuple[date, time, int], ...]:
    """Offset changes within YEARS: (local date, wall time just before, shift in minutes)."""
    tz = zone(zone_name)
    out: list[tuple[date, time, int]] = []
    lo = datetime(YEARS.start, 1, 1, 12, tzinfo=UTC)
    prev = lo.astimezone(tz).utcoffset()
    while lo.year < YEARS.stop:
        hi = lo + timedelta(days=1)
        off = hi.astimezone(tz).utcoffset()
        if off != prev and off is not None and prev is not None:
            a, b = lo, hi  # offset(a) == prev, offset(b) == off: bisect to the minute
            while b - a > timedelta(minutes=1):
                mid = a + (b - a) / 2
                if mid.astimezone(tz).utcoffset() == prev:
                    a = mid
                else:
                    b = mid
            shift = int((off - prev).total_seconds() // 60)
            # Start of the skipped (shift > 0) or repeated (shift < 0) wall-clock interval.
            wall = b.astimezone(tz).replace(tzinfo=None) - timedelta(minutes=max(shift, 0))
            out.append((wall.date(), wall.time().replace(second=0, microsecond=0), shift))
        prev, lo = off, hi
    return tuple(out)


def transition_dates(zone_name: str) -> tuple[date, ...]:
    return tuple(d for d, _, _ in transitions(zone_name))


@dataclass(frozen=True)
class Case:
    zone: str
    start_local: datetime  # naive wall time of the master's start in ``zone``
    duration: timedelta
    recurrence: dict[str, Any]  # Graph JSON for the create body
    window_start: datetime  # aware UTC
    window_end: datetime  # aware UTC

    def parsed(self) -> PatternedRecurrence:
        return PatternedRecurrence.model_validate(self.recurrence)

    def describe(self) -> str:
        return (
            f"zone={self.zone!r} start={self.start_local.isoformat()} duration={self.duration} "
            f"recurrence={self.recurrence} window=[{self.window_start.isoformat()}, "
            f"{self.window_end.isoformat()})"
        )


_DAYS = [d.value for d in DayOfWeek]
_INDEXES = [i.value for i in WeekIndex]
_DAYS_IN_MONTH = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_KINDS = ("daily", "weekly", "absoluteMonthly", "relativeMonthly", "absoluteYearly", "relativeYearly")


def _days(r: random.Random, max_size: int) -> list[str]:
    return r.sample(_DAYS, r.randint(1, max_size))


def _day_of_month(r: random.Random, limit: int = 31) -> int:
    return r.randint(1, limit) if r.random() < 0.6 else r.randint(min(28, limit), limit)


def random_pattern(r: random.Random) -> tuple[dict[str, Any], int]:
    """A Graph recurrencePattern and the length (days) of one period, for sizing ranges and windows."""
    kind = r.choice(_KINDS)
    if kind == "daily":
        return {"type": kind, "interval": r.choice([1, 1, 2, 3, r.randint(1, 40)])}, 1
    if kind == "weekly":
        return {
            "type": kind,
            "interval": r.randint(1, 4),
            "daysOfWeek": _days(r, 7),
            "firstDayOfWeek": r.choice(_DAYS),
        }, 7
    if kind == "absoluteMonthly":
        return {"type": kind, "interval": r.randint(1, 6), "dayOfMonth": _day_of_month(r)}, 30
    if kind == "relativeMonthly":
        return {
            "type": kind,
            "interval": r.randint(1, 6),
            "daysOfWeek": _days(r, r.choice([1, 1, 1, 2, 3])),
            "index": r.choice(_INDEXES),
        }, 30
    month = 2 if r.random() < 0.25 else r.randint(1, 12)
    if kind == "absoluteYearly":
        return {
            "type": kind,
            "interval": r.randint(1, 3),
            "month": month,
            # Yearly: never past the month's length (Feb 29 allowed; CDO: "cannot be set past the
            # last possible day in the selected month").
            "dayOfMonth": _day_of_month(r, _DAYS_IN_MONTH[month - 1]),
        }, 365
    return {
        "type": kind,
        "interval": r.randint(1, 3),
        "month": month,
        "daysOfWeek": _days(r, r.choice([1, 1, 2])),
        "index": r.choice(_INDEXES),
    }, 365


def case_from_seed(seed: int) -> Case:
    """One random case; deterministic in ``seed`` (uniform choices, unlike Hypothesis' small-value bias)."""
    r = random.Random(seed)
    zone_name = r.choice(ZONES)
    changes = transitions(zone_name)
    start_time: time | None = None
    focus: date | None = None
    if changes and r.random() < 0.9:
        day, wall, shift = r.choice(changes)
        start_date = day + timedelta(days=r.randint(-10, 10))
        if r.random() < 0.35:
            # Inside the gap (spring forward) or the repeated hour (fall back), or right at its edge.
            step = r.randint(0, abs(shift) // 15) * 15
            start_time = (datetime.combine(day, wall) + timedelta(minutes=step)).time()
            start_date = day - timedelta(days=7 * r.randint(0, 3))  # weekly/daily series hit the day
            focus = day if r.random() < 0.7 else None
    else:
        start_date = date(YEARS.start, 1, 1) + timedelta(days=r.randint(0, 365 * 14))
    if start_time is None:
        start_time = (
            r.choice(TIMES) if r.random() < 0.7 else time(r.randint(0, 23), r.choice([0, 15, 30, 45]))
        )
    duration = timedelta(minutes=r.choice(DURATIONS_MIN))
    pattern, period = random_pattern(r)
    scale = period * int(pattern["interval"])  # days per period
    range_type = r.choice(["endDate", "noEnd", "numbered"])
    rng: dict[str, Any] = {"type": range_type, "startDate": start_date.isoformat()}
    if range_type == "endDate":
        series_days = r.randint(0, scale * 30)
        rng["endDate"] = (start_date + timedelta(days=series_days)).isoformat()
    elif range_type == "numbered":
        count = r.randint(1, 40 if period < 365 else 10)
        rng["numberOfOccurrences"] = count
        series_days = scale * count
    else:
        series_days = scale * 30
    if r.random() < 0.5:
        rng["recurrenceTimeZone"] = zone_name
    # Windows mostly inside the series (some before its start or after its end), several periods long.
    reach = series_days * 6 // 10 if r.random() < 0.8 else series_days + scale
    offset = timedelta(days=r.randint(-3, reach), hours=r.randint(0, 23))
    long_window = min(scale * 12, 4 * 365) * 24
    hours = r.randint(scale * 24, long_window) if r.random() < 0.75 else r.randint(1, scale * 24)
    length = timedelta(hours=hours)
    ws = datetime.combine(start_date, time(0), UTC) + offset
    if focus is not None:  # a window around the transition day itself
        ws = datetime.combine(focus, time(0), UTC) - timedelta(days=2, hours=r.randint(0, 23))
        length = timedelta(days=r.randint(3, 6))
    return Case(
        zone=zone_name,
        start_local=datetime.combine(start_date, start_time),
        duration=duration,
        recurrence={"pattern": pattern, "range": rng},
        window_start=ws,
        window_end=ws + length,
    )


def cases() -> st.SearchStrategy[Case]:
    """Hypothesis strategy: a seed per case, expanded by :func:`case_from_seed`."""
    return st.integers(0, 2**64 - 1).map(case_from_seed)


def case_batches(size: int) -> st.SearchStrategy[list[Case]]:
    """``size`` cases from one Hypothesis-drawn seed. (Lists of per-case seeds repeat Hypothesis'
    favourite integers across examples; one seed per batch keeps the cases distinct.)"""

    def build(seed: int) -> list[Case]:
        r = random.Random(seed)
        return [case_from_seed(r.getrandbits(64)) for _ in range(size)]

    return st.integers(0, 2**64 - 1).map(build)
