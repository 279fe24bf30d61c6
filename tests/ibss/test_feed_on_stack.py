"""The IBSS change feed against the IBSS emulator (hooks off) and Table Storage (Azurite), in process.

The jobs it hands on are counted at the sink, so "exactly once", "nothing lost" and "nothing twice" are
counted where they happen. The emulator's clock is IBSS's; the feed's clock is ours, driven by the test
(in step with IBSS unless a test skews it).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import pytest
from pydantic import BaseModel

from emulators.ibss.testing import IbssEmulator
from shared.config import AppSettings
from shared.ibss.client import IbssClient
from shared.ibss.feed import ChangeDetection, FeedSettings, IbssChangeFeed
from shared.ibss.intake import BookingSyncJob
from shared.ibss.models import Booking
from shared.rooms.models import BuildingConfig
from shared.rooms.store import BuildingStore
from shared.state.ibss_feed import TableFeedStore
from shared.state.links import TableLinkStore
from shared.state.sync_events import describe_error
from shared.storage.account import StorageAccount
from shared.storage.names import QueueName
from shared.sync import SyncBase
from shared.sync.model import Managed, Side
from tests.ibss.helpers import NODE, TUESDAY
from tests.stack_fixtures import AzuritePool

ALICE = "alice@contoso.example"
ROOMS = ["HQ-1-AURORA", "HQ-1-BOREALIS", "HQ-2-CIRRUS", "HQ-2-DELTA"]
INTERVAL = 30.0
SETTINGS = FeedSettings(
    default_mode=ChangeDetection.POLL, poll_seconds=INTERVAL, safety_poll_seconds=300, overlap_seconds=120
)


def slot(n: int) -> tuple[datetime, datetime]:
    """The n-th 30-minute slot of a room, 20 a weekday from Thursday 2030-01-10 08:00 Berlin: after the
    days of the demo seeds (Tuesday and Wednesday), weekends skipped (the demo policy has no hours then)."""
    days, i = divmod(n, 20)
    day = TUESDAY + timedelta(days=2)
    while days or day.weekday() >= 5:
        day += timedelta(days=1)
        if day.weekday() < 5:
            days -= 1
    start = day + timedelta(hours=7, minutes=30 * i)
    return start, start + timedelta(minutes=30)


@dataclass
class CountingSink:
    sent: list[BookingSyncJob] = field(default_factory=list)
    fail_after: int | None = None  # raise on the send after this many (the poll is killed mid-page)

    async def send(self, queue: str, message: BaseModel) -> None:
        assert queue == QueueName.SYNC_BOOKINGS
        assert isinstance(message, BookingSyncJob)
        if self.fail_after is not None and len(self.sent) >= self.fail_after:
            self.fail_after = None
            raise ConnectionError("queue unavailable")
        self.sent.append(message)

    def take(self) -> list[str]:
        ids = [j.booking_id for j in self.sent]
        self.sent.clear()
        return ids


@dataclass
class Feed:
    emu: IbssEmulator
    feed: IbssChangeFeed
    sink: CountingSink
    store: TableFeedStore
    storage: StorageAccount
    now: datetime
    skew: timedelta = timedelta()  # ours minus IBSS's

    def clock(self) -> datetime:
        return self.now

    async def step(self, seconds: float = INTERVAL) -> None:
        """Both clocks move on; then one timer tick."""
        self.emu.advance_clock(seconds=seconds)
        self.now += timedelta(seconds=seconds)

    async def tick(self) -> list[Any]:
        return await self.feed.tick()

    def book(self, i: int, space: str = "HQ-1-AURORA") -> str:
        """A booking in ``space`` at its ``i``-th slot."""
        start, end = slot(i)
        return str(self.emu.act_book(ALICE, space, start, end, name=f"B{i}")["Booking_Id"])


@pytest.fixture
async def stack(ibss_emulator_fresh: IbssEmulator, azurite_pool: AzuritePool) -> AsyncIterator[Feed]:
    emu = ibss_emulator_fresh
    emu.set_hooks(enabled=False)  # an IBSS without hooks: the feed is all there is
    storage = StorageAccount.from_settings(AppSettings(AzureWebJobsStorage=azurite_pool.take()))
    client = IbssClient(emu.base_url, emu.api_key, max_retries=0)
    sink = CountingSink()
    store = TableFeedStore(storage)
    buildings = BuildingStore(storage)

    async def synced(node_id: int) -> frozenset[str]:
        return frozenset(ROOMS) if node_id == NODE else frozenset()

    async def overrides() -> dict[int, ChangeDetection | None]:
        return {n: c.change_detection for n, c in (await buildings.list_all()).items()}

    holder: list[Feed] = []

    def clock() -> datetime:
        return holder[0].clock()

    feed = IbssChangeFeed(
        client=client,
        store=store,
        sink=sink,
        settings=SETTINGS,
        synced_spaces=synced,
        overrides=overrides,
        clock=clock,
        describe_error=describe_error,
    )
    emu.advance_clock(minutes=10)  # the demo seeds' Booking_Modified lies before the feed's first window
    state = Feed(emu=emu, feed=feed, sink=sink, store=store, storage=storage, now=emu.now())
    holder.append(state)
    await state.tick()  # the building's row is made; its first poll comes one interval later
    try:
        yield state
    finally:
        emu.set_hooks(enabled=True)
        await client.aclose()
        await storage.close()


async def test_changes_made_without_hooks_are_handed_on_once_each(stack: Feed) -> None:
    a, b = stack.book(0), stack.book(1, "HQ-2-CIRRUS")
    assert [d["status"] for d in stack.emu.hook_deliveries()] == ["off", "off"]
    await stack.step()
    (outcome,) = await stack.tick()
    assert (outcome.result, outcome.handed_on) == ("done", 2)
    assert sorted(stack.sink.take()) == sorted([a, b])

    # Nothing changed: the overlap shows both again, neither is handed on twice.
    await stack.step()
    assert [o.result for o in await stack.tick()] == ["done"]
    assert stack.sink.take() == []

    start, end = slot(5)
    stack.emu.act_move(ALICE, a, "HQ-1-AURORA", start=start, end=end)
    stack.emu.act_cancel(ALICE, b)
    await stack.step(1)
    assert [o.result for o in await stack.tick()] == ["not_due"]  # its turn comes every 30 s
    await stack.step()
    await stack.tick()
    jobs = list(stack.sink.sent)
    assert sorted(stack.sink.take()) == sorted([a, b])
    assert {j.booking_id: j.hook_type.value for j in jobs}[b] == "booking.cancelled"
    assert {j.reason for j in jobs} == {"poll"}


async def test_many_changes_over_many_pages_all_arrive(stack: Feed) -> None:
    ids = {stack.book(i // 4, ROOMS[i % 4]) for i in range(240)}
    await stack.step()
    (outcome,) = await stack.tick()
    assert outcome.result == "done"
    assert outcome.pages == 3  # 100 a page (MAX_PAGE_SIZE)
    assert set(stack.sink.take()) == ids


async def test_a_poll_killed_mid_page_leaves_the_watermark_and_the_next_poll_hands_everything_on(
    stack: Feed,
) -> None:
    ids = {stack.book(i // 4, ROOMS[i % 4]) for i in range(150)}
    before, _ = await _row(stack)
    stack.sink.fail_after = 120  # the queue goes away in the middle of the second page
    await stack.step()
    (outcome,) = await stack.tick()
    assert outcome.result == "failed"
    assert "queue unavailable" in str(outcome.error)
    after, _ = await _row(stack)
    assert after.watermark == before.watermark  # never past a page that was not handed on
    assert after.recent == before.recent
    assert (after.failures, after.lease_until) == (1, None)
    first = set(stack.sink.take())
    assert len(first) == 120

    await stack.step()  # the backoff (30 s for the first failure) has passed
    (outcome,) = await stack.tick()
    assert outcome.result == "done"
    assert set(stack.sink.take()) == ids  # the rest arrives; the re-sent ones are idempotent jobs
    assert (await _row(stack))[0].failures == 0


async def test_ibss_down_then_back_resumes_from_the_watermark_and_loses_nothing(stack: Feed) -> None:
    booked = {stack.book(0)}
    await stack.step()
    await stack.tick()
    assert set(stack.sink.take()) == booked
    watermark = (await _row(stack))[0].watermark

    stack.emu.inject_fault(status=503, path_regex=r"/bookings$", method="GET", times=None)
    during = {stack.book(i) for i in range(1, 4)}
    delays = []
    for _ in range(3):
        await stack.step(900)  # past any backoff
        (outcome,) = await stack.tick()
        assert outcome.result == "failed"
        row = (await _row(stack))[0]
        delays.append((row.next_poll_at - stack.now).total_seconds())
        assert row.watermark == watermark
        assert "503" in str(row.last_error)
    assert delays == [30, 60, 120]
    assert stack.sink.take() == []

    stack.emu.clear_faults()
    await stack.step(900)
    (outcome,) = await stack.tick()
    assert outcome.result == "done"
    assert set(stack.sink.take()) == during
    row = (await _row(stack))[0]
    assert (row.failures, row.last_error) == (0, None)


async def test_an_ibss_clock_two_minutes_behind_ours_misses_nothing(stack: Feed) -> None:
    stack.now += timedelta(minutes=2)  # ours runs two minutes ahead of IBSS's from here on
    seen: set[str] = set()
    made: set[str] = set()
    for i in range(6):
        made.add(stack.book(i))  # Booking_Modified = IBSS's clock: already "before" our last poll
        await stack.step()
        await stack.tick()
        seen |= set(stack.sink.take())
    await stack.step()
    await stack.tick()
    seen |= set(stack.sink.take())
    assert seen == made


async def test_polls_of_one_building_never_overlap(stack: Feed) -> None:
    ids = {stack.book(i // 4, ROOMS[i % 4]) for i in range(60)}
    await stack.step()
    outcomes = await asyncio.gather(*(stack.feed.tick() for _ in range(4)))
    results = sorted(o.result for (o,) in outcomes)
    assert results.count("done") == 1
    assert set(results) <= {"done", "busy", "not_due"}
    handed = stack.sink.take()
    assert len(handed) == len(set(handed)) == 60
    assert set(handed) == ids


async def test_a_buildings_own_mode_sets_its_interval(stack: Feed) -> None:
    await BuildingStore(stack.storage).put(
        BuildingConfig(node_id=NODE, name="Contoso HQ", change_detection=ChangeDetection.HOOKS_AND_POLL)
    )
    await stack.step()
    (outcome,) = await stack.tick()
    assert outcome.result == "done"
    row, _ = await _row(stack)
    assert row.mode is ChangeDetection.HOOKS_AND_POLL
    assert row.next_poll_at == stack.now + timedelta(seconds=300)  # the safety net's interval, not 30 s
    await stack.step()
    assert [o.result for o in await stack.tick()] == ["not_due"]


async def test_only_bookings_of_synced_spaces_without_desk_sync(stack: Feed) -> None:
    stack.emu.load(
        {
            "buildings": [
                {
                    "node_id": 2001,
                    "name": "Annex",
                    "time_zone": "Europe/Berlin",
                    "bkng_ext_system": 1,
                    "bkng_sync_enabled": 0,
                    "floors": [{"node_id": 2011, "name": "Ground"}],
                    "spaces": [
                        {"space_id": "AX-0-DESK-01", "name": "Desk", "floor": 2011, "type": "Desk"},
                    ],
                }
            ]
        }
    )
    stack.feed._buildings = None  # the building list is cached for 5 minutes
    start, end = slot(0)
    stack.emu.act_book(ALICE, "AX-0-DESK-01", start, end, name="Annex desk", node_id=2001)
    await stack.step()
    await stack.tick()  # the Annex's row is made
    await stack.step()
    outcomes = {o.node_id: o for o in await stack.tick()}
    assert outcomes[2001].result == "done"
    assert outcomes[2001].handed_on == 0
    assert stack.sink.take() == []


async def _row(stack: Feed) -> tuple[Any, str]:
    found = await stack.store.get(NODE)
    assert found is not None
    return found


async def test_the_window_scan_finds_changes_without_a_modified_filter(stack: Feed) -> None:
    """SYNC_IBSS_FEED_SCAN=window: every poll reads the bookings overlapping now .. now + 14 days (no
    Booking_Modified clause) and compares their ETags with the links; each disagreement is handed on once."""
    links = TableLinkStore(stack.storage)
    window = IbssChangeFeed(
        client=stack.feed.client,
        store=stack.store,
        sink=stack.sink,
        settings=replace(SETTINGS, scan="window", scan_days=14),
        synced_spaces=stack.feed.synced_spaces,
        overrides=stack.feed.overrides,
        links=links,
        clock=stack.clock,
        describe_error=describe_error,
    )
    a, b, c = stack.book(0), stack.book(1, "HQ-2-CIRRUS"), stack.book(2)
    stack.emu.clear_request_counts()
    await stack.step()
    (outcome,) = await window.tick()
    assert outcome.result == "done"
    first = set(stack.sink.take())
    assert {a, b, c} <= first  # and the demo seeds of the synced rooms in the window: none has a link
    reads = [e for e in stack.emu.request_counts()["log"] if e["method"] == "GET"]
    queries = [e["query"] for e in reads if e["route"] == "/v2/{node_id}/bookings"]
    assert queries
    assert not any("Booking_Modified" in q for q in queries)

    await stack.step()
    await window.tick()
    assert stack.sink.take() == []  # unchanged and still unlinked: not handed on again

    # a and b converged (links with their current ETags); then a is edited in Flex and b hard-deleted.
    for booking_id in (a, b):
        booking = await stack.feed.client.get_booking(NODE, booking_id)
        await links.create(_base_of(booking), None)
    stack.emu.act_edit(ALICE, a, name="B0 renamed")
    stack.emu.purge_booking(b)
    await stack.step()
    await window.tick()
    jobs = {j.booking_id: j.hook_type.value for j in stack.sink.sent}
    assert sorted(stack.sink.take()) == sorted([a, b])
    assert jobs[b] == "booking.cancelled"

    await stack.step()
    await window.tick()
    assert stack.sink.take() == []  # each disagreement once, until it changes again


def _base_of(booking: Booking) -> SyncBase:
    return SyncBase(
        booking_id=booking.id,
        origin=Side.IBSS,
        managed=Managed.OWNER_ORGANIZED,
        node_id=booking.node_id,
        space_id=booking.space_id,
        room_mailbox=f"{booking.space_id.lower()}@contoso.example",
        start=booking.start,
        end=booking.end,
        booking_name=booking.name,
        owner_email=booking.owner_email or ALICE,
        booking_version=booking.etag,
    )
