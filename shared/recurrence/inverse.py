"""From a list of occurrence starts (an IBSS booking series) back to a ``patternedRecurrence``.

IBSS keeps a recurring booking as individual bookings. When their starts follow a pattern Graph can
express, the Graph side can be one series; otherwise ``None`` means "individual meetings". Every
candidate is verified by expanding it (with :func:`shared.recurrence.expand.local_starts`) and
comparing instant for instant, so a returned pattern always reproduces the input exactly.
See docs/recurrence.md for which inputs map to which pattern.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, time, timedelta
from itertools import islice, pairwise
from zoneinfo import ZoneInfo

from shared.recurrence.expand import local_starts, local_to_utc
from shared.recurrence.models import (
    DayOfWeek,
    PatternedRecurrence,
    RecurrencePattern,
    RecurrencePatternType,
    RecurrenceRange,
    RecurrenceRangeType,
    WeekIndex,
)
from shared.recurrence.timezones import zone

MAX_INTERVAL = 99
"""Largest interval produced (EWS documents 1-99 for monthly intervals; Outlook's UI uses the same)."""

_ORDINALS = (WeekIndex.FIRST, WeekIndex.SECOND, WeekIndex.THIRD, WeekIndex.FOURTH)
# Prefer Sunday (Graph's default) then Monday (ISO/European default) as the week start.
_WEEK_STARTS = (
    DayOfWeek.SUNDAY,
    DayOfWeek.MONDAY,
    DayOfWeek.TUESDAY,
    DayOfWeek.WEDNESDAY,
    DayOfWeek.THURSDAY,
    DayOfWeek.FRIDAY,
    DayOfWeek.SATURDAY,
)


def to_patterned_recurrence(
    occurrence_starts: Sequence[datetime], time_zone: str
) -> PatternedRecurrence | None:
    """A Graph recurrence whose expansion in ``time_zone`` is exactly ``occurrence_starts``, or None.

    ``occurrence_starts`` are aware datetimes (any order; duplicates make it irregular). The result
    uses an ``endDate`` range (first to last local date) with ``recurrenceTimeZone = time_zone``.
    Fewer than two starts, two starts on one local day, differing wall-clock times or no matching
    pattern give ``None``. Durations are the caller's business: a series has one duration.
    """
    if len(occurrence_starts) < 2:
        return None
    if any(s.tzinfo is None for s in occurrence_starts):
        raise ValueError("occurrence starts must be timezone-aware")
    tz = zone(time_zone)
    instants = sorted(s.astimezone(UTC) for s in occurrence_starts)
    if len(set(instants)) != len(instants):
        return None
    locals_ = [i.astimezone(tz) for i in instants]
    dates = [d.date() for d in locals_]
    if len(set(dates)) != len(dates):
        return None
    # The wall-clock time of the series; a start shifted by a spring-forward gap differs, so try the
    # distinct times, most common first, and let the verification decide.
    walls = [t for t, _ in Counter(d.time().replace(tzinfo=None) for d in locals_).most_common(3)]
    for pattern in _candidates(dates):
        rec = PatternedRecurrence(
            pattern=pattern,
            range=RecurrenceRange(
                type=RecurrenceRangeType.END_DATE,
                start_date=dates[0],
                end_date=dates[-1],
                recurrence_time_zone=time_zone,
            ),
        )
        if any(_reproduces(rec, wall, tz, instants) for wall in walls):
            return rec
    return None


def _reproduces(rec: PatternedRecurrence, wall: time, tz: ZoneInfo, instants: list[datetime]) -> bool:
    got = [local_to_utc(s, tz) for s in islice(local_starts(rec, wall), len(instants) + 1)]
    return got == instants


def _gcd(values: list[int]) -> int:
    g = 0
    for v in values:
        g = math.gcd(g, v)
    return g


def _pattern(type_: RecurrencePatternType, interval: int, **kw: object) -> RecurrencePattern | None:
    if not 1 <= interval <= MAX_INTERVAL:
        return None
    return RecurrencePattern.model_validate({"type": type_, "interval": interval, **kw})


def _candidates(dates: list[date]) -> Iterator[RecurrencePattern]:
    """Candidate patterns, most natural first: daily (gap not a whole number of weeks), weekly
    every 1-8 weeks, yearly, monthly, then weekly with any interval. The first that reproduces
    the input wins, so for two or three dates (which several patterns fit) the order decides."""
    gaps = [(b - a).days for a, b in pairwise(dates)]
    if len(set(gaps)) == 1 and gaps[0] % 7:
        p = _pattern(RecurrencePatternType.DAILY, gaps[0])
        if p is not None:
            yield p
    weekly = list(_weekly(dates))
    yield from (p for p in weekly if p.interval <= 8)
    yield from _yearly(dates)
    yield from _monthly(dates)
    yield from (p for p in weekly if p.interval > 8)


def _weekly(dates: list[date]) -> Iterator[RecurrencePattern]:
    days = sorted({DayOfWeek.from_weekday(d.weekday()) for d in dates}, key=lambda d: d.weekday)
    for fdow in _WEEK_STARTS:
        week0 = dates[0] - timedelta(days=(dates[0].weekday() - fdow.weekday) % 7)
        weeks = [(d - week0).days // 7 for d in dates]
        interval = _gcd([w - weeks[0] for w in weeks]) or 1
        p = _pattern(
            RecurrencePatternType.WEEKLY, interval, daysOfWeek=[d.value for d in days], firstDayOfWeek=fdow
        )
        if p is not None:
            yield p


def _month_number(d: date) -> int:
    return d.year * 12 + d.month - 1


def _monthly(dates: list[date]) -> Iterator[RecurrencePattern]:
    months = [_month_number(d) for d in dates]
    interval = _gcd([m - months[0] for m in months])
    if interval == 0:
        return
    p = _pattern(RecurrencePatternType.ABSOLUTE_MONTHLY, interval, dayOfMonth=max(d.day for d in dates))
    if p is not None:
        yield p
    if len({d.weekday() for d in dates}) == 1:
        day = DayOfWeek.from_weekday(dates[0].weekday()).value
        for index in _indexes(dates[0]):
            p = _pattern(RecurrencePatternType.RELATIVE_MONTHLY, interval, daysOfWeek=[day], index=index)
            if p is not None:
                yield p


def _yearly(dates: list[date]) -> Iterator[RecurrencePattern]:
    if len({d.month for d in dates}) != 1:
        return
    interval = _gcd([d.year - dates[0].year for d in dates])
    if interval == 0:
        return
    month = dates[0].month
    p = _pattern(
        RecurrencePatternType.ABSOLUTE_YEARLY, interval, dayOfMonth=max(d.day for d in dates), month=month
    )
    if p is not None:
        yield p
    if len({d.weekday() for d in dates}) == 1:
        day = DayOfWeek.from_weekday(dates[0].weekday()).value
        for index in _indexes(dates[0]):
            p = _pattern(
                RecurrencePatternType.RELATIVE_YEARLY, interval, daysOfWeek=[day], index=index, month=month
            )
            if p is not None:
                yield p


def _indexes(d: date) -> list[WeekIndex]:
    """The week indexes ``d`` can stand for: its ordinal (first..fourth) and/or ``last``."""
    out: list[WeekIndex] = []
    n = (d.day - 1) // 7
    if n < len(_ORDINALS):
        out.append(_ORDINALS[n])
    if (d + timedelta(days=7)).month != d.month:
        out.append(WeekIndex.LAST)
    return out
