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
    return start_host(
        ROOT / "function_app.py",
        storage,
        {
            # Graph validates and then delivers to the dev host's real intake.
            "GRAPH_NOTIFICATION_URL": f"http://127.0.0.1:{port}/api/graph/notifications",
            "GRAPH_LIFECYCLE_URL": f"http://127.0.0.1:{port}/api/graph/lifecycle",
            "SYNC_ORGANIZER_MODE": mode,
            "SYNC_ROOM_REPLY_CHECK_SECONDS": "2",
            "GRAPH_BASE_URL": graph.base_url,
            "GRAPH_AUTHORITY": graph.authority,
            "GRAPH_TENANT_ID": graph.tenant_id,
            "GRAPH_CLIENT_ID": graph.client_id,
            "GRAPH_CLIENT_SECRET": graph.client_secret,
            "GRAPH_CA_BUNDLE": graph.ca_pem_path,
            "IBSS_BASE_URL": ibss.base_url,
            "IBSS_API_KEY": ibss.api_key,
        },
        port=port,
    )


@pytest.fixture(scope="session", params=["owner", "room"])
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
        host = start_host(
            ROOT / "function_app.py",
            azurite.connection_string,
            {
                "SYNC_ORGANIZER_MODE": request.param,
                "SYNC_TIMER_SCHEDULE": "*/1 * * * * *",
                "SYNC_ONBOARDING_INTERVAL_SECONDS": "3600",
                "SYNC_SAFETY_NET_SECONDS": "3600",
                "GRAPH_NOTIFICATION_URL": f"http://127.0.0.1:{port}/api/graph/notifications",
                "GRAPH_LIFECYCLE_URL": f"http://127.0.0.1:{port}/api/graph/lifecycle",
                "GRAPH_BASE_URL": graph_emulator.base_url,
                "GRAPH_AUTHORITY": graph_emulator.authority,
                "GRAPH_TENANT_ID": graph_emulator.tenant_id,
                "GRAPH_CLIENT_ID": graph_emulator.client_id,
                "GRAPH_CLIENT_SECRET": graph_emulator.client_secret,
                "GRAPH_CA_BUNDLE": graph_emulator.ca_pem_path,
                "IBSS_BASE_URL": ibss_emulator.base_url,
                "IBSS_API_KEY": ibss_emulator.api_key,
            },
            port=port,
        )
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
