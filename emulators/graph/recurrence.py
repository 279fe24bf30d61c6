"""Hand-written expansion of Graph ``patternedRecurrence`` (an oracle independent of rrule).

Semantics follow Graph's recurrencePattern/recurrenceRange docs and Exchange's rules:
occurrences are the dates on or after ``range.startDate`` that match the pattern, with the
interval counted from the first of them (not from ``startDate``'s week, month or year); a
``dayOfMonth`` past the end of a month means the month's last day (EWS DayOfMonth docs);
relative patterns pick the index-th day of the month whose weekday is in ``daysOfWeek``.
Times are wall-clock times in the recurrence time zone, converted to UTC per occurrence.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from emulators.graph.timezones import local_to_utc, resolve_tz

DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
INDEXES = ("first", "second", "third", "fourth", "last")
PATTERN_TYPES = ("daily", "weekly", "absoluteMonthly", "relativeMonthly", "absoluteYearly", "relativeYearly")
RANGE_TYPES = ("endDate", "noEnd", "numbered")
NO_DATE = "0001-01-01"
_MAX_YEAR = 9000


class RecurrenceError(ValueError):
    pass


@dataclass(frozen=True)
class Pattern:
    type: str
    interval: int
    days_of_week: tuple[int, ...]  # Python weekday numbers, Monday = 0
    first_day_of_week: int
    index: str
    day_of_month: int
    month: int


@dataclass(frozen=True)
class Range:
    type: str
    start_date: date
    end_date: date | None
    count: int
    time_zone: str | None


def _day(name: str) -> int:
    try:
        return DAY_NAMES.index(name.lower())
    except ValueError as exc:
        raise RecurrenceError(f"Invalid day of week '{name}'.") from exc


def parse(obj: dict[str, Any]) -> tuple[Pattern, Range]:
    """Validate a patternedRecurrence body the way Graph does (400 ``ErrorInvalidRecurrence``)."""
    p = obj.get("pattern") or {}
    r = obj.get("range") or {}
    ptype = p.get("type")
    if ptype not in PATTERN_TYPES:
        raise RecurrenceError(f"Invalid recurrence pattern type '{ptype}'.")
    interval = int(p.get("interval") or 0)
    if interval < 1 or interval > 999:
        raise RecurrenceError("The recurrence pattern interval must be a positive number.")
    days = tuple(_day(d) for d in (p.get("daysOfWeek") or []))
    dom = int(p.get("dayOfMonth") or 0)
    month = int(p.get("month") or 0)
    index = str(p.get("index") or "first")
    if index not in INDEXES:
        raise RecurrenceError(f"Invalid week index '{index}'.")
    fdow = _day(str(p.get("firstDayOfWeek") or "sunday"))
    # Graph rejects properties that have no meaning for the pattern type.
    uses_days = ptype in ("weekly", "relativeMonthly", "relativeYearly")
    uses_dom = ptype in ("absoluteMonthly", "absoluteYearly")
    uses_month = ptype in ("absoluteYearly", "relativeYearly")
    if days and not uses_days:
        raise RecurrenceError(f"daysOfWeek is not supported for pattern type '{ptype}'.")
    if uses_days and not days:
        raise RecurrenceError(f"daysOfWeek is required for pattern type '{ptype}'.")
    if dom and not uses_dom:
        raise RecurrenceError(f"dayOfMonth is not supported for pattern type '{ptype}'.")
    if uses_dom and not 1 <= dom <= 31:
        raise RecurrenceError("dayOfMonth must be between 1 and 31.")
    if month and not uses_month:
        raise RecurrenceError(f"month is not supported for pattern type '{ptype}'.")
    if uses_month and not 1 <= month <= 12:
        raise RecurrenceError("month must be between 1 and 12.")
    rtype = r.get("type")
    if rtype not in RANGE_TYPES:
        raise RecurrenceError(f"Invalid recurrence range type '{rtype}'.")
    try:
        start_date = date.fromisoformat(str(r.get("startDate")))
    except ValueError as exc:
        raise RecurrenceError("The recurrence range startDate is required.") from exc
    end_date: date | None = None
    count = 0
    if rtype == "endDate":
        raw_end = r.get("endDate")
        if not raw_end or raw_end == NO_DATE:
            raise RecurrenceError("The recurrence range endDate is required for type 'endDate'.")
        end_date = date.fromisoformat(str(raw_end))
        if end_date < start_date:
            raise RecurrenceError("The recurrence range endDate must not be before startDate.")
    elif rtype == "numbered":
        count = int(r.get("numberOfOccurrences") or 0)
        if count < 1:
            raise RecurrenceError("numberOfOccurrences must be a positive number.")
    tz = r.get("recurrenceTimeZone") or None
    if tz:
        resolve_tz(tz)
    return (
        Pattern(ptype, interval, tuple(sorted(set(days))), fdow, index, dom, month),
        Range(rtype, start_date, end_date, count, tz),
    )


def to_wire(pattern: Pattern, rng: Range, default_tz: str) -> dict[str, Any]:
    """Graph's response shape: every property present, defaults filled in."""
    order = [(pattern.first_day_of_week + i) % 7 for i in range(7)]
    return {
        "pattern": {
            "type": pattern.type,
            "interval": pattern.interval,
            "month": pattern.month,
            "dayOfMonth": pattern.day_of_month,
            "daysOfWeek": [DAY_NAMES[d] for d in order if d in pattern.days_of_week],
            "firstDayOfWeek": DAY_NAMES[pattern.first_day_of_week],
            "index": pattern.index,
        },
        "range": {
            "type": rng.type,
            "startDate": rng.start_date.isoformat(),
            "endDate": rng.end_date.isoformat() if rng.end_date else NO_DATE,
            "recurrenceTimeZone": rng.time_zone or default_tz,
            "numberOfOccurrences": rng.count,
        },
    }


