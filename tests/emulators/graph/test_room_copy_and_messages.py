"""A room's copy is locally editable (Exchange keeps attendee copies so); meeting messages are recorded."""

from __future__ import annotations

from msgraph.generated.models.attendee import Attendee
from msgraph.generated.models.date_time_time_zone import DateTimeTimeZone
from msgraph.generated.models.email_address import EmailAddress
from msgraph.generated.models.event import Event
from msgraph.generated.users.item.events.item.cancel.cancel_post_request_body import CancelPostRequestBody
from msgraph.generated.users.item.events.item.decline.decline_post_request_body import DeclinePostRequestBody

from tests.emulators.graph.helpers import ALICE, AURORA, BOB, meeting


async def _room_copy(graph, ical_uid: str) -> Event:
    listed = (await graph.users.by_user_id(AURORA).events.get()).value
    copies: list[Event] = [e for e in listed if e.i_cal_u_id == ical_uid]
    assert len(copies) == 1
    return copies[0]


async def test_room_decline_with_comment_reaches_the_organizer(graph, emu):
    created = await graph.users.by_user_id(ALICE).events.post(meeting())
    copy = await _room_copy(graph, created.i_cal_u_id)
    await (
        graph.users.by_user_id(AURORA)
        .events.by_event_id(copy.id)
        .decline.post(DeclinePostRequestBody(comment="Released: nobody checked in.", send_response=True))
    )
    (message,) = emu.messages()
    assert message["kind"] == "declined"
    assert (message["from"], message["to"]) == (AURORA, [ALICE])
    assert message["comment"] == "Released: nobody checked in."
    assert message["iCalUId"] == created.i_cal_u_id
    org = await graph.users.by_user_id(ALICE).events.by_event_id(created.id).get()
    assert org.is_cancelled is False  # the organizer keeps the meeting, with the room's decline on it
    assert [a.status.response.value for a in org.attendees] == ["declined"]


async def test_decline_without_send_response_tells_nobody(graph, emu):
    created = await graph.users.by_user_id(ALICE).events.post(meeting())
    copy = await _room_copy(graph, created.i_cal_u_id)
    await (
        graph.users.by_user_id(AURORA)
        .events.by_event_id(copy.id)
        .decline.post(DeclinePostRequestBody(comment="quiet", send_response=False))
    )
    assert emu.messages() == []


async def test_cancel_comment_reaches_every_attendee(graph, emu):
    ev = meeting()
    ev.attendees = [*(ev.attendees or []), Attendee(email_address=EmailAddress(address=BOB, name="Bob"))]
    created = await graph.users.by_user_id(ALICE).events.post(ev)
    await (
        graph.users.by_user_id(ALICE)
        .events.by_event_id(created.id)
        .cancel.post(CancelPostRequestBody(comment="Called off"))
    )
    (message,) = emu.messages()
    assert message["kind"] == "cancelled"
    assert set(message["to"]) == {AURORA, BOB}
    assert message["comment"] == "Called off"


async def test_room_copy_end_patch_stays_in_the_room_calendar(graph, emu):
    """Exchange keeps an attendee's copy editable by its own mailbox; nothing is sent to anyone."""
    created = await graph.users.by_user_id(ALICE).events.post(meeting())
    copy = await _room_copy(graph, created.i_cal_u_id)
    patch = Event(end=DateTimeTimeZone(date_time="2026-11-23T08:20:00", time_zone="UTC"))
    updated = await graph.users.by_user_id(AURORA).events.by_event_id(copy.id).patch(patch)
    assert updated.change_key != copy.change_key
    room = await graph.users.by_user_id(AURORA).events.by_event_id(copy.id).get()
    assert room.end.date_time.startswith("2026-11-23T08:20:00")
    org = await graph.users.by_user_id(ALICE).events.by_event_id(created.id).get()
    assert org.end.date_time.startswith("2026-11-23T09:00:00")  # 10:00 Berlin, unchanged
    assert emu.messages() == []
    # The organizer's next update re-sends the meeting and overwrites the room's local change.
    await graph.users.by_user_id(ALICE).events.by_event_id(created.id).patch(Event(subject="Team sync v2"))
    room = await graph.users.by_user_id(AURORA).events.by_event_id(copy.id).get()
    assert room.end.date_time.startswith("2026-11-23T09:00:00")
