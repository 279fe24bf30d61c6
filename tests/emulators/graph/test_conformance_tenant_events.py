"""Conformance: tenant, room settings, events, responses and recurrence through msgraph-sdk."""

# The emulator and the webhook receiver run in their own threads, so blocking waits and
# control-plane calls here cannot starve them; model imports stay next to their use.
# ruff: noqa: PLC0415

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
import yaml
from kiota_abstractions.base_request_configuration import RequestConfiguration
from kiota_abstractions.headers_collection import HeadersCollection
from msgraph.generated.models.day_of_week import DayOfWeek
from msgraph.generated.models.event import Event
from msgraph.generated.models.location import Location
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.patterned_recurrence import PatternedRecurrence
from msgraph.generated.models.recurrence_pattern import RecurrencePattern
from msgraph.generated.models.recurrence_pattern_type import RecurrencePatternType
from msgraph.generated.models.recurrence_range import RecurrenceRange
from msgraph.generated.models.recurrence_range_type import RecurrenceRangeType
from msgraph.generated.models.week_index import WeekIndex
from msgraph.generated.users.item.events.item.instances.instances_request_builder import (
    InstancesRequestBuilder,
)

from emulators.graph.tenant import DEMO_TENANT_PATH
from shared.graph.client import build_credential, build_graph_client

from .conftest import settings_for
from .helpers import ALICE, AURORA, BOB, BOREALIS, dt, meeting, meeting_json

ALICE_ID = "a11ce000-0000-4000-8000-000000000001"
AURORA_ID = "9a1c0f7e-0000-4000-8000-00000000a001"
OTHER_APP = "6b2c3d4e-0000-4000-8000-0000000000bb"


def two_app_tenant(emu, scope: list[str] | None) -> None:
    data = yaml.safe_load(DEMO_TENANT_PATH.read_text(encoding="utf-8"))
    app: dict[str, Any] = {"clientId": OTHER_APP, "clientSecret": "other-secret", "displayName": "Other app"}
    if scope is not None:
        app["mailboxScope"] = scope
    data["apps"].append(app)
    emu.reset(data)
    emu.set_clock("2026-11-20T08:00:00Z")


async def test_users_by_guid_and_by_address(graph, emu):
    users = (await graph.users.get()).value
    by_mail = {u.mail: u.id for u in users}
    assert by_mail[ALICE] == ALICE_ID
    assert by_mail[AURORA] == AURORA_ID  # room mailboxes are directory objects too
    me = await graph.users.by_user_id(ALICE_ID).get()
    assert (me.user_principal_name, me.display_name) == (ALICE, "Alice Adams")
    created = await graph.users.by_user_id(ALICE_ID).events.post(meeting(room=None))
    got = await graph.users.by_user_id(ALICE).events.by_event_id(created.id).get()
    assert got.id == created.id
    with pytest.raises(ODataError) as err:
        await graph.users.by_user_id("nobody@contoso.example").events.get()
    assert err.value.response_status_code == 404
    assert err.value.error.code == "ErrorInvalidUser"


async def test_rooms_places_select_count_and_defaults(graph, emu):
    from msgraph.generated.places.graph_room.graph_room_request_builder import GraphRoomRequestBuilder

    q = GraphRoomRequestBuilder.GraphRoomRequestBuilderGetQueryParameters(
        select=["emailAddress", "displayName"], count=True
    )
    rooms = await graph.places.graph_room.get(request_configuration=RequestConfiguration(query_parameters=q))
    assert rooms.odata_count == 6
    assert rooms.value[0].email_address == AURORA
    assert rooms.value[0].display_name == "Aurora"
    assert rooms.value[0].capacity is None  # not selected
    assert rooms.odata_next_link is None  # default page of 100
    # Exchange Online's Set-CalendarProcessing defaults for a room mailbox.
    cp = emu.room_processing(AURORA)
    assert cp["automateProcessing"] == "AutoAccept"
    assert cp["allowConflicts"] is False
    assert cp["bookingWindowInDays"] == 180
    assert cp["addOrganizerToSubject"] is True
    assert cp["deleteSubject"] is True
    assert cp["deleteComments"] is True
    assert cp["removePrivateProperty"] is True


