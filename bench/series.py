"""Recurring meetings made in Outlook: time and Graph requests to bring a 52-week weekly series into
IBSS, and to apply a whole-series time change (dev host + Azurite + both emulators).

    .venv/bin/python -m bench.series [--mode owner|room] [--weeks 52]

Graph requests are the emulator's accounting over each phase (delta rounds, series reads, declines).
The horizon is set to 365 days and the room's booking window to 400 days so all 52 weeks are in scope.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from datetime import time as dtime
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from emulators.graph.testing import GraphEmulator
from emulators.ibss.testing import IbssEmulator
from scripts.stack import ROOT, azurite_running, free_port, stop_process
from tests.stack_fixtures import HOOK_SECRET, emulator_env, start_host

BOB = "bob@contoso.example"
BOREALIS = "borealis@contoso.example"
SPACE = "HQ-1-BOREALIS"
BERLIN = ZoneInfo("Europe/Berlin")


def _wait(probe: Callable[[], bool], timeout: float = 120.0) -> float | None:
    began = time.perf_counter()
    while time.perf_counter() - began < timeout:
        if probe():
            return time.perf_counter() - began
        time.sleep(0.05)
    return None


def _series_starts(ibss: IbssEmulator) -> list[str]:
    return sorted(
        b["Booking_Start"][:16]
        for b in ibss.state()["bookings"]
        if b["Space_Id"] == SPACE
        and str(b.get("Booking_Ext_Ref") or "").startswith("m365s:")
        and b["Booking_Status"] not in ("Cancelled", "Auto Cancelled")
    )


def _wall(day: datetime, hour: int) -> dict[str, str]:
    return {"dateTime": f"{day.date().isoformat()}T{hour:02d}:00:00", "timeZone": "Europe/Berlin"}


def _expected(first: datetime, weeks: int, hour: int) -> list[str]:
    return [
        datetime.combine((first + timedelta(weeks=i)).date(), dtime(hour), BERLIN)
        .astimezone(UTC)
        .strftime("%Y-%m-%dT%H:%M")
        for i in range(weeks)
    ]


def _phase(graph: GraphEmulator, label: str, action: Callable[[], Any], done: Callable[[], bool]) -> None:
    graph.reset_request_counts()
    action()
    seconds = _wait(done)
    time.sleep(2.0)  # let echoes (room replies, IBSS hooks) finish: they count too
    counts = graph.request_counts()
    took = "not reached" if seconds is None else f"{seconds:.2f} s"
    print(f"{label}: {took}; Graph requests {counts['total']}")
    totals: dict[str, int] = {}
    for entry in counts["entries"]:
        totals[entry["endpoint"]] = totals.get(entry["endpoint"], 0) + int(entry["count"])
    for endpoint, count in sorted(totals.items(), key=lambda kv: -kv[1]):
        print(f"    {count:4d}  {endpoint}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=["owner", "room"], default="owner")
    parser.add_argument("--weeks", type=int, default=52)
    args = parser.parse_args()
    with GraphEmulator() as graph, IbssEmulator() as ibss, azurite_running() as azurite:
        graph.set_config(deliveryBatchWindowSeconds=0)
        graph.room_processing(BOREALIS, bookingWindowInDays=400)
        # The demo's meeting-room policy allows 90 days ahead: widen it, or IBSS refuses weeks 14-52.
        data = yaml.safe_load((ROOT / "emulators/ibss/data/demo.yaml").read_text())
        for building in data["buildings"]:
            for policy in building.get("policies", []):
                policy["window_days"] = 400
        ibss.reset(clock=datetime.now(UTC), frozen=False, data=data)
        port = free_port()
        env = {
            **emulator_env(graph, ibss, port, args.mode),
            "SYNC_HORIZON_DAYS": "365",
            "SYNC_COALESCE_SECONDS": "0",
        }
        host = start_host(ROOT / "function_app.py", azurite.connection_string, env, port=port)
        try:
            ibss.set_hook_target(host.url("ibss/hooks", key=False), HOOK_SECRET)
            _wait(lambda: len(graph.subscriptions()) >= 4, timeout=60)
            time.sleep(2)
            today = datetime.now(BERLIN)
            first = today + timedelta(days=(7 - today.weekday()) % 7 or 7)
            print(f"mode {args.mode}: a {args.weeks}-week weekly series in {BOREALIS}")
            body = {
                "subject": "Bench series",
                "start": _wall(first, 9),
                "end": _wall(first, 10),
                "attendees": [{"emailAddress": {"address": BOREALIS}, "type": "resource"}],
                "recurrence": {
                    "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"]},
                    "range": {
                        "type": "numbered",
                        "startDate": first.date().isoformat(),
                        "numberOfOccurrences": args.weeks,
                    },
                },
            }
            created: dict[str, Any] = {}
            _phase(
                graph,
                "book the series",
                lambda: created.update(graph.act_create_meeting(BOB, body)),
                lambda: _series_starts(ibss) == _expected(first, args.weeks, 9),
            )
            _phase(
                graph,
                "whole-series time change 09:00 -> 11:00",
                lambda: graph.act_update_meeting(
                    BOB, created["id"], {"start": _wall(first, 11), "end": _wall(first, 12)}
                ),
                lambda: _series_starts(ibss) == _expected(first, args.weeks, 11),
            )
        finally:
            stop_process(host.proc)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
