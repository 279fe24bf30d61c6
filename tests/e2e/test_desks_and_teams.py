"""Desk bookings in the owner's own calendar, and Teams links on IBSS-made meetings, end to end on the
local stack in both organizer modes."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from tests.e2e.conftest import SyncStack, eventually
from tests.slots import business_slot

ALICE, CAROL, DAVE = "alice@contoso.example", "carol@contoso.example", "dave@contoso.example"
AURORA = "aurora@contoso.example"
DESK_1, DESK_2 = "HQ-3-DESK-01", "HQ-3-DESK-02"

# A second building whose admins did not turn on Bkng_Sync_Enabled.
ANNEX = {
    "buildings": [
        {
            "node_id": 2001,
            "name": "Contoso Annex",
            "time_zone": "Europe/Berlin",
            "bkng_ext_system": 1,
            "bkng_sync_enabled": 0,
            "floors": [{"node_id": 2011, "name": "Ground"}],
            "spaces": [{"space_id": "AX-0-DESK-01", "name": "Annex desk", "floor": 2011, "type": "Desk"}],
        }
    ]
}


def _live(stack: SyncStack, mailbox: str, subject: str | None = None) -> list[dict[str, Any]]:
    return [
        e
        for e in stack.graph.mailbox_events(mailbox)
        if not e.get("isCancelled") and (subject is None or subject in (e.get("subject") or ""))
    ]


def _starts(event: dict[str, Any], when: Any) -> bool:
    return str(event["start"]["dateTime"]).startswith(when.strftime("%Y-%m-%dT%H:%M"))


def test_desk_booking_appears_moves_and_disappears_in_the_owners_calendar(sync_stack: SyncStack) -> None:
    stack = sync_stack
    stack.ibss.act_set_calendar_sync(DAVE, True)
    start, end = business_slot(1, 8, minutes=8 * 60)
    booking = stack.ibss.act_book(DAVE, DESK_1, start, end, name="Hot desk")
    booking_id = str(booking["Booking_Id"])

    found = eventually(lambda: _live(stack, DAVE, "Hot desk"), what="desk appointment")
    assert len(found) == 1
    appointment = found[0]
    assert appointment["attendees"] == []  # nobody invited
    assert appointment["location"]["displayName"] == "Desk 3.01, Contoso HQ"
    assert appointment["transactionId"]  # created idempotently, like our meetings
    assert _starts(appointment, start)

    later = start + timedelta(hours=1)
    stack.ibss.act_move(DAVE, booking_id, DESK_2, start=later, end=end + timedelta(hours=1))
    eventually(
        lambda: [
            e
            for e in _live(stack, DAVE, "Hot desk")
            if _starts(e, later) and e["location"]["displayName"].startswith("Desk 3.02")
        ],
        what="appointment moved to the other desk and time",
    )

    stack.ibss.act_edit(DAVE, booking_id, name="Focus day")
    eventually(lambda: _live(stack, DAVE, "Focus day"), what="appointment renamed")
    assert len(_live(stack, DAVE)) == 1  # updated in place, never duplicated

    stack.ibss.act_cancel(DAVE, booking_id)
    eventually(lambda: not _live(stack, DAVE), what="appointment removed")


def test_no_appointment_without_opt_in_or_without_bkng_sync_enabled(sync_stack: SyncStack) -> None:
    stack = sync_stack
    stack.ibss.load(ANNEX)
    stack.ibss.act_set_calendar_sync(DAVE, True)  # Carol keeps the default: not opted in
    start, end = business_slot(2, 9, minutes=4 * 60)
    stack.ibss.act_book(CAROL, DESK_2, start, end, name="Carol desk")
    stack.ibss.act_book(DAVE, "AX-0-DESK-01", start, end, name="Annex desk", node_id=2001)
    stack.ibss.wait_hooks_settled()
    # Processed after the two above: once it shows, they were decided too.
    stack.ibss.act_book(DAVE, DESK_1, start, end, name="Control desk")
    eventually(lambda: _live(stack, DAVE, "Control desk"), what="opted-in desk appointment")
    time.sleep(1.0)
    assert not _live(stack, CAROL)
    assert [e["subject"] for e in _live(stack, DAVE)] == ["Control desk"]


def test_appointment_deleted_in_outlook_stays_deleted_and_the_desk_stays_booked(
    sync_stack: SyncStack,
) -> None:
    stack = sync_stack
    stack.ibss.act_set_calendar_sync(DAVE, True)
    start, end = business_slot(3, 8, minutes=6 * 60)
    booking = stack.ibss.act_book(DAVE, DESK_1, start, end, name="Desk to drop")
    booking_id = str(booking["Booking_Id"])
    appointment = eventually(lambda: _live(stack, DAVE, "Desk to drop"), what="desk appointment")[0]

    stack.graph.act_delete_meeting(DAVE, appointment["id"])
    stack.ibss.act_edit(DAVE, booking_id, name="Desk renamed")
    stack.ibss.wait_hooks_settled()
    time.sleep(2.0)
    assert not _live(stack, DAVE)  # not resurrected
    row = next(b for b in stack.ibss.state()["bookings"] if b["Booking_Id"] == booking_id)
    assert row["Booking_Status"] not in ("Cancelled", "Auto Cancelled")  # the desk stays booked


def _meeting_holder(stack: SyncStack) -> str:
    return ALICE if stack.host_mode == "owner" else AURORA


def test_teams_link_on_an_ibss_made_meeting_that_asked_for_one(sync_stack: SyncStack) -> None:
    stack = sync_stack
    holder = _meeting_holder(stack)
    start, end = business_slot(4, 10)
    online = stack.ibss.act_book(ALICE, "HQ-1-AURORA", start, end, name="Remote sync", online_meeting=True)
    stack.ibss.act_book(
        ALICE, "HQ-1-AURORA", start + timedelta(hours=2), end + timedelta(hours=2), name="In person"
    )

    remote = eventually(lambda: _live(stack, holder, "Remote sync"), what="online meeting")[0]
    assert remote["isOnlineMeeting"] is True
    assert remote["onlineMeetingProvider"] == "teamsForBusiness"
    assert (remote.get("onlineMeeting") or {}).get("joinUrl", "").startswith("https://teams.microsoft.com/")
    local = eventually(lambda: _live(stack, holder, "In person"), what="in-person meeting")[0]
    assert not local["isOnlineMeeting"]
    assert local.get("onlineMeeting") is None

    # The link stays through IBSS edits and is never written back to IBSS.
    stack.ibss.act_edit(ALICE, str(online["Booking_Id"]), name="Remote sync v2")
    renamed = eventually(lambda: _live(stack, holder, "Remote sync v2"), what="online meeting renamed")[0]
    assert renamed["onlineMeeting"]["joinUrl"] == remote["onlineMeeting"]["joinUrl"]
    row = next(b for b in stack.ibss.state()["bookings"] if b["Booking_Id"] == online["Booking_Id"])
    assert "teams.microsoft.com" not in str(row)
