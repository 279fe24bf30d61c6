"""Graph date-time wire format and Windows/IANA time-zone names."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tzlocal.windows_tz import tz_win, win_tz

_DT_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,7}))?)?(Z|[+-]\d{2}:\d{2})?$"
)


class TimeZoneError(ValueError):
    pass


@lru_cache(maxsize=512)
def resolve_tz(name: str) -> ZoneInfo:
    """Accept Windows names (``W. Europe Standard Time``) and IANA names (``Europe/Berlin``)."""
    key = name.strip().strip('"')
    if key.upper() in ("UTC", "Z", "COORDINATED UNIVERSAL TIME", "ETC/UTC", "GMT"):
        return ZoneInfo("UTC")
    iana = win_tz.get(key)
    if iana is None:
        for win, target in win_tz.items():
            if win.lower() == key.lower():
                iana = target
                break
    try:
        return ZoneInfo(iana or key)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise TimeZoneError(
            "A valid TimeZone value must be specified. The following "
            f"TimeZone value is not supported: '{name}'."
        ) from exc


def windows_name(name: str) -> str:
    """The Windows name of a zone where one exists (Graph echoes what the client sent)."""
    if name in win_tz:
        return name
    return tz_win.get(name, name)


def parse_graph_datetime(value: str) -> tuple[datetime, bool]:
    """Parse ``2026-11-23T09:00:00.0000000`` (up to 7 fraction digits, optional offset).

    Returns a naive datetime (in the offset's frame, converted to UTC if an offset was given)
    and whether an offset was present.
    """
    m = _DT_RE.match(value.strip())
    if not m:
        raise ValueError(f"Cannot convert the literal '{value}' to the expected type 'Edm.DateTime'.")
    year, month, day, hour, minute = (int(m.group(i)) for i in range(1, 6))
    second = int(m.group(6) or 0)
    frac = (m.group(7) or "").ljust(7, "0")
    micro = int(frac[:6])
    dt = datetime(year, month, day, hour, minute, second, micro)
    offset = m.group(8)
    if offset is None:
        return dt, False
    if offset != "Z":
        sign = 1 if offset[0] == "+" else -1
        delta = timedelta(hours=int(offset[1:3]), minutes=int(offset[4:6]))
        dt = dt - sign * delta
    return dt, True


def local_to_utc(local: datetime, tz_name: str) -> datetime:
    """Wall time in a zone to aware UTC (gap times resolve with the pre-transition offset)."""
    zone = resolve_tz(tz_name)
    return local.replace(tzinfo=zone).astimezone(UTC)


def utc_to_local(instant: datetime, tz_name: str) -> datetime:
    return instant.astimezone(resolve_tz(tz_name)).replace(tzinfo=None)


def format_graph_datetime(local: datetime) -> str:
    """Graph's event format: seven fraction digits, no offset."""
    return local.strftime("%Y-%m-%dT%H:%M:%S.") + f"{local.microsecond:06d}0"


def format_utc_z(instant: datetime) -> str:
    """``createdDateTime`` style: UTC with seven fraction digits and ``Z``."""
    return format_graph_datetime(instant.astimezone(UTC).replace(tzinfo=None)) + "Z"


def format_offset(instant: datetime) -> str:
    """Subscription-notification style ``2026-03-08T09:00:00+00:00``."""
    return instant.astimezone(UTC).replace(microsecond=0).isoformat()


def parse_query_datetime(value: str) -> datetime:
    """calendarView ``startDateTime``: own offset if present, else UTC (Prefer header ignored)."""
    dt, _ = parse_graph_datetime(value)
    return dt.replace(tzinfo=UTC)


def parse_any_instant(value: str) -> datetime:
    dt, _ = parse_graph_datetime(value)
    return dt.replace(tzinfo=UTC)
