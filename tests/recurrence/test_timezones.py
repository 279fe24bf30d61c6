"""Windows and IANA zone names."""

from __future__ import annotations

import pytest

from shared.recurrence import UnknownTimeZone, windows_to_iana, zone
from tests.recurrence.cases import ZONES


@pytest.mark.parametrize(
    ("name", "iana"),
    [
        ("W. Europe Standard Time", "Europe/Berlin"),
        ("w. europe standard time", "Europe/Berlin"),
        ("Pacific Standard Time", "America/Los_Angeles"),
        ("AUS Eastern Standard Time", "Australia/Sydney"),
        ("E. South America Standard Time", "America/Sao_Paulo"),
        ("India Standard Time", "Asia/Calcutta"),
        ("New Zealand Standard Time", "Pacific/Auckland"),
        ("Mountain Standard Time (Mexico)", "America/Mazatlan"),
        ("GMT Standard Time", "Europe/London"),
        ("Europe/Berlin", "Europe/Berlin"),
        ("America/New_York", "America/New_York"),
        ("UTC", "UTC"),
        ("Etc/UTC", "UTC"),
        (" Tokyo Standard Time ", "Asia/Tokyo"),
    ],
)
def test_windows_to_iana(name: str, iana: str) -> None:
    assert windows_to_iana(name) == iana


@pytest.mark.parametrize(
    "name", ["", "Mars Standard Time", "Europe/Atlantis", "../etc/passwd", "tzone://Microsoft/Custom"]
)
def test_unknown_names_are_clear_errors(name: str) -> None:
    with pytest.raises(UnknownTimeZone, match="unknown time zone") as err:
        windows_to_iana(name)
    assert isinstance(err.value, ValueError)


def test_all_test_zones_resolve() -> None:
    assert len({windows_to_iana(z) for z in ZONES}) == len(ZONES)
    assert str(zone("Romance Standard Time")) == "Europe/Paris"
