"""IBSS client against the emulator over real loopback HTTP."""

import asyncio
import logging
import socket
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from emulators.ibss.testing import IbssEmulator
from shared.ibss import (
    BookingCreate,
    BookingParty,
    BookingSeriesCreate,
    BookingSeriesUpdate,
    BookingStatus,
    BookingUpdate,
    IbssBadRequest,
    IbssClient,
    IbssConflict,
    IbssError,
    IbssForbidden,
    IbssNotFound,
    IbssPreconditionFailed,
    IbssServerError,
    IbssThrottled,
    IbssTimeout,
    IbssTransportError,
    IbssUnauthorized,
    Occurrence,
    RetryPolicy,
    VisitCreate,
    VisitUpdate,
    Weekday,
)
from tests.ibss.conftest import FAST_RETRIES
from tests.ibss.helpers import NODE, TUESDAY, at, slot


def new_booking(space: str = "HQ-2-CIRRUS", i: int = 0, **kw) -> BookingCreate:
    start, end = slot(i)
    return BookingCreate(
        space_id=space,
        name=kw.pop("name", f"Meeting {i}"),
        start=start,
        end=end,
        owner_email=kw.pop("owner_email", "alice@contoso.example"),
        **kw,
    )


class Recorder:
    """A sleep function that records waits instead of sleeping."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


# ------------------------------------------------------------------------------------------------
# Buildings, spaces, policies
# ------------------------------------------------------------------------------------------------
async def test_buildings_and_spaces_with_sync_parameters(client: IbssClient):
    buildings = await client.list_buildings()
    assert [b.node_id for b in buildings] == [NODE]
    hq = await client.get_building(NODE)
    assert hq.name == "Contoso HQ"
    assert hq.ext_system
    assert hq.sync_enabled
    assert hq.time_zone == "Europe/Berlin"
    assert [f.node_id for f in hq.floors] == [1011, 1012, 1013]

    spaces = {s.id: s for s in await client.list_spaces(NODE, page_size=3)}  # 3 pages
    assert set(spaces) == {
        "HQ-1-AURORA",
        "HQ-1-BOREALIS",
        "HQ-2-CIRRUS",
        "HQ-2-DELTA",
        "HQ-3-ECHO",
        "HQ-3-DESK-01",
        "HQ-3-DESK-02",
    }
    aurora = spaces["HQ-1-AURORA"]
    assert aurora.room_mailbox == "aurora@contoso.example"
    assert aurora.capacity == 8
    assert aurora.floor_node_id == 1011
    assert aurora.is_synced_in(hq)
    assert not spaces["HQ-3-ECHO"].is_synced_in(hq)  # Meta_Ext_Booking_System = 0
    assert spaces["HQ-3-ECHO"].room_mailbox == "echo@contoso.example"
    assert spaces["HQ-3-DESK-01"].room_mailbox is None
    assert spaces["HQ-3-DESK-01"].type == "Desk"
    desks = await client.list_spaces(NODE, space_type="Desk")
    assert {d.id for d in desks} == {"HQ-3-DESK-01", "HQ-3-DESK-02"}
    assert (await client.get_space(NODE, "HQ-2-DELTA")).capacity == 20


async def test_booking_policies_of_a_space(client: IbssClient):
    policies = await client.list_booking_policies(NODE, page_size=1)
    assert {p.id for p in policies} == {"meeting-rooms", "desks"}
    policy = await client.get_space_policy(NODE, "HQ-1-AURORA")
    assert policy is not None
    assert policy.max_duration_min == 480
    assert policy.window_days == 90
    monday = next(h for h in policy.bookable_hours if h.day is Weekday.MONDAY)
    assert (monday.start.hour, monday.end.hour) == (7, 20)
    assert {h.day for h in policy.bookable_hours} == set(list(Weekday)[:5])
    desk_policy = await client.get_space_policy(NODE, "HQ-3-DESK-02")
    assert desk_policy is not None
    assert desk_policy.window_days == 14


# ------------------------------------------------------------------------------------------------
# Paging and filtering
# ------------------------------------------------------------------------------------------------
async def test_paging_across_three_pages_with_default_page_size(client: IbssClient, emu: IbssEmulator):
    for i in range(60):
        await client.create_booking(NODE, new_booking(i=i))
    emu.clear_request_counts()

    pages = [page async for page in client.iter_booking_pages(NODE, space_id="HQ-2-CIRRUS")]
    assert [len(p.items) for p in pages] == [25, 25, 10]
    assert pages[0].next_link
    assert "$skiptoken=" in pages[0].next_link
    assert pages[-1].next_link is None

    bookings = await client.list_bookings(NODE, space_id="HQ-2-CIRRUS")
    assert len(bookings) == 60
    assert len({b.id for b in bookings}) == 60
    assert [b.start for b in bookings] == sorted(b.start for b in bookings)
    counts = emu.request_counts()
    assert counts["by_route"]["GET /v2/{node_id}/bookings"] == 6  # 3 pages, twice


async def test_resume_from_saved_next_link(client: IbssClient):
    for i in range(7):
        await client.create_booking(NODE, new_booking(i=i))
    pages = client.iter_booking_pages(NODE, space_id="HQ-2-CIRRUS", page_size=3)
    first = await anext(pages)
    await pages.aclose()
    assert first.next_link
    rest = [b async for p in client.iter_booking_pages(NODE, next_link=first.next_link) for b in p.items]
    assert len(first.items) + len(rest) == 7


async def test_space_and_window_filter_hold_across_pages(client: IbssClient, emu: IbssEmulator):
    for i in range(40):  # Tuesday and Wednesday, 20 slots each
        await client.create_booking(NODE, new_booking(i=i))
    emu.clear_request_counts()
    window_start, window_end = TUESDAY + timedelta(hours=12), TUESDAY + timedelta(days=1, hours=9)
    pages = [
        page
        async for page in client.iter_booking_pages(
            NODE, space_id="HQ-2-CIRRUS", start=window_start, end=window_end, page_size=4
        )
    ]
    got = [b for page in pages for b in page.items]
    assert len(pages) >= 3
    assert len(got) == 14  # Tuesday 12:00Z-16:30Z (10) + Wednesday 07:00Z-08:30Z (4)
    assert all(b.start < window_end and b.end > window_start and b.space_id == "HQ-2-CIRRUS" for b in got)
    assert len({b.id for b in got}) == len(got)
    assert emu.request_counts()["by_route"]["GET /v2/{node_id}/bookings"] == len(pages)


async def test_window_and_field_filters(client: IbssClient):
    created = [await client.create_booking(NODE, new_booking(i=i)) for i in range(6)]  # 07:00Z..10:00Z Tue
    window = await client.list_bookings(
        NODE,
        space_id="HQ-2-CIRRUS",
        start=TUESDAY + timedelta(hours=8),
        end=TUESDAY + timedelta(hours=9, minutes=1),
    )
    assert [b.id for b in window] == [b.id for b in created[2:5]]  # overlapping [08:00, 09:01)
    await client.cancel_booking(NODE, created[0].id)
    cancelled = await client.list_bookings(NODE, status=BookingStatus.CANCELLED)
    assert [b.id for b in cancelled] == [created[0].id]
    assert len(await client.list_bookings(NODE, owner_email="ALICE@contoso.example")) == 6 + 1  # + seed
    since = await client.list_bookings(NODE, modified_since=cancelled[0].modified)
    assert created[0].id in {b.id for b in since}


# ------------------------------------------------------------------------------------------------
# CRUD, check-in, series, parties, visitors
# ------------------------------------------------------------------------------------------------
async def test_create_get_update_cancel(client: IbssClient):
    created = await client.create_booking(NODE, new_booking(space="HQ-1-BOREALIS", i=2, online_meeting=True))
    assert created.status is BookingStatus.NEW
    assert created.etag
    assert created.online_meeting
    assert created.node_id == NODE
    assert created.space_name == "Borealis"
    assert created.auto_cancel_threshold_min == 15
    assert created.start.tzinfo is not None
    assert created.holds_space

    fetched = await client.get_booking(NODE, created.id)
    assert fetched == created

    start = created.start + timedelta(hours=1)
    updated = await client.update_booking(
        NODE,
        created.id,
        BookingUpdate(name="Renamed", start=start, end=start + timedelta(hours=1)),
        etag=fetched.etag,
    )
    assert updated.status is BookingStatus.AMENDED
    assert updated.name == "Renamed"
    assert updated.start == start
    assert updated.etag != fetched.etag

    cancelled = await client.cancel_booking(NODE, created.id, etag=updated.etag)
    assert cancelled.status is BookingStatus.CANCELLED
    assert cancelled.is_cancelled
    assert not cancelled.holds_space
    assert (await client.get_booking(NODE, created.id)).cancelled_time is not None


async def test_check_in_and_out(client: IbssClient, emu: IbssEmulator):
    b = await client.create_booking(NODE, new_booking(space="HQ-1-AURORA", i=4))
    emu.set_clock(b.start)
    checked_in = await client.check_in(NODE, b.id)
    assert checked_in.status is BookingStatus.IN_PROGRESS
    assert checked_in.is_checked_in
    emu.advance_clock(minutes=10)
    done = await client.check_out(NODE, b.id)
    assert done.status is BookingStatus.COMPLETED
    assert done.completed_time == b.start + timedelta(minutes=10)


async def test_series_create_update_cancel(client: IbssClient):
    occurrences = [Occurrence(start=s, end=e) for s, e in (slot(i * 20 + 3) for i in range(3))]
    series = await client.create_series(
        NODE,
        BookingSeriesCreate(
            space_id="HQ-2-DELTA", name="Daily", owner_email="bob@contoso.example", occurrences=occurrences
        ),
    )
    assert len(series.bookings) == 3
    assert {b.series_id for b in series.bookings} == {series.series_id}
    listed = await client.list_bookings(NODE, series_id=series.series_id)
    assert [b.id for b in listed] == [b.id for b in series.bookings]

    renamed = await client.update_series(NODE, series.series_id, BookingSeriesUpdate(name="Daily sync"))
    assert {b.name for b in renamed.bookings} == {"Daily sync"}
    assert len(renamed.bookings) == 3

    cancelled = await client.cancel_series(NODE, series.series_id)
    assert {b.status for b in cancelled.bookings} == {BookingStatus.CANCELLED}


async def test_parties_and_visitors(client: IbssClient):
    b = await client.create_booking(
        NODE,
        new_booking(
            space="HQ-1-AURORA",
            i=10,
            parties=[
                BookingParty(email="bob@contoso.example"),
                BookingParty(email="guest@fabrikam.example", is_visitor=True),
            ],
        ),
    )
    assert b.party_count == 2
    bob, guest = b.parties
    assert (bob.first_name, bob.last_name, bob.is_visitor) == ("Bob", "Brown", False)
    assert guest.is_visitor
    assert guest.company == "Fabrikam"
    assert guest.visit_id

    rows = await client.list_booking_parties(NODE, booking_id=b.id)
    assert {r.email for r in rows} == {"bob@contoso.example", "guest@fabrikam.example"}
    assert all(r.booking_id == b.id and r.node_id == NODE for r in rows)

    visits = await client.list_visits(NODE, booking_id=b.id)
    assert [v.id for v in visits] == [guest.visit_id]
    assert visits[0].host_email == "alice@contoso.example"
    assert visits[0].start == b.start

    visit = await client.create_visit(
        NODE, VisitCreate(email="x@fabrikam.example", first_name="Xavier", start=at(1, 9), end=at(1, 10))
    )
    assert (await client.get_visit(NODE, visit.id)).first_name == "Xavier"
    assert len(await client.list_visits(NODE, email="x@fabrikam.example")) == 1

    moved = await client.update_visit(NODE, visit.id, VisitUpdate(start=at(1, 11), end=at(1, 12)))
    assert (moved.start, moved.end, moved.first_name) == (at(1, 11), at(1, 12), "Xavier")
    gone = await client.update_visit(NODE, visit.id, VisitUpdate(status="Cancelled"))
    assert (gone.status, gone.start) == ("Cancelled", at(1, 11))  # only what was sent changed


# ------------------------------------------------------------------------------------------------
# Typed errors
# ------------------------------------------------------------------------------------------------
async def test_error_400_bad_request(client: IbssClient):
    past = BookingCreate(
        space_id="HQ-2-CIRRUS", start=at(0, 5), end=at(0, 5, 30), owner_email="alice@contoso.example"
    )  # 06:00 local today, before "now" (07:00 local)
    with pytest.raises(IbssBadRequest) as err:
        await client.create_booking(NODE, past)
    assert err.value.status == 400
    assert err.value.reason == "BookingInPast"


async def test_error_401_unauthorized(emu: IbssEmulator):
    async with IbssClient(emu.base_url, "wrong-key", retry_policy=FAST_RETRIES) as bad:
        with pytest.raises(IbssUnauthorized) as err:
            await bad.list_buildings()
    assert err.value.status == 401


async def test_error_403_forbidden(emu: IbssEmulator):
    emu.add_api_key("other-building-key", nodes=[2002])
    async with IbssClient(emu.base_url, "other-building-key", retry_policy=FAST_RETRIES) as limited:
        assert await limited.list_buildings() == []
        with pytest.raises(IbssForbidden):
            await limited.list_bookings(NODE)


async def test_error_404_not_found(client: IbssClient):
    with pytest.raises(IbssNotFound) as err:
        await client.get_booking(NODE, "does-not-exist")
    assert err.value.reason == "BookingNotFound"
    with pytest.raises(IbssNotFound):
        await client.list_spaces(4242)


async def test_error_409_double_booking(client: IbssClient):
    first = await client.create_booking(NODE, new_booking(i=5))
    with pytest.raises(IbssConflict) as err:
        await client.create_booking(NODE, new_booking(i=5, owner_email="bob@contoso.example"))
    assert err.value.reason == "SpaceUnavailable"
    assert err.value.details == {"Booking_Id": first.id}


async def test_error_412_concurrency_conflict(client: IbssClient, emu: IbssEmulator):
    mine = await client.create_booking(NODE, new_booking(space="HQ-1-AURORA", i=12))
    emu.act_edit("alice@contoso.example", mine.id, name="Changed in Flex")  # someone else changes it
    with pytest.raises(IbssPreconditionFailed) as err:
        await client.update_booking(NODE, mine.id, BookingUpdate(name="Mine"), etag=mine.etag)
    assert err.value.status == 412
    with pytest.raises(IbssPreconditionFailed):
        await client.cancel_booking(NODE, mine.id, etag=mine.etag)
    current = await client.get_booking(NODE, mine.id)
    assert current.name == "Changed in Flex"
    assert (
        await client.update_booking(NODE, mine.id, BookingUpdate(name="Mine"), etag=current.etag)
    ).name == "Mine"


async def test_error_429_throttled_when_retries_exhausted(emu: IbssEmulator):
    emu.inject_fault(status=429, retry_after=7, path_regex="/bookings$", times=None)
    sleeper = Recorder()
    async with IbssClient(emu.base_url, emu.api_key, max_retries=2, sleep=sleeper) as c:
        with pytest.raises(IbssThrottled) as err:
            await c.list_bookings(NODE)
    assert err.value.status == 429
    assert err.value.retry_after == 7
    assert sleeper.waits == [7, 7]
    assert emu.request_counts()["by_status"] == {"429": 3}


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_error_5xx_server_error(emu: IbssEmulator, status: int):
    emu.inject_fault(status=status, path_regex="/buildings", times=None)
    sleeper = Recorder()
    async with IbssClient(emu.base_url, emu.api_key, retry_policy=FAST_RETRIES, sleep=sleeper) as c:
        with pytest.raises(IbssServerError) as err:
            await c.list_buildings()
    assert err.value.status == status
    expected_attempts = 1 if status == 500 else 4  # 500 is not transient; 502/503/504 are retried 3 times
    assert emu.request_counts()["total"] == expected_attempts
    assert len(sleeper.waits) == expected_attempts - 1


async def test_every_error_is_an_ibss_error():
    for cls in (
        IbssBadRequest,
        IbssUnauthorized,
        IbssForbidden,
        IbssNotFound,
        IbssConflict,
        IbssPreconditionFailed,
        IbssThrottled,
        IbssServerError,
        IbssTimeout,
        IbssTransportError,
    ):
        assert issubclass(cls, IbssError)


# ------------------------------------------------------------------------------------------------
# Retries and timeouts
# ------------------------------------------------------------------------------------------------
async def test_retry_on_429_waits_for_retry_after(emu: IbssEmulator, caplog: pytest.LogCaptureFixture):
    emu.inject_fault(status=429, retry_after=1, path_regex="/bookings$", times=1)
    caplog.set_level(logging.DEBUG)
    async with IbssClient(emu.base_url, emu.api_key, retry_policy=FAST_RETRIES) as c:
        started = time.monotonic()
        bookings = await c.list_bookings(NODE)
        elapsed = time.monotonic() - started
    assert len(bookings) == 3  # the demo seeds
    assert elapsed >= 1.0  # the Retry-After of 1 s was honoured, not the 10 ms backoff
    assert emu.request_counts()["by_status"] == {"429": 1, "200": 1}
    assert emu.api_key not in caplog.text  # the API key is never logged
    assert "retry 1/3" in caplog.text


async def test_retry_after_http_date_and_backoff(emu: IbssEmulator):
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=20), usegmt=True)
    emu.inject_fault(status=503, retry_after=when, path_regex="/spaces", times=1)
    emu.inject_fault(status=502, path_regex="/spaces", times=1)  # no Retry-After: exponential backoff
    sleeper = Recorder()
    policy = RetryPolicy(max_retries=3, backoff_initial=0.5, jitter=0.0)
    async with IbssClient(emu.base_url, emu.api_key, retry_policy=policy, sleep=sleeper) as c:
        assert len(await c.list_spaces(NODE)) == 7
    assert 18 <= sleeper.waits[0] <= 20.5
    assert sleeper.waits[1] == 1.0


async def test_wait_beyond_policy_raises_throttled_without_sleeping(emu: IbssEmulator):
    emu.inject_fault(status=429, retry_after=120, path_regex="/bookings$", times=None)
    sleeper = Recorder()
    policy = RetryPolicy(max_retries=5, max_retry_after=10, max_total_wait=10)
    async with IbssClient(emu.base_url, emu.api_key, retry_policy=policy, sleep=sleeper) as c:
        with pytest.raises(IbssThrottled) as err:
            await c.list_bookings(NODE)
    assert err.value.retry_after == 120
    assert sleeper.waits == []
    assert emu.request_counts()["total"] == 1


async def test_create_is_retried_on_429_but_not_on_502(client: IbssClient, emu: IbssEmulator):
    emu.inject_fault(status=429, retry_after=0, method="POST", path_regex="/bookings$", times=1)
    created = await client.create_booking(NODE, new_booking(i=1))
    assert created.id
    emu.inject_fault(status=502, method="POST", path_regex="/bookings$", times=1)
    with pytest.raises(IbssServerError):
        await client.create_booking(NODE, new_booking(i=2))  # may have been processed: never duplicate
    posts = emu.request_counts()["by_route"]["POST /v2/{node_id}/bookings"]
    assert posts == 3


async def test_timeout(emu: IbssEmulator):
    emu.inject_fault(latency_ms=1500, path_regex="/buildings", times=1)
    async with IbssClient(emu.base_url, emu.api_key, timeout=0.3, max_retries=0) as c:
        with pytest.raises(IbssTimeout):
            await c.list_buildings()


async def test_timeout_is_retried_for_reads(emu: IbssEmulator):
    emu.inject_fault(latency_ms=800, path_regex="/buildings", times=1)
    async with IbssClient(emu.base_url, emu.api_key, timeout=0.3, retry_policy=FAST_RETRIES) as c:
        assert len(await c.list_buildings()) == 1


async def test_connection_refused_is_a_transport_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nobody listens here once closed
    sleeper = Recorder()
    async with IbssClient(f"http://127.0.0.1:{port}", "key", retry_policy=FAST_RETRIES, sleep=sleeper) as c:
        with pytest.raises(IbssTransportError):
            await c.list_buildings()
    assert len(sleeper.waits) == 3


async def test_repr_hides_api_key(emu: IbssEmulator):
    async with IbssClient(emu.base_url, "super-secret-key") as c:
        assert "super-secret-key" not in repr(c)


async def test_concurrent_requests(client: IbssClient):
    results = await asyncio.gather(*(client.get_space(NODE, "HQ-1-AURORA") for _ in range(10)))
    assert {s.id for s in results} == {"HQ-1-AURORA"}
