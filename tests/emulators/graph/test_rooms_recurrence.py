"""Room booking attendant and recurring meetings through the SDK and the control plane."""

# The emulator and the webhook receiver run in their own threads, so blocking waits and
# control-plane calls here cannot starve them; model imports stay next to their use.
# ruff: noqa: PLC0415

from __future__ import annotations

from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph.generated.models.day_of_week import DayOfWeek
from msgraph.generated.models.event import Event
from msgraph.generated.models.patterned_recurrence import PatternedRecurrence
from msgraph.generated.models.recurrence_pattern import RecurrencePattern
from msgraph.generated.models.recurrence_pattern_type import RecurrencePatternType
from msgraph.generated.models.recurrence_range import RecurrenceRange
from msgraph.generated.models.recurrence_range_type import RecurrenceRangeType
from msgraph.generated.models.sensitivity import Sensitivity
from msgraph.generated.users.item.events.item.instances.instances_request_builder import (
    InstancesRequestBuilder,
)

from .helpers import ALICE, AURORA, BOB, BOREALIS, dt, meeting, meeting_json


async def room_events(graph, room=AURORA):
    return (await graph.users.by_user_id(room).events.get()).value


async def test_room_accepts_and_gets_rewritten_copy(graph, emu):
    created = await graph.users.by_user_id(ALICE).events.post(meeting(sensitivity=Sensitivity.Private))
    assert created.attendees[0].status.response.value == "none"  # the reply comes after the write
    org = await graph.users.by_user_id(ALICE).events.by_event_id(created.id).get()
    assert org.attendees[0].status.response.value == "accepted"
    assert org.change_key != created.change_key
    [copy] = await room_events(graph)
    assert copy.id != created.id
    assert copy.i_cal_u_id == created.i_cal_u_id
    assert copy.subject == "Alice Adams"  # DeleteSubject + AddOrganizerToSubject
    assert copy.body.content == ""  # DeleteComments
    assert copy.sensitivity.value == "normal"  # RemovePrivateProperty
    assert copy.response_status.response.value == "accepted"
    assert copy.is_organizer is False


async def test_room_invited_by_location_only(graph, emu):
    created = await graph.users.by_user_id(ALICE).events.post(meeting(room=BOREALIS, as_location=True))
    org = await graph.users.by_user_id(ALICE).events.by_event_id(created.id).get()
    assert org.location.location_email_address == BOREALIS
    assert org.location.location_type.value == "conferenceRoom"
    assert [(a.email_address.address, a.status.response.value) for a in org.attendees] == [
        (BOREALIS, "accepted")
    ]
    assert len(await room_events(graph, BOREALIS)) == 1


async def test_conflict_window_and_past_are_declined(graph, emu):
    emu.act_create_meeting(BOB, meeting_json(start="2026-11-23T09:30:00", end="2026-11-23T10:30:00"))
    clash = await graph.users.by_user_id(ALICE).events.post(meeting())
    org = await graph.users.by_user_id(ALICE).events.by_event_id(clash.id).get()
    assert org.attendees[0].status.response.value == "declined"
    far = await graph.users.by_user_id(ALICE).events.post(
        meeting(start="2027-09-01T09:00:00", end="2027-09-01T10:00:00")
    )
    past = await graph.users.by_user_id(ALICE).events.post(
        meeting(start="2026-11-01T09:00:00", end="2026-11-01T10:00:00")
    )
    for ev in (far, past):
        got = await graph.users.by_user_id(ALICE).events.by_event_id(ev.id).get()
        assert got.attendees[0].status.response.value == "declined"
    assert len(await room_events(graph)) == 1
    reasons = [r["reason"] for r in emu.attendant_log() if r["decision"] == "decline"]
    assert any("already booked" in r for r in reasons)
    assert any("booking window" in r for r in reasons)
    assert any("past" in r for r in reasons)
    # AllowConflicts on: the same clash is accepted.
    emu.room_processing(AURORA, allowConflicts=True)
    ok = await graph.users.by_user_id(ALICE).events.post(meeting(subject="again"))
    got = await graph.users.by_user_id(ALICE).events.by_event_id(ok.id).get()
    assert got.attendees[0].status.response.value == "accepted"


async def test_organizer_update_and_cancel_reach_room(graph, emu):
    created = await graph.users.by_user_id(ALICE).events.post(meeting())
    [copy] = await room_events(graph)
    await (
        graph.users.by_user_id(ALICE)
        .events.by_event_id(created.id)
        .patch(Event(start=dt("2026-11-23T11:00:00"), end=dt("2026-11-23T12:00:00")))
    )
    moved = await graph.users.by_user_id(AURORA).events.by_event_id(copy.id).get()
    assert moved.start.date_time == "2026-11-23T10:00:00.0000000"
    assert moved.change_key != copy.change_key
    from msgraph.generated.users.item.events.item.cancel.cancel_post_request_body import CancelPostRequestBody

    await (
        graph.users.by_user_id(ALICE)
        .events.by_event_id(created.id)
        .cancel.post(CancelPostRequestBody(comment="off"))
    )
    gone = await graph.users.by_user_id(AURORA).events.by_event_id(copy.id).get()
    assert gone.is_cancelled is True
    emu.room_processing(AURORA, removeCanceledMeetings=True)
    again = await graph.users.by_user_id(ALICE).events.post(meeting(subject="second"))
    await graph.users.by_user_id(ALICE).events.by_event_id(again.id).delete()  # organizer delete = cancel
    assert [e.subject for e in await room_events(graph)] == ["Canceled: Alice Adams"]


