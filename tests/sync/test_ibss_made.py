"""Scenarios for bookings made in IBSS, in both organizer modes."""

from __future__ import annotations

import pytest

from shared.sync import (
    GONE,
    UNREAD,
    BookingStatus,
    CancelBooking,
    CancelMeeting,
    CreateMeeting,
    DeclineRoomEvent,
    LinkState,
    Managed,
    OrganizerMode,
    Present,
    Response,
    RoomMove,
    Side,
    UpdateBooking,
    UpdateMeeting,
    plan_after_room_unavailable,
    reconcile,
    record_created_meeting,
)
from shared.sync.normalize import transaction_id
from tests.sync.factories import (
    ALICE,
    AURORA,
    BOB,
    BOREALIS,
    ECHO,
    GUEST,
    NOW,
    START,
    H,
    booking,
    config,
    ibss_made,
    org_event,
    parties,
    person,
    resource,
)

OWNER, ROOM = OrganizerMode.OWNER, OrganizerMode.ROOM


# ------------------------------------------------------------------ create


def test_owner_mode_creates_meeting_in_owner_calendar_with_room_invited() -> None:
    b = booking(parties=parties(BOB, GUEST), online_meeting=True)
    plan = reconcile(Present(b), GONE, GONE, None, config(OWNER))
    (create,) = plan.actions
    assert isinstance(create, CreateMeeting)
    assert create.target_mailbox == ALICE
    assert not create.organizer_is_room
    assert create.room_mailbox == AURORA
    assert create.attendees == (BOB, GUEST)
    assert create.booking_id_marker == "BK-1"
    assert create.transaction_id == transaction_id("BK-1", ALICE, 0)
    assert create.online_meeting
    assert (create.subject, create.start, create.end) == ("Team sync", b.start, b.end)
    assert plan.new_base is not None
    assert plan.new_base.managed == Managed.OWNER_ORGANIZED
    assert plan.new_base.origin == Side.IBSS


def test_room_mode_creates_room_organized_meeting_with_owner_invited() -> None:
    plan = reconcile(Present(booking(parties=parties(BOB))), GONE, GONE, None, config(ROOM))
    (create,) = plan.actions
    assert isinstance(create, CreateMeeting)
    assert create.target_mailbox == AURORA
    assert create.organizer_is_room
    assert create.attendees == (ALICE, BOB)
    assert create.require_room_free  # nothing arbitrates a room's own meeting: check first
    assert create.transaction_id == transaction_id("BK-1", AURORA, 0)


def test_owner_mode_falls_back_to_room_organizer_for_an_owner_without_a_tenant_mailbox() -> None:
    plan = reconcile(Present(booking(owner_email=GUEST)), GONE, GONE, None, config(OWNER))
    (create,) = plan.actions
    assert isinstance(create, CreateMeeting)
    assert create.organizer_is_room
    assert GUEST in create.attendees


@pytest.mark.parametrize("mode", [OWNER, ROOM])
def test_a_booking_without_an_owner_is_organized_by_the_room_and_invites_nobody_made_up(mode) -> None:
    # A kiosk's booking (IBSS Unity/Inspire, a service account): no owner, so no attendee stands for one.
    plan = reconcile(Present(booking(owner_email="", parties=parties(BOB))), GONE, GONE, None, config(mode))
    (create,) = plan.actions
    assert isinstance(create, CreateMeeting)
    assert create.organizer_is_room
    assert create.target_mailbox == AURORA
    assert create.attendees == (BOB,)


def test_owner_mode_lets_the_room_organize_for_an_internal_owner_without_a_mailbox() -> None:
    # Alice's address is in the rooms' domain, but Graph said it has no mailbox (remembered per address).
    plan = reconcile(Present(booking()), GONE, GONE, None, config(OWNER, without_mailbox=frozenset({ALICE})))
    (create,) = plan.actions
    assert isinstance(create, CreateMeeting)
    assert create.organizer_is_room
    assert create.target_mailbox == AURORA
    assert ALICE not in create.attendees  # an invitation to an address without a mailbox would bounce