def _add_months(year: int, month: int, months: int) -> tuple[int, int]:
    total = year * 12 + (month - 1) + months
    return total // 12, total % 12 + 1


def _clamped(year: int, month: int, day: int) -> date:
    return date(year, month, min(day, calendar.monthrange(year, month)[1]))


def _nth_weekday(year: int, month: int, days: tuple[int, ...], index: str) -> date:
    last = calendar.monthrange(year, month)[1]
    matches = [date(year, month, d) for d in range(1, last + 1) if date(year, month, d).weekday() in days]
    if index == "last":
        return matches[-1]
    return matches[INDEXES.index(index)]


def _in_month(p: Pattern, year: int, month: int) -> date:
    """The pattern's one date in a month (monthly and yearly types)."""
    if p.type in ("absoluteMonthly", "absoluteYearly"):
        return _clamped(year, month, p.day_of_month)
    return _nth_weekday(year, month, p.days_of_week, p.index)


def _pattern_dates(p: Pattern, start: date) -> Iterator[date]:
    """Every date of the pattern on or after ``start``, ascending (unbounded).

    The interval counts from the first occurrence (the first fitting date on or after ``start``),
    not from ``start``: MS-OXOCAL 2.2.1.44.1 stores the first occurrence as the pattern's StartDate
    and derives the interval's anchor from it (weekly: the week, by FirstDOW, "in which the first
    event of the recurring series occurs"); Graph's example "first Thursday of every other month
    starting August 29, 2017" begins in September.
    """
    k = 0
    if p.type == "daily":
        while True:
            d = start + timedelta(days=k * p.interval)
            if d.year > _MAX_YEAR:
                return
            yield d
            k += 1
    elif p.type == "weekly":
        first = next(
            start + timedelta(days=i) for i in range(7) if (start.weekday() + i) % 7 in p.days_of_week
        )
        week0 = first - timedelta(days=(first.weekday() - p.first_day_of_week) % 7)
        while True:
            ws = week0 + timedelta(days=7 * p.interval * k)
            if ws.year > _MAX_YEAR:
                return
            for off in range(7):
                d = ws + timedelta(days=off)
                if d.weekday() in p.days_of_week and d >= first:
                    yield d
            k += 1
    elif p.type in ("absoluteMonthly", "relativeMonthly"):
        # The first occurrence is in start's month or, if that month's date is earlier, the next.
        y0, m0 = start.year, start.month
        if _in_month(p, y0, m0) < start:
            y0, m0 = _add_months(y0, m0, 1)
        while True:
            y, m = _add_months(y0, m0, k * p.interval)
            if y > _MAX_YEAR:
                return
            yield _in_month(p, y, m)
            k += 1
    else:
        y0 = start.year if _in_month(p, start.year, p.month) >= start else start.year + 1
        while True:
            y = y0 + k * p.interval
            if y > _MAX_YEAR:
                return
            yield _in_month(p, y, p.month)
            k += 1


def occurrence_dates(p: Pattern, r: Range, until: date | None = None) -> Iterator[date]:
    """Dates of the series in order, honouring the range; ``until`` bounds open series."""
    for n, d in enumerate(_pattern_dates(p, r.start_date), start=1):
        if r.type == "endDate" and r.end_date is not None and d > r.end_date:
            return
        if until is not None and d > until:
            return
        yield d
        if r.type == "numbered" and n >= r.count:
            return


@dataclass(frozen=True)
class Occurrence:
    local_start: datetime  # wall time in the recurrence zone
    start: datetime  # aware UTC
    end: datetime  # aware UTC


def expand(  # noqa: PLR0917 - mirrors the expansion inputs one to one
    p: Pattern,
    r: Range,
    start_time: time,
    duration: timedelta,
    tz_name: str,
    window_start: datetime,
    window_end: datetime,
) -> list[Occurrence]:
    """Occurrences overlapping ``[window_start, window_end)`` (aware datetimes)."""
    zone_name = r.time_zone or tz_name
    resolve_tz(zone_name)
    # Local dates can differ from UTC dates by up to 14 h; a 2-day margin covers it.
    until = (window_end.astimezone(UTC) + timedelta(days=2)).date()
    lower = (window_start.astimezone(UTC) - duration - timedelta(days=2)).date()
    out: list[Occurrence] = []
    for d in occurrence_dates(p, r, until=until):
        if d < lower:
            continue
        local = datetime.combine(d, start_time)
        s = local_to_utc(local, zone_name)
        e = local_to_utc(local + duration, zone_name)
        if (s < window_end and e > window_start) or (s == e and window_start <= s < window_end):
            out.append(Occurrence(local, s, e))
    return out


def all_dates(p: Pattern, r: Range, limit: int = 5000) -> list[date]:
    """The first ``limit`` dates of a series (for bounded checks such as booking windows)."""
    out: list[date] = []
    for d in occurrence_dates(p, r):
        out.append(d)
        if len(out) >= limit:
            break
    return out