async def test_direct_room_calendar_write_and_outlook_actions(graph, emu):
    direct = await graph.users.by_user_id(AURORA).events.post(meeting(room=None, subject="IBSS booking"))
    assert direct.is_organizer
    assert direct.organizer.email_address.address == AURORA
    ev = emu.act_create_meeting(
        BOB, meeting_json(room=None, start="2026-11-25T09:00:00", end="2026-11-25T10:00:00")
    )
    emu.act_forward(BOB, ev["id"], [BOREALIS])
    [copy] = await room_events(graph, BOREALIS)
    assert copy.subject == "Bob Brown"
    emu.act_update_meeting(
        BOB,
        ev["id"],
        {
            "start": {"dateTime": "2026-11-25T13:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2026-11-25T14:00:00", "timeZone": "UTC"},
        },
    )
    moved = await graph.users.by_user_id(BOREALIS).events.by_event_id(copy.id).get()
    assert moved.start.date_time == "2026-11-25T13:00:00.0000000"
    emu.act_cancel_meeting(BOB, ev["id"])
    assert (await graph.users.by_user_id(BOREALIS).events.by_event_id(copy.id).get()).is_cancelled


def weekly(start_date: str, count: int) -> PatternedRecurrence:
    return PatternedRecurrence(
        pattern=RecurrencePattern(
            type=RecurrencePatternType.Weekly,
            interval=1,
            days_of_week=[DayOfWeek.Monday, DayOfWeek.Wednesday],
        ),
        range=RecurrenceRange(
            type=RecurrenceRangeType.Numbered,
            start_date=__import__("datetime").date.fromisoformat(start_date),
            number_of_occurrences=count,
        ),
    )


def window(start: str, end: str) -> RequestConfiguration:
    return RequestConfiguration(
        query_parameters=InstancesRequestBuilder.InstancesRequestBuilderGetQueryParameters(
            start_date_time=start, end_date_time=end
        )
    )


async def test_series_instances_exceptions_and_room_copy(graph, emu):
    master = await graph.users.by_user_id(ALICE).events.post(meeting(recurrence=weekly("2026-11-23", 6)))
    assert master.type.value == "seriesMaster"
    assert master.recurrence.range.number_of_occurrences == 6
    inst = (
        await graph.users.by_user_id(ALICE)
        .events.by_event_id(master.id)
        .instances.get(request_configuration=window("2026-11-01T00:00:00Z", "2026-12-31T00:00:00Z"))
    )
    occ = inst.value
    assert [o.start.date_time[:10] for o in occ] == [
        "2026-11-23",
        "2026-11-25",
        "2026-11-30",
        "2026-12-02",
        "2026-12-07",
        "2026-12-09",
    ]
    assert all(o.type.value == "occurrence" and o.series_master_id == master.id for o in occ)
    uids = {o.i_cal_u_id for o in occ}
    assert len(uids) == 6
    assert master.i_cal_u_id not in uids
    assert occ[0].i_cal_u_id[:32] == master.i_cal_u_id[:32]
    assert occ[0].i_cal_u_id[32:40] == "07EA0B17"
    # Move one occurrence (becomes an exception), cancel another.
    await (
        graph.users.by_user_id(ALICE)
        .events.by_event_id(occ[1].id)
        .patch(Event(subject="Moved", start=dt("2026-11-26T09:00:00"), end=dt("2026-11-26T10:00:00")))
    )
    await graph.users.by_user_id(ALICE).events.by_event_id(occ[2].id).delete()
    from msgraph.generated.users.item.calendar_view.calendar_view_request_builder import (
        CalendarViewRequestBuilder,
    )

    q = CalendarViewRequestBuilder.CalendarViewRequestBuilderGetQueryParameters(
        start_date_time="2026-11-20T00:00:00Z", end_date_time="2026-12-31T00:00:00Z", top=50
    )
    view = (
        await graph.users.by_user_id(ALICE).calendar_view.get(
            request_configuration=RequestConfiguration(query_parameters=q)
        )
    ).value
    assert [(v.type.value, v.start.date_time[:10]) for v in view] == [
        ("occurrence", "2026-11-23"),
        ("exception", "2026-11-26"),
        ("occurrence", "2026-12-02"),
        ("occurrence", "2026-12-07"),
        ("occurrence", "2026-12-09"),
    ]
    room_view = (
        await graph.users.by_user_id(AURORA).calendar_view.get(
            request_configuration=RequestConfiguration(query_parameters=q)
        )
    ).value
    assert [(v.type.value, v.start.date_time[:10], v.subject) for v in room_view][:2] == [
        ("occurrence", "2026-11-23", "Alice Adams"),
        ("exception", "2026-11-26", "Alice Adams"),
    ]
    assert len(room_view) == 5
    assert {v.i_cal_u_id for v in room_view} == {v.i_cal_u_id for v in view}
    # Editing the master reaches every instance.
    await graph.users.by_user_id(ALICE).events.by_event_id(master.id).patch(Event(subject="Weekly"))
    again = (
        await graph.users.by_user_id(ALICE).calendar_view.get(
            request_configuration=RequestConfiguration(query_parameters=q)
        )
    ).value
    assert again[0].subject == "Weekly"


async def test_series_beyond_booking_window_is_declined(graph, emu):
    rec = PatternedRecurrence(
        pattern=RecurrencePattern(type=RecurrencePatternType.Daily, interval=1),
        range=RecurrenceRange(
            type=RecurrenceRangeType.NoEnd, start_date=__import__("datetime").date(2026, 11, 23)
        ),
    )
    m = await graph.users.by_user_id(ALICE).events.post(meeting(recurrence=rec))
    got = await graph.users.by_user_id(ALICE).events.by_event_id(m.id).get()
    assert got.attendees[0].status.response.value == "declined"