async def test_room_settings_change_the_copy(graph, emu):
    from msgraph.generated.models.sensitivity import Sensitivity

    emu.room_processing(AURORA, deleteSubject=False, deleteComments=False, removePrivateProperty=False)
    created = await graph.users.by_user_id(ALICE).events.post(meeting(sensitivity=Sensitivity.Private))
    [copy] = (await graph.users.by_user_id(AURORA).events.get()).value
    assert copy.i_cal_u_id == created.i_cal_u_id
    assert copy.subject == "Alice Adams Team sync"
    assert copy.body.content == "Agenda: numbers"
    assert copy.sensitivity.value == "private"
    emu.room_processing(AURORA, bookingWindowInDays=2)
    late = await graph.users.by_user_id(ALICE).events.post(
        meeting(start="2026-11-24T09:00:00", end="2026-11-24T10:00:00")
    )
    org = await graph.users.by_user_id(ALICE).events.by_event_id(late.id).get()
    assert org.attendees[0].status.response.value == "declined"  # 24 Nov is beyond a 2-day window
    assert len((await graph.users.by_user_id(AURORA).events.get()).value) == 1
    assert any("booking window" in r["reason"] for r in emu.attendant_log() if r["decision"] == "decline")


async def test_calendar_events_path_crud_and_ids_per_mailbox(graph, emu):
    from msgraph.generated.models.attendee import Attendee
    from msgraph.generated.models.email_address import EmailAddress

    cal = graph.users.by_user_id(ALICE).calendar.events
    ev = meeting()
    ev.attendees = [*(ev.attendees or []), Attendee(email_address=EmailAddress(address=BOB, name="Bob"))]
    created = await cal.post(ev)
    got = await cal.by_event_id(created.id).get()
    assert got.i_cal_u_id == created.i_cal_u_id
    listed = (await cal.get()).value
    assert [e.id for e in listed] == [created.id]
    bob = (await graph.users.by_user_id(BOB).calendar.events.get()).value
    room = (await graph.users.by_user_id(AURORA).events.get()).value
    ids = {created.id, bob[0].id, room[0].id}
    assert len(ids) == 3  # organizer, attendee and room copies have their own ids
    assert {bob[0].i_cal_u_id, room[0].i_cal_u_id} == {created.i_cal_u_id}
    with pytest.raises(ODataError) as err:  # an id is only meaningful in its own mailbox
        await graph.users.by_user_id(BOB).events.by_event_id(created.id).get()
    assert err.value.response_status_code == 404
    patched = await cal.by_event_id(created.id).patch(Event(subject="Renamed"))
    assert patched.subject == "Renamed"
    await cal.by_event_id(created.id).delete()
    assert (await cal.get()).value == []
    bob_copy = await graph.users.by_user_id(BOB).events.by_event_id(bob[0].id).get()
    assert bob_copy.is_cancelled is True  # organizer delete = cancellation


async def test_location_locations_and_timestamps(graph, emu):
    created = await graph.users.by_user_id(ALICE).events.post(meeting(room=AURORA, as_location=True))
    assert created.location.location_email_address == AURORA
    assert [loc.location_email_address for loc in created.locations] == [AURORA]
    assert created.created_date_time == created.last_modified_date_time
    emu.advance_clock(3600)
    moved = await (
        graph.users.by_user_id(ALICE)
        .events.by_event_id(created.id)
        .patch(Event(location=Location(display_name="Borealis", location_email_address=BOREALIS)))
    )
    assert [loc.location_email_address for loc in moved.locations] == [
        BOREALIS
    ]  # location replaces locations
    assert moved.created_date_time == created.created_date_time
    assert (moved.last_modified_date_time - created.last_modified_date_time).total_seconds() >= 3600


