"""OutlookWriter and GraphCalendar writes against the emulator (owner mode and room mode)."""

from __future__ import annotations

import pytest
from msgraph.generated.models.event import Event
from msgraph.generated.models.online_meeting_provider_type import OnlineMeetingProviderType

from emulators.graph.testing import GraphEmulator
from shared.graph.errors import GraphPreconditionFailed, RoomBusy
from shared.graph.mapping import etag_of, marker_of, to_organizer_snapshot, to_room_snapshot
from shared.graph.outlook_writer import OutlookWriter, UnsupportedAction
from shared.sync.model import AttendeeType, Response
from shared.sync.plan import (
    CancelMeeting,
    DeclineRoomEvent,
    MeetingChanges,
    MeetingTarget,
    RoomMove,
    UpdateMeeting,
)

from .conftest import Graph, requests_by_endpoint
from .helpers import ALICE, AURORA, BOB, BOREALIS, CAROL, DAVE, create_action, outlook_meeting, utc

POST_EVENTS = "POST /users/{id}/events"
GET_EVENT = "GET /users/{id}/events/{id}"
PATCH_EVENT = "PATCH /users/{id}/events/{id}"
GET_VIEW = "GET /users/{id}/calendarView"


def live(emu: GraphEmulator, mailbox: str) -> list[dict]:
    return [e for e in emu.mailbox_events(mailbox) if not e.get("isCancelled")]


async def test_owner_mode_create_is_idempotent_and_marked(graph: Graph, emu: GraphEmulator) -> None:
    action = create_action(online=True)
    first = await graph.writer.apply(action)
    assert requests_by_endpoint(emu) == {POST_EVENTS: 1}
    second = await graph.writer.apply(action)  # a retried dispatch: same transactionId
    assert second.event_id == first.event_id
    assert second.ical_uid == first.ical_uid
    assert len(emu.mailbox_events(ALICE)) == 1
    assert len(emu.mailbox_events(AURORA)) == 1
    assert first.mailbox == ALICE
    assert first.room_event_id is None  # learnt from the room's notification in production
    assert first.change_key

    event = await graph.calendar.get_event(ALICE, first.event_id or "")
    assert event is not None
    assert marker_of(event) == "BK-1001"
    found = await graph.calendar.find_by_marker(ALICE, "BK-1001")
    assert found is not None
    assert found.id == first.event_id
    assert await graph.calendar.find_by_marker(ALICE, "BK-9999") is None
    org = to_organizer_snapshot(event, ALICE)
    assert org.booking_id_marker == "BK-1001"
    assert org.subject == "Budget review"
    assert (org.start, org.end) == (action.start, action.end)
    assert org.location_emails == frozenset({AURORA})
    kinds = {a.email: (a.type, a.response) for a in org.attendees}
    assert kinds[AURORA] == (AttendeeType.RESOURCE, Response.ACCEPTED)
    assert kinds[BOB][0] == AttendeeType.REQUIRED
    assert ALICE not in kinds
    assert event.is_online_meeting is True
    assert event.online_meeting_provider == OnlineMeetingProviderType.TeamsForBusiness

    copy = await graph.calendar.find_by_ical_uid(AURORA, org.ical_uid)
    assert copy is not None
    room = to_room_snapshot(copy, AURORA)
    assert room.room_response == Response.ACCEPTED
    assert room.organizer_email == ALICE
    assert not room.is_organizer_room
    # The attendant copies the extended property? Exchange does not: only our copy carries it.
    assert room.booking_id_marker is None


async def test_resolve_room_copy_option(graph: Graph, emu: GraphEmulator) -> None:
    result = await OutlookWriter(graph.calendar, resolve_room_copy=True).apply(create_action())
    copy = await graph.calendar.find_by_ical_uid(AURORA, result.ical_uid or "")
    assert copy is not None
    assert result.room_event_id == copy.id


