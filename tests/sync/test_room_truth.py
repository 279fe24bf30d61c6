"""No-show release and early check-out (issue #8): decisions with plain values, in both organizer modes."""

from __future__ import annotations

from datetime import timedelta

import pytest

from shared.ibss.models import Booking
from shared.sync import (
    GONE,
    BookingStatus,
    CancelMeeting,
    DeclineRoomEvent,
    LinkState,
    Managed,
    OrganizerMode,
    Response,
    SpaceRef,
    UpdateMeeting,
)
from shared.sync.reconcile import AUTO_CANCELLED_IN_IBSS
from shared.sync.room_truth import (
    CHECKED_OUT_BEFORE_START,
    checked_out_early,
    plan_check_out,
    shorten_room_copy,
)
from shared.worker.ibss_side import booking_snapshot
from shared.worker.scope import SyncScope
from tests.sync.factories import (
    ALICE,
    AURORA,
    END,
    START,
    Link,
    booking,
    ibss_made,
    outlook_made,
    resource,
    room_event,
)

OWNER, ROOM = OrganizerMode.OWNER, OrganizerMode.ROOM
M = timedelta(minutes=1)
CHECK_OUT = START + 20 * M

LINKS = {
    "ibss_owner": lambda: ibss_made(OWNER),
    "ibss_room": lambda: ibss_made(ROOM),
    "outlook_owner": lambda: outlook_made(OWNER),
    "outlook_room": lambda: outlook_made(ROOM),
}


def _no_show(link: Link) -> Link:
    return link.with_(
        booking=link.booking.model_copy(update={"status": BookingStatus.AUTO_CANCELLED, "version": "b2"})
    )


def _checked_out(link: Link, at: object = CHECK_OUT) -> Link:
    update = {"status": BookingStatus.COMPLETED, "checked_out_at": at, "version": "b3"}
    return link.with_(booking=link.booking.model_copy(update=update))


# ------------------------------------------------------------------ no-show


@pytest.mark.parametrize("kind", ["ibss_owner", "outlook_owner", "outlook_room"])
def test_no_show_declines_the_room_copy_and_tells_the_organizer(kind: str) -> None:
    link = _no_show(LINKS[kind]())
    plan = link.run()
    (decline,) = plan.actions  # nothing is written to the organizer's own meeting
    assert isinstance(decline, DeclineRoomEvent)
    assert (decline.room_mailbox, decline.event_id) == (AURORA, link.room.event_id)
    assert decline.comment == AUTO_CANCELLED_IN_IBSS
    assert plan.new_base is not None
    assert (plan.new_base.state, plan.new_base.ended_by) == (LinkState.CANCELLED, "ibss")


def test_no_show_cancels_a_room_organized_meeting_with_the_reason() -> None:
    link = _no_show(ibss_made(ROOM))
    (cancel,) = link.run().actions
    assert isinstance(cancel, CancelMeeting)
    assert (cancel.target.role, cancel.target.mailbox) == ("room", AURORA)
    assert cancel.comment == AUTO_CANCELLED_IN_IBSS


@pytest.mark.parametrize("kind", ["ibss_owner", "outlook_owner"])
def test_no_show_echo_of_the_decline_costs_nothing(kind: str) -> None:
    link = _no_show(LINKS[kind]())
    plan = link.run()
    assert plan.new_base is not None
    # The room's copy is gone; the organizer's copy shows the room's decline.
    assert link.org is not None
    attendees = tuple(
        resource(AURORA, Response.DECLINED) if a.email == AURORA else a for a in link.org.attendees
    )
    org = link.org.model_copy(update={"attendees": attendees, "change_key": "ock9"})
    again = link.run(room=GONE, org=org, base=plan.new_base)
    assert again.is_noop


# ------------------------------------------------------------------ early check-out


def test_checked_out_early_reads_ibss_status_not_a_clock() -> None:
    b = booking()
    assert checked_out_early(b) is None
    assert checked_out_early(b.model_copy(update={"checked_out_at": CHECK_OUT})) is None  # still active
    done = b.model_copy(update={"status": BookingStatus.COMPLETED})
    assert checked_out_early(done) is None  # ended without a check-out time
    assert checked_out_early(done.model_copy(update={"checked_out_at": END})) is None  # completed at its end
    assert checked_out_early(done.model_copy(update={"checked_out_at": CHECK_OUT})) == CHECK_OUT


