"""pytest fixtures of the IBSS emulator.

* ``ibss_emulator`` (session): the emulator with the demo building on a free loopback port.
* ``ibss_emulator_fresh`` (function): the same emulator, reset for test isolation: demo data again,
  no bookings beyond the seeds, no faults, no request counts or hook history, and the clock frozen at
  :data:`TEST_NOW` (Monday 2030-01-07 07:00 Europe/Berlin).

Use them from a conftest: ``from emulators.ibss.pytest_plugin import ibss_emulator, ibss_emulator_fresh``
(or register the module with ``pytest_plugins`` in the root conftest).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from emulators.ibss.testing import IbssEmulator

TEST_NOW = datetime(2030, 1, 7, 6, 0, tzinfo=UTC)
"""Monday 2030-01-07 07:00 in Europe/Berlin (UTC+1)."""


@pytest.fixture(scope="session")
def ibss_emulator() -> Iterator[IbssEmulator]:
    with IbssEmulator(hook_backoff_s=0.05, hook_timeout_s=2.0, hook_max_attempts=4) as emu:
        yield emu


@pytest.fixture
def ibss_emulator_fresh(ibss_emulator: IbssEmulator) -> IbssEmulator:
    ibss_emulator.reset(clock=TEST_NOW, frozen=True)
    return ibss_emulator
