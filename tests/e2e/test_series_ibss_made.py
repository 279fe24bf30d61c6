"""IBSS booking series -> one recurring Outlook meeting, end to end on the local stack, both modes.

Both emulators' clocks are set a week before a weekly series that crosses a DST change of Berlin's, inside
IBSS's 90-day booking window. The series always lies beyond the dev host's own 90-day window of the real
clock (the rooms' delta rounds never see it), whatever today's date.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from datetime import time as dtime
from typing import Any

import httpx

from shared.recurrence import PatternedRecurrence, expand, zone
from shared.sync.ibss_series import is_series_marker
from tests.e2e.conftest import SyncStack, eventually
from tests.slots import BERLIN, at, next_dst_change

ALICE, BOB, DAVE = "alice@contoso.example", "bob@contoso.example", "dave@contoso.example"
AURORA, CIRRUS = "aurora@contoso.example", "cirrus@contoso.example"
# A Monday three weeks before a DST change (a Sunday): weekly dates 0-2 lie on one side of it, 3-5 on the
# other. The emulators' clock starts a week before the first date.
FIRST = at(next_dst_change(datetime.now(UTC).date() + timedelta(days=111)) - timedelta(days=20), 10)
CLOCK = datetime.combine(FIRST.date() - timedelta(days=7), dtime(8, 0), UTC)


def _start(stack: SyncStack) -> None:
    stack.ibss.set_clock(CLOCK, frozen=False)
    stack.graph.set_clock(CLOCK.strftime("%Y-%m-%dT%H:%M:%SZ"), frozen=False)


def _dates(n: int, every_days: int = 7, hour: int = 10) -> list[tuple[datetime, datetime]]:
    out = []
    for i in range(n):
        day = FIRST.date() + timedelta(days=every_days * i)
        start = datetime.combine(day, dtime(hour, 0), BERLIN).astimezone(UTC)
        out.append((start, start + timedelta(hours=1)))
    return out


def _book(
    stack: SyncStack, dates: list[tuple[datetime, datetime]], name: str = "Weekly sync"
) -> dict[str, Any]:
    return stack.ibss.act_book(ALICE, "HQ-1-AURORA", name=name, parties=[BOB], occurrences=dates)


def _holder(stack: SyncStack) -> str:
    return ALICE if stack.host_mode == "owner" else AURORA


def _masters(stack: SyncStack, mailbox: str, live: bool = True) -> list[dict[str, Any]]:
    return [
        e
        for e in stack.graph.mailbox_events(mailbox)
        if e.get("type") == "seriesMaster" and (not live or not e.get("isCancelled"))
    ]


def _singles(stack: SyncStack, mailbox: str) -> list[dict[str, Any]]:
    return [
        e
        for e in stack.graph.mailbox_events(mailbox)
        if e.get("type") == "singleInstance" and not e.get("isCancelled")
    ]


def _occurrence_starts(master: dict[str, Any]) -> list[datetime]:
    """Expand the stored master the way Graph does (wall clock in the recurrence zone)."""
    rec = PatternedRecurrence.from_graph(master["recurrence"])
    tz = rec.range.recurrence_time_zone or master["start"]["timeZone"]
    given = zone(master["start"]["timeZone"])
    start = datetime.fromisoformat(master["start"]["dateTime"][:19]).replace(tzinfo=given)
    end = datetime.fromisoformat(master["end"]["dateTime"][:19]).replace(tzinfo=given)
    local = start.astimezone(zone(tz))
    length = end.astimezone(zone(tz)).replace(tzinfo=None) - local.replace(tzinfo=None)
    occ = expand(rec, local.time(), length, tz, CLOCK, CLOCK + timedelta(days=400))
    cancelled = {c.rsplit(".", 1)[-1] for c in master.get("cancelledOccurrences", [])}

    return [o.start_utc for o in occ if o.start_utc.astimezone(BERLIN).date().isoformat() not in cancelled]


def _bookings(stack: SyncStack, series_id: str) -> list[dict[str, Any]]:
    return sorted(
        (b for b in stack.ibss.state()["bookings"] if b.get("Booking_Series_Id") == series_id),
        key=lambda b: b["Booking_Start"],
    )


def _api(stack: SyncStack, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    """The IBSS API itself (series PATCH/DELETE have no Flex control action)."""
    resp = httpx.request(
        method,
        f"{stack.ibss.base_url}/v2/{stack.ibss.node_id}{path}",
        json=body,
        headers={"Authorization": f"apikey {stack.ibss.api_key}"},
        timeout=10,
    )
    resp.raise_for_status()
    return resp.json() if resp.content else None


def _one_master(stack: SyncStack, mailbox: str) -> dict[str, Any] | None:
    found = _masters(stack, mailbox)
    return found[0] if len(found) == 1 else None


def _wire(value: datetime) -> dict[str, str]:
    return {"dateTime": value.astimezone(BERLIN).strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "Europe/Berlin"}


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def test_series_is_one_recurring_meeting_and_follows_ibss(sync_stack: SyncStack) -> None:
    stack = sync_stack
    _start(stack)
    dates = _dates(6)
    series = _book(stack, dates)
    series_id = series["Booking_Series_Id"]
    holder = _holder(stack)

    master = eventually(lambda: _one_master(stack, holder), what="one series master in Outlook")
    room_master = eventually(lambda: _one_master(stack, AURORA), what="the room holds the series")
    assert [s for s, _ in dates] == _occurrence_starts(master)
    assert {s.hour for s, _ in dates} == {9, 8}  # 10:00 Berlin before and after the DST change
    assert master["recurrence"]["pattern"]["type"] == "weekly"
    assert not _singles(stack, holder)
    assert not _singles(stack, AURORA)
    marker = [p["value"] for p in master.get("singleValueExtendedProperties", [])]
    assert not marker or is_series_marker(marker[0])
    assert room_master["responseStatus"]["response"] in ("accepted", "organizer", "none")

    # Cancel one booking: that occurrence is cancelled, nothing else changes.
    bookings = _bookings(stack, series_id)
    stack.ibss.act_cancel(ALICE, bookings[1]["Booking_Id"])
    eventually(
        lambda: (m := _one_master(stack, holder)) is not None and dates[1][0] not in _occurrence_starts(m),
        what="occurrence cancelled",
    )
    eventually(
        lambda: (m := _one_master(stack, AURORA)) is not None and dates[1][0] not in _occurrence_starts(m),
        what="room released that date",
    )

    # Move one booking two hours later: that occurrence becomes an exception.
    moved_start = dates[3][0] + timedelta(hours=2)
    stack.ibss.act_move(
        ALICE,
        bookings[3]["Booking_Id"],
        "HQ-1-AURORA",
        start=moved_start,
        end=moved_start + timedelta(hours=1),
    )

    def exception() -> dict[str, Any] | None:
        found = [
            e
            for e in stack.graph.mailbox_events(holder)
            if e.get("type") == "exception" and _utc(e["start"]["dateTime"] + "Z") == moved_start
        ]
        return found[0] if found else None

    eventually(exception, what="the moved booking is an exception")

    # Edit all future (IBSS series PATCH): the master changes, no exception per booking.
    _api(stack, "PATCH", f"/bookings/series/{series_id}", {"Booking_Name": "Weekly sync v2"})
    eventually(
        lambda: (m := _one_master(stack, holder)) is not None and m["subject"] == "Weekly sync v2",
        what="master renamed",
    )
    exceptions = [e for e in stack.graph.mailbox_events(holder) if e.get("type") == "exception"]
    assert len(exceptions) <= 1  # only the moved booking's

    # Cancel the whole series: the meeting is cancelled and stays so.
    _api(stack, "DELETE", f"/bookings/series/{series_id}")
    eventually(lambda: not _masters(stack, AURORA), what="the room's series cancelled")
    eventually(lambda: not _masters(stack, holder), what="the meeting cancelled")
    assert not _singles(stack, holder)
    assert not _singles(stack, AURORA)


def test_whole_series_time_change_moves_the_master(sync_stack: SyncStack) -> None:
    stack = sync_stack
    _start(stack)
    dates = _dates(5)
    series = _book(stack, dates)
    holder = _holder(stack)
    eventually(lambda: _one_master(stack, holder), what="series master")
    eventually(lambda: _one_master(stack, AURORA), what="room holds the series")
    for b in _bookings(stack, series["Booking_Series_Id"]):
        start = _utc(b["Booking_Start"]) + timedelta(hours=3)
        stack.ibss.act_edit(ALICE, b["Booking_Id"], start=start, end=start + timedelta(hours=1))
    wanted = [s + timedelta(hours=3) for s, _ in dates]
    eventually(
        lambda: (m := _one_master(stack, holder)) is not None and _occurrence_starts(m) == wanted,
        what="master moved three hours",
    )
    eventually(
        lambda: not [e for e in stack.graph.mailbox_events(holder) if e.get("type") == "exception"],
        what="no exceptions left",
    )


def test_weekly_to_fortnightly(sync_stack: SyncStack) -> None:
    """IBSS has no pattern edit: Flex cancels the series and books the new pattern."""
    stack = sync_stack
    _start(stack)
    series = _book(stack, _dates(6))
    holder = _holder(stack)
    eventually(lambda: _one_master(stack, holder), what="weekly master")
    _api(stack, "DELETE", f"/bookings/series/{series['Booking_Series_Id']}")
    fortnightly = _dates(4, every_days=14)
    _book(stack, fortnightly)

    def matches() -> bool:
        m = _one_master(stack, holder)
        room = _one_master(stack, AURORA)
        return (
            m is not None
            and room is not None
            and m["recurrence"]["pattern"]["interval"] == 2
            and _occurrence_starts(m) == [s for s, _ in fortnightly]
        )

    eventually(matches, what="Outlook holds only the fortnightly series")


def test_dates_taken_in_the_room_cancel_those_bookings(sync_stack: SyncStack) -> None:
    stack = sync_stack
    _start(stack)
    dates = _dates(5)
    taken_start, taken_end = dates[2]
    stack.graph.act_create_meeting(
        DAVE,
        {
            "subject": "Outlook first",
            "start": {"dateTime": taken_start.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"},
            "end": {"dateTime": taken_end.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"},
            "attendees": [{"emailAddress": {"address": AURORA}, "type": "resource"}],
        },
    )
    eventually(lambda: _singles(stack, AURORA), what="Dave holds the room")
    series = _book(stack, dates)

    def cancelled() -> dict[str, Any] | None:
        rows = [
            b for b in _bookings(stack, series["Booking_Series_Id"]) if b["Booking_Status"] == "Cancelled"
        ]
        return rows[0] if rows else None

    row = eventually(cancelled, what="the conflicting IBSS booking cancelled")
    assert _utc(row["Booking_Start"]) == taken_start
    assert row["Booking_Cancel_Reason"]
    room = eventually(lambda: _one_master(stack, AURORA), what="the room holds the rest of the series")
    starts = _occurrence_starts(room)
    assert starts == [s for s, _ in dates if s != taken_start]  # no double booking
    assert room["responseStatus"]["response"] in ("accepted", "organizer")
    assert len(_bookings(stack, series["Booking_Series_Id"])) == 5
    assert [
        b for b in _bookings(stack, series["Booking_Series_Id"]) if b["Booking_Status"] == "Cancelled"
    ] == [row]


SERVICE = "front-desk@contoso.example"  # a company address Exchange has no mailbox for


def test_a_series_of_an_owner_without_a_mailbox_is_organized_by_the_room(sync_stack: SyncStack) -> None:
    """A service account books a series in IBSS: owner mode tries its calendar once (404 ErrorInvalidUser),
    remembers the address and lets the room organize the series (before: the job failed on every retry)."""
    stack = sync_stack
    _start(stack)
    stack.ibss.load({"people": [{"email": SERVICE, "first_name": "Front", "last_name": "Desk"}]})
    dates = _dates(4, hour=15)
    stack.ibss.act_book(SERVICE, "HQ-2-CIRRUS", name="Desk rota", occurrences=dates)
    master = eventually(
        lambda: next((m for m in _masters(stack, CIRRUS) if m.get("subject") == "Desk rota"), None),
        timeout=45,
        what="series organized by the room",
    )
    assert master["organizer"]["emailAddress"]["address"].lower() == CIRRUS
    assert _occurrence_starts(master) == [s for s, _ in dates]
