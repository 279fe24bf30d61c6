"""Booking policies for meetings made in Outlook, end to end (dev host + Azurite + both emulators).

The demo building's meeting rooms are bookable Mon-Fri 07:00-20:00 (Europe/Berlin). An Outlook meeting in
Aurora at 20:30 breaks that policy; what happens depends on the building's mode (its row in the
`buildings` table, else SYNC_POLICY_MODE, default `enforce`). What the organizer is told is the comment
of the room's meeting response (the Graph emulator records the messages a person would get).

The IBSS emulator applies policies to API callers too; `policy_exempt` models an application user that
may book outside them (as ICONICS' own Sync Service v2 does), which `warn` and `ignore` need to create the
booking. Without it, IBSS's own refusal still makes the room decline (last test).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from emulators.graph.testing import GraphEmulator
from emulators.ibss.testing import IbssEmulator
from shared.config import AppSettings
from shared.rooms.models import BuildingConfig
from shared.rooms.store import BuildingStore
from shared.storage.account import StorageAccount
from shared.sync.policy import PolicyMode
from tests.e2e.conftest import SyncStack, eventually, onboarded_stack
from tests.slots import at, bookable_day
from tests.stack_fixtures import AzuritePool

BOB = "bob@contoso.example"
AURORA = "aurora@contoso.example"
NODE = 1001
RULE = "Aurora can be booked Mon-Fri 07:00-20:00 (Europe/Berlin); this meeting starts at 20:30."


@dataclass
class PolicyStack:
    stack: SyncStack
    storage: str  # the host's Azurite: building rows are written there

    def set_building_mode(self, mode: PolicyMode | None) -> None:
        async def put() -> None:
            account = StorageAccount.from_settings(AppSettings(AzureWebJobsStorage=self.storage))
            try:
                store = BuildingStore(account)
                current = (await store.list_all()).get(NODE) or BuildingConfig(
                    node_id=NODE, name="Contoso HQ", time_zone="Europe/Berlin"
                )
                await store.put(current.model_copy(update={"policy_mode": mode}))
            finally:
                await account.close()

        asyncio.run(put())


# One host per organizer mode for the whole module (tests use different days): a host start is the
# expensive part, and the emulators keep their subscriptions between the tests.
@pytest.fixture(scope="module", params=["owner", "room"])
def policy_stack(
    request: pytest.FixtureRequest,
    graph_emulator: GraphEmulator,
    ibss_emulator: IbssEmulator,
    azurite_pool: AzuritePool,
) -> Iterator[PolicyStack]:
    graph_emulator.reset()
    ibss_emulator.reset()
    with onboarded_stack(azurite_pool, graph_emulator, ibss_emulator, request.param) as (stack, storage):
        yield PolicyStack(stack=stack, storage=storage)


def evening(day: int) -> tuple[datetime, datetime]:
    """20:30-21:30 Berlin on bookable day ``day`` (each test has its own): after the rooms close."""
    start = at(bookable_day(day), 20, 30).astimezone(UTC)
    return start, start + timedelta(hours=1)


def _time(value: datetime) -> dict[str, str]:
    return {"dateTime": value.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"}


def book_aurora_in_outlook(stack: SyncStack, subject: str, day: int) -> dict[str, Any]:
    start, end = evening(day)
    attendees = [{"emailAddress": {"address": AURORA}, "type": "resource"}]
    return stack.graph.act_create_meeting(
        BOB, {"subject": subject, "start": _time(start), "end": _time(end), "attendees": attendees}
    )


def room_messages(stack: SyncStack, created: dict[str, Any]) -> list[dict[str, Any]]:
    """What Aurora told Bob about this meeting (responses with comments)."""
    return [
        m
        for m in stack.graph.messages()
        if m["from"] == AURORA and BOB in m["to"] and m["iCalUId"] == created["iCalUId"]
    ]


def ibss_bookings(stack: SyncStack, created: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        b
        for b in stack.ibss.state()["bookings"]
        if b["Booking_Ext_Ref"] == created["iCalUId"]
        and b["Booking_Status"] not in ("Cancelled", "Auto Cancelled")
    ]


def room_response(stack: SyncStack, created: dict[str, Any]) -> str:
    organizer = next(e for e in stack.graph.mailbox_events(BOB) if e["id"] == created["id"])
    room = next(a for a in organizer["attendees"] if a["emailAddress"]["address"] == AURORA)
    return str(room["status"]["response"])


def test_enforce_declines_with_the_reason(policy_stack: PolicyStack) -> None:
    stack = policy_stack.stack
    policy_stack.set_building_mode(None)  # the app default: SYNC_POLICY_MODE=enforce
    stack.ibss.add_api_key(stack.ibss.api_key, policy_exempt=True)  # the decline must be ours, not IBSS's
    created = book_aurora_in_outlook(stack, "Late review (enforce)", 1)

    (message,) = eventually(lambda: room_messages(stack, created), what="the room's response")
    assert message["kind"] == "declined"
    assert message["comment"] == f"Declined: the meeting breaks the room's booking policy. {RULE}"
    eventually(lambda: room_response(stack, created) == "declined", what="room declined on Bob's meeting")
    assert ibss_bookings(stack, created) == []


def test_warn_accepts_books_and_tells_the_organizer(policy_stack: PolicyStack) -> None:
    stack = policy_stack.stack
    policy_stack.set_building_mode(PolicyMode.WARN)
    stack.ibss.add_api_key(stack.ibss.api_key, policy_exempt=True)
    created = book_aurora_in_outlook(stack, "Late review (warn)", 2)

    (booking,) = eventually(lambda: ibss_bookings(stack, created), what="IBSS booking")
    assert booking["Booking_Owner_Email"] == BOB
    (message,) = eventually(lambda: room_messages(stack, created), what="the room's warning")
    assert message["kind"] == "accepted"
    assert message["comment"] == f"Accepted, but the meeting breaks the room's booking policy. {RULE}"
    assert room_response(stack, created) == "accepted"


def test_ignore_accepts_silently(policy_stack: PolicyStack) -> None:
    stack = policy_stack.stack
    policy_stack.set_building_mode(PolicyMode.IGNORE)
    stack.ibss.add_api_key(stack.ibss.api_key, policy_exempt=True)
    created = book_aurora_in_outlook(stack, "Late review (ignore)", 3)

    eventually(lambda: ibss_bookings(stack, created), what="IBSS booking")
    time.sleep(1.0)  # a warning would follow the booking within the same plan
    assert room_messages(stack, created) == []
    assert room_response(stack, created) == "accepted"
    assert len(ibss_bookings(stack, created)) == 1


def test_warn_still_declines_when_ibss_itself_refuses(policy_stack: PolicyStack) -> None:
    """An IBSS that applies policies to the sync's application user has the last word: no booking, so the
    room declines with IBSS's reason instead of warning."""
    stack = policy_stack.stack
    policy_stack.set_building_mode(PolicyMode.WARN)
    stack.ibss.add_api_key(stack.ibss.api_key, policy_exempt=False)
    created = book_aurora_in_outlook(stack, "Late review (IBSS refuses)", 4)

    (message,) = eventually(lambda: room_messages(stack, created), what="the room's response")
    assert message["kind"] == "declined"
    assert message["comment"].startswith("Declined: IBSS rejected the booking")
    assert ibss_bookings(stack, created) == []
