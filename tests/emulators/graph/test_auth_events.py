"""Auth and events through the real msgraph-sdk client and the production factory."""

# The emulator and the webhook receiver run in their own threads, so blocking waits and
# control-plane calls here cannot starve them; model imports stay next to their use.
# ruff: noqa: PLC0415, ASYNC210

from __future__ import annotations

import asyncio

import httpx
import pytest
from azure.core.exceptions import ClientAuthenticationError
from kiota_abstractions.base_request_configuration import RequestConfiguration
from kiota_abstractions.headers_collection import HeadersCollection
from msgraph.generated.models.event import Event
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.single_value_legacy_extended_property import SingleValueLegacyExtendedProperty
from msgraph.generated.users.item.calendar_view.calendar_view_request_builder import (
    CalendarViewRequestBuilder,
)
from msgraph.generated.users.item.events.events_request_builder import EventsRequestBuilder
from msgraph.generated.users.item.events.item.event_item_request_builder import EventItemRequestBuilder

from shared.graph.client import build_credential, build_graph_client

from .conftest import settings_for
from .helpers import ALICE, AURORA, BOB, meeting, raw

PROP = "String {66f5a359-4659-4830-9070-00047ec6ac6e} Name BookingId"


def cfg(headers: dict[str, str] | None = None, **params):
    hc = HeadersCollection()
    for k, v in (headers or {}).items():
        hc.add(k, v)
    qp = EventsRequestBuilder.EventsRequestBuilderGetQueryParameters(**params) if params else None
    return RequestConfiguration(headers=hc, query_parameters=qp)


async def test_token_flow_and_401_shapes(emu):
    # The real azure-identity flow against the HTTPS token endpoint.
    cred = build_credential(settings_for(emu))
    token = await cred.get_token("https://graph.microsoft.com/.default")
    await cred.close()
    assert token.token.count(".") == 2
    assert token.expires_on > 0
    r = httpx.get(f"{emu.base_url}/users/{ALICE}/events")
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "InvalidAuthenticationToken"
    assert "WWW-Authenticate" in r.headers
    r = httpx.get(f"{emu.base_url}/users/{ALICE}/events", headers={"Authorization": "Bearer a.b.c"})
    assert r.status_code == 401
    expired = emu.issue_token(lifetime_seconds=-10)
    r = httpx.get(f"{emu.base_url}/users/{ALICE}/events", headers={"Authorization": f"Bearer {expired}"})
    assert r.status_code == 401
    assert "expired" in r.json()["error"]["message"]


async def test_wrong_secret_is_refused(emu):
    s = settings_for(emu, client_secret="wrong")
    cred = build_credential(s)
    client = build_graph_client(s, cred)
    with pytest.raises(ClientAuthenticationError, match="AADSTS7000215"):
        await client.users.by_user_id(ALICE).events.get()
    await cred.close()


async def test_missing_role_is_403(emu):
    with raw(emu, emu.issue_token(roles=["Place.Read.All"])) as c:
        r = c.get(f"/users/{ALICE}/events")
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "ErrorAccessDenied"


async def test_create_get_update_delete_with_etags(graph, emu):
    events = graph.users.by_user_id(ALICE).events
    created = await events.post(meeting(room=None))
    assert created.id
    assert created.change_key
    assert created.additional_data["@odata.etag"] == f'W/"{created.change_key}"'
    assert created.start.date_time == "2026-11-23T08:00:00.0000000"
    assert created.start.time_zone == "UTC"
    assert created.original_start_time_zone == "W. Europe Standard Time"
    assert created.type.value == "singleInstance"
    assert created.is_organizer
    assert created.created_date_time.year == 2026
    assert created.created_date_time.month == 11
    item = events.by_event_id(created.id)
    patched = await item.patch(Event(subject="Renamed"))
    assert patched.subject == "Renamed"
    assert patched.change_key != created.change_key
    # A stale If-Match is refused with 412.
    stale = RequestConfiguration(headers=HeadersCollection())
    stale.headers.add("If-Match", created.additional_data["@odata.etag"])
    with pytest.raises(ODataError) as err:
        await item.patch(Event(subject="Lost update"), request_configuration=stale)
    assert err.value.response_status_code == 412
    assert err.value.error.code == "ErrorIrresolvableConflict"
    fresh = RequestConfiguration(headers=HeadersCollection())
    fresh.headers.add("If-Match", patched.additional_data["@odata.etag"])
    await item.delete(request_configuration=fresh)
    with pytest.raises(ODataError) as err:
        await item.get()
    assert err.value.response_status_code == 404
    assert err.value.error.code == "ErrorItemNotFound"