async def test_stale_if_match_is_precondition_failed(graph: Graph, emu: GraphEmulator) -> None:
    created = await graph.writer.apply(create_action())
    event = await graph.calendar.get_event(ALICE, created.event_id or "")
    assert event is not None
    stale = etag_of(event)
    emu.act_update_meeting(ALICE, created.event_id or "", {"subject": "Edited in Outlook"})
    with pytest.raises(GraphPreconditionFailed) as err:
        await graph.calendar.update_event(ALICE, created.event_id or "", Event(subject="Ours"), stale)
    assert err.value.status == 412
    assert err.value.code == "ErrorIrresolvableConflict"
    # The writer uses the etag of the event it was given, so the same race surfaces from apply().
    action = UpdateMeeting(
        target=MeetingTarget(role="organizer", mailbox=ALICE, event_id=created.event_id),
        changes=MeetingChanges(attendees_add=(DAVE,)),
    )
    with pytest.raises(GraphPreconditionFailed):
        await graph.writer.apply(action, current=event)
    fresh = await graph.calendar.get_event(ALICE, created.event_id or "")
    assert fresh is not None
    assert fresh.subject == "Edited in Outlook"


async def test_update_times_subject_attendees(graph: Graph, emu: GraphEmulator) -> None:
    created = await graph.writer.apply(create_action())
    current = await graph.calendar.get_event(ALICE, created.event_id or "")
    emu.reset_request_counts()
    action = UpdateMeeting(
        target=MeetingTarget(role="organizer", mailbox=ALICE, event_id=created.event_id),
        changes=MeetingChanges(
            start=utc("2026-11-23T10:00:00"),
            end=utc("2026-11-23T11:30:00"),
            subject="Budget review (moved)",
            attendees_add=(DAVE,),
            attendees_remove=(CAROL,),
        ),
    )
    result = await graph.writer.apply(action, current=current)
    assert requests_by_endpoint(emu) == {PATCH_EVENT: 1}
    assert result.change_key
    assert result.change_key != created.change_key
    event = await graph.calendar.get_event(ALICE, created.event_id or "")
    assert event is not None
    org = to_organizer_snapshot(event, ALICE)
    assert (org.start, org.end) == (utc("2026-11-23T10:00:00"), utc("2026-11-23T11:30:00"))
    assert org.subject == "Budget review (moved)"
    emails = {a.email: a for a in org.attendees}
    assert set(emails) == {BOB, DAVE, AURORA}
    assert emails[AURORA].response == Response.ACCEPTED  # status kept through the list rewrite
    assert org.location_emails == frozenset({AURORA})
    copy = await graph.calendar.find_by_ical_uid(AURORA, org.ical_uid)
    assert copy is not None
    room = to_room_snapshot(copy, AURORA)
    assert (room.start, room.end) == (org.start, org.end)
    assert room.room_response == Response.ACCEPTED
    # Without current, the writer reads the event first (2 requests), times-only stays 1 request.
    emu.reset_request_counts()
    await graph.writer.apply(
        UpdateMeeting(
            target=MeetingTarget(role="organizer", mailbox=ALICE, event_id=created.event_id),
            changes=MeetingChanges(attendees_remove=(DAVE,)),
        )
    )
    assert requests_by_endpoint(emu) == {GET_EVENT: 1, PATCH_EVENT: 1}
    emu.reset_request_counts()
    await graph.writer.apply(
        UpdateMeeting(
            target=MeetingTarget(role="organizer", mailbox=ALICE, event_id=created.event_id),
            changes=MeetingChanges(subject="Only the subject"),
        )
    )
    assert requests_by_endpoint(emu) == {PATCH_EVENT: 1}


