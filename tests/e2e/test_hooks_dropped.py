"""Every IBSS hook is lost (hooks on, 100 % dropped), in both organizer modes: the change feed's safety poll
alone carries 50 random Flex changes across the 5 rooms to Outlook, with no duplicate and no extra write.

The randomized counterpart of ``test_randomized.py`` for the IBSS side: one seeded sequence per mode (the
seed is printed), Echo joins the sync so that five rooms take part. At quiescence each booking's meeting
shows its last time and name exactly once; the service wrote at most once in Graph per Flex change and
never in IBSS; a full resync of every room writes nothing.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from emulators.graph.testing import GraphEmulator
from emulators.ibss.testing import IbssEmulator, demo_data
from scripts.stack import ROOT, azurite_running, free_port, stop_process
from tests.e2e.conftest import eventually, initial_rounds_done, live_meetings_named
from tests.slots import at, bookable_day
from tests.stack_fixtures import HOOK_SECRET, RunningHost, emulator_env, start_host

ALICE = "alice@contoso.example"
ROOMS = [
    ("aurora@contoso.example", "HQ-1-AURORA"),
    ("borealis@contoso.example", "HQ-1-BOREALIS"),
    ("cirrus@contoso.example", "HQ-2-CIRRUS"),
    ("delta@contoso.example", "HQ-2-DELTA"),
    ("echo@contoso.example", "HQ-3-ECHO"),
]
CHANGES = 50
WRITES = ("POST", "PATCH", "DELETE")
SEED = int(os.environ.get("SYNC_E2E_SEED", "0")) or random.SystemRandom().randrange(1, 2**31)


@dataclass
class Stack:
    graph: GraphEmulator
    ibss: IbssEmulator
    host: RunningHost
    mode: str


@pytest.fixture(scope="module", params=["owner", "room"])
def stack(
    request: pytest.FixtureRequest, graph_emulator: GraphEmulator, ibss_emulator: IbssEmulator
) -> Iterator[Stack]:
    graph_emulator.reset()
    graph_emulator.set_config(deliveryBatchWindowSeconds=0)
    ibss_emulator.reset(data=demo_data(seeds=False, sync_echo=True))
    with azurite_running() as azurite:
        port = free_port()
        env = {
            **emulator_env(graph_emulator, ibss_emulator, port, request.param),
            # hooks+poll, as for an IBSS that sends hooks; the safety poll is all that is left here.
            "SYNC_IBSS_SAFETY_POLL_SECONDS": "1",
            "SYNC_IBSS_FEED_SCHEDULE": "*/1 * * * * *",
        }
        host = start_host(ROOT / "function_app.py", azurite.connection_string, env, port=port)
        try:
            ibss_emulator.set_hook_target(host.url("ibss/hooks", key=False), HOOK_SECRET)
            ibss_emulator.set_hooks(enabled=True, drop_share=1.0)
            deadline = time.monotonic() + 40
            while len(graph_emulator.subscriptions()) < len(ROOMS) and time.monotonic() < deadline:
                time.sleep(0.2)
            assert len(graph_emulator.subscriptions()) >= len(ROOMS)
            eventually(lambda: initial_rounds_done(azurite.connection_string), what="initial delta rounds")
            time.sleep(2.0)  # the building's first poll has run: the feed is live
            yield Stack(graph_emulator, ibss_emulator, host, request.param)
        finally:
            stop_process(host.proc)
            ibss_emulator.set_hooks(enabled=True, drop_share=0.0)


@dataclass
class Entity:
    name: str
    room: int
    lane: int  # an hour of its own in its room
    start: datetime
    booking_id: str = ""
    cancelled: bool = False


def _graph_writes(graph: GraphEmulator) -> int:
    return sum(
        e["count"]
        for e in graph.request_counts()["entries"]
        if e["endpoint"].split()[0] in WRITES and e["status"] < 400
    )


def _ibss_writes(ibss: IbssEmulator) -> int:
    return sum(
        n
        for key, n in ibss.request_counts()["by_route_status"].items()
        if key.split(" ")[0] in WRITES and int(key.split(" ")[2]) < 400
    )


def _flex_changes(stack: Stack, rng: random.Random, day: datetime) -> list[Entity]:
    """CHANGES Flex actions: bookings, moves within their lane, renames, cancels."""
    entities: list[Entity] = []
    lanes = [0] * len(ROOMS)
    for i in range(CHANGES):
        live = [e for e in entities if not e.cancelled]
        kind = "book" if len(live) < 3 or rng.random() < 0.3 else rng.choice(["move", "rename", "cancel"])
        if kind == "book":
            room = rng.randrange(len(ROOMS))
            if lanes[room] >= 10:
                room = lanes.index(min(lanes))
            entity = Entity(f"Dropped {i}", room, lanes[room], day + timedelta(hours=lanes[room]))
            lanes[room] += 1
            made = stack.ibss.act_book(
                ALICE, ROOMS[room][1], entity.start, entity.start + timedelta(minutes=30), name=entity.name
            )
            entity.booking_id = str(made["Booking_Id"])
            entities.append(entity)
        else:
            entity = rng.choice(live)
            if kind == "move":
                quarter = rng.choice(
                    [
                        q
                        for q in range(3)
                        if day + timedelta(hours=entity.lane, minutes=15 * q) != entity.start
                    ]
                )
                entity.start = day + timedelta(hours=entity.lane, minutes=15 * quarter)
                stack.ibss.act_move(
                    ALICE,
                    entity.booking_id,
                    ROOMS[entity.room][1],
                    start=entity.start,
                    end=entity.start + timedelta(minutes=30),
                )
            elif kind == "rename":
                entity.name = f"{entity.name}+"
                stack.ibss.act_edit(ALICE, entity.booking_id, name=entity.name)
            else:
                entity.cancelled = True
                stack.ibss.act_cancel(ALICE, entity.booking_id)
        time.sleep(rng.uniform(0, 0.1))
    return entities


def _disagreement(stack: Stack, entities: list[Entity], day: datetime) -> str | None:
    """None when Outlook shows exactly the truth of every booking; else the first difference."""
    for index, (mailbox, _) in enumerate(ROOMS):
        live = [
            ev
            for ev in stack.graph.mailbox_events(mailbox)
            if not ev.get("isCancelled") and ev["start"]["dateTime"][:10] == day.strftime("%Y-%m-%d")
        ]
        want = sorted(
            e.start.strftime("%Y-%m-%dT%H:%M") for e in entities if e.room == index and not e.cancelled
        )
        have = sorted(ev["start"]["dateTime"][:16] for ev in live)
        if have != want:
            return f"{mailbox}: room calendar holds {have}, IBSS {want}"
    holder_events: dict[str, list[dict[str, Any]]] = {}
    for e in entities:
        if e.cancelled:
            continue
        holder = ALICE if stack.mode == "owner" else ROOMS[e.room][0]
        events = holder_events.setdefault(holder, stack.graph.mailbox_events(holder))
        stamp = e.start.strftime("%Y-%m-%dT%H:%M")
        named = live_meetings_named(events, stamp, e.name)
        if len(named) != 1:
            return f"{e.name}: {len(named)} meetings named so at {stamp} in {holder}"
    return None


def test_fifty_flex_changes_reach_outlook_with_every_hook_dropped(stack: Stack) -> None:
    rng = random.Random(SEED)
    print(f"\nhooks dropped, {stack.mode} mode: seed {SEED} (SYNC_E2E_SEED={SEED} repeats it)")
    day = at(bookable_day(1), 7).astimezone(UTC)
    graph_before, ibss_before = _graph_writes(stack.graph), _ibss_writes(stack.ibss)
    entities = _flex_changes(stack, rng, day)

    deadline = time.monotonic() + 45
    problem = _disagreement(stack, entities, day)
    while problem and time.monotonic() < deadline:
        time.sleep(0.25)
        problem = _disagreement(stack, entities, day)
    assert problem is None, f"{problem} (seed {SEED})"

    deliveries = stack.ibss.hook_deliveries()
    assert deliveries
    assert {d["status"] for d in deliveries} == {"dropped"}  # IBSS announced nothing that arrived

    time.sleep(2.0)  # late echoes and safety polls
    graph_writes = _graph_writes(stack.graph) - graph_before
    assert graph_writes <= CHANGES, (graph_writes, SEED)
    assert _ibss_writes(stack.ibss) == ibss_before, SEED  # Flex-made: the service never writes IBSS

    # Echoes cause no writes: resync every room from scratch, poll again, expect nothing written.
    settled = _graph_writes(stack.graph)
    for sub in stack.graph.subscriptions():
        stack.graph.send_lifecycle(sub["id"], "missed")
    time.sleep(4.0)
    assert _disagreement(stack, entities, day) is None
    assert _graph_writes(stack.graph) == settled, SEED
