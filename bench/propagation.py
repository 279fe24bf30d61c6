"""Propagation time and Graph cost of synced changes, both ways, on the local stack.

Starts its own Azurite, both emulators and the dev host (owner mode unless --mode room), waits for the
rooms to be onboarded and subscribed, then:
- IBSS -> Outlook: books a room in Flex and moves the booking N times; each change is timed from the
  Flex call until the meeting shows the new time in the room's calendar;
- Outlook -> IBSS: creates a meeting with a room and moves it N times; each change is timed from the
  Outlook call until the IBSS booking shows the new time.
Graph requests per synced change come from the Graph emulator's accounting (API calls only, control
plane excluded), over each whole direction, divided by the number of changes. Notification delivery
delay in the emulator is set to 0 (no batching window).

    .venv/bin/python -m bench.propagation [--changes 200] [--mode owner|room]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from datetime import time as dtime
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from bench.stats import percentile, summary_ms
from emulators.graph.testing import GraphEmulator
from emulators.ibss.testing import IbssEmulator
from scripts.stack import ROOT, azurite_running, free_port, stop_process
from tests.stack_fixtures import HOOK_SECRET, emulator_env, start_host

BERLIN = ZoneInfo("Europe/Berlin")
ALICE, BOB = "alice@contoso.example", "bob@contoso.example"
AURORA, BOREALIS = "aurora@contoso.example", "borealis@contoso.example"


def _wait(probe: Callable[[], bool], timeout: float = 30.0) -> float | None:
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if probe():
            return time.perf_counter() - started
        time.sleep(0.01)
    return None


def _day(days: int) -> datetime:
    day = datetime.now(BERLIN).date() + timedelta(days=days)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return datetime.combine(day, dtime(8), BERLIN).astimezone(UTC)


def _graph_calls(graph: GraphEmulator) -> int:
    return int(graph.request_counts()["total"])


def _by_endpoint(graph: GraphEmulator) -> dict[str, int]:
    totals: dict[str, int] = {}
    for entry in graph.request_counts()["entries"]:
        totals[entry["endpoint"]] = totals.get(entry["endpoint"], 0) + int(entry["count"])
    return totals


def _print_breakdown(before: dict[str, int], after: dict[str, int], changes: int) -> None:
    for endpoint, count in sorted(after.items(), key=lambda kv: -kv[1]):
        spent = count - before.get(endpoint, 0)
        if spent:
            print(f"    {spent / changes:5.2f}/change  {endpoint}")


def ibss_to_outlook(graph: GraphEmulator, ibss: IbssEmulator, changes: int) -> tuple[list[float], int, int]:
    base = _day(3)
    booking = ibss.act_book(ALICE, "HQ-1-AURORA", base, base + timedelta(minutes=30), name="Bench")
    _wait(lambda: _room_has(graph, AURORA, base))
    before = _graph_calls(graph)
    lags: list[float] = []
    missed = 0
    for i in range(1, changes + 1):
        start = base + timedelta(minutes=(i % 16) * 30)
        if i % 16 == 0:
            start = base + timedelta(minutes=8 * 30 + 15)
        ibss.act_move(
            ALICE, str(booking["Booking_Id"]), "HQ-1-AURORA", start=start, end=start + timedelta(minutes=30)
        )
        lag = _wait(partial(_room_has, graph, AURORA, start))
        if lag is None:
            missed += 1
        else:
            lags.append(lag)
    time.sleep(1.5)  # let echo notifications of the last change finish their rounds
    return lags, _graph_calls(graph) - before, missed


def outlook_to_ibss(graph: GraphEmulator, ibss: IbssEmulator, changes: int) -> tuple[list[float], int, int]:
    base = _day(4)

    def body(start: datetime) -> dict[str, Any]:
        end = start + timedelta(minutes=30)
        return {
            "start": {"dateTime": start.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"},
            "end": {"dateTime": end.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"},
        }

    created = graph.act_create_meeting(
        BOB,
        {
            "subject": "Bench",
            **body(base),
            "attendees": [{"emailAddress": {"address": BOREALIS}, "type": "resource"}],
        },
    )
    _wait(lambda: _booking_at(ibss, "HQ-1-BOREALIS", base))
    before = _graph_calls(graph)
    lags: list[float] = []
    missed = 0
    for i in range(1, changes + 1):
        start = base + timedelta(minutes=(i % 16) * 30)
        if i % 16 == 0:
            start = base + timedelta(minutes=8 * 30 + 15)
        graph.act_update_meeting(BOB, created["id"], body(start))
        lag = _wait(partial(_booking_at, ibss, "HQ-1-BOREALIS", start))
        if lag is None:
            missed += 1
        else:
            lags.append(lag)
    time.sleep(1.5)
    return lags, _graph_calls(graph) - before, missed


def _room_has(graph: GraphEmulator, room: str, start: datetime) -> bool:
    stamp = start.strftime("%Y-%m-%dT%H:%M")
    return any(
        not e.get("isCancelled") and e["start"]["dateTime"].startswith(stamp)
        for e in graph.mailbox_events(room)
    )


def _booking_at(ibss: IbssEmulator, space: str, start: datetime) -> bool:
    stamp = start.strftime("%Y-%m-%dT%H:%M")
    return any(
        b["Space_Id"] == space
        and b["Booking_Ext_Ref"]
        and b["Booking_Start"].startswith(stamp)
        and b["Booking_Status"] not in ("Cancelled", "Auto Cancelled")
        for b in ibss.state()["bookings"]
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--changes", type=int, default=200)
    parser.add_argument("--mode", choices=["owner", "room"], default="owner")
    args = parser.parse_args()
    with GraphEmulator() as graph, IbssEmulator() as ibss, azurite_running() as azurite:
        graph.set_config(deliveryBatchWindowSeconds=0, extraUpdatesAfterCreate=2)
        ibss.reset(clock=datetime.now(UTC), frozen=False)
        port = free_port()
        env = {**emulator_env(graph, ibss, port, args.mode), "SYNC_COALESCE_SECONDS": "0"}
        host = start_host(ROOT / "function_app.py", azurite.connection_string, env, port=port)
        try:
            ibss.set_hook_target(host.url("ibss/hooks", key=False), HOOK_SECRET)
            _wait(lambda: len(graph.subscriptions()) >= 4, timeout=60)
            time.sleep(2)
            print(f"mode {args.mode}, {args.changes} changes each way, emulator notification delay 0")
            for label, run in (("IBSS -> Outlook", ibss_to_outlook), ("Outlook -> IBSS", outlook_to_ibss)):
                endpoints_before = _by_endpoint(graph)
                lags, calls, missed = run(graph, ibss, args.changes)
                print(f"{label}: {summary_ms(lags)}; not seen within 30 s: {missed}")
                print(
                    f"  Graph requests: {calls} for {args.changes} changes"
                    f" = {calls / args.changes:.2f} per change (goal <= 2);"
                    f" p95 goal < 1 s: {'met' if lags and percentile(lags, 95) < 1 else 'NOT met'}"
                )
                _print_breakdown(endpoints_before, _by_endpoint(graph), args.changes)
        finally:
            stop_process(host.proc)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
