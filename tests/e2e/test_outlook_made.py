"""Made in Outlook/Teams -> IBSS, end to end: Graph notifications, delta rounds, reconcile, IBSS writes."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.e2e.conftest import SyncStack, eventually
from tests.slots import business_slot

BOB, CAROL = "bob@contoso.example", "carol@contoso.example"
GUEST = "guest@fabrikam.example"
AURORA, BOREALIS, ECHO = "aurora@contoso.example", "borealis@contoso.example", "echo@contoso.example"


def _time(value: datetime) -> dict[str, str]:
    return {"dateTime": value.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"}


def meeting(
    subject: str, start: datetime, end: datetime, room: str | None, *others: str, **extra: Any
) -> dict:
    attendees = [{"emailAddress": {"address": a}, "type": "required"} for a in others]
    if room:
        attendees.append({"emailAddress": {"address": room}, "type": "resource"})
    return {"subject": subject, "start": _time(start), "end": _time(end), "attendees": attendees, **extra}


def bookings(stack: SyncStack, space_id: str, *, active: bool = True) -> list[dict[str, Any]]:
    """Bookings of a space that the sync made from Outlook meetings (the demo data has seed bookings)."""
    rows = [b for b in stack.ibss.state()["bookings"] if b["Space_Id"] == space_id and b["Booking_Ext_Ref"]]
    if active:
        rows = [b for b in rows if b["Booking_Status"] not in ("Cancelled", "Auto Cancelled")]
    return rows


def test_invite_reschedule_rename_attendees_cancel(ready_stack: SyncStack) -> None:
    stack = ready_stack
    start, end = business_slot(1, 9)
    created = stack.graph.act_create_meeting(BOB, meeting("Design review", start, end, AURORA, CAROL))

    booking = eventually(lambda: bookings(stack, "HQ-1-AURORA"), what="IBSS booking")[0]
    assert booking["Booking_Owner_Email"] == BOB
    assert booking["Booking_Start"].startswith(start.strftime("%Y-%m-%dT%H:%M"))
    assert len(bookings(stack, "HQ-1-AURORA")) == 1

    later = start + timedelta(hours=1)
    stack.graph.act_update_meeting(
        BOB, created["id"], {"start": _time(later), "end": _time(end + timedelta(hours=1))}
    )
    eventually(
        lambda: [
            b
            for b in bookings(stack, "HQ-1-AURORA")
            if b["Booking_Start"].startswith(later.strftime("%Y-%m-%dT%H:%M"))
        ],
        what="booking moved",
    )

    if stack.host_mode == "owner":  # room mode cannot see renames under Exchange's default DeleteSubject
        stack.graph.act_update_meeting(BOB, created["id"], {"subject": "Design review (final)"})
        eventually(
            lambda: [
                b for b in bookings(stack, "HQ-1-AURORA") if b["Booking_Name"] == "Design review (final)"
            ],
            what="booking renamed",
        )

    attendees = [
        {"emailAddress": {"address": CAROL}, "type": "required"},
        {"emailAddress": {"address": GUEST}, "type": "required"},
        {"emailAddress": {"address": AURORA}, "type": "resource"},
    ]
    stack.graph.act_update_meeting(BOB, created["id"], {"attendees": attendees})
    party = eventually(
        lambda: [
            p for b in bookings(stack, "HQ-1-AURORA") for p in b["Booking_Parties"] if p["Email"] == GUEST
        ],
        what="external attendee as a visitor",
    )[0]
    assert party["IsVisitor"] in (1, True)

    stack.graph.act_cancel_meeting(BOB, created["id"], "not needed")
    eventually(lambda: not bookings(stack, "HQ-1-AURORA"), what="booking cancelled")
    assert len(bookings(stack, "HQ-1-AURORA", active=False)) == 1  # no duplicate was ever made


def test_change_of_room_moves_the_booking(ready_stack: SyncStack) -> None:
    stack = ready_stack
    start, end = business_slot(2, 14)
    created = stack.graph.act_create_meeting(BOB, meeting("Standup", start, end, AURORA))
    eventually(lambda: bookings(stack, "HQ-1-AURORA"), what="IBSS booking")
    attendees = [{"emailAddress": {"address": BOREALIS}, "type": "resource"}]
    location = {"displayName": "Borealis", "locationEmailAddress": BOREALIS}
    stack.graph.act_update_meeting(BOB, created["id"], {"attendees": attendees, "location": location})
    eventually(lambda: bookings(stack, "HQ-1-BOREALIS"), what="booking moved to Borealis")
    eventually(lambda: not bookings(stack, "HQ-1-AURORA"), what="Aurora no longer booked")


def test_unsynced_room_is_left_alone(ready_stack: SyncStack) -> None:
    stack = ready_stack
    start, end = business_slot(3, 10)
    stack.graph.act_create_meeting(BOB, meeting("Elsewhere", start, end, ECHO))
    stack.graph.act_create_meeting(BOB, meeting("Marker", start, end, AURORA))
    eventually(lambda: bookings(stack, "HQ-1-AURORA"), what="the synced room's booking")
    assert bookings(stack, "HQ-3-ECHO") == []


def test_private_meeting_is_masked(ready_stack: SyncStack) -> None:
    stack = ready_stack
    start, end = business_slot(4, 9)
    stack.graph.act_create_meeting(BOB, meeting("Salary talk", start, end, AURORA, sensitivity="private"))
    booking = eventually(lambda: bookings(stack, "HQ-1-AURORA"), what="IBSS booking")[0]
    assert "Salary" not in booking["Booking_Name"]
    if stack.host_mode == "owner":
        assert booking["Booking_Name"] == "Private booking"
    # Room mode reads only the room's copy; with Exchange's defaults (RemovePrivateProperty, DeleteSubject)
    # it is neither marked private nor titled: the booking is named after the organizer, nothing leaks.


def test_room_added_later_and_meeting_forwarded_to_a_room(ready_stack: SyncStack) -> None:
    stack = ready_stack
    start, end = business_slot(2, 9)
    created = stack.graph.act_create_meeting(BOB, meeting("Sync later", start, end, None, CAROL))
    attendees = [
        {"emailAddress": {"address": CAROL}, "type": "required"},
        {"emailAddress": {"address": AURORA}, "type": "resource"},
    ]
    stack.graph.act_update_meeting(BOB, created["id"], {"attendees": attendees})
    eventually(lambda: bookings(stack, "HQ-1-AURORA"), what="booking after the room was added")

    start2, end2 = business_slot(2, 13)
    other = stack.graph.act_create_meeting(BOB, meeting("Forwarded", start2, end2, None, CAROL))
    stack.graph.act_forward(BOB, other["id"], [BOREALIS])
    eventually(lambda: bookings(stack, "HQ-1-BOREALIS"), what="booking after forwarding to the room")


def test_meeting_that_already_started_is_declined_with_a_reason(ready_stack: SyncStack) -> None:
    stack = ready_stack
    now = datetime.now(UTC).replace(microsecond=0)
    created = stack.graph.act_create_meeting(
        BOB, meeting("Started", now - timedelta(minutes=10), now + timedelta(minutes=50), AURORA)
    )

    def declined() -> bool:
        organizer = next(e for e in stack.graph.mailbox_events(BOB) if e["id"] == created["id"])
        room = next(a for a in organizer["attendees"] if a["emailAddress"]["address"] == AURORA)
        return bool(room["status"]["response"] == "declined")

    eventually(declined, what="room declined")
    assert bookings(stack, "HQ-1-AURORA", active=False) == []


def test_ibss_rejection_makes_the_room_decline(ready_stack: SyncStack) -> None:
    """Cirrus is already booked in IBSS (made in Flex) at that time: the Outlook meeting is declined."""
    stack = ready_stack
    start, end = business_slot(3, 15)
    stack.ibss.act_book("alice@contoso.example", "HQ-2-CIRRUS", start, end, name="Flex first")
    # Flex's booking reaches Cirrus's calendar first; then Bob's overlapping Outlook meeting must not win.
    eventually(
        lambda: [e for e in stack.graph.mailbox_events("cirrus@contoso.example") if not e.get("isCancelled")]
    )
    created = stack.graph.act_create_meeting(
        BOB, meeting("Outlook second", start, end, "cirrus@contoso.example")
    )

    def declined() -> bool:
        organizer = next(e for e in stack.graph.mailbox_events(BOB) if e["id"] == created["id"])
        rooms = [a for a in organizer["attendees"] if a["type"] == "resource"]
        return bool(rooms) and rooms[0]["status"]["response"] == "declined"

    eventually(declined, what="second meeting declined")
    flex = [b for b in stack.ibss.state()["bookings"] if b["Booking_Name"] == "Flex first"]
    assert flex[0]["Booking_Status"] not in ("Cancelled", "Auto Cancelled")
    assert bookings(stack, "HQ-2-CIRRUS") == []


def test_deleting_the_meeting_cancels_the_booking(ready_stack: SyncStack) -> None:
    """Delete (not cancel) in Outlook: the organizer removes the meeting from the calendar."""
    stack = ready_stack
    start, end = business_slot(3, 11)
    created = stack.graph.act_create_meeting(BOB, meeting("Retro", start, end, AURORA, CAROL))
    eventually(lambda: bookings(stack, "HQ-1-AURORA"), what="IBSS booking")
    stack.graph.act_delete_meeting(BOB, created["id"])
    eventually(lambda: not bookings(stack, "HQ-1-AURORA"), what="booking cancelled after the delete")
    (cancelled,) = bookings(stack, "HQ-1-AURORA", active=False)
    assert cancelled["Booking_Status"] == "Cancelled"
    # Stays cancelled: no resurrection on later rounds.
    time.sleep(2)
    assert not bookings(stack, "HQ-1-AURORA")


def test_deleting_the_room_copy_cancels_the_booking(ready_stack: SyncStack) -> None:
    """Someone with access to the room mailbox deletes its copy: the room no longer holds the slot."""
    stack = ready_stack
    start, end = business_slot(3, 15)
    stack.graph.act_create_meeting(BOB, meeting("Planning", start, end, AURORA))
    eventually(lambda: bookings(stack, "HQ-1-AURORA"), what="IBSS booking")
    stamp = start.strftime("%Y-%m-%dT%H:%M")
    ours = [e for e in stack.graph.mailbox_events(AURORA) if e["start"]["dateTime"].startswith(stamp)]
    assert len(ours) == 1
    stack.graph.act_delete_meeting(AURORA, ours[0]["id"])
    eventually(lambda: not bookings(stack, "HQ-1-AURORA"), what="booking cancelled after the room copy went")


def test_removing_one_room_of_a_meeting_with_two_cancels_only_its_booking(ready_stack: SyncStack) -> None:
    """Bob books Aurora and Borealis for one meeting (a booking each), then removes Borealis: its booking
    is cancelled because the room was removed, Aurora's booking is untouched (no IBSS write on it, no 409
    from moving Borealis' booking onto it) and no room declines anything to Bob."""
    stack = ready_stack
    start, end = business_slot(4, 14)
    body = meeting("Two rooms", start, end, AURORA, CAROL)
    body["attendees"].append({"emailAddress": {"address": BOREALIS}, "type": "resource"})
    created = stack.graph.act_create_meeting(BOB, body)
    aurora = eventually(lambda: bookings(stack, "HQ-1-AURORA"), what="Aurora's booking")[0]
    eventually(lambda: bookings(stack, "HQ-1-BOREALIS"), what="Borealis' booking")
    eventually(lambda: stack.ibss.wait_hooks_settled(timeout=20) or True)
    stack.ibss.clear_request_counts()

    stack.graph.act_update_meeting(BOB, created["id"], {"attendees": body["attendees"][:2]})
    eventually(lambda: not bookings(stack, "HQ-1-BOREALIS"), what="Borealis' booking cancelled")
    (cancelled,) = bookings(stack, "HQ-1-BOREALIS", active=False)
    if stack.host_mode == "owner":  # room mode sees only the room's cancelled copy: a cancel, not a removal
        assert "removed" in cancelled["Booking_Cancel_Reason"]
    (kept,) = bookings(stack, "HQ-1-AURORA")
    assert kept["Booking_Etag"] == aurora["Booking_Etag"]
    writes = stack.ibss.request_counts()["by_route_status"]
    assert not [r for r in writes if r.startswith("PATCH") and r.endswith(" 409")], writes
    declines = [m for m in stack.graph.messages() if "declin" in str(m).lower()]
    assert declines == []