def test_retried_create_uses_the_same_transaction_id() -> None:
    first = reconcile(Present(booking()), GONE, GONE, None, config())
    second = reconcile(Present(booking(version="b2")), GONE, GONE, None, config())
    assert first.actions[0] == second.actions[0]


@pytest.mark.parametrize(
    ("b", "why"),
    [
        (booking(room_mailbox=None), "space is not synced"),
        (booking(room_mailbox=ECHO), "space is not synced"),
        (booking(status=BookingStatus.CANCELLED), "not active"),
        (booking(start=NOW - 2 * H, end=NOW - H), "already ended"),
    ],
)
def test_no_meeting_for_bookings_out_of_scope_or_inactive(b, why) -> None:
    plan = reconcile(Present(b), GONE, GONE, None, config())
    assert plan.actions == ()
    assert plan.new_base is None
    assert any(why in e for e in plan.explanation)


def test_unread_outlook_side_never_creates() -> None:
    plan = reconcile(Present(booking()), UNREAD, UNREAD, None, config())
    assert plan.actions == ()


# ------------------------------------------------------------------ edits


@pytest.mark.parametrize("mode", [OWNER, ROOM])
def test_reschedule_moves_the_meeting(mode) -> None:
    link = ibss_made(mode)
    b = link.booking.model_copy(
        update={"start": START + H, "end": START + 2 * H, "version": "b2", "modified": NOW}
    )
    plan = link.run(booking=b)
    (upd,) = plan.outlook_writes
    assert isinstance(upd, UpdateMeeting)
    assert (upd.changes.start, upd.changes.end) == (START + H, START + 2 * H)
    assert upd.target.role == ("organizer" if mode == OWNER else "room")
    assert upd.require_room_free == (mode == ROOM)
    assert plan.ibss_writes == ()
    assert plan.new_base is not None
    assert plan.new_base.start == START + H


@pytest.mark.parametrize("mode", [OWNER, ROOM])
def test_rename_changes_the_subject(mode) -> None:
    link = ibss_made(mode)
    plan = link.run(booking=link.booking.model_copy(update={"name": "Budget review", "version": "b2"}))
    (upd,) = plan.actions
    assert isinstance(upd, UpdateMeeting)
    assert upd.changes.subject == "Budget review"
    assert plan.new_base is not None
    assert plan.new_base.subject == "Budget review"


@pytest.mark.parametrize("mode", [OWNER, ROOM])
def test_parties_change_attendees(mode) -> None:
    link = ibss_made(mode, parties=parties(BOB))
    plan = link.run(booking=link.booking.model_copy(update={"parties": parties(GUEST), "version": "b2"}))
    (upd,) = plan.actions
    assert isinstance(upd, UpdateMeeting)
    assert upd.changes.attendees_add == (GUEST,)
    assert upd.changes.attendees_remove == (BOB,)


def test_owner_mode_room_move_releases_old_room_and_invites_new() -> None:
    link = ibss_made(OWNER)
    plan = link.run(booking=booking(room_mailbox=BOREALIS, version="b2"))
    (upd,) = plan.actions
    assert isinstance(upd, UpdateMeeting)
    assert upd.changes.room == RoomMove(old=AURORA, new=BOREALIS)
    assert plan.new_base is not None
    assert plan.new_base.room_mailbox == BOREALIS
    assert plan.new_base.room_event_id is None  # the new room's copy is linked when it arrives


def test_room_mode_room_move_cancels_and_recreates_in_the_new_room() -> None:
    link = ibss_made(ROOM)
    plan = link.run(booking=booking(room_mailbox=BOREALIS, version="b2"))
    cancel, create = plan.actions
    assert isinstance(cancel, CancelMeeting)
    assert cancel.target.mailbox == AURORA
    assert isinstance(create, CreateMeeting)
    assert create.target_mailbox == BOREALIS
    assert create.transaction_id == transaction_id("BK-1", BOREALIS, 1)
    assert plan.new_base is not None
    assert plan.new_base.generation == 1
    # moving back later never reuses the first meeting's transactionId
    assert transaction_id("BK-1", AURORA, 2) != transaction_id("BK-1", AURORA, 0)


