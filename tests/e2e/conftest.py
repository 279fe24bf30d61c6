"""The whole local stack: dev host running function_app.py on Azurite, wired to both emulators."""

from __future__ import annotations

import contextlib
import signal
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import TableServiceClient

from emulators.graph.testing import GraphEmulator
from emulators.ibss.testing import IbssEmulator
from scripts.stack import ROOT, azurite_running, free_port, stop_process
from shared.storage.names import TableName
from tests.stack_fixtures import (
    HOOK_SECRET,
    AzuritePool,
    RunningHost,
    emulator_env,
    start_host,
    what_the_service_did,
)

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
        self.ibss.reset()
        self.ibss.set_hook_target(self.host.url("ibss/hooks", key=False), HOOK_SECRET)


def eventually(
    probe: Callable[[], T | None], timeout: float = 30.0, what: str = "condition", about: Iterable[str] = ()
) -> T:
    """``probe()`` once it is truthy; else fails naming what the service logged meanwhile: the lines of
    ``about`` (booking ids, meeting ids, iCalUIds) and their correlation ids, or all of this test's."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"{what} not reached within {timeout}s\n{what_the_service_did(about)}")


def _host(mode: str, storage: str, graph: GraphEmulator, ibss: IbssEmulator) -> RunningHost:
    port = free_port()
    return start_host(ROOT / "function_app.py", storage, emulator_env(graph, ibss, port, mode), port=port)


# Module scope: an idle host left running while another module's stack works would act on the shared
# emulators (a Graph reset drops its subscriptions; its catch-up round then syncs the other stack's rooms).
@pytest.fixture(scope="module", params=["owner", "room"])
def sync_stack_session(
    request: pytest.FixtureRequest, graph_emulator: GraphEmulator, ibss_emulator: IbssEmulator
) -> Iterator[SyncStack]:
    # Its own Azurite: another dev host on shared queues would take this stack's jobs.
    with azurite_running() as azurite:
        host = _host(request.param, azurite.connection_string, graph_emulator, ibss_emulator)
        try:
            # Onboarded and through its first rounds before a test books: a first round still running would
            # race the test's own changes (it books an Outlook meeting while Flex books the same slot).
            storage = azurite.connection_string
            eventually(lambda: initial_rounds_done(storage), timeout=60, what="initial rounds")
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


def live_meetings_named(events: list[dict[str, Any]], stamp: str, name: str) -> list[dict[str, Any]]:
    """The live (not cancelled) events named ``name`` that start at ``stamp`` (YYYY-MM-DDTHH:MM)."""
    return [
        ev
        for ev in events
        if not ev.get("isCancelled")
        and ev["start"]["dateTime"].startswith(stamp)
        and ev.get("subject") == name
    ]


def initial_rounds_done(storage: str) -> bool:
    """Every synced room had its first delta round: from here on Outlook changes arrive as notifications."""
    with TableServiceClient.from_connection_string(storage) as service:
        try:
            rows = list(service.get_table_client(TableName.ROOMS).query_entities("RowKey eq 'room'"))
        except ResourceNotFoundError:
            return False
    return sum(1 for r in rows if r.get("delta_link") and r.get("last_round_at")) >= SYNCED_ROOMS


@contextlib.contextmanager
def onboarded_stack(
    pool: AzuritePool,
    graph: GraphEmulator,
    ibss: IbssEmulator,
    mode: str,
    extra_env: dict[str, str] | None = None,
) -> Iterator[tuple[SyncStack, str]]:
    """A dev host on a storage account of its own, rooms onboarded, subscribed and delta-synced.
    Yields the stack and its storage connection string; the host is killed afterwards (nothing to keep)."""
    storage = pool.take()
    port = free_port()
    env = {**emulator_env(graph, ibss, port, mode), **(extra_env or {})}
    host = start_host(ROOT / "function_app.py", storage, env, port=port)
    try:
        ibss.set_hook_target(host.url("ibss/hooks", key=False), HOOK_SECRET)
        eventually(lambda: len(graph.subscriptions()) >= SYNCED_ROOMS, timeout=30, what="room subscriptions")
        eventually(lambda: initial_rounds_done(storage), timeout=30, what="initial delta rounds")
        yield SyncStack(host=host, graph=graph, ibss=ibss, host_mode=mode), storage
    finally:
        stop_process(host.proc, timeout=5, sig=signal.SIGKILL)


@pytest.fixture(params=["owner", "room"])
def ready_stack(
    request: pytest.FixtureRequest,
    graph_emulator: GraphEmulator,
    ibss_emulator: IbssEmulator,
    azurite_pool: AzuritePool,
) -> Iterator[SyncStack]:
    """A fresh stack (own storage account, own dev host) whose rooms are onboarded, subscribed and
    delta-synced, so Outlook changes reach the service through Graph notifications as in production."""
    graph_emulator.reset()
    ibss_emulator.reset()
    with onboarded_stack(azurite_pool, graph_emulator, ibss_emulator, request.param) as (stack, _):
        yield stack