async def test_windows_zone_in_prefer_and_on_input(graph, emu):
    body = meeting(room=None, start="2026-11-23T09:00:00", end="2026-11-23T10:00:00")
    body.start = dt("2026-11-23T09:00:00", "Pacific Standard Time")
    body.end = dt("2026-11-23T10:00:00", "Pacific Standard Time")
    created = await graph.users.by_user_id(ALICE).events.post(body)
    assert created.start.date_time == "2026-11-23T17:00:00.0000000"
    assert created.original_start_time_zone == "Pacific Standard Time"
    hc = HeadersCollection()
    hc.add("Prefer", 'outlook.timezone="Tokyo Standard Time"')
    got = await (
        graph.users.by_user_id(ALICE)
        .events.by_event_id(created.id)
        .get(request_configuration=RequestConfiguration(headers=hc))
    )
    assert (got.start.date_time, got.start.time_zone) == (
        "2026-11-24T02:00:00.0000000",
        "Tokyo Standard Time",
    )


async def test_tentatively_accept_and_decline_with_comment(graph, emu):
    from msgraph.generated.models.attendee import Attendee
    from msgraph.generated.models.email_address import EmailAddress
    from msgraph.generated.users.item.events.item.decline.decline_post_request_body import (
        DeclinePostRequestBody,
    )
    from msgraph.generated.users.item.events.item.tentatively_accept.tentatively_accept_post_request_body import (  # noqa: E501
        TentativelyAcceptPostRequestBody,
    )

    ev = meeting(room=None)
    ev.attendees = [Attendee(email_address=EmailAddress(address=BOB, name="Bob Brown"))]
    created = await graph.users.by_user_id(ALICE).events.post(ev)
    [copy] = (await graph.users.by_user_id(BOB).events.get()).value
    item = graph.users.by_user_id(BOB).events.by_event_id(copy.id)
    await item.tentatively_accept.post(TentativelyAcceptPostRequestBody(comment="Maybe", send_response=True))
    mine = await item.get()
    assert mine.response_status.response.value == "tentativelyAccepted"
    org = await graph.users.by_user_id(ALICE).events.by_event_id(created.id).get()
    assert org.attendees[0].status.response.value == "tentativelyAccepted"
    await item.decline.post(DeclinePostRequestBody(comment="Cannot make it", send_response=True))
    org = await graph.users.by_user_id(ALICE).events.by_event_id(created.id).get()
    assert org.attendees[0].status.response.value == "declined"
    assert [(m["kind"], m["comment"]) for m in emu.messages()] == [
        ("tentativelyAccepted", "Maybe"),
        ("declined", "Cannot make it"),
    ]


async def test_mailbox_scope_and_per_app_throttling(emu, graph):
    """A second app registration: ApplicationAccessPolicy-like scope, its own throttling bucket."""
    two_app_tenant(emu, scope=[AURORA])
    s = settings_for(emu, client_id=OTHER_APP, client_secret="other-secret")
    cred = build_credential(s)
    other = build_graph_client(s, cred)
    try:
        with pytest.raises(ODataError) as err:
            await other.users.by_user_id(ALICE).events.get()
        assert err.value.response_status_code == 403
        assert err.value.error.code == "ErrorAccessDenied"
        assert err.value.error.message == "Access to OData is disabled."
        emu.set_config(throttleLimit=2)
        for _ in range(2):
            await graph.users.by_user_id(AURORA).events.get()
        with pytest.raises(ODataError) as err:
            await graph.users.by_user_id(AURORA).events.get()
        assert err.value.response_status_code == 429
        assert err.value.error.code == "TooManyRequests"
        assert err.value.response_headers is not None
        assert float(err.value.response_headers["retry-after"]) > 0
        assert (await other.users.by_user_id(AURORA).events.get()).value == []  # per (app, mailbox)
    finally:
        await cred.close()


