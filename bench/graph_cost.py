"""Graph requests per hour and change-to-sync latency for a fleet of rooms, in three modes.

    .venv/bin/python -m bench.graph_cost [--rooms 1000] [--changes-per-day 20] [--window-events 500]

Method (two steps, both printed):

1. Calibration on the Graph emulator with the real code (shared/rooms: GraphRooms, RoundScheduler,
   DeltaRoundRunner, RecordingChangeSink on a private Azurite). It measures, with the emulator's request
   accounting, the Graph requests of: an initial (full window) delta round of a room holding N events, a
   round after one change, an empty round, and a whole-window calendarView re-read (how polling services
   such as IBSS v2 work); plus the wall time of a one-change round. The per-operation costs must match the
   cost model used in step 2 (pages = ceil(events / page size)), or the bench fails.
2. A discrete-event simulation of the fleet over 24 h (seeded RNG): every room gets Poisson booking changes
   (``--changes-per-day``), and each mode applies its schedule with the calibrated costs:
   * notifications + delta (ours): a change is notified after ``--notify-latency`` s (Graph documents an
     average under a minute for calendars; the emulator delivers at once), a round starts after the
     coalescing delay (1 s) + queue polling (0.5 s) and covers every change notified before it starts;
     safety-net rounds for rooms idle for 15 min (timer every 5 min, jittered by up to 4 min); one full
     window read per room per day (window roll-over); subscription renewals; onboarding every 15 min.
   * delta-only polling every 5 min: one delta round per room per 5 min + the daily window read.
   * whole-window re-read every 5 min: ceil(window events / 100) calendarView pages per room per 5 min.
   Latency = time from the change until the round that sees it has finished.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import math
import random
import statistics
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx

from emulators.graph.testing import GraphEmulator
from scripts.stack import azurite_running
from shared.config import AppSettings
from shared.graph.client import GraphClientSettings, build_credential, build_graph_client
from shared.rooms.delta import DeltaRoundRunner, RoundScheduler
from shared.rooms.graph_rooms import GraphRooms
from shared.rooms.models import RoomDeltaJob, RoomRow
from shared.rooms.sink import RecordingChangeSink
from shared.rooms.store import RoomEventIndex, RoomStore
from shared.storage.account import StorageAccount

ROOM = "aurora@contoso.example"
ALICE = "alice@contoso.example"
PAGE = 100  # delta page size (Prefer: odata.maxpagesize) and $top of a whole-window read
DAY = 86400.0
TIMER = 300.0
SAFETY_NET = 900.0
SLACK = 30.0
SPREAD = 240.0
COALESCE = 1.0 + 0.5  # visibility delay + queue polling interval
ONBOARDING = 900.0
RENEW_EVERY_DAYS = 10_000 / 1440 - 0.5 - 1.5  # lifetime - mean jitter (12 h) - renewal threshold (36 h)


@dataclass
class Calibration:
    events: int
    initial_round: int
    change_round: int
    empty_round: int
    window_read: int
    round_seconds: float


class Queue:
    def __init__(self) -> None:
        self.jobs: list[RoomDeltaJob] = []

    async def send(self, queue: str, message: object, delay_seconds: int | None = None) -> None:
        if isinstance(message, RoomDeltaJob):
            self.jobs.append(message)


def _meeting(start: datetime) -> dict[str, object]:
    end = start + timedelta(minutes=30)
    return {
        "subject": "Bench",
        "start": {"dateTime": start.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"},
        "end": {"dateTime": end.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"},
        "attendees": [{"emailAddress": {"address": ROOM}, "type": "resource"}],
    }


async def calibrate(g: GraphEmulator, conn: str, events: int) -> Calibration:
    g.set_clock("2026-11-20T08:00:00Z")
    now = datetime(2026, 11, 20, 8, tzinfo=UTC)
    async with httpx.AsyncClient(base_url=g.control_url, timeout=60) as control:
        gate = asyncio.Semaphore(16)

        async def create(i: int) -> None:
            async with gate:
                start = now + timedelta(days=1 + i // 10, hours=(i % 10))
                (await control.post(f"/act/{ALICE}/events", json=_meeting(start))).raise_for_status()

        await asyncio.gather(*(create(i) for i in range(events)))
    settings = GraphClientSettings(
        base_url=g.base_url,
        authority=g.authority,
        tenant_id=g.tenant_id,
        client_id=g.client_id,
        client_secret=g.client_secret,
        ca_bundle_path=g.ca_pem_path,
        max_retries=0,
    )
    credential = build_credential(settings)
    graph = GraphRooms(build_graph_client(settings, credential), delta_page_size=PAGE)
    storage = StorageAccount.from_settings(AppSettings(AzureWebJobsStorage=conn))
    queue = Queue()

    def clock() -> datetime:
        return datetime.fromisoformat(g.now().replace("Z", "+00:00"))

    rooms = RoomStore(storage)
    await rooms.create(RoomRow(mailbox=ROOM, user_id="9a1c0f7e-0000-4000-8000-00000000a001"))
    scheduler = RoundScheduler(rooms, queue, clock)
    runner = DeltaRoundRunner(
        rooms, RoomEventIndex(storage), graph, RecordingChangeSink(storage), queue, clock
    )

    async def round_requests() -> tuple[int, float]:
        queue.jobs.clear()
        await scheduler.request(ROOM, "admin")
        g.reset_request_counts()
        t0 = time.perf_counter()
        for job in list(queue.jobs):
            await runner.run(job)
        return int(g.request_counts(ROOM)["total"]), time.perf_counter() - t0

    initial, _ = await round_requests()
    g.act_create_meeting(ALICE, _meeting(now + timedelta(days=30, hours=3)))
    durations: list[float] = []
    change = 0
    for _ in range(5):
        g.act_create_meeting(ALICE, _meeting(now + timedelta(days=31 + len(durations), hours=4)))
        change, seconds = await round_requests()
        durations.append(seconds)
    empty, _ = await round_requests()
    token = g.issue_token()
    g.reset_request_counts()
    url: str | None = f"{g.base_url}/users/{ROOM}/calendarView"
    params: dict[str, str] | None = {
        "startDateTime": "2026-11-20T00:00:00Z",
        "endDateTime": "2027-02-18T00:00:00Z",
        "$top": str(PAGE),
    }
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=60) as client:
        while url:
            body = (await client.get(url, params=params)).raise_for_status().json()
            url, params = body.get("@odata.nextLink"), None
    window = int(g.request_counts(ROOM)["total"])
    await credential.close()
    await storage.close()
    return Calibration(events + 6, initial, change, empty, window, statistics.median(durations))


def pages(events: int) -> int:
    return max(1, math.ceil(events / PAGE))


@dataclass
class ModeResult:
    name: str
    requests: float  # over the simulated period
    latencies: list[float]


def simulate(
    rooms: int,
    changes_per_day: float,
    window_events: int,
    notify_latency: float,
    cal: Calibration,
    hours: float,
    seed: int,
) -> list[ModeResult]:
    rng = random.Random(seed)
    period = hours * 3600
    window_read = pages(window_events)
    ours = ModeResult("notifications + delta (ours)", 0.0, [])
    polling = ModeResult("delta-only polling every 5 min", 0.0, [])
    reread = ModeResult("whole-window re-read every 5 min", 0.0, [])
    for _ in range(rooms):
        changes: list[float] = []
        t = rng.expovariate(changes_per_day / DAY)
        while t < period:
            changes.append(t)
            t += rng.expovariate(changes_per_day / DAY)
        roll = rng.uniform(0, DAY)  # local midnight of this room's building, relative to the start
        # Ours: coalesced notification rounds + safety net + daily window read.
        rounds: list[float] = []
        pending_until = -1.0
        for c in changes:
            notified = c + notify_latency
            if notified > pending_until:  # no round pending: this notification schedules one
                pending_until = notified + COALESCE
                rounds.append(pending_until)
            ours.latencies.append(pending_until + cal.round_seconds - c)
        phase = rng.uniform(0, TIMER)
        tick = phase
        last = 0.0
        timer_rounds: list[float] = []
        while tick < period:
            idx = bisect.bisect_right(rounds, tick)
            previous = max(last, rounds[idx - 1] if idx else 0.0)
            if tick - previous + SLACK >= SAFETY_NET:
                at = tick + rng.uniform(0, SPREAD)
                timer_rounds.append(at)
                last = at
            tick += TIMER
        ours.requests += len(rounds) * cal.change_round + len(timer_rounds) * cal.empty_round
        days = math.floor((period - roll) / DAY) + 1 if roll < period else 0
        ours.requests += days * (window_read - 1)  # the first round after midnight reads the whole window
        ours.requests += hours / 24 / RENEW_EVERY_DAYS  # subscription renewal
        # Delta polling and whole-window re-reads every 5 minutes.
        poll_phase = rng.uniform(0, TIMER)
        polls = math.floor((period - poll_phase) / TIMER) + 1
        polling.requests += polls * cal.empty_round + days * (window_read - 1)
        reread.requests += polls * window_read
        for c in changes:
            wait = (poll_phase - c) % TIMER
            polling.latencies.append(wait + cal.round_seconds)
            reread.latencies.append(wait + cal.round_seconds * window_read)
    ours.requests += (period / ONBOARDING) * pages(rooms)  # places listing
    return [ours, polling, reread]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rooms", type=int, default=1000)
    parser.add_argument("--changes-per-day", type=float, default=20.0)
    parser.add_argument("--window-events", type=int, default=500, help="events in a room's 90-day window")
    parser.add_argument(
        "--notify-latency", type=float, default=10.0, help="assumed Graph delivery latency, s"
    )
    parser.add_argument("--calibration-events", type=int, default=150)
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    with azurite_running() as azurite, GraphEmulator() as g:
        cal = asyncio.run(calibrate(g, azurite.connection_string, args.calibration_events))
    print("Calibration on the Graph emulator (real shared/rooms code, request accounting):")
    print(f"  room with {cal.events} events, page size {PAGE}")
    print(f"  initial delta round (whole window): {cal.initial_round} requests (model {pages(cal.events)})")
    print(f"  round after one change:             {cal.change_round} request(s)")
    print(f"  empty round:                        {cal.empty_round} request(s)")
    print(f"  whole-window calendarView read:     {cal.window_read} requests (model {pages(cal.events)})")
    print(f"  one-change round wall time:         {cal.round_seconds * 1000:.0f} ms (median of 5)")
    if (
        cal.initial_round != pages(cal.events)
        or cal.window_read != pages(cal.events)
        or cal.change_round != 1
    ):
        raise SystemExit("calibration does not match the cost model")

    results = simulate(
        args.rooms, args.changes_per_day, args.window_events, args.notify_latency, cal, args.hours, args.seed
    )
    changes = len(results[0].latencies)
    print(
        f"\nSimulated fleet: {args.rooms} rooms, {args.changes_per_day:g} changes/room/day "
        f"({changes} changes in {args.hours:g} h), {args.window_events} events per 90-day window, "
        f"assumed notification latency {args.notify_latency:g} s"
    )
    print(f"{'mode':36} {'requests/hour':>14} {'median latency':>15} {'p95 latency':>12}")
    base = results[0]
    for r in results:
        per_hour = r.requests / args.hours
        lat = sorted(r.latencies)
        p95 = lat[int(0.95 * (len(lat) - 1))]
        print(f"{r.name:36} {per_hour:14,.0f} {statistics.median(lat):14.1f}s {p95:11.1f}s")
    print("\nRatios against notifications + delta:")
    for r in results[1:]:
        print(
            f"  {r.name:34} {r.requests / base.requests:6.1f}x requests, "
            f"{statistics.median(r.latencies) / statistics.median(base.latencies):6.1f}x median latency"
        )


if __name__ == "__main__":
    main()
