"""Pure parts of the adapter: time parsing, write bodies, Retry-After and error conversion."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from kiota_abstractions.api_error import APIError
from kiota_serialization_json.json_serialization_writer import JsonSerializationWriter
from msgraph.generated.models.date_time_time_zone import DateTimeTimeZone
from msgraph.generated.models.event import Event
from msgraph.generated.models.location import Location
from msgraph.generated.models.o_data_errors.main_error import MainError
from msgraph.generated.models.o_data_errors.o_data_error import ODataError

from shared.graph.errors import (
    DEFAULT_RETRY_AFTER_SECONDS,
    GraphBadRequest,
    GraphForbidden,
    GraphNotFound,
    GraphPreconditionFailed,
    GraphServerError,
    GraphThrottled,
    GraphUnauthorized,
    from_api_error,
    parse_retry_after,
    translate,
)
from shared.graph.mapping import (
    BOOKING_ID_PROPERTY_ID,
    MappingError,
    create_body,
    graph_time,
    marker_filter,
    parse_graph_time,
    patch_body,
    room_attendee,
)
from shared.sync.plan import MeetingChanges, RoomMove

from .helpers import ALICE, AURORA, BOB, BOREALIS, CAROL, create_action, utc


def wire(event: Event) -> dict:
    writer = JsonSerializationWriter()
    writer.write_object_value(None, event)
    data: dict = json.loads(writer.get_serialized_content())
    return data


# ------------------------------------------------------------------ times


def test_parse_graph_time_variants() -> None:
    assert parse_graph_time(DateTimeTimeZone(date_time="2026-11-23T08:00:00.1234567", time_zone="UTC")) == (
        datetime(2026, 11, 23, 8, 0, 0, 123456, tzinfo=UTC)
    )
    # Windows and IANA zones (all-day events keep their zone even with Prefer UTC).
    berlin = DateTimeTimeZone(date_time="2026-07-01T00:00:00.0000000", time_zone="W. Europe Standard Time")
    assert parse_graph_time(berlin) == utc("2026-06-30T22:00:00")
    iana = DateTimeTimeZone(date_time="2026-01-15T09:30:00", time_zone="America/New_York")
    assert parse_graph_time(iana) == utc("2026-01-15T14:30:00")
    assert parse_graph_time(DateTimeTimeZone(date_time="2026-01-15T09:30:00Z", time_zone=None)) == utc(
        "2026-01-15T09:30:00"
    )
    with pytest.raises(MappingError):
        parse_graph_time(DateTimeTimeZone(date_time="2026-01-15T09:30:00", time_zone="Mars/Olympus"))
    with pytest.raises(MappingError):
        parse_graph_time(DateTimeTimeZone(date_time="yesterday", time_zone="UTC"))
    with pytest.raises(MappingError):
        parse_graph_time(None)


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)))
def test_graph_time_round_trip(value: datetime) -> None:
    encoded = graph_time(value)
    assert encoded.time_zone == "UTC"
    assert len(encoded.date_time.rsplit(".", 1)[1]) == 7  # Graph's 7 fractional digits
    assert parse_graph_time(encoded) == value


# ------------------------------------------------------------------ write bodies


def test_create_body_owner_and_room_mode() -> None:
    owner = wire(create_body(create_action(online=True)))
    assert owner["transactionId"] == "txn-BK-1001-aurora@contoso.example"
    assert owner["singleValueExtendedProperties"] == [{"id": BOOKING_ID_PROPERTY_ID, "value": "BK-1001"}]
    assert [(a["type"], a["emailAddress"]["address"]) for a in owner["attendees"]] == [
        ("required", BOB),
        ("required", CAROL),
        ("resource", AURORA),
    ]
    assert owner["location"]["locationEmailAddress"] == AURORA
    assert owner["location"]["locationType"] == "conferenceRoom"
    assert [loc["locationEmailAddress"] for loc in owner["locations"]] == [AURORA]
    assert owner["isOnlineMeeting"] is True
    assert owner["onlineMeetingProvider"] == "teamsForBusiness"
    assert owner["start"] == {"dateTime": "2026-11-23T08:00:00.0000000", "timeZone": "UTC"}
    assert "body" not in owner

    room = wire(create_body(create_action(room_mode=True)))
    assert [(a["type"], a["emailAddress"]["address"]) for a in room["attendees"]] == [
        ("required", ALICE),
        ("required", BOB),
        ("required", CAROL),
    ]
    assert room["location"]["locationEmailAddress"] == AURORA
    assert "isOnlineMeeting" not in room
    assert "body" not in room


def test_patch_body_sends_only_changes() -> None:
    assert wire(patch_body(MeetingChanges(subject="New"))) == {
        "@odata.type": "#microsoft.graph.event",
        "subject": "New",
    }
    with pytest.raises(ValueError, match="current event"):
        patch_body(MeetingChanges(attendees_add=(BOB,)))


def test_patch_body_room_move_keeps_other_locations() -> None:
    current = create_body(create_action())
    current.locations = [*(current.locations or []), Location(display_name="Teams")]
    moved = wire(patch_body(MeetingChanges(room=RoomMove(old=AURORA, new=BOREALIS)), current))
    assert [loc.get("locationEmailAddress") for loc in moved["locations"]] == [BOREALIS, None]
    assert "location" not in moved  # several locations: Graph derives location from locations
    assert [a["emailAddress"]["address"] for a in moved["attendees"]] == [BOB, CAROL, BOREALIS]
    # Adding a room where there was none.
    bare = Event(attendees=[room_attendee(AURORA)])
    added = wire(patch_body(MeetingChanges(room=RoomMove(old=None, new=BOREALIS)), bare))
    assert [a["emailAddress"]["address"] for a in added["attendees"]] == [AURORA, BOREALIS]
    assert added["location"]["locationEmailAddress"] == BOREALIS


def test_marker_filter_escapes_quotes() -> None:
    expected = f"ep/id eq '{BOOKING_ID_PROPERTY_ID}' and ep/value eq 'O''Neil')"
    assert marker_filter("O'Neil") == f"singleValueExtendedProperties/Any(ep: {expected}"


# ------------------------------------------------------------------ errors


def test_parse_retry_after() -> None:
    assert parse_retry_after("2.128") == 2.128
    assert parse_retry_after("30") == 30.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    now = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
    later = (now + timedelta(seconds=90)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert parse_retry_after(later, now=now) == 90.0


def _odata(status: int, code: str, headers: dict[str, str] | None = None) -> ODataError:
    err = ODataError(error=MainError(code=code, message=f"{code} message"))
    err.response_status_code = status
    err.response_headers = httpx.Headers(headers or {})  # type: ignore[assignment]
    return err


@pytest.mark.parametrize(
    ("status", "code", "kind"),
    [
        (404, "ErrorItemNotFound", GraphNotFound),
        (412, "ErrorIrresolvableConflict", GraphPreconditionFailed),
        (401, "InvalidAuthenticationToken", GraphUnauthorized),
        (403, "ErrorAccessDenied", GraphForbidden),
        (400, "ErrorInvalidRequest", GraphBadRequest),
        (409, "ErrorConflict", GraphBadRequest),
        (500, "generalException", GraphServerError),
        (504, "gatewayTimeout", GraphServerError),  # no Retry-After
    ],
)
def test_status_mapping(status: int, code: str, kind: type) -> None:
    typed = from_api_error(_odata(status, code, {"request-id": "r-1"}))
    assert type(typed) is kind
    assert typed.status == status
    assert typed.code == code
    assert typed.request_id == "r-1"
    assert typed.message == f"{code} message"


def test_throttled_headers() -> None:
    typed = from_api_error(_odata(429, "TooManyRequests", {"Retry-After": "7.5"}))
    assert isinstance(typed, GraphThrottled)
    assert typed.retry_after == 7.5
    missing = from_api_error(_odata(429, "TooManyRequests"))
    assert isinstance(missing, GraphThrottled)
    assert missing.retry_after == DEFAULT_RETRY_AFTER_SECONDS
    assert not missing.retry_after_from_header
    # 503 is throttling with or without Retry-After ("repeat the request after a delay", Graph's errors page).
    bare = from_api_error(_odata(503, "serviceNotAvailable"))
    assert isinstance(bare, GraphThrottled)
    assert bare.retry_after == DEFAULT_RETRY_AFTER_SECONDS
    assert not bare.retry_after_from_header
    unavailable = from_api_error(_odata(503, "serviceNotAvailable", {"retry-after": "3"}))
    assert isinstance(unavailable, GraphThrottled)
    assert unavailable.retry_after == 3.0
    plain = from_api_error(APIError("no body", 429, {"Retry-After": "4"}))
    assert isinstance(plain, GraphThrottled)
    assert plain.retry_after == 4.0
    mailbox = from_api_error(_odata(404, "ErrorInvalidUser"))
    assert isinstance(mailbox, GraphNotFound)
    assert mailbox.mailbox_missing
    assert isinstance(translate(httpx.ConnectTimeout("slow")), GraphServerError)
    assert translate(ValueError("x")) is None


@pytest.mark.parametrize(
    ("status", "headers", "throttled"),
    [
        (429, {}, True),
        (503, {}, True),  # "repeat the request after a delay": the throttle counters count it too
        (503, {"retry-after": "3"}, True),
        (504, {}, False),
        (504, {"retry-after": "3"}, True),
        (500, {"retry-after": "3"}, False),
    ],
)
def test_the_throttle_counters_count_what_the_client_treats_as_throttling(
    status: int, headers: dict[str, str], throttled: bool
) -> None:
    from shared.telemetry import _is_throttle  # noqa: PLC0415 - the counters' own rule

    assert _is_throttle(status, headers) is throttled
