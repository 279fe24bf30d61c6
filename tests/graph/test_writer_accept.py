"""AcceptRoomEvent (booking-policy warnings): one POST .../accept; the organizer gets the comment."""

from __future__ import annotations

from emulators.graph.testing import GraphEmulator
from shared.graph.mapping import to_organizer_snapshot
from shared.sync.model import Response
from shared.sync.plan import AcceptRoomEvent

from .conftest import Graph, requests_by_endpoint
from .helpers import ALICE, AURORA, outlook_meeting


async def test_room_accepts_again_with_a_comment(graph: Graph, emu: GraphEmulator) -> None:
    made = emu.act_create_meeting(ALICE, outlook_meeting())
    copy = await graph.calendar.find_by_ical_uid(AURORA, made["iCalUId"])
    assert copy is not None
    emu.reset_request_counts()
    comment = "Accepted, but the meeting breaks the room's booking policy. Aurora can be booked ..."
    action = AcceptRoomEvent(room_mailbox=AURORA, event_id=copy.id or "", comment=comment)
    result = await graph.writer.apply(action)
    assert requests_by_endpoint(emu) == {"POST /users/{id}/events/{id}/accept": 1}
    assert not result.already_done
    event = await graph.calendar.get_event(ALICE, made["id"])
    assert event is not None
    org = to_organizer_snapshot(event, ALICE)
    assert {a.email: a.response for a in org.attendees}[AURORA] == Response.ACCEPTED
    assert await graph.calendar.find_by_ical_uid(AURORA, made["iCalUId"]) is not None  # the room keeps it
    sent = [m for m in emu.messages() if m["from"] == AURORA and m["iCalUId"] == made["iCalUId"]]
    assert [(m["kind"], m["to"], m["comment"]) for m in sent] == [("accepted", [ALICE], comment)]


async def test_accepting_an_item_that_is_gone_counts_as_done(graph: Graph, emu: GraphEmulator) -> None:
    made = emu.act_create_meeting(ALICE, outlook_meeting())
    copy = await graph.calendar.find_by_ical_uid(AURORA, made["iCalUId"])
    assert copy is not None
    emu.act_respond(AURORA, copy.id or "", "decline")  # a decline moves the copy out of the calendar
    action = AcceptRoomEvent(room_mailbox=AURORA, event_id=copy.id or "", comment="c")
    assert (await graph.writer.apply(action)).already_done
