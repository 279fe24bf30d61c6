"""Windows and IANA time-zone names, resolved to ``zoneinfo`` zones (pure, no I/O).

Graph sends and accepts Windows names (``W. Europe Standard Time``) as well as IANA names
(``Europe/Berlin``) [DOC event, dateTimeTimeZone]. The Windows table is tzlocal's
``windows_tz.win_tz`` (generated from CLDR's windowsZones.xml, territory ``001``).
"""

from __future__ import annotations

from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tzlocal.windows_tz import win_tz

_UTC_ALIASES = frozenset({"UTC", "Z", "ETC/UTC", "GMT", "COORDINATED UNIVERSAL TIME"})
_WIN_BY_LOWER: dict[str, str] = {str(k).lower(): str(v) for k, v in win_tz.items()}


class UnknownTimeZone(ValueError):
    """A name that is neither a Windows zone known to the table nor an IANA zone."""

    def __init__(self, name: str) -> None:
        super().__init__(
            f"unknown time zone {name!r}: expected a Windows name such as 'W. Europe Standard Time' "
            "or an IANA name such as 'Europe/Berlin'"
        )
        self.name = name


@lru_cache(maxsize=1024)
def windows_to_iana(name: str) -> str:
    """The IANA name for a Windows zone name; IANA names (and UTC spellings) pass through.

    Windows names match case-insensitively (Graph echoes whatever case the client sent).
    Raises :class:`UnknownTimeZone` for anything that ``zoneinfo`` cannot load.
    """
    text = name.strip().strip('"') if isinstance(name, str) else ""
    if not text:
        raise UnknownTimeZone(str(name))
    if text.upper() in _UTC_ALIASES:
        return "UTC"
    iana = _WIN_BY_LOWER.get(text.lower(), text)
    try:
        ZoneInfo(iana)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise UnknownTimeZone(name) from exc
    return iana


def zone(name: str) -> ZoneInfo:
    """The ``ZoneInfo`` for a Windows or IANA name (see :func:`windows_to_iana`)."""
    return ZoneInfo(windows_to_iana(name))