def test_new_room_copy_after_an_owner_mode_move_is_linked_quietly() -> None:
    link = ibss_made(OWNER)
    b2 = booking(room_mailbox=BOREALIS, version="b2")
    moved = link.run(booking=b2)
    assert moved.new_base is not None
    org2 = link.org.model_copy(
        update={
            "attendees": (resource(BOREALIS),),
            "location_emails": frozenset({BOREALIS}),
            "change_key": "ock2",
        }
    )
    old_copy = link.room.model_copy(update={"is_cancelled": True, "change_key": "rck2"})
    new_copy = link.room.model_copy(
        update={
            "event_id": "R-borealis",
            "room_mailbox": BOREALIS,
            "attendees": (person(ALICE), resource(BOREALIS)),
            "change_key": "rb1",
        }
    )
    stale = link.run(booking=b2, room=old_copy, org=org2, base=moved.new_base)
    assert stale.is_noop
    fresh = link.run(booking=b2, room=new_copy, org=org2, base=moved.new_base)
    assert fresh.actions == ()
    assert fresh.new_base is not None
    assert fresh.new_base.room_event_id == "R-borealis"


# ------------------------------------------------------------------ cancellation


@pytest.mark.parametrize("mode", [OWNER, ROOM])
def test_cancel_cancels_the_meeting_we_created(mode) -> None:
    link = ibss_made(mode)
    plan = link.run(
        booking=link.booking.model_copy(update={"status": BookingStatus.CANCELLED, "version": "b2"})
    )
    (cancel,) = plan.actions
    assert isinstance(cancel, CancelMeeting)
    assert cancel.target.role == ("organizer" if mode == OWNER else "room")
    assert plan.new_base is not None
    assert plan.new_base.state == LinkState.CANCELLED
    assert plan.new_base.ended_by == Side.IBSS


def test_deleted_booking_counts_as_cancelled() -> None:
    link = ibss_made(OWNER)
    plan = link.run(booking=GONE)
    assert [type(a) for a in plan.actions] == [CancelMeeting]


@pytest.mark.parametrize(("mode", "action"), [(OWNER, DeclineRoomEvent), (ROOM, CancelMeeting)])
def test_auto_cancel_frees_the_room_only(mode, action) -> None:
    link = ibss_made(mode)
    plan = link.run(
        booking=link.booking.model_copy(update={"status": BookingStatus.AUTO_CANCELLED, "version": "b2"})
    )
    assert [type(a) for a in plan.actions] == [action]


def test_completed_booking_closes_the_link_without_writes() -> None:
    link = ibss_made(OWNER)
    plan = link.run(
        booking=link.booking.model_copy(update={"status": BookingStatus.COMPLETED, "version": "b2"})
    )
    assert plan.actions == ()
    assert plan.new_base is not None
    assert plan.new_base.state == LinkState.COMPLETED


@pytest.mark.parametrize("mode", [OWNER, ROOM])
def test_move_to_unsynced_space_releases_the_room_and_detaches(mode) -> None:
    link = ibss_made(mode)
    plan = link.run(booking=booking(room_mailbox=None, version="b2"))
    (act,) = plan.actions
    assert isinstance(act, CancelMeeting)
    assert plan.new_base is not None
    assert plan.new_base.state == LinkState.DETACHED
    gone_room = link.room.model_copy(update={"is_cancelled": True})
    gone_org = link.org.model_copy(update={"is_cancelled": True}) if link.org else None
    later = link.run(
        booking=booking(room_mailbox=None, version="b3"), room=gone_room, org=gone_org, base=plan.new_base
    )
    assert later.actions == ()
    # while our cancel has not landed, it is repeated (never anything else)
    assert [type(a) for a in link.run(booking=booking(room_mailbox=None), base=plan.new_base).actions] == [
        CancelMeeting
    ]
    # back in a synced space: a new meeting with a fresh transactionId
    back = link.run(
        booking=booking(room_mailbox=BOREALIS, version="b4"), room=gone_room, org=gone_org, base=plan.new_base
    )
    (create,) = back.actions
    assert isinstance(create, CreateMeeting)
    assert create.transaction_id != transaction_id("BK-1", create.target_mailbox, 0)
    assert back.new_base is not None
    assert back.new_base.state == LinkState.ACTIVE


