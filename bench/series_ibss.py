"""IBSS series -> Outlook: time and Graph requests for a 52-week weekly series and a whole-series time change.

Starts its own Azurite, both emulators and the dev host (``--mode owner|room``), waits for the rooms to
be subscribed, then:

1. books a 52-week weekly series in Flex (one ``POST bookings/series``, 52 hooks) and times it until the
   room's calendar holds one series master; Graph requests are counted until the service is quiet
   (the room's delta rounds that report our occurrences included);
2. moves every booking one hour later in Flex (52 PATCHes, as IBSS has no series time edit: 52 hooks)
   and times it until the master has moved.

The IBSS booking window (90 days) and the room's (180 days) are widened for the year-long series.
Run: ``.venv/bin/python -m bench.series_ibss [--mode room]``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from datetime import time as dtime
from typing import Any
from zoneinfo import ZoneInfo

from emulators.graph.testing import GraphEmulator
from emulators.ibss.testing import IbssEmulator
from scripts.stack import ROOT, azurite_running, free_port, stop_process
from tests.stack_fixtures import HOOK_SECRET, emulator_env, start_host

BERLIN = ZoneInfo("Europe/Berlin")
ALICE, AURORA = "alice@contoso.example", "aurora@contoso.example"
WEEKS = 52
HOURS = {d: ["07:00", "20:00"] for d in ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday")}


def _wait(probe: Callable[[], bool], timeout: float = 120.0) -> float:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if probe():
            return time.monotonic() - t0
        time.sleep(0.05)
    raise TimeoutError("not reached")


def _quiet(graph: GraphEmulator, settle: float = 3.0) -> int:
    """Graph requests once no new request came for ``settle`` seconds (echo rounds included)."""
    last, since = -1, time.monotonic()
    while True:
        total = int(graph.request_counts()["total"])
        if total != last:
            last, since = total, time.monotonic()
        elif time.monotonic() - since >= settle:
            return total
        time.sleep(0.2)


def _by_endpoint(graph: GraphEmulator) -> dict[str, int]:
    totals: dict[str, int] = {}
    for entry in graph.request_counts()["entries"]:
        totals[entry["endpoint"]] = totals.get(entry["endpoint"], 0) + int(entry["count"])
    return totals


def _masters(graph: GraphEmulator, mailbox: str) -> list[dict[str, Any]]:
    return [
        e
        for e in graph.mailbox_events(mailbox)
        if e.get("type") == "seriesMaster" and not e.get("isCancelled")
    ]


def _report(label: str, seconds: float, graph: GraphEmulator) -> None:
    total = _quiet(graph)
    print(f"{label}: {seconds * 1000:,.0f} ms to Outlook, {total} Graph requests")
    for endpoint, count in sorted(_by_endpoint(graph).items(), key=lambda kv: -kv[1]):
        print(f"    {count:4d}  {endpoint}")


def run(mode: str) -> None:
    with GraphEmulator() as graph, IbssEmulator() as ibss, azurite_running() as azurite:
        graph.reset()
        ibss.reset(clock=datetime.now(UTC), frozen=False)
        ibss.load(
            {
                "buildings": [
                    {
                        "node_id": 1001,
                        "name": "Contoso HQ",
                        "time_zone": "Europe/Berlin",
                        "bkng_ext_system": 1,
                        "bkng_sync_enabled": 1,
                        "policies": [
                            {"policy_id": "meeting-rooms", "bookable_hours": HOURS, "window_days": 400}
                        ],
                    }
                ]
            }
        )
        graph.room_processing(AURORA, bookingWindowInDays=400)
        port = free_port()
        env = emulator_env(graph, ibss, port, mode)
        host = start_host(ROOT / "function_app.py", azurite.connection_string, env, port=port)
        try:
            ibss.set_hook_target(host.url("ibss/hooks", key=False), HOOK_SECRET)
            _wait(lambda: len(graph.subscriptions()) >= 4, timeout=60)
            time.sleep(2.0)
            _quiet(graph)
            holder = ALICE if mode == "owner" else AURORA
            day = datetime.now(BERLIN).date() + timedelta(days=3)
            while day.weekday() != 0:
                day += timedelta(days=1)
            dates = []
            for i in range(WEEKS):
                start = datetime.combine(day + timedelta(weeks=i), dtime(10), BERLIN).astimezone(UTC)
                dates.append((start, start + timedelta(hours=1)))

            graph.reset_request_counts()
            t0 = time.monotonic()
            series = ibss.act_book(ALICE, "HQ-1-AURORA", name="Year of syncs", occurrences=dates)
            _wait(lambda: len(_masters(graph, AURORA)) == 1 and len(_masters(graph, holder)) == 1)
            _report(f"{mode} mode, {WEEKS}-week series created", time.monotonic() - t0, graph)

            graph.reset_request_counts()
            first = _masters(graph, holder)[0]["start"]["dateTime"]
            t0 = time.monotonic()
            for b in series["value"]:
                start = datetime.fromisoformat(b["Booking_Start"].replace("Z", "+00:00")) + timedelta(hours=1)
                ibss.act_edit(ALICE, b["Booking_Id"], start=start, end=start + timedelta(hours=1))
            edits = time.monotonic() - t0
            _wait(
                lambda: (
                    bool(m := _masters(graph, holder))
                    and m[0]["start"]["dateTime"] != first
                    and not [e for e in graph.mailbox_events(holder) if e.get("type") == "exception"]
                )
            )
            _report(
                f"{mode} mode, whole-series time change ({WEEKS} Flex edits took {edits * 1000:,.0f} ms)",
                time.monotonic() - t0,
                graph,
            )
        finally:
            stop_process(host.proc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--mode", choices=["owner", "room"], default="owner")
    run(parser.parse_args().mode)


if __name__ == "__main__":
    main()
