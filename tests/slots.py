"""Days and slots for tests that book on the demo building, whatever today's date, weekday or hour.

The demo building (``emulators/ibss/data/demo.yaml``) books meeting rooms and desks on weekdays only, and
its seed bookings lie on the first days after the emulator's date at load time. A test day is therefore
counted in bookable weekdays, starting after the seed days: day ``n`` and day ``m`` are different dates
for ``n != m`` on any date, and no test slot meets a seed booking. Hours are wall-clock hours in the
building's zone, so a slot keeps its place in the bookable hours across a DST change.

Tests that run the emulators on real time pass nothing (the default is the real clock, which the
emulators then follow); tests that set the emulators' clocks pass that clock as ``now``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from zoneinfo import ZoneInfo

BERLIN = ZoneInfo("Europe/Berlin")  # the demo building's time zone
SEED_DAYS = 2  # demo.yaml seeds bookings on day_offset 1 and 2 (tests/test_slots.py keeps this true)
BOOKABLE_WEEKDAYS = frozenset(range(5))  # Monday-Friday: the demo policies have no weekend hours


def _today(now: datetime | None) -> date:
    return (now or datetime.now(UTC)).astimezone(BERLIN).date()


def bookable_day(n: int, now: datetime | None = None) -> date:
    """The ``n``-th (from 1) bookable weekday after the seed days."""
    if n < 1:
        raise ValueError(f"test days count from 1, got {n}")
    day = _today(now) + timedelta(days=SEED_DAYS)
    while n:
        day += timedelta(days=1)
        if day.weekday() in BOOKABLE_WEEKDAYS:
            n -= 1
    return day


def monday(n: int = 1, now: datetime | None = None) -> date:
    """The ``n``-th (from 1) Monday after the seed days: the first date of a weekly series."""
    if n < 1:
        raise ValueError(f"Mondays count from 1, got {n}")
    first = _today(now) + timedelta(days=SEED_DAYS + 1)
    first += timedelta(days=(7 - first.weekday()) % 7)
    return first + timedelta(weeks=n - 1)


def at(day: date, hour: int, minute: int = 0) -> datetime:
    """Wall-clock time in the building's zone on ``day`` (aware, Europe/Berlin)."""
    return datetime.combine(day, dtime(hour, minute), BERLIN)


def business_slot(
    n: int, hour: int, minutes: int = 60, *, now: datetime | None = None
) -> tuple[datetime, datetime]:
    """``hour``:00 on test day ``n`` for ``minutes``, as UTC (the building's wall clock, so DST-proof)."""
    start = at(bookable_day(n, now), hour).astimezone(UTC)
    return start, start + timedelta(minutes=minutes)


def next_dst_change(after: date, zone: ZoneInfo = BERLIN) -> date:
    """The first date after ``after`` on which ``zone``'s UTC offset differs from the day before."""
    day = after
    for _ in range(400):
        following = day + timedelta(days=1)
        if at(following, 12).replace(tzinfo=zone).utcoffset() != at(day, 12).replace(tzinfo=zone).utcoffset():
            return following
        day = following
    raise ValueError(f"{zone.key} has no DST change within 400 days of {after}")


__all__ = ["BERLIN", "at", "bookable_day", "business_slot", "monday", "next_dst_change"]