# ------------------------------------------------------------ recurrence through the SDK


def _rec(pattern: RecurrencePattern, rng: RecurrenceRange) -> PatternedRecurrence:
    return PatternedRecurrence(pattern=pattern, range=rng)


RECURRENCES = {
    "daily-endDate": (
        "2026-11-23",
        _rec(
            RecurrencePattern(type=RecurrencePatternType.Daily, interval=2),
            RecurrenceRange(
                type=RecurrenceRangeType.EndDate, start_date=date(2026, 11, 23), end_date=date(2026, 11, 29)
            ),
        ),
        ["2026-11-23", "2026-11-25", "2026-11-27", "2026-11-29"],
    ),
    "weekly-numbered": (
        "2026-11-23",
        _rec(
            RecurrencePattern(
                type=RecurrencePatternType.Weekly,
                interval=1,
                days_of_week=[DayOfWeek.Monday, DayOfWeek.Friday],
                first_day_of_week=DayOfWeek.Monday,
            ),
            RecurrenceRange(
                type=RecurrenceRangeType.Numbered, start_date=date(2026, 11, 23), number_of_occurrences=3
            ),
        ),
        ["2026-11-23", "2026-11-27", "2026-11-30"],
    ),
    "absoluteMonthly-numbered": (
        "2026-11-23",
        _rec(
            RecurrencePattern(type=RecurrencePatternType.AbsoluteMonthly, interval=1, day_of_month=23),
            RecurrenceRange(
                type=RecurrenceRangeType.Numbered, start_date=date(2026, 11, 23), number_of_occurrences=3
            ),
        ),
        ["2026-11-23", "2026-12-23", "2027-01-23"],
    ),
    "relativeMonthly-endDate": (
        "2026-11-30",
        _rec(
            RecurrencePattern(
                type=RecurrencePatternType.RelativeMonthly,
                interval=1,
                days_of_week=[DayOfWeek.Monday],
                index=WeekIndex.Last,
            ),
            RecurrenceRange(
                type=RecurrenceRangeType.EndDate, start_date=date(2026, 11, 30), end_date=date(2027, 1, 31)
            ),
        ),
        ["2026-11-30", "2026-12-28", "2027-01-25"],
    ),
    "absoluteYearly-numbered": (
        "2026-11-23",
        _rec(
            RecurrencePattern(
                type=RecurrencePatternType.AbsoluteYearly, interval=1, day_of_month=23, month=11
            ),
            RecurrenceRange(
                type=RecurrenceRangeType.Numbered, start_date=date(2026, 11, 23), number_of_occurrences=3
            ),
        ),
        ["2026-11-23", "2027-11-23", "2028-11-23"],
    ),
    "relativeYearly-noEnd": (
        "2026-11-26",
        _rec(
            RecurrencePattern(
                type=RecurrencePatternType.RelativeYearly,
                interval=1,
                days_of_week=[DayOfWeek.Thursday],
                index=WeekIndex.Fourth,
                month=11,
            ),
            RecurrenceRange(type=RecurrenceRangeType.NoEnd, start_date=date(2026, 11, 26)),
        ),
        ["2026-11-26", "2027-11-25", "2028-11-23"],
    ),
}


