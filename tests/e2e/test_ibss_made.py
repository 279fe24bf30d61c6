"""Made in IBSS (Flex/Roamer) -> Outlook, end to end on the local stack, in both organizer modes."""

from __future__ import annotations

from datetime import timedelta

import httpx

from tests.e2e.conftest import SyncStack, eventually
from tests.slots import business_slot

ALICE, BOB = "alice@contoso.example", "bob@contoso.example"
AURORA, CIRRUS = "aurora@contoso.example", "cirrus@contoso.example"


def _meeting_holder(stack: SyncStack) -> str:
    """Where the service writes an IBSS-made meeting: the owner's calendar, or the room's own."""
    return ALICE if stack.host_mode == "owner" else AURORA


def _live(stack: SyncStack, mailbox: str, subject: str | None = None) -> list[dict]:
    return [
        e
        for e in stack.graph.mailbox_events(mailbox)
        if not e.get("isCancelled") and (subject is None or subject in (e.get("subject") or ""))
    ]


def test_book_reschedule_rename_cancel(sync_stack: SyncStack) -> None:
    stack = sync_stack
    start, end = business_slot(1, 10)
    booking = stack.ibss.act_book(ALICE, "HQ-1-AURORA", start, end, name="Planning")
    booking_id = str(booking["Booking_Id"])
    holder = _meeting_holder(stack)

    meeting = eventually(lambda: _live(stack, holder, "Planning"), what="meeting in Outlook")[0]
    # The room accepted: its calendar holds the meeting (owner mode: the room's copy; room mode: its own).
    eventually(lambda: _live(stack, AURORA), what="room calendar entry")
    assert meeting["start"]["dateTime"].startswith(start.strftime("%Y-%m-%dT%H:%M"))

    stack.ibss.act_move(
        ALICE, booking_id, "HQ-1-AURORA", start=start + timedelta(hours=2), end=end + timedelta(hours=2)
    )
    moved = (start + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")
    eventually(
        lambda: [e for e in _live(stack, holder, "Planning") if e["start"]["dateTime"].startswith(moved)],
        what="meeting moved",
    )

    stack.ibss.act_edit(ALICE, booking_id, name="Planning v2")
    eventually(lambda: _live(stack, holder, "Planning v2"), what="meeting renamed")

    stack.ibss.act_cancel(ALICE, booking_id)
    eventually(lambda: not _live(stack, holder, "Planning"), what="meeting cancelled")
    eventually(lambda: not _live(stack, AURORA), what="room released")
    assert stack.ibss.state()  # the emulator is still consistent


def test_move_to_another_space_releases_the_old_room(sync_stack: SyncStack) -> None:
    stack = sync_stack
    start, end = business_slot(2, 11)
    booking = stack.ibss.act_book(ALICE, "HQ-1-AURORA", start, end, name="Retro")
    eventually(lambda: _live(stack, AURORA), what="room calendar entry")
    stack.ibss.act_move(ALICE, str(booking["Booking_Id"]), space_id="HQ-2-CIRRUS")
    eventually(lambda: _live(stack, CIRRUS), what="new room holds the meeting")
    eventually(lambda: not _live(stack, AURORA), what="old room released")


def test_parties_become_attendees(sync_stack: SyncStack) -> None:
    stack = sync_stack
    start, end = business_slot(3, 13)
    booking = stack.ibss.act_book(ALICE, "HQ-1-AURORA", start, end, name="Party", parties=[BOB])
    holder = _meeting_holder(stack)

    def attendees() -> set[str]:
        found = _live(stack, holder, "Party")
        return {a["emailAddress"]["address"] for a in found[0]["attendees"]} if found else set()

    eventually(lambda: BOB in attendees(), what="party invited")
    stack.ibss.act_edit(ALICE, str(booking["Booking_Id"]), parties=["carol@contoso.example"])
    eventually(
        lambda: "carol@contoso.example" in attendees() and BOB not in attendees(), what="parties changed"
    )


def test_room_already_taken_in_outlook_cancels_the_ibss_booking(sync_stack: SyncStack) -> None:
    """The room calendar is the arbiter: an Outlook meeting holds Cirrus, Flex books it too."""
    stack = sync_stack
    start, end = business_slot(4, 10)
    stack.graph.act_create_meeting(
        "dave@contoso.example",
        {
            "subject": "Outlook first",
            "start": {"dateTime": start.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"},
            "end": {"dateTime": end.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"},
            "attendees": [{"emailAddress": {"address": CIRRUS}, "type": "resource"}],
        },
    )
    booking = stack.ibss.act_book(ALICE, "HQ-2-CIRRUS", start, end, name="Flex second")

    def cancelled() -> dict | None:
        rows = [b for b in stack.ibss.state()["bookings"] if b["Booking_Id"] == booking["Booking_Id"]]
        return rows[0] if rows and rows[0]["Booking_Status"] == "Cancelled" else None

    row = eventually(cancelled, what="IBSS booking cancelled")
    assert row["Booking_Cancel_Reason"]


DELTA = "delta@contoso.example"


def test_a_room_that_declines_for_its_own_reason_is_not_said_to_be_booked(sync_stack: SyncStack) -> None:
    """Delta takes meetings of at most an hour: owner mode invites it and it declines a two-hour booking
    (nothing else holds the slot), so the cancel reason must not claim it was already booked. Room mode
    writes the meeting into the room's own calendar, which the room's processing rules do not judge."""
    stack = sync_stack
    stack.graph.room_processing(DELTA, maximumDurationInMinutes=60)
    try:
        start, _ = business_slot(5, 9)
        booking = stack.ibss.act_book(ALICE, "HQ-2-DELTA", start, start + timedelta(hours=2), name="Long one")

        def row() -> dict:
            return next(b for b in stack.ibss.state()["bookings"] if b["Booking_Id"] == booking["Booking_Id"])

        if stack.host_mode == "owner":
            cancelled = eventually(lambda: row() if row()["Booking_Status"] == "Cancelled" else None)
            assert "declined" in cancelled["Booking_Cancel_Reason"]
            assert "already booked" not in cancelled["Booking_Cancel_Reason"]
        else:
            eventually(lambda: _live(stack, DELTA, "Long one"), what="meeting in the room's calendar")
            assert row()["Booking_Status"] != "Cancelled"
    finally:
        stack.graph.room_processing(DELTA, maximumDurationInMinutes=1440)


def test_a_kiosk_booking_without_an_owner_invites_nobody_made_up(sync_stack: SyncStack) -> None:
    """Booked at a kiosk (IBSS Unity/Inspire, a service account): no owner. The room organizes the meeting
    in both modes, and no made-up address is invited (it would be visible to all and bounce)."""
    stack = sync_stack
    start, end = business_slot(6, 10)
    stack.ibss.act_book_at_kiosk("HQ-2-CIRRUS", start, end, name="Kiosk walk-in")
    meeting = eventually(lambda: _live(stack, CIRRUS, "Kiosk walk-in"), what="meeting in the room")[0]
    assert meeting["organizer"]["emailAddress"]["address"].lower() == CIRRUS
    invited = [a["emailAddress"]["address"].lower() for a in meeting.get("attendees", [])]
    assert [a for a in invited if a != CIRRUS] == []


KIOSK = "lobby-kiosk@contoso.example"  # a company address Exchange has no mailbox for


def test_an_owner_without_a_mailbox_gets_a_room_organized_meeting_once_and_for_all(
    sync_stack: SyncStack,
) -> None:
    """A service account books in IBSS: its address looks internal (the rooms' domain) but Exchange has no
    mailbox for it. Owner mode tries its calendar once (404 ErrorInvalidUser), remembers the address and
    lets the room organize; the next booking costs no failed call; the ops page lists the owner."""
    stack = sync_stack
    stack.ibss.load({"people": [{"email": KIOSK, "first_name": "Lobby", "last_name": "Kiosk"}]})
    stack.graph.reset_request_counts()

    def failed_creates() -> int:
        entries = stack.graph.request_counts()["entries"]
        return sum(e["count"] for e in entries if e["status"] == 404 and e["endpoint"].startswith("POST"))

    start, end = business_slot(7, 10)
    stack.ibss.act_book(KIOSK, "HQ-1-AURORA", start, end, name="Service desk")
    first = eventually(lambda: _live(stack, AURORA, "Service desk"), what="meeting in the room")[0]
    assert first["organizer"]["emailAddress"]["address"].lower() == AURORA
    assert failed_creates() == (1 if stack.host_mode == "owner" else 0)

    stack.ibss.act_book(KIOSK, "HQ-2-CIRRUS", start, end, name="Service desk two")
    second = eventually(lambda: _live(stack, CIRRUS, "Service desk two"), what="second meeting")[0]
    assert second["organizer"]["emailAddress"]["address"].lower() == CIRRUS
    invited = [a["emailAddress"]["address"].lower() for a in second.get("attendees", [])]
    assert KIOSK not in invited or stack.host_mode == "room"  # owner mode knows it would bounce
    assert failed_creates() == (1 if stack.host_mode == "owner" else 0)  # remembered: no second 404

    overview = httpx.get(stack.host.url("ops/overview"), timeout=10).json()
    listed = [o["address"] for o in overview["owners_without_mailbox"]]
    assert listed == ([KIOSK] if stack.host_mode == "owner" else [])