def test_a_visitors_visit_follows_its_meeting(ready_stack: SyncStack) -> None:
    """An external attendee is a visitor with a visit in IBSS: when the meeting moves, the visit moves
    with it; when the meeting is cancelled, the visit is cancelled too (no guest expected at reception)."""
    stack = ready_stack
    start, end = business_slot(5, 15)
    created = stack.graph.act_create_meeting(BOB, meeting("Supplier visit", start, end, AURORA, GUEST))
    booking = eventually(lambda: bookings(stack, "HQ-1-AURORA"), what="IBSS booking")[0]

    def visits() -> list[dict[str, Any]]:
        return [
            v
            for v in stack.ibss.state()["visits"]
            if v["Visitor_Email"] == GUEST and v.get("Booking_Id") == booking["Booking_Id"]
        ]

    (visit,) = eventually(visits, what="the guest's visit")
    assert visit["Visit_Start_Date"].startswith(start.strftime("%Y-%m-%dT%H:%M"))

    later, later_end = start + timedelta(hours=1), end + timedelta(hours=1)
    stack.graph.act_update_meeting(BOB, created["id"], {"start": _time(later), "end": _time(later_end)})
    moved = eventually(
        lambda: [v for v in visits() if v["Visit_Start_Date"].startswith(later.strftime("%Y-%m-%dT%H:%M"))],
        what="the visit moved with its meeting",
    )
    assert moved[0]["Visit_End_Date"].startswith(later_end.strftime("%Y-%m-%dT%H:%M"))

    stack.graph.act_cancel_meeting(BOB, created["id"], "postponed")
    eventually(
        lambda: [v for v in visits() if v["Visit_Status"] == "Cancelled"],
        what="the visit cancelled with its meeting",
    )
