"""Play a sync scenario against a running `make run` stack and time each step.

    .venv/bin/python -m scripts.demo        (or: make demo, in a second terminal while `make run` is up)

It acts as people through the emulators' control planes (Alice in Flex, Bob in Outlook) and polls the
other side until the change shows up there, printing how long each one took.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from datetime import time as dtime
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from scripts.stack import GRAPH_PORT, IBSS_PORT

ALICE, BOB, CAROL = "alice@contoso.example", "bob@contoso.example", "carol@contoso.example"
AURORA, BOREALIS = "aurora@contoso.example", "borealis@contoso.example"
BERLIN = ZoneInfo("Europe/Berlin")


def slot(days: int, hour: int) -> tuple[datetime, datetime]:
    day = datetime.now(BERLIN).date() + timedelta(days=days)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    start = datetime.combine(day, dtime(hour), BERLIN).astimezone(UTC)
    return start, start + timedelta(hours=1)


def iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


class Demo:
    def __init__(self, graph: str, ibss: str, timeout: float) -> None:
        self.graph = httpx.Client(base_url=f"{graph}/_emulator", timeout=10)
        self.ibss = httpx.Client(base_url=f"{ibss}/_emulator", timeout=10)
        self.timeout = timeout
        self.failures = 0

    def _json(self, resp: httpx.Response) -> Any:
        if resp.status_code >= 400:
            raise RuntimeError(f"{resp.request.method} {resp.request.url} -> {resp.status_code}: {resp.text}")
        return resp.json() if resp.content else None

    def step(self, label: str, act: Callable[[], Any], seen: Callable[[], bool]) -> Any:
        result = act()
        started = time.monotonic()
        while time.monotonic() - started < self.timeout:
            if seen():
                print(f"  {label:<58} {1000 * (time.monotonic() - started):8.0f} ms")
                return result
            time.sleep(0.05)
        self.failures += 1
        print(f"  {label:<58}  NOT SEEN after {self.timeout:.0f} s")
        return result

    # Outlook side, seen through the Graph emulator's control plane
    def events(self, mailbox: str) -> list[dict[str, Any]]:
        return list(self._json(self.graph.get(f"/mailboxes/{mailbox}/events"))["value"])

    def meeting(self, mailbox: str, predicate: Callable[[dict[str, Any]], bool]) -> bool:
        return any(predicate(e) for e in self.events(mailbox) if not e.get("isCancelled"))

    # IBSS side, seen through the IBSS emulator's control plane
    def bookings(self) -> list[dict[str, Any]]:
        return list(self._json(self.ibss.get("/state"))["bookings"])

    def booking(self, predicate: Callable[[dict[str, Any]], bool]) -> dict[str, Any] | None:
        live = [b for b in self.bookings() if b["Booking_Status"] not in ("Cancelled", "Auto Cancelled")]
        return next((b for b in live if predicate(b)), None)

    def flex(self, action: str, **body: Any) -> dict[str, Any]:
        return dict(self._json(self.ibss.post(f"/flex/{action}", json=body)))

    def outlook(self, method: str, path: str, body: Any = None) -> Any:
        return self._json(self.graph.request(method, f"/act/{path}", json=body))

    def run(self) -> int:
        start, end = slot(1, 10)
        print("Made in IBSS (Alice in Flex) -> Outlook")
        booking = self.step(
            "book Aurora -> meeting in Outlook, room accepted",
            lambda: self.flex(
                "book",
                person=ALICE,
                node_id=1001,
                space_id="HQ-1-AURORA",
                start=iso(start),
                end=iso(end),
                name="Quarterly planning",
            ),
            lambda: self.meeting(AURORA, lambda e: e["start"]["dateTime"].startswith(iso(start)[:16])),
        )
        booking_id = booking["Booking_Id"]
        moved = start + timedelta(hours=1)
        self.step(
            "reschedule one hour later -> meeting moves",
            lambda: self.flex(
                "move",
                person=ALICE,
                booking_id=booking_id,
                space_id="HQ-1-AURORA",
                start=iso(moved),
                end=iso(end + timedelta(hours=1)),
            ),
            lambda: self.meeting(AURORA, lambda e: e["start"]["dateTime"].startswith(iso(moved)[:16])),
        )
        self.step(
            "rename -> subject changes",
            lambda: self.flex("edit", person=ALICE, booking_id=booking_id, name="Quarterly planning (v2)"),
            lambda: any("(v2)" in (e.get("subject") or "") for m in (ALICE, AURORA) for e in self.events(m)),
        )
        self.step(
            "cancel -> meeting cancelled, room free",
            lambda: self.flex("cancel", person=ALICE, booking_id=booking_id),
            lambda: not self.meeting(AURORA, lambda e: e["start"]["dateTime"].startswith(iso(moved)[:16])),
        )

        start, end = slot(1, 14)
        print("Made in Outlook (Bob) -> IBSS")
        created = self.step(
            "invite Borealis -> IBSS booking, owner Bob",
            lambda: self.outlook(
                "POST",
                f"{BOB}/events",
                {
                    "subject": "Design review",
                    "start": {"dateTime": iso(start)[:-1], "timeZone": "UTC"},
                    "end": {"dateTime": iso(end)[:-1], "timeZone": "UTC"},
                    "attendees": [
                        {"emailAddress": {"address": CAROL}, "type": "required"},
                        {"emailAddress": {"address": BOREALIS}, "type": "resource"},
                    ],
                },
            ),
            lambda: (
                self.booking(lambda b: b["Space_Id"] == "HQ-1-BOREALIS" and b["Booking_Owner_Email"] == BOB)
                is not None
            ),
        )
        moved = start + timedelta(hours=1)
        self.step(
            "reschedule one hour later -> booking moves",
            lambda: self.outlook(
                "PATCH",
                f"{BOB}/events/{created['id']}",
                {
                    "start": {"dateTime": iso(moved)[:-1], "timeZone": "UTC"},
                    "end": {"dateTime": iso(end + timedelta(hours=1))[:-1], "timeZone": "UTC"},
                },
            ),
            lambda: self.booking(lambda b: b["Booking_Start"].startswith(iso(moved)[:16])) is not None,
        )
        self.step(
            "rename -> booking name changes (owner mode)",
            lambda: self.outlook(
                "PATCH", f"{BOB}/events/{created['id']}", {"subject": "Design review (final)"}
            ),
            lambda: self.booking(lambda b: b["Booking_Name"] == "Design review (final)") is not None,
        )
        self.step(
            "cancel -> booking cancelled",
            lambda: self.outlook("POST", f"{BOB}/events/{created['id']}/cancel", {"comment": "done"}),
            lambda: (
                self.booking(lambda b: b["Space_Id"] == "HQ-1-BOREALIS" and b["Booking_Owner_Email"] == BOB)
                is None
            ),
        )
        print(
            "all steps seen on the other side" if not self.failures else f"{self.failures} step(s) not seen"
        )
        return 1 if self.failures else 0


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--graph", default=f"http://127.0.0.1:{GRAPH_PORT}")
    parser.add_argument("--ibss", default=f"http://127.0.0.1:{IBSS_PORT}")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for each step")
    args = parser.parse_args()
    try:
        return Demo(args.graph, args.ibss, args.timeout).run()
    except httpx.ConnectError:
        print(
            "Nothing answers on the emulators' ports: start the stack first with `make run`.", file=sys.stderr
        )
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
