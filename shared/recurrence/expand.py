"""Expanding a ``patternedRecurrence`` into occurrences with ``dateutil.rrule`` (pure, no I/O).

The rule is evaluated on *naive wall-clock* datetimes in the series' own time zone (the range's
``recurrenceTimeZone``, else the event's zone), so a 09:00 Berlin meeting stays at 09:00 local
time on both sides of a DST change; each wall-clock start is converted to UTC on its own.
See docs/recurrence.md for the mapping and the behaviour choices.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from dateutil import rrule as rr

from shared.recurrence.models import (
    PatternedRecurrence,
    RecurrencePatternType,
    RecurrenceRangeType,
)
from shared.recurrence.timezones import zone

_FREQ: dict[RecurrencePatternType, Literal[0, 1, 2, 3, 4, 5, 6]] = {
    RecurrencePatternType.DAILY: rr.DAILY,
    RecurrencePatternType.WEEKLY: rr.WEEKLY,
    RecurrencePatternType.ABSOLUTE_MONTHLY: rr.MONTHLY,
    RecurrencePatternType.RELATIVE_MONTHLY: rr.MONTHLY,
    RecurrencePatternType.ABSOLUTE_YEARLY: rr.YEARLY,
    RecurrencePatternType.RELATIVE_YEARLY: rr.YEARLY,
}
_WEEKDAYS = (rr.MO, rr.TU, rr.WE, rr.TH, rr.FR, rr.SA, rr.SU)
# Local dates differ from UTC dates by at most 14 h and DST moves wall time by at most 2 h:
# one day of margin on each side of the window is always enough.
_MARGIN = timedelta(days=1)
_LAST_LOCAL = datetime(9999, 12, 30)


class RecurrenceError(ValueError):
    """Inputs that cannot be expanded (naive window bounds, negative duration, ...)."""


@dataclass(frozen=True, slots=True)
class Occurrence:
    """One occurrence: aware UTC datetimes. ``original_start_utc`` is the slot the pattern defines
    (Graph's ``originalStart``); for a plain expansion it equals ``start_utc``."""

    start_utc: datetime
    end_utc: datetime
    original_start_utc: datetime


def effective_time_zone(recurrence: PatternedRecurrence, time_zone: str) -> str:
    """The zone the pattern is evaluated in: ``recurrenceTimeZone`` if set, else the event's zone
    (recurrenceRange docs: "defaults to the time zone specified for the event")."""
    return recurrence.range.recurrence_time_zone or time_zone


def to_rrule(recurrence: PatternedRecurrence, dtstart: datetime) -> rr.rrule:
    """The dateutil rule for a pattern whose range starts at the naive local ``dtstart``.

    * The rule's own DTSTART is the series' first occurrence: the first date on or after ``dtstart``
      that fits the pattern. The interval and ``COUNT`` are counted from it, as Exchange does
      (MS-OXOCAL 2.2.1.44.1: the pattern's StartDate is the first occurrence and the interval's
      anchor is derived from it; Graph: "first Thursday of every other month starting August 29,
      2017 ... the first occurrence of this series will be in September").
    * ``dayOfMonth`` 29-31 becomes ``BYMONTHDAY=28..d;BYSETPOS=-1``: the day itself where the month
      has it, else the month's last day (EWS DayOfMonth [DOC]; plain RFC 5545 would skip the month).
    * ``index`` first..fourth/last becomes ``BYSETPOS=1..4/-1`` over the weekday set.
    * ``firstDayOfWeek`` becomes ``WKST`` (it matters for weekly with interval > 1).
    * ``numbered`` becomes ``COUNT`` (counted from the first occurrence), ``endDate`` becomes
      ``UNTIL`` at the end of that local day (inclusive by date).
    """
    p, r = recurrence.pattern, recurrence.range
    if dtstart.tzinfo is not None:
        raise RecurrenceError("dtstart must be a naive wall-clock datetime")
    days = [_WEEKDAYS[d.weekday] for d in p.days_of_week] or None
    bymonthday: int | tuple[int, ...] | None = None
    bysetpos: int | None = None
    if p.type in (RecurrencePatternType.ABSOLUTE_MONTHLY, RecurrencePatternType.ABSOLUTE_YEARLY):
        if p.day_of_month <= 28:
            bymonthday = p.day_of_month
        else:
            bymonthday, bysetpos = tuple(range(28, p.day_of_month + 1)), -1
    if p.type in (RecurrencePatternType.RELATIVE_MONTHLY, RecurrencePatternType.RELATIVE_YEARLY):
        bysetpos = p.index.setpos
    count: int | None = None
    until: datetime | None = None
    if r.type is RecurrenceRangeType.NUMBERED:
        count = r.number_of_occurrences
    elif r.type is RecurrenceRangeType.END_DATE and r.end_date is not None:
        until = datetime.combine(r.end_date, time.max)

    def rule(start: datetime, interval: int, count: int | None, until: datetime | None) -> rr.rrule:
        return rr.rrule(
            _FREQ[p.type],
            dtstart=start,
            interval=interval,
            wkst=_WEEKDAYS[p.first_day_of_week.weekday],
            count=count,
            until=until,
            bymonth=p.month or None,
            bymonthday=bymonthday,
            byweekday=days,
            bysetpos=bysetpos,
            cache=False,
        )

    # With interval 1 every period is active, so its first instance is the first fitting date
    # (dateutil never yields a DTSTART that does not fit). Anchored there, the interval counts
    # weeks (by WKST), months or years from the first occurrence instead of from startDate's.
    first: datetime | None = next(iter(rule(dtstart, 1, None, None)), None)
    return rule(first or dtstart, p.interval, count, until)


def local_to_utc(local: datetime, tz: ZoneInfo) -> datetime:
    """Wall time to UTC with ``fold=0``: a time in the spring-forward gap uses the offset from
    before the gap (02:30 in Berlin on the transition day is 01:30Z, i.e. 03:30 CEST) and an
    ambiguous time is its first occurrence (the daylight-time one). RFC 5545 3.3.5 rule; the Graph
    emulator does the same."""
    return local.replace(tzinfo=tz, fold=0).astimezone(UTC)


def local_starts(
    recurrence: PatternedRecurrence, start_local_time: time, until: datetime | None = None
) -> Iterator[datetime]:
    """Naive local start datetimes in series order (all of them for bounded ranges; ``until``, a
    naive local datetime, bounds ``noEnd`` series)."""
    dtstart = datetime.combine(recurrence.range.start_date, _naive_time(start_local_time))
    rule = to_rrule(recurrence, dtstart)
    stop = min(until, _LAST_LOCAL) if until is not None else _LAST_LOCAL
    for value in rule.xafter(dtstart, inc=True):
        if value > stop:
            return
        yield value


def expand(  # noqa: PLR0917 - the expansion inputs, one to one
    recurrence: PatternedRecurrence,
    start_local_time: time,
    duration: timedelta,
    time_zone: str,
    window_start: datetime,
    window_end: datetime,
) -> list[Occurrence]:
    """Occurrences overlapping ``[window_start, window_end)``, ascending by start.

    ``start_local_time`` is the series' wall-clock start in the effective zone (``recurrenceTimeZone``
    or ``time_zone``, Windows or IANA name); ``duration`` is added to the wall-clock start, so the
    wall-clock end is fixed as well (Exchange stores start and end as minutes after local midnight,
    MS-OXOCAL AppointmentRecurrencePattern). Overlap is Graph's calendarView rule: ``start < end of
    window`` and ``end > start of window``; a zero-length occurrence counts when
    ``window_start <= start < window_end``. ``numbered`` counts from the series start, not from the
    window; ``noEnd`` is bounded by the window.
    """
    if window_start.tzinfo is None or window_end.tzinfo is None:
        raise RecurrenceError("window_start and window_end must be timezone-aware")
    if duration < timedelta(0):
        raise RecurrenceError("duration must not be negative")
    tz = zone(effective_time_zone(recurrence, time_zone))
    if window_end <= window_start:
        return []
    lo = window_start.astimezone(tz).replace(tzinfo=None) - duration - _MARGIN
    hi = window_end.astimezone(tz).replace(tzinfo=None) + _MARGIN
    out: list[Occurrence] = []
    for local in local_starts(recurrence, start_local_time, until=hi):
        if local < lo:
            continue
        start = local_to_utc(local, tz)
        end = local_to_utc(local + duration, tz)
        if (start < window_end and end > window_start) or (
            start == end and window_start <= start < window_end
        ):
            out.append(Occurrence(start, end, start))
    return out


def occurrence_dates(recurrence: PatternedRecurrence, limit: int) -> list[date]:
    """The first ``limit`` local dates of the series (for checks such as booking windows)."""
    out: list[date] = []
    for local in local_starts(recurrence, time(0)):
        out.append(local.date())
        if len(out) >= limit:
            break
    return out


def _naive_time(t: time) -> time:
    if t.tzinfo is not None:
        raise RecurrenceError("start_local_time must be a naive wall-clock time")
    return t
