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
from scripts.stack import ROOT, azurite_running, free_port, stop_process
from tests.stack_fixtures import HOOK_SECRET, RunningHost, emulator_env, start_host

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


def eventually(probe: Callable[[], T | None], timeout: float = 30.0, what: str = "condition") -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"{what} not reached within {timeout}s")


def _host(mode: str, storage: str, graph: GraphEmulator, ibss: IbssEmulator) -> RunningHost:
    port = free_port()
    return start_host(ROOT / "function_app.py", storage, emulator_env(graph, ibss, port, mode), port=port)


# Package scope: a host left running after tests/e2e would keep working (and logging) under later suites.
@pytest.fixture(scope="package", params=["owner", "room"])
def sync_stack_session(
    request: pytest.FixtureRequest, graph_emulator: GraphEmulator, ibss_emulator: IbssEmulator
) -> Iterator[SyncStack]:
    # Its own Azurite: another dev host on shared queues would take this stack's jobs.
    with azurite_running() as azurite:
        host = _host(request.param, azurite.connection_string, graph_emulator, ibss_emulator)
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


SYNCED_ROOMS = 4  # aurora, borealis, cirrus, delta in the demo tenant


@pytest.fixture(params=["owner", "room"])
def ready_stack(
    request: pytest.FixtureRequest, graph_emulator: GraphEmulator, ibss_emulator: IbssEmulator
) -> Iterator[SyncStack]:
    """A fresh stack (own Azurite, own dev host) whose rooms are onboarded, subscribed and delta-synced,
    so Outlook changes reach the service through Graph notifications as in production."""
    graph_emulator.reset()
    ibss_emulator.reset(clock=datetime.now(UTC), frozen=False)
    with azurite_running() as azurite:
        port = free_port()
        env = emulator_env(graph_emulator, ibss_emulator, port, request.param)
        host = start_host(ROOT / "function_app.py", azurite.connection_string, env, port=port)
        stack = SyncStack(host=host, graph=graph_emulator, ibss=ibss_emulator, host_mode=request.param)
        try:
            ibss_emulator.set_hook_target(host.url("ibss/hooks", key=False), HOOK_SECRET)
            eventually(
                lambda: len(graph_emulator.subscriptions()) >= SYNCED_ROOMS,
                timeout=30,
                what="room subscriptions",
            )
            time.sleep(1.5)  # let the initial delta rounds land before people act
            yield stack
        finally:
            stop_process(host.proc)
