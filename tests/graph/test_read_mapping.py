"""Reads through GraphCalendar and mapping of real emulator events into the core's snapshots."""

from __future__ import annotations

from datetime import timedelta

from msgraph.generated.models.online_meeting_provider_type import OnlineMeetingProviderType

from emulators.graph.testing import GraphEmulator
from shared.graph.mapping import (
    BOOKING_ID_PROPERTY_ID,
    series_info,
    to_organizer_snapshot,
    to_room_snapshot,
)
from shared.sync.model import AttendeeType, Response, Sensitivity

from .conftest import Graph
from .helpers import ALICE, AURORA, BOB, outlook_meeting, utc


async def test_organizer_copy_and_room_copy_map_to_snapshots(graph: Graph, emu: GraphEmulator) -> None:
    made = emu.act_create_meeting(ALICE, outlook_meeting())
    org_event = await graph.calendar.get_event(ALICE, made["id"])
    assert org_event is not None
    org = to_organizer_snapshot(org_event, ALICE)
    # 09:00-10:00 Berlin (UTC+1 in November) arrives in UTC.
    assert (org.start, org.end) == (utc("2026-11-23T08:00:00"), utc("2026-11-23T09:00:00"))
    assert org.subject == "Quarterly numbers"
    assert org.organizer_email == ALICE
    assert org.organizer_name == "Alice Adams"
    assert org.mailbox == ALICE
    assert org.location_emails == frozenset({AURORA})
    by_email = {a.email: a for a in org.attendees}
    assert by_email[AURORA].type == AttendeeType.RESOURCE
    assert by_email[AURORA].response == Response.ACCEPTED  # the attendant answered
    assert by_email[BOB].type == AttendeeType.REQUIRED
    assert org.change_key == org_event.change_key
    assert org.last_modified.tzinfo is not None
    assert org.booking_id_marker is None
    assert not org.is_cancelled

    room_event = await graph.calendar.find_by_ical_uid(AURORA, org.ical_uid)
    assert room_event is not None
    room = to_room_snapshot(room_event, AURORA)
    assert room.ical_uid == org.ical_uid
    assert room.event_id != org.event_id
    assert room.subject == "Alice Adams"  # AddOrganizerToSubject + DeleteSubject (Exchange defaults)
    assert room.room_mailbox == AURORA
    assert room.room_response == Response.ACCEPTED
    assert not room.is_organizer_room
    assert room.organizer_email == ALICE
    assert (room.start, room.end) == (org.start, org.end)
    # The room copy can also be read by id.
    again = await graph.calendar.get_event(AURORA, room.event_id)
    assert again is not None
    assert to_room_snapshot(again, AURORA) == room


async def test_reads_select_fields_and_never_the_body(graph: Graph, emu: GraphEmulator) -> None:
    made = emu.act_create_meeting(ALICE, outlook_meeting())
    event = await graph.calendar.get_event(ALICE, made["id"])
    assert event is not None
    await graph.calendar.find_by_ical_uid(AURORA, event.i_cal_u_id or "")
    await graph.calendar.find_by_marker(AURORA, "BK-none")
    await graph.calendar.calendar_view(AURORA, utc("2026-11-23T00:00:00"), utc("2026-11-24T00:00:00"))
    assert len(graph.log.urls) == 4
    for url in graph.log.urls:
        assert "$select=id,iCalUId," in url
        select = url.split("$select=", 1)[1].split("&", 1)[0].split(",")
        assert not {"body", "bodyPreview", "attachments", "hasAttachments"} & set(select)
        assert f"$expand=singleValueExtendedProperties($filter=id eq '{BOOKING_ID_PROPERTY_ID}')" in url
    assert event.body is None
    assert event.body_preview is None


async def test_private_meeting_and_room_copy_sensitivity(graph: Graph, emu: GraphEmulator) -> None:
    made = emu.act_create_meeting(ALICE, outlook_meeting(subject="Reorg", sensitivity="private"))
    org_event = await graph.calendar.get_event(ALICE, made["id"])
    assert org_event is not None
    org = to_organizer_snapshot(org_event, ALICE)
    assert org.sensitivity == Sensitivity.PRIVATE
    room_event = await graph.calendar.find_by_ical_uid(AURORA, org.ical_uid)
    assert room_event is not None
    # RemovePrivateProperty (Exchange default) clears the flag on the room's copy.
    assert to_room_snapshot(room_event, AURORA).sensitivity == Sensitivity.NORMAL


async def test_online_meeting_fields(graph: Graph, emu: GraphEmulator) -> None:
    made = emu.act_create_meeting(ALICE, outlook_meeting(isOnlineMeeting=True))
    event = await graph.calendar.get_event(ALICE, made["id"])
    assert event is not None
    assert event.is_online_meeting is True
    assert event.online_meeting_provider == OnlineMeetingProviderType.TeamsForBusiness
    assert event.online_meeting is None  # not selected (join URL is not needed for sync)


async def test_recurring_occurrences_map_one_by_one(graph: Graph, emu: GraphEmulator) -> None:
    series = outlook_meeting(
        subject="Weekly",
        recurrence={
            "pattern": {
                "type": "weekly",
                "interval": 1,
                "daysOfWeek": ["monday"],
                "firstDayOfWeek": "monday",
            },
            "range": {"type": "numbered", "startDate": "2026-11-23", "numberOfOccurrences": 3},
        },
    )
    made = emu.act_create_meeting(ALICE, series)
    window = (utc("2026-11-22T00:00:00"), utc("2026-12-14T00:00:00"))
    room_items = await graph.calendar.calendar_view(AURORA, *window)
    assert len(room_items) == 3
    snaps = [to_room_snapshot(e, AURORA) for e in room_items]
    infos = [series_info(e) for e in room_items]
    assert {i.type for i in infos} == {"occurrence"}
    assert len({i.series_master_id for i in infos}) == 1
    assert infos[0].series_master_id != made["id"]  # the room's own series master
    assert len({s.ical_uid for s in snaps}) == 3  # one iCalUId per occurrence
    assert [s.start for s in snaps] == [utc("2026-11-23T08:00:00") + timedelta(weeks=n) for n in range(3)]
    assert all(s.room_response == Response.ACCEPTED for s in snaps)
    assert [i.original_start for i in infos] == [s.start for s in snaps]
    # The organizer's occurrences share the per-occurrence iCalUIds with the room's.
    org_items = await graph.calendar.calendar_view(ALICE, *window)
    assert [e.i_cal_u_id for e in org_items] == [s.ical_uid for s in snaps]
    # /events lists the series master, found by its own iCalUId.
    master = await graph.calendar.find_by_ical_uid(ALICE, made["iCalUId"])
    assert master is not None
    assert series_info(master).type == "seriesMaster"


async def test_get_missing_event_is_none(graph: Graph, emu: GraphEmulator) -> None:
    assert await graph.calendar.get_event(ALICE, "AAMkAGnope") is None
    assert await graph.calendar.find_by_ical_uid(ALICE, "040000008200E00074C5B7101A82E008000000") is None
