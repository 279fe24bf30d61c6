"""The whole local stack: dev host running function_app.py on Azurite, wired to both emulators."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from datetime import time as dtime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import pytest

from emulators.graph.testing import GraphEmulator
from emulators.ibss.testing import IbssEmulator
from scripts.stack import ROOT, stop_process
from tests.stack_fixtures import HOOK_SECRET, RunningHost, start_host

T = TypeVar("T")


@dataclass
class SyncStack:
    host: RunningHost
    graph: GraphEmulator
    ibss: IbssEmulator
    host_mode: str

    def reset(self) -> None:
        self.graph.reset()
        # Both emulators on real time: the service decides with the real clock too.
        self.ibss.reset(clock=datetime.now(UTC), frozen=False)
        self.ibss.set_hook_target(self.host.url("ibss/hooks", key=False), HOOK_SECRET)


BERLIN = ZoneInfo("Europe/Berlin")


def business_slot(days_ahead: int, hour: int, minutes: int = 60) -> tuple[datetime, datetime]:
    """A weekday slot inside the demo building's bookable hours (Europe/Berlin), as UTC."""
    day = datetime.now(BERLIN).date() + timedelta(days=days_ahead)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    start = datetime.combine(day, dtime(hour, 0), BERLIN).astimezone(UTC)
    return start, start + timedelta(minutes=minutes)


def eventually(probe: Callable[[], T | None], timeout: float = 15.0, what: str = "condition") -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"{what} not reached within {timeout}s")


def _host(mode: str, storage: str, graph: GraphEmulator, ibss: IbssEmulator) -> RunningHost:
    return start_host(
        ROOT / "function_app.py",
        storage,
        {
            "SYNC_ORGANIZER_MODE": mode,
            "GRAPH_BASE_URL": graph.base_url,
            "GRAPH_AUTHORITY": graph.authority,
            "GRAPH_TENANT_ID": graph.tenant_id,
            "GRAPH_CLIENT_ID": graph.client_id,
            "GRAPH_CLIENT_SECRET": graph.client_secret,
            "GRAPH_CA_BUNDLE": graph.ca_pem_path,
            "IBSS_BASE_URL": ibss.base_url,
            "IBSS_API_KEY": ibss.api_key,
        },
    )


@pytest.fixture(scope="session", params=["owner", "room"])
def sync_stack_session(
    request: pytest.FixtureRequest,
    storage_connection: str,
    graph_emulator: GraphEmulator,
    ibss_emulator: IbssEmulator,
) -> Iterator[SyncStack]:
    host = _host(request.param, storage_connection, graph_emulator, ibss_emulator)
    try:
        yield SyncStack(host=host, graph=graph_emulator, ibss=ibss_emulator, host_mode=request.param)
    finally:
        stop_process(host.proc)


@pytest.fixture
def sync_stack(sync_stack_session: SyncStack) -> SyncStack:
    sync_stack_session.reset()
    return sync_stack_session


def events_of(stack: SyncStack, mailbox: str, **match: Any) -> list[dict[str, Any]]:
    return [e for e in stack.graph.mailbox_events(mailbox) if all(e.get(k) == v for k, v in match.items())]