async def test_room_move_in_owner_mode(graph: Graph, emu: GraphEmulator) -> None:
    created = await graph.writer.apply(create_action())
    current = await graph.calendar.get_event(ALICE, created.event_id or "")
    emu.reset_request_counts()
    await graph.writer.apply(
        UpdateMeeting(
            target=MeetingTarget(role="organizer", mailbox=ALICE, event_id=created.event_id),
            changes=MeetingChanges(room=RoomMove(old=AURORA, new=BOREALIS)),
        ),
        current=current,
    )
    assert requests_by_endpoint(emu) == {PATCH_EVENT: 1}
    event = await graph.calendar.get_event(ALICE, created.event_id or "")
    assert event is not None
    org = to_organizer_snapshot(event, ALICE)
    assert org.location_emails == frozenset({BOREALIS})
    rooms = {a.email: a.response for a in org.attendees if a.type == AttendeeType.RESOURCE}
    assert rooms == {BOREALIS: Response.ACCEPTED}
    assert {a.email for a in org.attendees} == {BOB, CAROL, BOREALIS}
    old = await graph.calendar.find_by_ical_uid(AURORA, org.ical_uid)
    assert old is None or old.is_cancelled  # cancelled (or removed with RemoveCanceledMeetings)
    new = await graph.calendar.find_by_ical_uid(BOREALIS, org.ical_uid)
    assert new is not None
    assert to_room_snapshot(new, BOREALIS).room_response == Response.ACCEPTED
    # Releasing the room (new=None) drops the resource attendee and the location.
    current = event
    await graph.writer.apply(
        UpdateMeeting(
            target=MeetingTarget(role="organizer", mailbox=ALICE, event_id=created.event_id),
            changes=MeetingChanges(room=RoomMove(old=BOREALIS, new=None)),
        ),
        current=current,
    )
    released = await graph.calendar.get_event(ALICE, created.event_id or "")
    assert released is not None
    snap = to_organizer_snapshot(released, ALICE)
    assert snap.location_emails == frozenset()
    assert {a.email for a in snap.attendees} == {BOB, CAROL}
    gone = await graph.calendar.find_by_ical_uid(BOREALIS, org.ical_uid)
    assert gone is None or gone.is_cancelled


async def test_cancel_reaches_the_room_copy(graph: Graph, emu: GraphEmulator) -> None:
    created = await graph.writer.apply(create_action())
    emu.reset_request_counts()
    target = MeetingTarget(role="organizer", mailbox=ALICE, event_id=created.event_id)
    result = await graph.writer.apply(CancelMeeting(target=target, comment="Booking cancelled in IBSS."))
    assert requests_by_endpoint(emu) == {"POST /users/{id}/events/{id}/cancel": 1}
    assert not result.already_done
    assert await graph.calendar.get_event(ALICE, created.event_id or "") is None
    copy = await graph.calendar.find_by_ical_uid(AURORA, created.ical_uid or "")
    assert copy is not None
    room = to_room_snapshot(copy, AURORA)
    assert room.is_cancelled
    again = await graph.writer.apply(CancelMeeting(target=target, comment="Booking cancelled in IBSS."))
    assert again.already_done


async def test_room_declines_an_outlook_meeting(graph: Graph, emu: GraphEmulator) -> None:
    made = emu.act_create_meeting(ALICE, outlook_meeting())
    copy = await graph.calendar.find_by_ical_uid(AURORA, made["iCalUId"])
    assert copy is not None
    emu.reset_request_counts()
    action = DeclineRoomEvent(room_mailbox=AURORA, event_id=copy.id or "", comment="No-show: released.")
    result = await graph.writer.apply(action)
    assert requests_by_endpoint(emu) == {"POST /users/{id}/events/{id}/decline": 1}
    assert not result.already_done
    event = await graph.calendar.get_event(ALICE, made["id"])
    assert event is not None
    org = to_organizer_snapshot(event, ALICE)
    assert {a.email: a.response for a in org.attendees}[AURORA] == Response.DECLINED
    assert not org.is_cancelled  # the organizer's meeting stays
    assert await graph.calendar.find_by_ical_uid(AURORA, made["iCalUId"]) is None
    assert (await graph.writer.apply(action)).already_done