@pytest.mark.parametrize("kind", ["ibss_owner", "outlook_owner", "outlook_room"])
def test_early_check_out_shortens_only_the_room_copy(kind: str) -> None:
    link = _checked_out(LINKS[kind]())
    plan = link.run()
    (update,) = plan.actions
    assert isinstance(update, UpdateMeeting)
    assert (update.target.role, update.target.mailbox, update.target.event_id) == (
        "room",
        AURORA,
        link.room.event_id,
    )
    # Only the end: no attendees, subject or room change, so Exchange sends no meeting message.
    assert update.changes.model_dump(exclude_defaults=True) == {"end": CHECK_OUT}
    assert not update.require_room_free
    base = plan.new_base
    assert base is not None
    assert (base.state, base.ended_by, base.end) == (LinkState.COMPLETED, "ibss", CHECK_OUT)
    assert base.room_change_key is None  # our own write: its echo is recognised, never merged


@pytest.mark.parametrize("kind", ["ibss_owner", "outlook_owner", "outlook_room"])
def test_echo_of_the_shortened_room_copy_is_no_reschedule(kind: str) -> None:
    link = _checked_out(LINKS[kind]())
    plan = link.run()
    assert plan.new_base is not None
    echo = link.room.model_copy(update={"end": CHECK_OUT, "change_key": "rck-echo"})
    again = link.run(room=echo, base=plan.new_base)
    assert again.actions == ()  # no UpdateBooking back to IBSS, no second PATCH
    assert link.run(base=plan.new_base).actions == ()  # the repeated hook, too


def test_room_organized_meeting_is_not_shortened() -> None:
    link = _checked_out(ibss_made(ROOM))
    plan = link.run()
    assert plan.actions == ()
    assert plan.new_base is not None
    assert plan.new_base.state == LinkState.COMPLETED
    assert plan.new_base.end == END
    assert "attendees' calendars" in " ".join(plan.explanation)


@pytest.mark.parametrize("kind", list(LINKS))
def test_completed_at_the_scheduled_end_closes_without_writes(kind: str) -> None:
    plan = _checked_out(LINKS[kind](), at=END).run()
    assert plan.actions == ()
    assert plan.new_base is not None
    assert plan.new_base.state == LinkState.COMPLETED


@pytest.mark.parametrize(
    ("kind", "action"),
    [("ibss_owner", DeclineRoomEvent), ("outlook_room", DeclineRoomEvent), ("ibss_room", CancelMeeting)],
)
def test_check_out_before_the_start_releases_the_room(kind: str, action: type) -> None:
    plan = _checked_out(LINKS[kind](), at=START - 5 * M).run()
    (release,) = plan.actions
    assert isinstance(release, action)
    assert release.comment == CHECKED_OUT_BEFORE_START


def test_room_copy_that_already_ends_by_then_is_left_alone() -> None:
    link = _checked_out(ibss_made(OWNER))
    shorter = link.room.model_copy(update={"end": START + 10 * M, "change_key": "rck7"})
    assert link.run(room=shorter).actions == ()


def test_declined_or_missing_room_copy_is_not_patched() -> None:
    copy = room_event(room_response=Response.DECLINED)
    out = plan_check_out(_checked_out(ibss_made(OWNER)).booking, copy, Managed.OWNER_ORGANIZED)
    assert (out.shorten_to, out.release) == (None, False)
    out = plan_check_out(_checked_out(ibss_made(OWNER)).booking, None, Managed.ADOPTED)
    assert (out.shorten_to, out.release) == (None, False)


def test_shorten_room_copy_targets_the_rooms_own_copy() -> None:
    action = shorten_room_copy(room_event(event_id="R-9"), CHECK_OUT)
    assert action.target.model_dump() == {"role": "room", "mailbox": AURORA, "event_id": "R-9"}


# ------------------------------------------------------------------ adapter: IBSS fields -> snapshot


def _wire(status: str, completed: str | None) -> Booking:
    return Booking.model_validate(
        {
            "Booking_Id": "BK-1",
            "Node_Id": 1011,
            "Space_Id": "HQ-1-AURORA",
            "Booking_Start": START.isoformat(),
            "Booking_End": END.isoformat(),
            "Booking_Status": status,
            "Booking_Owner_Email": ALICE,
            "Booking_Completed_Time": completed,
        }
    )


def test_snapshot_carries_the_check_out_time_of_completed_bookings_only() -> None:
    scope = SyncScope(
        by_mailbox={AURORA: SpaceRef(node_id=1011, space_id="HQ-1-AURORA", room_mailbox=AURORA)},
        nodes=(1011,),
    )
    done = booking_snapshot(_wire("Completed", CHECK_OUT.isoformat()), scope)
    assert (done.status, done.checked_out_at) == (BookingStatus.COMPLETED, CHECK_OUT)
    assert booking_snapshot(_wire("In Progress", None), scope).checked_out_at is None
    assert done.end == END  # IBSS keeps the scheduled end