@pytest.mark.parametrize("name", list(RECURRENCES))
async def test_every_pattern_and_range_through_the_sdk(graph, emu, name):
    day, recurrence, expected = RECURRENCES[name]
    master = await graph.users.by_user_id(ALICE).events.post(
        meeting(room=None, start=f"{day}T09:00:00", end=f"{day}T10:00:00", recurrence=recurrence)
    )
    assert master.type.value == "seriesMaster"
    assert master.recurrence.pattern.type == recurrence.pattern.type
    assert master.recurrence.range.type == recurrence.range.type
    q = InstancesRequestBuilder.InstancesRequestBuilderGetQueryParameters(
        start_date_time="2026-11-01T00:00:00Z", end_date_time="2028-12-31T00:00:00Z", top=50
    )
    occ = (
        await graph.users.by_user_id(ALICE)
        .events.by_event_id(master.id)
        .instances.get(request_configuration=RequestConfiguration(query_parameters=q))
    ).value
    assert [o.start.date_time[:10] for o in occ] == expected
    assert all(o.type.value == "occurrence" and o.series_master_id == master.id for o in occ)
    for o in occ:  # Graph's occurrence iCalUId: the instance date in bytes 16-19 of the global object id
        y, m, d = (int(x) for x in o.start.date_time[:10].split("-"))
        assert o.i_cal_u_id == master.i_cal_u_id[:32] + f"{y:04X}{m:02X}{d:02X}" + master.i_cal_u_id[40:]
    listed = (await graph.users.by_user_id(ALICE).events.get()).value
    assert [e.id for e in listed] == [master.id]  # /events lists the master, not occurrences


async def test_cancel_one_occurrence_reaches_the_room(graph, emu):
    from msgraph.generated.users.item.calendar_view.calendar_view_request_builder import (
        CalendarViewRequestBuilder,
    )
    from msgraph.generated.users.item.events.item.cancel.cancel_post_request_body import CancelPostRequestBody

    rec = _rec(
        RecurrencePattern(type=RecurrencePatternType.Daily, interval=1),
        RecurrenceRange(
            type=RecurrenceRangeType.Numbered, start_date=date(2026, 11, 23), number_of_occurrences=3
        ),
    )
    master = await graph.users.by_user_id(ALICE).events.post(meeting(recurrence=rec))
    q = CalendarViewRequestBuilder.CalendarViewRequestBuilderGetQueryParameters(
        start_date_time="2026-11-20T00:00:00Z", end_date_time="2026-12-01T00:00:00Z"
    )
    cfg = RequestConfiguration(query_parameters=q)
    occ = (await graph.users.by_user_id(ALICE).calendar_view.get(request_configuration=cfg)).value
    assert len(occ) == 3
    await (
        graph.users.by_user_id(ALICE)
        .events.by_event_id(occ[1].id)
        .cancel.post(CancelPostRequestBody(comment="Not this one"))
    )
    mine = (await graph.users.by_user_id(ALICE).calendar_view.get(request_configuration=cfg)).value
    assert [o.start.date_time[:10] for o in mine] == ["2026-11-23", "2026-11-25"]
    room = (await graph.users.by_user_id(AURORA).calendar_view.get(request_configuration=cfg)).value
    assert [o.start.date_time[:10] for o in room if not o.is_cancelled] == ["2026-11-23", "2026-11-25"]
    assert (await graph.users.by_user_id(ALICE).events.by_event_id(master.id).get()).is_cancelled is False
    assert emu.messages()[-1]["comment"] == "Not this one"


async def test_outlook_person_invites_room_and_edits_series(graph, emu):
    """Control plane 'act as a person': create with a room, edit the master, then move it."""
    body = meeting_json(
        start="2026-11-23T09:00:00",
        end="2026-11-23T10:00:00",
        recurrence={
            "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"]},
            "range": {"type": "numbered", "startDate": "2026-11-23", "numberOfOccurrences": 2},
        },
    )
    ev = emu.act_create_meeting(BOB, body)
    emu.act_update_meeting(BOB, ev["id"], {"subject": "Weekly"})
    [copy] = (await graph.users.by_user_id(AURORA).events.get()).value
    assert copy.type.value == "seriesMaster"
    assert copy.subject == "Bob Brown"
    org = await graph.users.by_user_id(BOB).events.by_event_id(ev["id"]).get()
    assert org.subject == "Weekly"
    assert org.attendees[0].status.response.value == "accepted"