async def test_room_mode_create_update_cancel(graph: Graph, emu: GraphEmulator) -> None:
    action = create_action(room_mode=True)
    created = await graph.writer.apply(action)
    assert requests_by_endpoint(emu) == {GET_VIEW: 1, POST_EVENTS: 1}
    assert created.mailbox == AURORA
    assert created.room_event_id == created.event_id
    event = await graph.calendar.get_event(AURORA, created.event_id or "")
    assert event is not None
    room = to_room_snapshot(event, AURORA)
    assert room.is_organizer_room
    assert room.organizer_email == AURORA
    assert room.room_response == Response.ORGANIZER
    assert room.booking_id_marker == "BK-1001"
    assert room.subject == "Budget review"  # no attendant rewrite on the room's own meeting
    assert {ALICE, BOB, CAROL} <= {a.email for a in room.attendees}
    alice_copy = await graph.calendar.find_by_ical_uid(ALICE, room.ical_uid)
    assert alice_copy is not None
    assert to_organizer_snapshot(alice_copy, ALICE).location_emails == frozenset({AURORA})
    # A retried create (crash after the POST) finds its own meeting, not a conflict.
    assert (await graph.writer.apply(action)).event_id == created.event_id
    assert len(live(emu, AURORA)) == 1

    emu.reset_request_counts()
    target = MeetingTarget(role="room", mailbox=AURORA, event_id=created.event_id)
    moved = await graph.writer.apply(
        UpdateMeeting(
            target=target,
            changes=MeetingChanges(start=utc("2026-11-23T12:00:00"), end=utc("2026-11-23T13:00:00")),
            require_room_free=True,
        ),
        current=event,
    )
    assert requests_by_endpoint(emu) == {GET_VIEW: 1, PATCH_EVENT: 1}
    assert moved.room_event_id == created.event_id
    alice_copy = await graph.calendar.find_by_ical_uid(ALICE, room.ical_uid)
    assert alice_copy is not None
    assert to_organizer_snapshot(alice_copy, ALICE).start == utc("2026-11-23T12:00:00")

    with pytest.raises(UnsupportedAction):
        await graph.writer.apply(
            UpdateMeeting(target=target, changes=MeetingChanges(room=RoomMove(old=AURORA, new=BOREALIS)))
        )

    await graph.writer.apply(CancelMeeting(target=target, comment="Cancelled in IBSS."))
    alice_copy = await graph.calendar.find_by_ical_uid(ALICE, room.ical_uid)
    assert alice_copy is not None
    assert alice_copy.is_cancelled
    assert live(emu, AURORA) == []


async def test_room_mode_room_busy(graph: Graph, emu: GraphEmulator) -> None:
    # Bob already holds Aurora 09:00-10:00 Berlin (08:00-09:00 UTC).
    emu.act_create_meeting(BOB, outlook_meeting(people=()))
    emu.reset_request_counts()
    with pytest.raises(RoomBusy) as err:
        await graph.writer.apply(create_action(room_mode=True, start="2026-11-23T08:30:00"))
    assert err.value.room_mailbox == AURORA
    assert len(err.value.conflicting_event_ids) == 1
    assert requests_by_endpoint(emu) == {GET_VIEW: 1}  # nothing written
    # Back to back is free.
    ok = await graph.writer.apply(
        create_action(room_mode=True, start="2026-11-23T09:00:00", end="2026-11-23T10:00:00")
    )
    # Moving it onto Bob's slot is refused too.
    target = MeetingTarget(role="room", mailbox=AURORA, event_id=ok.event_id)
    with pytest.raises(RoomBusy):
        await graph.writer.apply(
            UpdateMeeting(
                target=target,
                changes=MeetingChanges(start=utc("2026-11-23T08:45:00"), end=utc("2026-11-23T09:45:00")),
                require_room_free=True,
            )
        )
