"""Room mode under a rooms-only access policy (issue #21, item 6): the app may open room mailboxes only,
every person's mailbox answers 403 (an Exchange ApplicationAccessPolicy scoped to a rooms group). Room
mode must not need them: an Outlook-made meeting is booked, and IBSS-side changes of it (a rename in Flex,
a cancel) reach the room, with not one request to a person's mailbox."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
import yaml

from emulators.graph.tenant import DEMO_TENANT_PATH
from emulators.graph.testing import GraphEmulator
from emulators.ibss.testing import IbssEmulator
from tests.e2e.conftest import SyncStack, eventually, onboarded_stack
from tests.slots import business_slot
from tests.stack_fixtures import AzuritePool

BOB, CAROL = "bob@contoso.example", "carol@contoso.example"
AURORA = "aurora@contoso.example"


def _time(value: datetime) -> dict[str, str]:
    return {"dateTime": value.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"}


@pytest.fixture
def rooms_only_stack(
    graph_emulator: GraphEmulator, ibss_emulator: IbssEmulator, azurite_pool: AzuritePool
) -> Iterator[SyncStack]:
    tenant: dict[str, Any] = yaml.safe_load(DEMO_TENANT_PATH.read_text(encoding="utf-8"))
    tenant["apps"][0]["mailboxScope"] = [room["address"] for room in tenant["rooms"]]
    graph_emulator.reset(tenant)
    ibss_emulator.reset()
    try:
        with onboarded_stack(azurite_pool, graph_emulator, ibss_emulator, "room") as (stack, _):
            yield stack
    finally:
        graph_emulator.reset()  # later suites get the tenant-wide consent back


def _people_requests(graph: GraphEmulator) -> list[dict[str, Any]]:
    people = {BOB, CAROL, "alice@contoso.example", "dave@contoso.example"}
    entries: list[dict[str, Any]] = graph.request_counts()["entries"]
    return [e for e in entries if e["mailbox"].lower() in people or e["status"] == 403]


def _bookings(stack: SyncStack) -> list[dict[str, Any]]:
    return [
        b for b in stack.ibss.state()["bookings"] if b["Space_Id"] == "HQ-1-AURORA" and b["Booking_Ext_Ref"]
    ]


def test_room_mode_needs_no_person_mailbox(rooms_only_stack: SyncStack) -> None:
    stack = rooms_only_stack
    start, end = business_slot(2, 11)
    attendees = [
        {"emailAddress": {"address": CAROL}, "type": "required"},
        {"emailAddress": {"address": AURORA}, "type": "resource"},
    ]
    body = {"subject": "Rooms only", "start": _time(start), "end": _time(end), "attendees": attendees}
    stack.graph.act_create_meeting(BOB, body)
    booking = eventually(lambda: [b for b in _bookings(stack) if b["Booking_Status"] != "Cancelled"])[0]
    booking_id = str(booking["Booking_Id"])

    stack.ibss.act_edit(BOB, booking_id, name="Renamed in Flex")
    stack.ibss.wait_hooks_settled(timeout=20)
    stack.ibss.act_cancel(BOB, booking_id)

    def room_copy_gone() -> bool:
        live = [
            e
            for e in stack.graph.mailbox_events(AURORA)
            if e.get("iCalUId") == booking["Booking_Ext_Ref"] and not e.get("isCancelled")
        ]
        return not live or all(e.get("responseStatus", {}).get("response") == "declined" for e in live)

    eventually(room_copy_gone, what="the room gave the meeting up after the cancel in IBSS")
    stack.ibss.wait_hooks_settled(timeout=20)
    assert _people_requests(stack.graph) == []
