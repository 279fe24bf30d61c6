"""Models, filter grammar, and rejection of bad API responses (served by a real local HTTP server)."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from emulators.ibss.testing import ServerThread
from shared.ibss import Booking, BookingCreate, IbssClient, IbssInvalidResponse, RetryPolicy, fields
from shared.ibss.client import parse_retry_after
from shared.ibss.odata import Clause, build_filter, parse_filter

GOOD = {
    "Booking_Id": "b1",
    "Node_Id": 1001,
    "Space_Id": "S",
    "Booking_Start": "2030-01-08T09:00:00",
    "Booking_End": "2030-01-08T10:00:00+01:00",
    "Booking_Status": "Some Future Status",
    "Booking_IsCheckedIn": "1",
}


@pytest.fixture(scope="module")
def bad_server() -> Iterator[str]:
    async def handler(request: Request) -> Response:
        kind = request.path_params["kind"]
        if kind == "text":
            return PlainTextResponse("<html>oops</html>")
        if kind == "wrong-shape":
            return JSONResponse({"items": []})
        if kind == "bad-item":
            return JSONResponse({"value": [{"Booking_Id": 5, "Node_Id": "x"}]})
        if kind == "foreign-next":
            return JSONResponse({"value": [], "@odata.nextLink": "http://evil.example/v2/1001/bookings"})
        if kind == "loop":
            return JSONResponse({"value": [], "@odata.nextLink": str(request.url)})
        return JSONResponse({"value": [GOOD]})

    server = ServerThread(Starlette(routes=[Route("/{kind}/v2/1001/bookings", handler)]))
    server.start()
    yield server.base_url
    server.stop()


@pytest.mark.parametrize("kind", ["text", "wrong-shape", "bad-item", "foreign-next", "loop"])
async def test_bad_responses_raise_a_typed_error(bad_server: str, kind: str):
    async with IbssClient(f"{bad_server}/{kind}", "key", retry_policy=RetryPolicy(max_retries=0)) as c:
        with pytest.raises(IbssInvalidResponse):
            await c.list_bookings(1001)


async def test_lenient_where_it_is_safe(bad_server: str):
    async with IbssClient(f"{bad_server}/ok", "key") as c:
        [b] = await c.list_bookings(1001)
    assert b.start == datetime(2030, 1, 8, 9, tzinfo=UTC)  # naive = UTC (IBSS stores UTC)
    assert b.end == datetime(2030, 1, 8, 9, tzinfo=UTC)  # offsets are normalised to UTC
    assert b.status == "Some Future Status"
    assert not b.holds_space
    assert b.is_checked_in is True


def test_models_use_wire_aliases_and_utc():
    b = BookingCreate(
        space_id="S",
        start=datetime(2030, 1, 8, 10, tzinfo=timezone(timedelta(hours=1))),
        end=datetime(2030, 1, 8, 11, 30, 0, 250000, tzinfo=UTC),
        owner_email="a@b.c",
        share_loc=True,
    )
    wire = b.to_wire()
    assert wire[fields.BOOKING_START] == "2030-01-08T09:00:00Z"
    assert wire[fields.BOOKING_END] == "2030-01-08T11:30:00.250Z"
    assert wire[fields.BOOKING_SHARE_LOC] == 1
    assert wire[fields.BOOKING_ONLINE_MEETING] == 0
    with pytest.raises(ValueError, match="end must be after start"):
        BookingCreate(
            space_id="S",
            start=datetime(2030, 1, 8, 10, tzinfo=UTC),
            end=datetime(2030, 1, 8, 9, tzinfo=UTC),
            owner_email="a@b.c",
        )
    assert Booking.model_validate(GOOD).id == "b1"


def test_fields_mark_confirmed_names():
    assert fields.BOOKING_START in fields.CONFIRMED
    assert fields.BKNG_SYNC_ENABLED in fields.CONFIRMED
    assert fields.BOOKING_ID not in fields.CONFIRMED
    assert fields.BOOKING_ETAG not in fields.CONFIRMED


def test_parse_retry_after():
    assert parse_retry_after("3") == 3.0
    assert (
        parse_retry_after(
            "Wed, 21 Oct 2015 07:28:00 GMT", now=datetime(2015, 10, 21, 7, 27, 30, tzinfo=UTC).timestamp()
        )
        == 30
    )
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_filter_examples():
    text = build_filter(
        [
            Clause("Space_Id", "eq", "O'Brien room"),
            Clause("Booking_Start", "lt", datetime(2030, 1, 8, tzinfo=UTC)),
        ]
    )
    assert text == "Space_Id eq 'O''Brien room' and Booking_Start lt 2030-01-08T00:00:00Z"
    assert parse_filter(text)[0].value == "O'Brien room"
    assert build_filter([]) is None


values = st.one_of(
    st.text(alphabet=st.characters(codec="utf-8"), max_size=20),
    st.integers(-(10**6), 10**6),
    st.booleans(),
    st.none(),
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)).map(
        lambda d: d.replace(microsecond=0)
    ),
)


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["Space_Id", "Booking_Start", "Email"]),
            st.sampled_from(["eq", "ne", "lt", "le", "gt", "ge"]),
            values,
        ),
        min_size=1,
        max_size=4,
    )
)
def test_filter_roundtrip(clauses):
    built = build_filter([Clause(f, op, v) for f, op, v in clauses])
    assert built is not None
    assert [(c.field, c.op, c.value) for c in parse_filter(built)] == list(clauses)