async def test_calendar_events_path_and_ids_unique_per_mailbox(graph, emu):
    a = await graph.users.by_user_id(ALICE).calendar.events.post(meeting(room=None, attendees=None))
    listed = await graph.users.by_user_id(ALICE).events.get()
    assert [e.id for e in listed.value] == [a.id]


async def test_transaction_id_returns_first_event(graph, emu):
    body = meeting(room=None, transaction_id="booking-7f3c9e2a")
    first = await graph.users.by_user_id(ALICE).events.post(body)
    again = await graph.users.by_user_id(ALICE).events.post(
        meeting(room=None, transaction_id="booking-7f3c9e2a")
    )
    assert again.id == first.id
    assert again.transaction_id == "booking-7f3c9e2a"
    assert len((await graph.users.by_user_id(ALICE).events.get()).value) == 1


async def test_extended_properties_create_expand_filter(graph, emu):
    ev = meeting(
        room=None,
        single_value_extended_properties=[SingleValueLegacyExtendedProperty(id=PROP, value="BK-000123")],
    )
    created = await graph.users.by_user_id(ALICE).events.post(ev)
    await graph.users.by_user_id(ALICE).events.post(meeting(room=None, subject="other"))
    assert created.single_value_extended_properties is None  # only with $expand
    got = (
        await graph.users.by_user_id(ALICE)
        .events.by_event_id(created.id)
        .get(
            request_configuration=RequestConfiguration(
                query_parameters=EventItemRequestBuilder.EventItemRequestBuilderGetQueryParameters(
                    expand=[f"singleValueExtendedProperties($filter=id eq '{PROP}')"]
                )
            )
        )
    )
    assert [(p.id, p.value) for p in got.single_value_extended_properties] == [(PROP, "BK-000123")]
    found = await graph.users.by_user_id(ALICE).events.get(
        request_configuration=cfg(
            filter=f"singleValueExtendedProperties/Any(ep: ep/id eq '{PROP}' and ep/value eq 'BK-000123')"
        )
    )
    assert [e.id for e in found.value] == [created.id]


async def test_select_and_prefer_timezone(graph, emu):
    created = await graph.users.by_user_id(ALICE).events.post(meeting(room=None))
    got = await graph.users.by_user_id(ALICE).events.get(
        request_configuration=cfg(
            {"Prefer": 'outlook.timezone="Eastern Standard Time"'}, select=["subject", "start"]
        )
    )
    ev = got.value[0]
    assert ev.id == created.id
    assert ev.subject == "Team sync"
    assert ev.start.date_time == "2026-11-23T03:00:00.0000000"
    assert ev.start.time_zone == "Eastern Standard Time"
    assert ev.end is None
    assert ev.attendees is None
    with raw(emu) as c:
        r = c.get(f"/users/{ALICE}/events", headers={"Prefer": 'outlook.timezone="Pacific Standard Time"'})
    assert r.headers["Preference-Applied"] == 'outlook.timezone="Pacific Standard Time"'


async def test_bad_time_zone_and_unknown_property(emu):
    with raw(emu) as c:
        r = c.post(
            f"/users/{ALICE}/events",
            json={
                "subject": "x",
                "start": {"dateTime": "2026-11-23T09:00:00", "timeZone": "Mars Standard Time"},
                "end": {"dateTime": "2026-11-23T10:00:00", "timeZone": "UTC"},
            },
        )
        assert r.status_code == 400
        assert r.json()["error"]["code"] == "TimeZoneNotSupportedException"
        r = c.post(
            f"/users/{ALICE}/events",
            json={
                "subject": "x",
                "colour": "red",
                "start": {"dateTime": "2026-11-23T09:00:00.0000000", "timeZone": "UTC"},
                "end": {"dateTime": "2026-11-23T10:00:00", "timeZone": "UTC"},
            },
        )
        assert r.status_code == 400