# ------------------------------------------------------------------ room is the arbiter


def test_room_declines_ibss_meeting_booking_cancelled_with_reason_and_meeting_cancelled() -> None:
    link = ibss_made(OWNER)
    declined = link.room.model_copy(update={"room_response": Response.DECLINED, "change_key": "rck2"})
    plan = link.run(room=declined)
    cancel_b, cancel_m = plan.actions
    assert isinstance(cancel_b, CancelBooking)
    assert "declined" in cancel_b.reason
    assert isinstance(cancel_m, CancelMeeting)
    assert cancel_m.target.role == "organizer"
    assert plan.new_base is not None
    assert plan.new_base.state == LinkState.CANCELLED


def test_room_declines_before_the_room_copy_was_ever_linked() -> None:
    cfg = config(OWNER)
    plan = reconcile(Present(booking()), GONE, GONE, None, cfg)
    assert plan.new_base is not None
    base = record_created_meeting(plan.new_base, event_id="O-1", ical_uid="ICAL-1", change_key="ock0")
    link = ibss_made(OWNER)
    declined = link.room.model_copy(update={"room_response": Response.DECLINED})
    assert link.org is not None
    plan2 = reconcile(Present(booking()), Present(declined), Present(link.org), base, cfg)
    assert [type(a).__name__ for a in plan2.actions] == ["CancelBooking", "CancelMeeting"]


def test_room_declined_seen_only_on_the_organizer_copy() -> None:
    """Exchange keeps no room item for a declined invitation: the owner's copy holds the room's reply."""
    cfg = config(OWNER)
    plan = reconcile(Present(booking()), GONE, GONE, None, cfg)
    assert plan.new_base is not None
    base = record_created_meeting(plan.new_base, event_id="O-1", ical_uid="ICAL-1", change_key="ock0")
    org = org_event(attendees=(resource(AURORA, Response.DECLINED),), booking_id_marker="BK-1")
    plan2 = reconcile(Present(booking()), GONE, Present(org), base, cfg)
    assert [type(a).__name__ for a in plan2.actions] == ["CancelBooking", "CancelMeeting"]
    assert "declined" in plan2.ibss_writes[0].reason


def test_room_mode_precheck_busy_cancels_new_booking() -> None:
    plan = plan_after_room_unavailable(booking(), None, config(ROOM))
    (cancel,) = plan.actions
    assert isinstance(cancel, CancelBooking)
    assert cancel.booking_id == "BK-1"


def test_room_mode_precheck_busy_reverts_a_reschedule() -> None:
    link = ibss_made(ROOM)
    moved = booking(start=START + H, end=START + 2 * H, version="b2")
    plan = plan_after_room_unavailable(moved, link.base, link.cfg)
    upd = plan.ibss_writes[0]
    assert isinstance(upd, UpdateBooking)
    assert upd.changes.start == START
    assert len(plan.conflicts) == 1


def test_back_in_scope_reinvites_a_room_into_our_still_living_meeting() -> None:
    link = ibss_made(OWNER)
    assert link.org is not None
    roomless = link.org.model_copy(
        update={"attendees": (resource(ECHO),), "location_emails": frozenset({ECHO})}
    )
    detached = link.run(booking=booking(room_mailbox=None, version="b2"), org=roomless, room=GONE)
    assert detached.new_base is not None
    assert detached.new_base.state == LinkState.DETACHED
    back = link.run(
        booking=booking(room_mailbox=BOREALIS, version="b3"), org=roomless, room=GONE, base=detached.new_base
    )
    (upd,) = back.actions
    assert isinstance(upd, UpdateMeeting)  # never a second meeting for the same booking
    assert upd.changes.room == RoomMove(old=ECHO, new=BOREALIS)
