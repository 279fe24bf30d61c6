"""The IBSS change feed with hooks off: Flex changes timed to the room calendar, and what the feed costs IBSS.

1. Propagation (the local stack: Azurite, both emulators, the dev host in ``poll`` mode, IBSS hooks off).
   100 Flex changes across the 5 rooms of the demo building (Echo joins the sync here): 20 bookings made,
   each moved twice, renamed and cancelled, by 10 people side by side (two bookings each, one change at a
   time), each change at a random moment of the poll interval after the last one was shown, so every
   change, not a wave of them, falls at its own point of the poll cycle. Each change is timed from its
   Flex call until the room's calendar shows it (a new name: until the meeting shows it); a change not
   shown within 3 poll intervals + 10 s is lost.
2. IBSS requests (in process: the feed against the IBSS emulator and Azurite, both on an emulated clock).
   A 500-room building with 5 bookings per room and day for 14 days (35,000 bookings), then a busy hour of
   its day: 300 changes (10 % of a day of 2,500 new bookings and 500 edits), polled every
   ``--poll-seconds``. The requests are the emulator's own counters. The window scan (for an IBSS that
   cannot filter by Booking_Modified) reads the same building for a few polls; its hourly figure is its
   requests per poll times the polls in an hour.

    .venv/bin/python -m bench.ibss_feed [--poll-seconds 10] [--mode owner|room]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import random
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel

from bench.stats import percentile, summary_ms
from emulators.graph.testing import GraphEmulator
from emulators.ibss.testing import IbssEmulator, demo_data
from scripts.stack import ROOT, azurite_running, free_port, stop_process
from shared.config import AppSettings
from shared.ibss.client import IbssClient
from shared.ibss.feed import ChangeDetection, FeedSettings, IbssChangeFeed
from shared.ibss.intake import BookingSyncJob
from shared.state.ibss_feed import TableFeedStore
from shared.state.links import TableLinkStore
from shared.storage.account import StorageAccount
from tests.slots import business_slot
from tests.stack_fixtures import emulator_env, start_host

ALICE = "alice@contoso.example"
# The bookings' owners, by room: in owner mode each meeting is written to its owner's mailbox, and Graph
# allows 4 concurrent requests per mailbox; one owner for all 10 changes of a wave would measure that limit.
OWNERS = ["alice", "bob", "carol", "dave", "alice"]
PEOPLE = 10  # changing the 20 bookings side by side: up to 10 changes under way at once
ROOMS = {
    "HQ-1-AURORA": "aurora@contoso.example",
    "HQ-1-BOREALIS": "borealis@contoso.example",
    "HQ-2-CIRRUS": "cirrus@contoso.example",
    "HQ-2-DELTA": "delta@contoso.example",
    "HQ-3-ECHO": "echo@contoso.example",
}


# ------------------------------------------------------------------------------ 1. propagation


def _room_shows(graph: GraphEmulator, room: str, start: datetime, subject: str | None) -> bool:
    stamp = start.strftime("%Y-%m-%dT%H:%M")
    return any(
        not e.get("isCancelled")
        and e["start"]["dateTime"].startswith(stamp)
        and (subject is None or subject in (e.get("subject") or ""))
        for e in graph.mailbox_events(room)
    )


def _room_free(graph: GraphEmulator, room: str, start: datetime) -> bool:
    return not _room_shows(graph, room, start, None)


@dataclass
class Change:
    label: str
    act: Callable[[], Any]
    shown: Callable[[], bool]
    called_at: float = 0.0
    lag: float | None = None


def _timed(change: Change, timeout: float) -> None:
    change.called_at = time.perf_counter()
    change.act()
    deadline = change.called_at + timeout
    while time.perf_counter() < deadline:
        if change.shown():
            change.lag = time.perf_counter() - change.called_at
            return
        time.sleep(0.05)


@dataclass
class FlexBooking:
    room: str
    space: str
    start: datetime
    name: str
    owner: str
    booking_id: str = ""


def propagation(poll_seconds: float, mode: str) -> tuple[list[float], int, int]:
    """The lags of the changes shown, the number lost, the number made."""
    with GraphEmulator() as graph, IbssEmulator() as ibss, azurite_running() as azurite:
        graph.set_config(deliveryBatchWindowSeconds=0)
        ibss.reset(data=demo_data(seeds=False, sync_echo=True))  # on real time, as Graph's
        ibss.set_hooks(enabled=False)
        port = free_port()
        env = {
            **emulator_env(graph, ibss, port, mode),
            "SYNC_IBSS_CHANGE_DETECTION": "poll",
            "SYNC_IBSS_POLL_SECONDS": str(poll_seconds),
            "SYNC_IBSS_FEED_SCHEDULE": "*/1 * * * * *",
        }
        host = start_host(ROOT / "function_app.py", azurite.connection_string, env, port=port)
        try:
            deadline = time.monotonic() + 60
            while len(graph.subscriptions()) < len(ROOMS) and time.monotonic() < deadline:
                time.sleep(0.2)
            time.sleep(2 * poll_seconds)  # the building's first poll has run: the feed is live
            return _changes(graph, ibss, mode, poll_seconds)
        finally:
            stop_process(host.proc)


def _changes(
    graph: GraphEmulator, ibss: IbssEmulator, mode: str, poll_seconds: float
) -> tuple[list[float], int, int]:
    timeout = 3 * poll_seconds + 10
    bookings = [
        FlexBooking(
            room,
            space,
            business_slot(1 + k, 8 + 2 * r, 30)[0],
            f"Feed {r}-{k}",
            f"{OWNERS[r]}@contoso.example",
        )
        for r, (space, room) in enumerate(ROOMS.items())
        for k in range(4)
    ]

    def book(b: FlexBooking) -> Change:
        def act() -> None:
            made = ibss.act_book(b.owner, b.space, b.start, b.start + timedelta(minutes=30), name=b.name)
            b.booking_id = str(made["Booking_Id"])

        return Change("book", act, lambda: _room_shows(graph, b.room, b.start, None))

    def move(b: FlexBooking) -> Change:
        old = b.start
        new = old + timedelta(hours=1)

        def act() -> None:
            ibss.act_move(b.owner, b.booking_id, b.space, start=new, end=new + timedelta(minutes=30))
            b.start = new

        return Change(
            "move", act, lambda: _room_shows(graph, b.room, new, None) and _room_free(graph, b.room, old)
        )

    def rename(b: FlexBooking) -> Change:
        # A room's copy carries the organizer's name as its subject (Exchange's AddOrganizerToSubject):
        # a new name shows in the meeting itself, the owner's (owner mode) or the room's own (room mode).
        b.name = f"{b.name} renamed"
        name = b.name
        holder = b.owner if mode == "owner" else b.room
        return Change(
            "rename",
            lambda: ibss.act_edit(b.owner, b.booking_id, name=name),
            lambda: _room_shows(graph, holder, b.start, name),
        )

    def cancel(b: FlexBooking) -> Change:
        return Change(
            "cancel",
            lambda: ibss.act_cancel(b.owner, b.booking_id),
            lambda: _room_free(graph, b.room, b.start),
        )

    def person(lane: int, mine: list[FlexBooking]) -> list[Change]:
        # A change made the moment the last one was shown would come just after a poll, every time: each
        # waits a random share of the interval first, as changes made by people fall at any moment.
        pause = random.Random(11 + lane)
        made: list[Change] = []
        for b in mine:
            for make in (book, move, move, rename, cancel):
                time.sleep(pause.uniform(0, poll_seconds))
                change = make(b)
                _timed(change, timeout)
                made.append(change)
        return made

    with ThreadPoolExecutor(max_workers=PEOPLE) as people:
        lanes = [people.submit(person, i, bookings[i::PEOPLE]) for i in range(PEOPLE)]
        done = [change for lane in lanes for change in lane.result()]
    for kind in ("book", "move", "rename", "cancel"):
        of_kind = [c for c in done if c.label == kind]
        shown = [c.lag for c in of_kind if c.lag is not None]
        figures = summary_ms(shown) if shown else "-"
        print(f"  {kind:6s} {len(of_kind):3d} changes, lost {len(of_kind) - len(shown)}: {figures}")
    lags = [c.lag for c in done if c.lag is not None]
    return lags, len(done) - len(lags), len(done)


# ------------------------------------------------------------------------------ 2. IBSS requests

BIG_NODE = 2001
BIG_ROOMS = 500
PER_ROOM_PER_DAY = 5
DAYS = 14
START = datetime(2030, 1, 7, 6, 0, tzinfo=UTC)  # a Monday, before the building's day


def _big_building(rooms: int) -> dict[str, Any]:
    hours = {day: ["00:00", "23:59"] for day in ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday")}
    hours |= {"Saturday": ["00:00", "23:59"], "Sunday": ["00:00", "23:59"]}
    spaces = [
        {
            "space_id": f"R{i:03d}",
            "name": f"Room {i}",
            "type": "MeetingRoom",
            "ext_booking_system": 1,
            "ext_booking_space_id": f"room{i:03d}@contoso.example",
            "policy": "rooms",
        }
        for i in range(rooms)
    ]
    bookings = [
        {
            "node_id": BIG_NODE,
            "space_id": f"R{i:03d}",
            "name": "Meeting",
            "owner": ALICE,
            "start": (START + timedelta(days=d, hours=2 + 2 * k)).isoformat(),
            "end": (START + timedelta(days=d, hours=3 + 2 * k)).isoformat(),
        }
        for i in range(rooms)
        for d in range(DAYS)
        for k in range(PER_ROOM_PER_DAY)
    ]
    return {
        "buildings": [
            {
                "node_id": BIG_NODE,
                "name": "Big building",
                "time_zone": "UTC",
                "bkng_ext_system": 1,
                "policies": [
                    {"policy_id": "rooms", "name": "Rooms", "bookable_hours": hours, "window_days": 365}
                ],
                "spaces": spaces,
            }
        ],
        "people": [{"email": ALICE, "first_name": "Alice", "last_name": "Adams"}],
        "bookings": bookings,
    }


@dataclass
class CountingSink:
    sent: list[BookingSyncJob] = field(default_factory=list)

    async def send(self, queue: str, message: BaseModel) -> None:
        assert isinstance(message, BookingSyncJob)
        self.sent.append(message)


def _booking_reads(ibss: IbssEmulator) -> int:
    routes = ibss.request_counts()["by_route"]
    return sum(n for route, n in routes.items() if route.startswith("GET "))


async def ibss_requests(
    poll_seconds: float, rooms_count: int = BIG_ROOMS, window_polls: int = 3
) -> tuple[float, float, int, int]:
    """(feed requests/h, window-scan requests/h, changes made in the hour, changes handed on)."""
    settings = FeedSettings(default_mode=ChangeDetection.POLL, poll_seconds=poll_seconds)
    with IbssEmulator() as ibss, azurite_running() as azurite:
        ibss.reset(clock=START, frozen=True, data=_big_building(rooms_count))
        # The emulator runs in this process and holds the building's bookings for the whole run: frozen, the
        # collector's full passes skip them (without it they cost most of each request's time).
        gc.freeze()
        ibss.set_hooks(enabled=False)
        storage = StorageAccount.from_settings(AppSettings(AzureWebJobsStorage=azurite.connection_string))
        client = IbssClient(ibss.base_url, ibss.api_key, max_retries=0)
        now = [START]
        rooms = frozenset(f"R{i:03d}" for i in range(rooms_count))

        async def synced(node_id: int) -> frozenset[str]:
            return rooms

        async def no_overrides() -> dict[int, ChangeDetection | None]:
            return {}

        def feed(scan_settings: FeedSettings, sink: CountingSink) -> IbssChangeFeed:
            return IbssChangeFeed(
                client=client,
                store=TableFeedStore(storage),
                sink=sink,
                settings=scan_settings,
                synced_spaces=synced,
                overrides=no_overrides,
                links=TableLinkStore(storage),
                clock=lambda: now[0],
            )

        def step(seconds: float) -> None:
            ibss.advance_clock(seconds=seconds)
            now[0] += timedelta(seconds=seconds)

        try:
            # The building as it stands: its bookings were made long before the feed's first window.
            step(3600)
            sink = CountingSink()
            modified = feed(settings, sink)
            await modified.tick()  # the building's row; its first poll one interval later
            step(poll_seconds)
            await modified.tick()
            sink.sent.clear()
            made = await _busy_hour(ibss, modified, poll_seconds, step, rooms_count)
            per_hour = made.requests
            handed_on = {j.booking_id for j in sink.sent}

            window = feed(replace(settings, scan="window", scan_days=DAYS), CountingSink())
            ibss.clear_request_counts()
            for _ in range(window_polls):
                step(poll_seconds)
                await window.tick()
            per_poll = _booking_reads(ibss) / window_polls
            return per_hour, per_poll * 3600 / poll_seconds, made.changes, len(handed_on)
        finally:
            await client.aclose()
            await storage.close()


@dataclass
class Hour:
    requests: int
    changes: int


async def _busy_hour(
    ibss: IbssEmulator, feed: IbssChangeFeed, poll_seconds: float, step: Callable[[float], None], rooms: int
) -> Hour:
    """A busy hour, 10 % of a day's changes (500 rooms: 250 new bookings and 50 edits), spread over the
    hour, the feed polling throughout."""
    rng = random.Random(7)
    polls = int(3600 / poll_seconds)
    changes = round(rooms * PER_ROOM_PER_DAY * 1.2 / 10)
    plan = sorted(rng.randrange(polls) for _ in range(changes))
    existing = [b["Booking_Id"] for b in ibss.state()["bookings"]]
    ibss.clear_request_counts()
    made = pages = 0
    results: dict[str, int] = {}
    taken: set[tuple[int, int, int]] = set()
    for poll in range(polls):
        for _ in range(plan.count(poll)):
            if made % 6 == 5:
                ibss.act_edit(ALICE, existing[rng.randrange(len(existing))], name=f"Edited {made}")
            else:
                # 5-minute bookings at 19:00-20:00 (free of the seeded bookings), each in a slot of its own
                room, day, slot = rng.randrange(rooms), 1 + rng.randrange(DAYS - 1), rng.randrange(12)
                while (room, day, slot) in taken:
                    room, day, slot = rng.randrange(rooms), 1 + rng.randrange(DAYS - 1), rng.randrange(12)
                taken.add((room, day, slot))
                start = START + timedelta(days=day, hours=13, minutes=5 * slot)
                ibss.act_book(ALICE, f"R{room:03d}", start, start + timedelta(minutes=5), node_id=BIG_NODE)
            made += 1
        step(poll_seconds)
        for outcome in await feed.tick():
            results[outcome.result] = results.get(outcome.result, 0) + 1
            pages += outcome.pages
    print(f"  busy hour: polls {results}, {pages} pages")
    # Flex calls go to the control plane, which the emulator's request counters leave out.
    print(f"  busy hour, IBSS requests by route: {ibss.request_counts()['by_route']}")
    return Hour(requests=_booking_reads(ibss), changes=made)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--poll-seconds", type=float, default=10.0)
    parser.add_argument("--mode", choices=["owner", "room"], default="owner")
    parser.add_argument(
        "--rooms", type=int, default=BIG_ROOMS, help="rooms of the building for the IBSS requests"
    )
    parser.add_argument("--part", choices=["all", "propagation", "requests"], default="all")
    args = parser.parse_args()
    poll = args.poll_seconds
    started = datetime.now(UTC)
    print(
        f"bench.ibss_feed, {started:%Y-%m-%d %H:%M} UTC, mode {args.mode}, poll every {poll:g} s, hooks off"
    )

    lags: list[float] = []
    lost = made = 0
    p95_ms = float("nan")
    if args.part in ("all", "propagation"):
        lags, lost, made = propagation(poll, args.mode)
        print(f"propagation: {made} Flex changes, lost {lost}; {summary_ms(lags)}")
        p95_ms = percentile(lags, 95) * 1000 if lags else float("nan")
        goal = (poll + 1) * 1000
        print(f"  p95 goal <= poll interval + 1 s = {goal:.0f} ms: {'met' if p95_ms <= goal else 'NOT met'}")
    if args.part == "propagation":
        return 0

    rooms = args.rooms
    t0 = time.perf_counter()
    feed_h, window_h, changes, handed = asyncio.run(ibss_requests(poll, rooms))
    ratio = window_h / feed_h if feed_h else float("inf")
    bookings = rooms * PER_ROOM_PER_DAY * DAYS
    print(
        f"IBSS requests for {rooms} rooms ({bookings:,} bookings in {DAYS} days, a busy hour of"
        f" {changes} changes, {handed} distinct bookings handed on; {time.perf_counter() - t0:.0f} s):"
        f" modified-since feed {feed_h:.0f}/h, window scan {window_h:.0f}/h"
    )
    if args.part == "all":
        print(
            f"ibss feed: {made} changes with hooks off, lost {lost}, p95 {p95_ms:.0f} ms;"
            f" IBSS requests/h for {rooms} rooms: {feed_h:.0f}"
            f" (window scan {window_h:.0f}, {ratio:.0f}x fewer)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
