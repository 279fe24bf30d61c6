"""Root fixtures. Stack fixtures start real Azurite and the dev host; emulator plugins add their fixtures."""

from __future__ import annotations

import pytest

from tests.stack_fixtures import azurite_pool, devhost, mark_test_start, storage_connection

pytest_plugins = ["emulators.graph.pytest_plugin", "emulators.ibss.pytest_plugin"]

__all__ = ["azurite_pool", "devhost", "storage_connection"]

# Fixtures on the run's one Azurite account: their tests share its queues and tables.
_SHARED_ACCOUNT = frozenset({"storage_connection", "devhost"})


@pytest.fixture(autouse=True)
def _host_log_mark() -> None:
    """A failure report shows the dev hosts' log lines from this test on (tests.e2e.conftest.eventually)."""
    mark_test_start()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Groups for pytest-xdist's ``--dist loadgroup`` (`make test` runs two workers): tests on the shared
    Azurite account run on one worker, one after another; every other module stays on one worker (its
    module and package fixtures, e.g. an end-to-end stack, start once there). Without xdist: no effect."""
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        group = "shared-azurite" if fixtures & _SHARED_ACCOUNT else item.nodeid.split("::", 1)[0]
        item.add_marker(pytest.mark.xdist_group(name=group))
