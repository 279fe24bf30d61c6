"""The room calendar tells the truth (issue #8): no-show release and early check-out, end to end.

Both emulators' clocks are driven by the tests (set to just before a business-hours slot, then advanced
past the auto-cancel threshold or into the meeting), so nothing sleeps for real minutes. The dev host keeps
the real clock: it decides from IBSS's status (``Auto Cancelled``, ``Completed`` with its completion time),
never from its own idea of the time, and the slots lie ahead of real time, so none of its own time checks
("already ended", "starts in the past") fires.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from emulators.graph.testing import GraphEmulator
from emulators.ibss.testing import IbssEmulator
from tests.e2e.conftest import SyncStack, eventually
from tests.slots import business_slot

ALICE, BOB = "alice@contoso.example", "bob@contoso.example"
AURORA = "aurora@contoso.example"
THRESHOLD_MIN = 15  # Meta_Auto_Cancel_Thld_Min of the demo building's rooms
LEAD = timedelta(minutes=10)  # the driven clocks start this long before the meeting


@pytest.fixture(autouse=True)
def _real_clocks_afterwards(graph_emulator: GraphEmulator, ibss_emulator: IbssEmulator) -> Iterator[None]:
    yield
    # The emulators are shared with later suites: give them back on real time.
    now = datetime.now(UTC)
    ibss_emulator.set_clock(now, frozen=False)
    graph_emulator.set_clock(_iso(now))


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _start_clocks(stack: SyncStack, at: datetime) -> None:
    """Both platforms agree on the time: running clocks from ``at``."""
    stack.ibss.set_clock(at, frozen=False)
    stack.graph.set_clock(_iso(at))


def _advance(stack: SyncStack, minutes: float) -> None:
    stack.ibss.advance_clock(minutes=minutes)  # IBSS applies its time rules (auto-cancel) at once
    stack.graph.advance_clock(minutes * 60)


def _time(value: datetime) -> dict[str, str]:
    return {"dateTime": value.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"}


def _utc(wire: dict[str, str]) -> datetime:
    return datetime.fromisoformat(wire["dateTime"][:19]).replace(tzinfo=UTC)


def _live(stack: SyncStack, mailbox: str, subject: str | None = None) -> list[dict[str, Any]]:
    return [
        e
        for e in stack.graph.mailbox_events(mailbox)
        if not e.get("isCancelled") and (subject is None or subject in (e.get("subject") or ""))
    ]


def _booking(stack: SyncStack, booking_id: str) -> dict[str, Any]:
    rows: list[dict[str, Any]] = [b for b in stack.ibss.state()["bookings"] if b["Booking_Id"] == booking_id]
    return rows[0]


def _outlook_booking(stack: SyncStack, space_id: str) -> dict[str, Any] | None:
    rows = [
        b
        for b in stack.ibss.state()["bookings"]
        if b["Space_Id"] == space_id and b["Booking_Ext_Ref"] and b["Booking_Status"] != "Cancelled"
    ]
    return rows[0] if rows else None


def _outlook_meeting(stack: SyncStack, organizer: str, subject: str, start: datetime, end: datetime) -> str:
    attendees = [{"emailAddress": {"address": AURORA}, "type": "resource"}]
    body = {"subject": subject, "start": _time(start), "end": _time(end), "attendees": attendees}
    created = stack.graph.act_create_meeting(organizer, body)
    booking = eventually(lambda: _outlook_booking(stack, "HQ-1-AURORA"), what="IBSS booking of the meeting")
    assert booking["Booking_Owner_Email"] == organizer
    return str(created["iCalUId"])


def _room_copy(stack: SyncStack, ical_uid: str) -> dict[str, Any] | None:
    found = [e for e in _live(stack, AURORA) if e["iCalUId"] == ical_uid]
    return found[0] if found else None


def _told(stack: SyncStack, kind: str, recipient: str) -> list[dict[str, Any]]:
    """What a person would be mailed by the room: its decline or its cancellation, with the reason."""
    return [
        m
        for m in stack.graph.messages()
        if m["kind"] == kind and m["from"] == AURORA and recipient in m["to"] and m["comment"]
    ]


def _room_status(event: dict[str, Any]) -> str:
    (room,) = [a for a in event["attendees"] if a["emailAddress"]["address"] == AURORA]
    return str(room["status"]["response"])


def _settle_hooks(stack: SyncStack, kind: str) -> None:
    """Wait until IBSS delivered its hook of ``kind`` and the host had time to act on it."""
    eventually(
        lambda: [d for d in stack.ibss.hook_deliveries() if d["type"] == kind and d["status"] == "delivered"],
        what=f"{kind} hook delivered",
    )
    time.sleep(3.0)  # the host works the queue (and the echoes of its writes) in about a second


# ------------------------------------------------------------------ no-show


def test_no_show_frees_the_room_of_a_flex_booking(ready_stack: SyncStack) -> None:
    stack = ready_stack
    start, end = business_slot(1, 10)
    _start_clocks(stack, start - LEAD)
    booking_id = str(stack.ibss.act_book(ALICE, "HQ-1-AURORA", start, end, name="Planning")["Booking_Id"])
    eventually(lambda: _live(stack, AURORA), what="room calendar entry")
    eventually(lambda: _live(stack, ALICE, "Planning"), what="meeting in Alice's calendar")

    _advance(stack, LEAD.total_seconds() / 60 + THRESHOLD_MIN + 1)  # nobody checked in
    assert _booking(stack, booking_id)["Booking_Status"] == "Auto Cancelled"
    eventually(lambda: not _live(stack, AURORA), what="room free after the no-show")

    if stack.host_mode == "owner":
        # The organizer keeps the meeting, unchanged; the room declined it and said why.
        (meeting,) = _live(stack, ALICE, "Planning")
        assert (_utc(meeting["start"]), _utc(meeting["end"])) == (start, end)
        eventually(lambda: _room_status(meeting) == "declined" or None, what="room declined")
        (told,) = eventually(lambda: _told(stack, "declined", ALICE), what="organizer told")
    else:
        # The room organized the meeting: cancelling it is how the room frees itself; Alice is told.
        (told,) = eventually(lambda: _told(stack, "cancelled", ALICE), what="owner told")
    assert "no check-in" in told["comment"]


def test_no_show_frees_the_room_of_an_outlook_meeting(ready_stack: SyncStack) -> None:
    stack = ready_stack
    start, end = business_slot(1, 11)
    _start_clocks(stack, start - LEAD)
    ical_uid = _outlook_meeting(stack, BOB, "Design review", start, end)
    assert _room_copy(stack, ical_uid) is not None

    _advance(stack, LEAD.total_seconds() / 60 + THRESHOLD_MIN + 1)
    eventually(lambda: _room_copy(stack, ical_uid) is None, what="room free after the no-show")

    # In both modes the room only declines its copy: Bob's meeting is not touched, and he is told why.
    (meeting,) = _live(stack, BOB, "Design review")
    assert (_utc(meeting["start"]), _utc(meeting["end"])) == (start, end)
    (told,) = eventually(lambda: _told(stack, "declined", BOB), what="organizer told")
    assert "no check-in" in told["comment"]
    eventually(
        lambda: _room_status(_live(stack, BOB, "Design review")[0]) == "declined" or None, what="decline"
    )


# ------------------------------------------------------------------ early check-out


def _check_in_and_out_early(stack: SyncStack, person: str, booking_id: str, minutes_in: int) -> datetime:
    stack.ibss.act_check_in(person, booking_id)  # 10 minutes early: IBSS allows 30
    _advance(stack, LEAD.total_seconds() / 60 + minutes_in)
    stack.ibss.clear_request_counts()
    stack.graph.reset_request_counts()
    row = stack.ibss.act_check_out(person, booking_id)
    assert row["Booking_Status"] == "Completed"
    return datetime.fromisoformat(str(row["Booking_Completed_Time"]).replace("Z", "+00:00"))


def _writes(stack: SyncStack) -> tuple[dict[str, int], dict[str, int]]:
    graph = {k: v for k, v in stack.graph.request_counts()["byEndpoint"].items() if not k.startswith("GET")}
    ibss = {
        k: v
        for k, v in stack.ibss.request_counts()["by_route"].items()
        if not k.startswith("GET") and "/v2/" in k
    }
    return graph, ibss


def test_early_check_out_of_a_flex_booking(ready_stack: SyncStack) -> None:
    stack = ready_stack
    start, end = business_slot(1, 13)
    _start_clocks(stack, start - LEAD)
    booking_id = str(stack.ibss.act_book(ALICE, "HQ-1-AURORA", start, end, name="Workshop")["Booking_Id"])
    room = eventually(lambda: _live(stack, AURORA), what="room calendar entry")[0]
    holder = ALICE if stack.host_mode == "owner" else AURORA
    eventually(lambda: _live(stack, holder, "Workshop"), what="meeting in Outlook")

    left = _check_in_and_out_early(stack, ALICE, booking_id, minutes_in=20)
    assert start < left < end

    if stack.host_mode == "owner":
        eventually(
            lambda: _utc(_live(stack, AURORA)[0]["end"]) == left.replace(microsecond=0) or None,
            what="room copy shortened to the check-out time",
        )
        (mine,) = _live(stack, ALICE, "Workshop")
        assert (_utc(mine["start"]), _utc(mine["end"])) == (start, end)  # the organizer's calendar
        _settle_hooks(stack, "booking.checked_out")
        graph, ibss = _writes(stack)
        assert graph == {"PATCH /users/{id}/events/{id}": 1}  # one write, no ping-pong
        assert ibss == {}  # nothing goes back to IBSS (Flex's check-out is not an API call)
        assert stack.graph.messages() == []  # a room's own change of its copy mails nobody
    else:
        # Documented choice: the room organizes this meeting, and Graph would send any change of its time
        # to every attendee, so the service leaves it; IBSS shows the space free already.
        _settle_hooks(stack, "booking.checked_out")
        (kept,) = _live(stack, AURORA)
        assert (kept["id"], _utc(kept["end"])) == (room["id"], end)
        (alices,) = _live(stack, ALICE, "Workshop")
        assert _utc(alices["end"]) == end
        graph, _ = _writes(stack)
        assert graph == {}


def test_early_check_out_of_an_outlook_meeting(ready_stack: SyncStack) -> None:
    stack = ready_stack
    start, end = business_slot(1, 14)
    _start_clocks(stack, start - LEAD)
    ical_uid = _outlook_meeting(stack, BOB, "Review", start, end)
    booking = _outlook_booking(stack, "HQ-1-AURORA")
    assert booking is not None

    left = _check_in_and_out_early(stack, BOB, str(booking["Booking_Id"]), minutes_in=25)

    # In both modes the room holds an attendee copy: only that copy is shortened.
    def shortened() -> bool:
        copy = _room_copy(stack, ical_uid)
        return copy is not None and _utc(copy["end"]) == left.replace(microsecond=0)

    eventually(shortened, what="room copy shortened to the check-out time")
    (bobs,) = _live(stack, BOB, "Review")
    assert (_utc(bobs["start"]), _utc(bobs["end"])) == (start, end)
    _settle_hooks(stack, "booking.checked_out")
    graph, ibss = _writes(stack)
    assert graph == {"PATCH /users/{id}/events/{id}": 1}
    # The shortened copy is not a reschedule: nothing goes back to IBSS (no PATCH of the booking).
    assert ibss == {}
    copy = _room_copy(stack, ical_uid)
    assert copy is not None
    assert _utc(copy["end"]) == left.replace(microsecond=0)  # still ours: no one put it back