async def test_calendar_view_paging_and_window(graph, emu):
    for day in range(23, 28):
        await graph.users.by_user_id(BOB).events.post(
            meeting(room=None, start=f"2026-11-{day}T09:00:00", end=f"2026-11-{day}T10:00:00")
        )
    q = CalendarViewRequestBuilder.CalendarViewRequestBuilderGetQueryParameters(
        start_date_time="2026-11-24T00:00:00Z", end_date_time="2026-11-27T00:00:00Z", top=2
    )
    page = await graph.users.by_user_id(BOB).calendar_view.get(
        request_configuration=RequestConfiguration(query_parameters=q)
    )
    assert len(page.value) == 2
    assert page.odata_next_link
    rest = await graph.users.by_user_id(BOB).calendar_view.with_url(page.odata_next_link).get()
    assert len(rest.value) == 1
    assert rest.odata_next_link is None
    with raw(emu) as c:
        r = c.get(f"/users/{BOB}/calendarView")
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "ErrorInvalidParameter"


async def test_online_meeting_sensitivity_and_attendee_copies(graph, emu):
    from msgraph.generated.models.attendee import Attendee
    from msgraph.generated.models.email_address import EmailAddress
    from msgraph.generated.models.sensitivity import Sensitivity

    ev = meeting(room=None, is_online_meeting=True, sensitivity=Sensitivity.Private)
    ev.attendees = [Attendee(email_address=EmailAddress(address=BOB, name="Bob Brown"))]
    created = await graph.users.by_user_id(ALICE).events.post(ev)
    assert created.online_meeting.join_url.startswith("https://teams.microsoft.com/")
    assert created.attendees[0].type.value == "required"
    assert created.attendees[0].status.response.value == "none"
    bobs = (await graph.users.by_user_id(BOB).events.get()).value
    assert len(bobs) == 1
    assert bobs[0].i_cal_u_id == created.i_cal_u_id
    assert bobs[0].id != created.id
    assert bobs[0].is_organizer is False
    assert bobs[0].organizer.email_address.address == ALICE
    assert bobs[0].response_status.response.value == "notResponded"
    from msgraph.generated.users.item.events.item.accept.accept_post_request_body import AcceptPostRequestBody

    await (
        graph.users.by_user_id(BOB)
        .events.by_event_id(bobs[0].id)
        .accept.post(AcceptPostRequestBody(comment="See you", send_response=True))
    )
    org = await graph.users.by_user_id(ALICE).events.by_event_id(created.id).get()
    assert org.attendees[0].status.response.value == "accepted"
    # Only the organizer may cancel.
    from msgraph.generated.users.item.events.item.cancel.cancel_post_request_body import CancelPostRequestBody

    with pytest.raises(ODataError) as err:
        await (
            graph.users.by_user_id(BOB)
            .events.by_event_id(bobs[0].id)
            .cancel.post(CancelPostRequestBody(comment="no"))
        )
    assert err.value.response_status_code == 400
    await (
        graph.users.by_user_id(ALICE)
        .events.by_event_id(created.id)
        .cancel.post(CancelPostRequestBody(comment="Called off"))
    )
    bob_copy = await graph.users.by_user_id(BOB).events.by_event_id(bobs[0].id).get()
    assert bob_copy.is_cancelled is True
    assert (await graph.users.by_user_id(ALICE).events.get()).value == []


async def test_places_rooms_paging(graph, emu):
    from msgraph.generated.places.graph_room.graph_room_request_builder import GraphRoomRequestBuilder

    rooms = await graph.places.graph_room.get()
    assert [(r.email_address, r.capacity, r.floor_number, r.building) for r in rooms.value][:2] == [
        (AURORA, 8, 1, "Contoso HQ"),
        ("borealis@contoso.example", 12, 1, "Contoso HQ"),
    ]
    assert len(rooms.value) == 6
    q = GraphRoomRequestBuilder.GraphRoomRequestBuilderGetQueryParameters(top=4)
    first = await graph.places.graph_room.get(request_configuration=RequestConfiguration(query_parameters=q))
    assert len(first.value) == 4
    assert first.odata_next_link
    second = await graph.places.graph_room.with_url(first.odata_next_link).get()
    assert [r.display_name for r in second.value] == ["Echo", "Foxtrot"]


async def test_concurrent_sdk_calls_are_fine(graph, emu):
    results = await asyncio.gather(*(graph.users.by_user_id(ALICE).events.get() for _ in range(3)))
    assert all(r.value == [] for r in results)
