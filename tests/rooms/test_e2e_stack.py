"""End to end on the local stack: the dev host runs function_app.py on a private Azurite with Graph and
IBSS pointed at the emulators. Graph's notifications reach the real intake; faults come from the emulator."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from datetime import time as dtime
from pathlib import Path
from typing import Any

import httpx
import pytest

from emulators.graph.testing import GraphEmulator
from emulators.ibss.testing import IbssEmulator
from scripts.stack import ROOT, free_port, stop_process
from shared.rooms.models import RoomRow
from shared.rooms.store import RoomStore
from shared.storage.account import StorageAccount
from tests.rooms.conftest import ALICE, SYNCED_ROOMS, emulator_now, in_sync, meeting
from tests.slots import bookable_day

pytestmark = pytest.mark.e2e

AURORA, BOREALIS, CIRRUS, DELTA = SYNCED_ROOMS
DELTA_ENDPOINT = "GET /users/{id}/calendarView/delta"


def slot(g: GraphEmulator, day: int, hour: int) -> datetime:
    """``hour``:00 UTC on bookable weekday ``day`` (tests/slots.py) of the emulator's date: the dev host
    decides with the real clock, so a weekend day would take another path (the rooms' policy) than a
    weekday (IBSS, whose clock these tests freeze in 2030, refuses a booking in its past)."""
    return datetime.combine(bookable_day(day, emulator_now(g)), dtime(hour), UTC)


@dataclass
class Stack:
    g: GraphEmulator
    storage: StorageAccount
    proc: subprocess.Popen[bytes]
    log_path: Path | None = None

    def log_tail(self, lines: int = 40) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    async def room(self, mailbox: str) -> RoomRow:
        found = await RoomStore(self.storage).get(mailbox)
        assert found is not None
        return found[0]

    async def wait(self, check: Callable[[], Awaitable[bool]], timeout: float = 30.0, what: str = "") -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if await check():
                return
            await asyncio.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what}\n--- dev host log (tail) ---\n{self.log_tail()}")

    async def wait_in_sync(self, rooms: list[str], timeout: float = 30.0) -> None:
        last: dict[str, str] = {}

        async def check() -> bool:
            for mailbox in rooms:
                ok, why = await in_sync(self.g, self.storage, mailbox)
                last[mailbox] = why
                if not ok:
                    return False
            return True

        try:
            await self.wait(check, timeout)
        except AssertionError:
            tail = self.log_tail()
            raise AssertionError(f"not in sync: {last}\n--- dev host log (tail) ---\n{tail}") from None

    def delta_requests(self, mailbox: str) -> int:
        counts = self.g.request_counts(mailbox)
        return sum(e["count"] for e in counts["entries"] if e["endpoint"] == DELTA_ENDPOINT)

    def subscription_of(self, user_id: str) -> dict[str, Any] | None:
        subs = [s for s in self.g.subscriptions() if user_id in s["resource"]]
        return subs[0] if subs else None


def start_rooms_host(
    storage: str, g: GraphEmulator, ibss: IbssEmulator, log_path: Path, **env: str
) -> subprocess.Popen[bytes]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    defaults = {
        "SYNC_ONBOARDING_INTERVAL_SECONDS": "3600",
        "SYNC_SAFETY_NET_SECONDS": "3600",
        "SYNC_IBSS_SAFETY_POLL_SECONDS": "3600",
    }
    full_env = dict(
        os.environ,
        **{**defaults, **env},
        AzureWebJobsStorage=storage,
        DEVHOST_FUNCTION_KEY="k",
        DEVHOST_MASTER_KEY="m",
        PYTHONUNBUFFERED="1",
        SYNC_TIMER_SCHEDULE="*/1 * * * * *",
        SYNC_IBSS_FEED_SCHEDULE="*/1 * * * * *",
        GRAPH_BASE_URL=g.base_url,
        GRAPH_AUTHORITY=g.authority,
        GRAPH_TENANT_ID=g.tenant_id,
        GRAPH_CLIENT_ID=g.client_id,
        GRAPH_CLIENT_SECRET=g.client_secret,
        GRAPH_CA_BUNDLE=g.ca_pem_path,
        GRAPH_NOTIFICATION_URL=f"{base}/api/graph/notifications",
        GRAPH_LIFECYCLE_URL=f"{base}/api/graph/lifecycle",
        IBSS_BASE_URL=ibss.base_url,
        IBSS_API_KEY=ibss.api_key,
    )
    args = [sys.executable, "-m", "devhost", "--app", str(ROOT / "function_app.py"), "--port", str(port)]
    with log_path.open("wb") as log_file:  # the child keeps its own handle
        proc = subprocess.Popen(
            [*args, "--settings", "/nonexistent"],
            cwd=ROOT,
            env=full_env,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=log_file,
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/admin/functions", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    stop_process(proc)
    raise TimeoutError("dev host did not start")


async def _stack(
    graph_emulator_reset: GraphEmulator,
    ibss_emulator_fresh: IbssEmulator,
    storage: StorageAccount,
    rooms_azurite: Any,
    log_path: Path,
    **env: str,
) -> AsyncIterator[Stack]:
    g = graph_emulator_reset
    proc = start_rooms_host(rooms_azurite.connection_string, g, ibss_emulator_fresh, log_path, **env)
    stack = Stack(g, storage, proc, log_path)
    try:

        async def onboarded() -> bool:
            rows = [r for r, _ in await RoomStore(storage).list_all()]
            ready = [r for r in rows if r.delta_link and r.subscription_id and r.last_round_at]
            return len(ready) == len(SYNCED_ROOMS) and len(g.subscriptions()) == len(SYNCED_ROOMS)

        await stack.wait(onboarded, 30, "onboarding, subscriptions and initial rounds")
        yield stack
    finally:
        stop_process(proc)


@pytest.fixture
async def stack(
    graph_emulator_reset, ibss_emulator_fresh, storage, rooms_azurite, tmp_path
) -> AsyncIterator[Stack]:
    log = tmp_path / "devhost.log"
    async for s in _stack(graph_emulator_reset, ibss_emulator_fresh, storage, rooms_azurite, log):
        yield s


@pytest.fixture
async def stack_safety_net(
    graph_emulator_reset, ibss_emulator_fresh, storage, rooms_azurite, tmp_path
) -> AsyncIterator[Stack]:
    log = tmp_path / "devhost.log"
    async for s in _stack(
        graph_emulator_reset, ibss_emulator_fresh, storage, rooms_azurite, log, SYNC_SAFETY_NET_SECONDS="4"
    ):
        yield s


async def test_burst_of_50_changes_in_one_room_costs_at_most_5_delta_requests(stack: Stack) -> None:
    g = stack.g
    await stack.wait_in_sync([AURORA])
    await asyncio.sleep(1.5)  # let initial rounds and their notifications settle
    g.reset_request_counts()
    bodies = [meeting(slot(g, 1 + i // 10, 8 + i % 10)) for i in range(50)]
    t0 = time.monotonic()
    async with httpx.AsyncClient(base_url=g.control_url, timeout=30) as control:  # 50 bookings at once
        answers = await asyncio.gather(*(control.post(f"/act/{ALICE}/events", json=b) for b in bodies))
    elapsed = time.monotonic() - t0
    assert all(a.status_code == 201 for a in answers)
    await stack.wait_in_sync([AURORA])
    await asyncio.sleep(3)  # late notifications may still schedule a round
    await stack.wait_in_sync([AURORA])
    # A slower burst (a loaded machine) only gives the rounds fewer notifications to collapse, so its
    # length is reported, not required.
    assert stack.delta_requests(AURORA) <= 5, f"burst of 50 took {elapsed:.2f} s"


async def test_100_percent_dropped_notifications_catch_up_without_duplicates(stack_safety_net: Stack) -> None:
    stack = stack_safety_net
    g = stack.g
    existing = [
        g.act_create_meeting(ALICE, meeting(slot(g, 2, 8 + i % 10), room=SYNCED_ROOMS[i // 10]))
        for i in range(20)
    ]
    await stack.wait_in_sync(SYNCED_ROOMS)
    g.inject_fault("drop", count=1_000_000)
    for event in existing[:10]:
        g.act_update_meeting(ALICE, event["id"], {"subject": "Changed while nobody listened"})
    for event in existing[10:]:
        g.act_delete_meeting(ALICE, event["id"])
    for i in range(30):
        g.act_create_meeting(ALICE, meeting(slot(g, 3 + i // 10, 8 + i % 10), room=SYNCED_ROOMS[i % 4]))
    await stack.wait_in_sync(SYNCED_ROOMS, timeout=30)


async def test_lifecycle_events_recover_on_their_own(stack: Stack) -> None:
    g = stack.g
    # subscriptionRemoved: recreated, then the room catches up.
    aurora = await stack.room(AURORA)
    g.remove_subscription(str(aurora.subscription_id))
    g.act_create_meeting(ALICE, meeting(slot(g, 1, 9), room=AURORA))  # nobody is subscribed right now

    async def recreated() -> bool:
        row = await stack.room(AURORA)
        return (
            row.subscription_id not in (None, aurora.subscription_id)
            and stack.subscription_of(row.user_id) is not None
        )

    await stack.wait(recreated, 20, "subscription recreated")
    await stack.wait_in_sync([AURORA])
    g.act_create_meeting(ALICE, meeting(slot(g, 1, 11), room=AURORA))  # notified on the new subscription
    await stack.wait_in_sync([AURORA])

    # missed: notifications lost → full resync of that room.
    borealis = await stack.room(BOREALIS)
    g.inject_fault("drop", count=100, subscriptionId=borealis.subscription_id)
    g.act_create_meeting(ALICE, meeting(slot(g, 2, 9), room=BOREALIS))
    g.clear_faults()
    assert g.send_lifecycle(str(borealis.subscription_id), "missed")

    async def resynced() -> bool:
        row = await stack.room(BOREALIS)
        return row.last_round_id != borealis.last_round_id

    await stack.wait(resynced, 20, "missed → resync round")
    await stack.wait_in_sync([BOREALIS])

    # reauthorizationRequired: renewed (PATCH also reauthorizes), then a catch-up round.
    cirrus = await stack.room(CIRRUS)
    before = stack.subscription_of(cirrus.user_id)
    assert before is not None
    assert g.send_lifecycle(str(cirrus.subscription_id), "reauthorizationRequired")

    async def renewed() -> bool:
        now = stack.subscription_of(cirrus.user_id)
        return now is not None and now["expirationDateTime"] != before["expirationDateTime"]

    await stack.wait(renewed, 20, "reauthorized subscription")
    g.act_create_meeting(ALICE, meeting(slot(g, 2, 13), room=CIRRUS))
    await stack.wait_in_sync([CIRRUS])
