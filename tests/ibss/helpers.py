"""Time helpers shared by the IBSS tests (clock frozen at Monday 2030-01-07 07:00 Europe/Berlin)."""

from datetime import UTC, datetime, timedelta

from emulators.ibss.pytest_plugin import TEST_NOW

NODE = 1001
TUESDAY = datetime(
    2030, 1, 8, tzinfo=UTC
)  # 00:00Z; local (UTC+1) office hours are 07:00-20:00 = 06:00-19:00Z


def at(day_offset: int, hour: int, minute: int = 0) -> datetime:
    """UTC time on TEST_NOW's date + day_offset."""
    base = TEST_NOW.replace(hour=0, minute=0)
    return base + timedelta(days=day_offset, hours=hour, minutes=minute)


def slot(i: int, minutes: int = 30) -> tuple[datetime, datetime]:
    """The i-th 30-minute slot, 20 per weekday from Tuesday 08:00 local (07:00Z)."""
    day, n = divmod(i, 20)
    start = TUESDAY + timedelta(days=day, hours=7, minutes=30 * n)
    return start, start + timedelta(minutes=minutes)
