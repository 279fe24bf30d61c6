"""The test calendar (tests/slots.py) on every weekday, at every hour that matters, around DST changes."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import yaml

from scripts.stack import ROOT
from tests.slots import BERLIN, SEED_DAYS, at, bookable_day, business_slot, monday, next_dst_change

DEMO = yaml.safe_load((ROOT / "emulators/ibss/data/demo.yaml").read_text())

# A week of days (Monday-Sunday), each at the hours that once broke tests: before the rooms open, midday,
# late evening (the next day in UTC is not the next day in Berlin), and the weeks of both DST changes.
DAYS = [date(2026, 11, 30) + timedelta(days=i) for i in range(7)]
DST_WEEKS = [date(2027, 3, 22) + timedelta(days=i) for i in range(7)] + [
    date(2027, 10, 25) + timedelta(days=i) for i in range(7)
]
CLOCKS = [
    at(d, h, m).astimezone(UTC) for d in DAYS + DST_WEEKS for h, m in ((0, 5), (7, 0), (12, 0), (23, 40))
]


def _policy(policy_id: str) -> dict[str, object]:
    (building,) = DEMO["buildings"]
    (policy,) = [p for p in building["policies"] if p["policy_id"] == policy_id]
    return dict(policy)


def test_seed_bookings_lie_on_the_days_tests_never_use() -> None:
    offsets = [int(b.get("day_offset", 1)) for b in DEMO["bookings"]]
    assert offsets
    assert max(offsets) <= SEED_DAYS


@pytest.mark.parametrize("now", CLOCKS, ids=lambda c: c.astimezone(BERLIN).strftime("%a-%Y-%m-%d-%H%M"))
def test_bookable_days_are_distinct_weekdays_after_the_seeds(now: datetime) -> None:
    today = now.astimezone(BERLIN).date()
    days = [bookable_day(n, now) for n in range(1, 61)]
    assert len(set(days)) == len(days)
    assert days == sorted(days)
    assert all(d.weekday() < 5 for d in days)
    assert all(d > today + timedelta(days=SEED_DAYS) for d in days)
    # IBSS refuses a start later than now + window_days. Desk tests use days 1-6 (latest start 22:00),
    # the randomized test up to day 30 (rooms, latest start 20:00).
    desks = timedelta(days=int(str(_policy("desks")["window_days"])))
    rooms = timedelta(days=int(str(_policy("meeting-rooms")["window_days"])))
    assert at(bookable_day(6, now), 22) <= now + desks
    assert at(bookable_day(30, now), 20) <= now + rooms


@pytest.mark.parametrize("now", CLOCKS, ids=lambda c: c.astimezone(BERLIN).strftime("%a-%Y-%m-%d-%H%M"))
def test_slots_keep_their_wall_clock_hour_and_never_start_in_the_past(now: datetime) -> None:
    for n in range(1, 8):
        for hour in (7, 9, 14, 19):
            start, end = business_slot(n, hour, 90, now=now)
            assert start.tzinfo is UTC
            assert start > now + timedelta(days=SEED_DAYS)
            local = start.astimezone(BERLIN)
            assert (local.hour, local.minute) == (hour, 0)
            assert end - start == timedelta(minutes=90)


@pytest.mark.parametrize("now", CLOCKS, ids=lambda c: c.astimezone(BERLIN).strftime("%a-%Y-%m-%d-%H%M"))
def test_mondays_follow_the_seed_days_a_week_apart(now: datetime) -> None:
    today = now.astimezone(BERLIN).date()
    first, second = monday(1, now), monday(2, now)
    assert first.weekday() == second.weekday() == 0
    assert today + timedelta(days=SEED_DAYS) < first <= today + timedelta(days=SEED_DAYS + 7)
    assert second - first == timedelta(weeks=1)


def test_day_numbers_count_from_one() -> None:
    with pytest.raises(ValueError, match="from 1"):
        bookable_day(0)
    with pytest.raises(ValueError, match="from 1"):
        monday(0)


def test_next_dst_change() -> None:
    assert next_dst_change(date(2026, 12, 2)) == date(2027, 3, 28)
    assert next_dst_change(date(2027, 3, 28)) == date(2027, 10, 31)
    assert next_dst_change(date(2027, 1, 10), ZoneInfo("America/New_York")) == date(2027, 3, 14)
    with pytest.raises(ValueError, match="no DST change"):
        next_dst_change(date(2027, 1, 1), ZoneInfo("Asia/Kolkata"))
