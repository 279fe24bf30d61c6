"""Fixtures of the IBSS emulator tests."""

from collections.abc import Iterator

import httpx
import pytest

from emulators.ibss.testing import IbssEmulator


@pytest.fixture
def emu(ibss_emulator_fresh: IbssEmulator) -> IbssEmulator:
    return ibss_emulator_fresh


@pytest.fixture
def api(emu: IbssEmulator) -> Iterator[httpx.Client]:
    """A raw HTTP client of the emulated API (wire names, no typed client in between)."""
    with httpx.Client(
        base_url=emu.base_url, headers={"Authorization": f"apikey {emu.api_key}"}, timeout=10.0
    ) as c:
        yield c
