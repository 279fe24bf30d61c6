"""Fixtures of the IBSS client tests: the emulator over real loopback HTTP (no mocks)."""

from collections.abc import AsyncIterator

import pytest

from emulators.ibss.testing import IbssEmulator
from shared.ibss import IbssClient, RetryPolicy

FAST_RETRIES = RetryPolicy(max_retries=3, backoff_initial=0.01, backoff_max=0.05, jitter=0.0)


@pytest.fixture
def emu(ibss_emulator_fresh: IbssEmulator) -> IbssEmulator:
    return ibss_emulator_fresh


@pytest.fixture
async def client(emu: IbssEmulator) -> AsyncIterator[IbssClient]:
    async with IbssClient(emu.base_url, emu.api_key, timeout=5.0, retry_policy=FAST_RETRIES) as c:
        yield c
