"""Races between workers, in-process against both emulators and Azurite (found by the randomized e2e test).

- Two workers reconcile the same new IBSS booking at once (the hooks of a create and of the rename right
  after it): exactly one creates the meeting; the other backs out of its link and comes back later.
- A room's delta round read the room's copy just before our own cancel of the meeting reached the room:
  the round must not decline the (stale) copy on top of the cancel.
- A room's delta round read the room's copy just before our own move of the meeting (a Flex move) reached
  it: the copy's old time is not an Outlook edit, so the round must not move the booking back.
- The room accepted an Outlook meeting and IBSS refuses its booking because a booking the service has not
  synced yet holds the space: a Flex booking made after the room accepted loses it (cancelled, the meeting's
  booking made on the retry); one made before keeps it (the room declines the meeting).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from emulators.graph.testing import GraphEmulator
from emulators.ibss.testing import IbssEmulator
from shared.storage.account import StorageAccount
from shared.sync.model import Present, Response, RoomEventSnapshot
from shared.sync.plan import CreateBooking
from shared.worker import wiring
from shared.worker.errors import RetryAfter
from shared.worker.reconciler import Reconciler
from tests.slots import business_slot
from tests.stack_fixtures import emulator_settings

ALICE = "alice@contoso.example"
ROOM, SPACE = "aurora@contoso.example", "HQ-1-AURORA"
WRITES = ("POST", "PATCH", "DELETE")


# Private emulators: no dev host of the session is subscribed to them or takes their hooks.
@pytest.fixture(scope="module")
def graph() -> Iterator[GraphEmulator]:
    with GraphEmulator() as emulator:
        yield emulator


@pytest.fixture(scope="module")
def ibss() -> Iterator[IbssEmulator]:
    with IbssEmulator() as emulator:
        yield emulator


@pytest.fixture
async def reconciler(
    request: pytest.FixtureRequest, storage_connection: str, graph: GraphEmulator, ibss: IbssEmulator
) -> AsyncIterator[Reconciler]:
    """Owner mode unless a test asks otherwise: ``parametrize("reconciler", ["room"], indirect=True)``."""
    graph.reset()
    ibss.reset()
    settings = emulator_settings(graph, ibss, storage_connection, mode=getattr(request, "param", "owner"))
    storage = StorageAccount.from_settings(settings)
    loop_id = id(asyncio.get_running_loop())
    wiring._reconcilers.pop(loop_id, None)
    try:
        yield wiring.reconciler_for_current_loop(settings, storage)
    finally:
        wiring._reconcilers.pop(loop_id, None)
        await storage.close()


def graph_writes(graph: GraphEmulator) -> int:
    entries = graph.request_counts()["entries"]
    return sum(e["count"] for e in entries if e["endpoint"].split()[0] in WRITES and e["status"] < 400)


def ibss_writes(ibss: IbssEmulator) -> int:
    return sum(
        n
        for key, n in ibss.request_counts()["by_route_status"].items()
        if key.split(" ")[0] in WRITES and int(key.split(" ")[2]) < 400
    )


def _booking(ibss: IbssEmulator, booking_id: str) -> dict[str, Any]:
    rows: list[dict[str, Any]] = [b for b in ibss.state()["bookings"] if str(b["Booking_Id"]) == booking_id]
    (row,) = rows
    return row


def node_of(ibss: IbssEmulator, booking_id: str) -> int:
    return int(_booking(ibss, booking_id)["Node_Id"])


async def _round_copy(reconciler: Reconciler, event_id: str) -> RoomEventSnapshot:
    copy = await reconciler.outlook.room_event(ROOM, event_id)
    assert isinstance(copy, Present)
    return copy.value


def _outlook_meeting(graph: GraphEmulator, subject: str, start: datetime, end: datetime) -> dict[str, Any]:
    made = graph.act_create_meeting(
        "bob@contoso.example",
        {
            "subject": subject,
            "start": {"dateTime": start.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"},
            "end": {"dateTime": end.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"},
            "attendees": [{"emailAddress": {"address": ROOM}, "type": "resource"}],
        },
    )
    (room_copy,) = [e for e in graph.mailbox_events(ROOM) if e.get("iCalUId") == made["iCalUId"]]
    assert room_copy["responseStatus"]["response"] == "accepted"
    return room_copy


async def test_two_workers_on_one_new_booking_create_one_meeting(
    reconciler: Reconciler, graph: GraphEmulator, ibss: IbssEmulator
) -> None:
    start, end = business_slot(6, 10)
    booking_id = str(ibss.act_book(ALICE, SPACE, start, end, name="Race")["Booking_Id"])
    node = node_of(ibss, booking_id)
    before = graph_writes(graph)

    results = await asyncio.gather(
        reconciler.booking_changed(node, booking_id),
        reconciler.booking_changed(node, booking_id),
        return_exceptions=True,
    )

    # One created the meeting; the other found the link claimed and was told to come back (RetryAfter).
    assert [r for r in results if isinstance(r, BaseException) and not isinstance(r, RetryAfter)] == []
    assert graph_writes(graph) - before == 1
    await asyncio.sleep(1.1)  # the winner's plan is done: the retry is a no-op
    again = await reconciler.booking_changed(node, booking_id)
    assert again is None or not (again.ibss_writes + again.outlook_writes)
    assert graph_writes(graph) - before == 1
    assert len([e for e in graph.mailbox_events(ALICE) if e.get("subject") == "Race"]) == 1


async def test_a_delta_round_copy_older_than_our_cancel_is_not_declined(
    reconciler: Reconciler, graph: GraphEmulator, ibss: IbssEmulator
) -> None:
    start, end = business_slot(6, 12)
    booking_id = str(ibss.act_book(ALICE, SPACE, start, end, name="Stale")["Booking_Id"])
    node = node_of(ibss, booking_id)
    await reconciler.booking_changed(node, booking_id)
    (meeting,) = [e for e in graph.mailbox_events(ALICE) if e.get("subject") == "Stale"]
    (room_copy,) = [e for e in graph.mailbox_events(ROOM) if e.get("iCalUId") == meeting["iCalUId"]]
    # The room's delta round reads the copy (accepted, live) ...
    round_copy = await reconciler.outlook.room_event(ROOM, str(room_copy["id"]))
    assert isinstance(round_copy, Present)
    # ... then Flex cancels the booking and we cancel the meeting, which cancels the room's copy ...
    ibss.act_cancel(ALICE, booking_id)
    cancelled = await reconciler.booking_changed(node, booking_id)
    assert cancelled is not None
    assert [a.kind for a in cancelled.outlook_writes] == ["cancel_meeting"]
    before = graph_writes(graph)
    # ... and only now does the round decide on the copy it read before.
    plan = await reconciler.room_event_changed(ROOM, str(room_copy["id"]), round_copy.value)
    assert plan is None or not (plan.ibss_writes + plan.outlook_writes), plan
    assert graph_writes(graph) == before


async def test_two_rounds_on_one_new_outlook_meeting_book_it_once(
    reconciler: Reconciler, graph: GraphEmulator, ibss: IbssEmulator
) -> None:
    start, end = business_slot(6, 14)
    room_copy = _outlook_meeting(graph, "Outlook race", start, end)
    copy = await reconciler.outlook.room_event(ROOM, str(room_copy["id"]))
    assert isinstance(copy, Present)
    results = await asyncio.gather(
        reconciler.room_event_changed(ROOM, copy.value.event_id, copy.value),
        reconciler.room_event_changed(ROOM, copy.value.event_id, copy.value),
        return_exceptions=True,
    )
    assert [r for r in results if isinstance(r, BaseException) and not isinstance(r, RetryAfter)] == []
    await asyncio.sleep(1.1)
    again = await reconciler.room_event_changed(ROOM, copy.value.event_id, copy.value)
    assert again is None or not (again.ibss_writes + again.outlook_writes), again
    creates = [
        e for e in ibss.request_counts()["log"] if e["method"] == "POST" and e["path"].endswith("/bookings")
    ]
    assert len(creates) == 1, creates
    live = [b for b in ibss.state()["bookings"] if b["Booking_Name"] == "Outlook race"]
    assert len(live) == 1


# Room mode: the room's calendar holds the meeting, so the delta round's copy is the meeting itself.
@pytest.mark.parametrize("reconciler", ["room"], indirect=True)
async def test_a_delta_round_copy_older_than_our_move_does_not_move_the_booking_back(
    reconciler: Reconciler, graph: GraphEmulator, ibss: IbssEmulator
) -> None:
    start, end = business_slot(6, 16)
    booking_id = str(ibss.act_book(ALICE, SPACE, start, end, name="Moved")["Booking_Id"])
    node = node_of(ibss, booking_id)
    await reconciler.booking_changed(node, booking_id)
    (room_copy,) = [e for e in graph.mailbox_events(ROOM) if e.get("subject") == "Moved"]
    # The room's delta round reads the copy (at the first time) ...
    round_copy = await reconciler.outlook.room_event(ROOM, str(room_copy["id"]))
    assert isinstance(round_copy, Present)
    # ... then Flex moves the booking by 15 minutes and we move the meeting ...
    later = start + timedelta(minutes=15), end + timedelta(minutes=15)
    ibss.act_move(ALICE, booking_id, SPACE, start=later[0], end=later[1])
    moved = await reconciler.booking_changed(node, booking_id)
    assert moved is not None
    assert [a.kind for a in moved.outlook_writes] == ["update_meeting"]
    ibss_before, graph_before = ibss_writes(ibss), graph_writes(graph)
    # ... and only now does the round decide on the copy it read before.
    plan = await reconciler.room_event_changed(ROOM, str(room_copy["id"]), round_copy.value)
    assert plan is None or not (plan.ibss_writes + plan.outlook_writes), plan
    assert (ibss_writes(ibss), graph_writes(graph)) == (ibss_before, graph_before)
    assert _booking(ibss, booking_id)["Booking_Start"].startswith(later[0].strftime("%Y-%m-%dT%H:%M"))


async def test_a_flex_booking_made_after_the_room_accepted_the_meeting_loses_the_space(
    reconciler: Reconciler, graph: GraphEmulator, ibss: IbssEmulator
) -> None:
    start, end = business_slot(7, 10)
    room_copy = _outlook_meeting(graph, "Outlook first", start, end)
    # The rule compares IBSS's Booking_Created with Exchange's lastModifiedDateTime, two clocks: a minute
    # later on IBSS's makes "made after" unmistakable instead of a matter of milliseconds.
    ibss.advance_clock(seconds=60)
    flex = str(ibss.act_book(ALICE, SPACE, start, end, name="Flex second")["Booking_Id"])  # not synced yet

    event_id = str(room_copy["id"])
    with pytest.raises(RetryAfter):  # the holder is cancelled, the create comes back
        await reconciler.room_event_changed(ROOM, event_id, await _round_copy(reconciler, event_id))
    assert _booking(ibss, flex)["Booking_Status"] == "Cancelled"
    assert _booking(ibss, flex)["Booking_Cancel_Reason"]
    retried = await reconciler.room_event_changed(ROOM, event_id, await _round_copy(reconciler, event_id))
    assert retried is not None
    (create,) = retried.ibss_writes
    assert isinstance(create, CreateBooking)
    assert create.origin_ical_uid == room_copy["iCalUId"]
    assert (await _round_copy(reconciler, event_id)).room_response == Response.ACCEPTED
    at_slot = start.strftime("%Y-%m-%dT%H:%M")
    live = [
        b["Booking_Name"]
        for b in ibss.state()["bookings"]
        if b["Booking_Status"] != "Cancelled" and str(b["Booking_Start"]).startswith(at_slot)
    ]
    assert live == ["Outlook first"]


async def test_an_ibss_booking_older_than_the_meeting_keeps_the_space(
    reconciler: Reconciler, graph: GraphEmulator, ibss: IbssEmulator
) -> None:
    """A booking that was there before the service synced the space (no meeting of ours) is not cancelled
    because the room, which did not know it, accepted a meeting over it."""
    start, end = business_slot(7, 13)
    older = str(ibss.act_book(ALICE, SPACE, start, end, name="Booked before")["Booking_Id"])
    await asyncio.sleep(0.05)
    room_copy = _outlook_meeting(graph, "Outlook later", start, end)

    event_id = str(room_copy["id"])
    plan = await reconciler.room_event_changed(ROOM, event_id, await _round_copy(reconciler, event_id))
    assert plan is not None
    assert [a.kind for a in plan.actions] == ["decline_room_event"]
    assert _booking(ibss, older)["Booking_Status"] != "Cancelled"
