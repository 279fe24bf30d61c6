"""Scenarios for meetings made in Outlook/Teams, in both organizer modes."""

from __future__ import annotations

import pytest

from shared.sync import (
    GONE,
    UNREAD,
    BookingStatus,
    CancelBooking,
    CreateBooking,
    DeclineRoomEvent,
    LinkState,
    OrganizerEventSnapshot,
    OrganizerMode,
    Present,
    Response,
    RoomRewrite,
    Sensitivity,
    Side,
    UpdateBooking,
    UpdateMeeting,
    reconcile,
    record_created_booking,
)
from shared.sync.reconcile import ROOM_REMOVED
from tests.sync.factories import (
    ALICE,
    AURORA,
    BOB,
    BOREALIS,
    CAROL,
    ECHO,
    FOXTROT,
    GUEST,
    NOW,
    START,
    H,
    booking,
    config,
    ibss_made,
    org_event,
    outlook_made,
    person,
    resource,
    room_event,
)

OWNER, ROOM = OrganizerMode.OWNER, OrganizerMode.ROOM


def _create(plan) -> CreateBooking:
    (create,) = plan.actions
    assert isinstance(create, CreateBooking)
    return create


# ------------------------------------------------------------------ new meeting -> booking


def test_owner_mode_room_invite_creates_booking_with_truthful_subject() -> None:
    room = room_event(attendees=(person(ALICE), person(BOB), person(GUEST), resource(AURORA)))
    org = org_event(attendees=(person(BOB), person(GUEST), resource(AURORA)))
    plan = reconcile(GONE, Present(room), Present(org), None, config(OWNER))
    create = _create(plan)
    assert create.space.space_id == "HQ-1-AURORA"
    assert create.owner_email == ALICE
    assert create.name == "Team sync"
    assert [(p.email, p.is_visitor) for p in create.parties] == [(GUEST, True)]  # internal Bob is not a party
    assert create.origin_ical_uid == "ICAL-1"
    assert plan.new_base is not None
    assert plan.new_base.attendees == (BOB, GUEST)
    assert plan.new_base.parties == (GUEST,)


def test_internal_attendees_become_parties_when_configured() -> None:
    room = room_event(attendees=(person(ALICE), person(BOB), person(GUEST), resource(AURORA)))
    plan = reconcile(GONE, Present(room), UNREAD, None, config(ROOM, attendees_as_parties_internal=True))
    assert [(p.email, p.is_visitor) for p in _create(plan).parties] == [(BOB, False), (GUEST, True)]


def test_room_mode_uses_organizer_name_when_room_deleted_the_subject() -> None:
    plan = reconcile(GONE, Present(room_event()), UNREAD, None, config(ROOM))
    assert _create(plan).name == "Alice Adams"
    assert plan.new_base is not None
    assert plan.new_base.subject is None  # unknown, never invented


def test_room_mode_strips_organizer_prefix_when_room_keeps_subjects() -> None:
    cfg = config(
        ROOM, room_rewrites={AURORA: RoomRewrite(add_organizer_to_subject=True, delete_subject=False)}
    )
    plan = reconcile(GONE, Present(room_event(subject="Alice Adams Team sync")), UNREAD, None, cfg)
    assert _create(plan).name == "Team sync"


@pytest.mark.parametrize("sensitivity", [Sensitivity.PRIVATE, Sensitivity.CONFIDENTIAL])
def test_private_meeting_books_masked_name_and_stores_no_subject(sensitivity) -> None:
    org = org_event(subject="Secret merger", sensitivity=sensitivity)
    room = room_event(subject="Secret merger", sensitivity=sensitivity)
    plan = reconcile(GONE, Present(room), Present(org), None, config(OWNER))
    assert _create(plan).name == "Private booking"
    assert plan.new_base is not None
    row = plan.new_base.to_row()
    assert "Secret merger" not in repr(row)
    assert plan.new_base.subject is None
    assert plan.new_base.private


def test_private_booking_name_is_configurable() -> None:
    org = org_event(sensitivity=Sensitivity.PRIVATE)
    plan = reconcile(
        GONE, Present(room_event()), Present(org), None, config(OWNER, private_booking_name="Busy")
    )
    assert _create(plan).name == "Busy"


@pytest.mark.parametrize(
    "room",
    [
        room_event(room_response=Response.NONE),
        room_event(room_response=Response.TENTATIVE),
        room_event(room_response=Response.DECLINED),
        room_event(is_cancelled=True),
        room_event(start=NOW - 3 * H, end=NOW - 2 * H),  # already over: never decline old meetings
        room_event(room_mailbox=ECHO),  # room exists, space not synced
        room_event(room_mailbox=FOXTROT),  # room without IBSS space
        room_event(is_organizer_room=True, organizer_email=AURORA),  # delegate-made, not ours
    ],
)
def test_no_booking_for_unbookable_or_unmanaged_events(room) -> None:
    plan = reconcile(GONE, Present(room), UNREAD, None, config(ROOM))
    assert plan.actions == ()
    assert plan.new_base is None


def test_meeting_that_started_in_the_past_is_declined_with_reason() -> None:
    room = room_event(start=NOW - H, end=NOW + H)
    plan = reconcile(GONE, Present(room), UNREAD, None, config(ROOM))
    (decline,) = plan.actions
    assert isinstance(decline, DeclineRoomEvent)
    assert "past" in decline.comment
    assert plan.new_base is None


def test_unknown_booking_lookup_defers() -> None:
    plan = reconcile(UNREAD, Present(room_event()), UNREAD, None, config(ROOM))
    assert plan.actions == ()


def test_room_added_later_or_forwarded_meeting_creates_booking() -> None:
    # The room copy of a forwarded/extended meeting looks like any accepted copy; owner = organizer.
    room = room_event(
        organizer_email=BOB,
        organizer_name="Bob Brown",
        subject="Bob Brown",
        attendees=(person(BOB), person(ALICE), resource(AURORA)),
    )
    create = _create(reconcile(GONE, Present(room), UNREAD, None, config(ROOM)))
    assert create.owner_email == BOB


# ------------------------------------------------------------------ edits in Outlook


@pytest.mark.parametrize("mode", [OWNER, ROOM])
def test_reschedule_moves_the_booking(mode) -> None:
    link = outlook_made(mode)
    upd = {"start": START + H, "end": START + 2 * H, "change_key": "k2", "last_modified": NOW}
    plan = link.run(
        room=link.room.model_copy(update=upd), org=link.org.model_copy(update=upd) if link.org else None
    )
    (act,) = plan.actions
    assert isinstance(act, UpdateBooking)
    assert (act.changes.start, act.changes.end) == (START + H, START + 2 * H)
    assert act.changes.name is None
    assert act.if_match == "b1"


def test_owner_mode_rename_renames_the_booking() -> None:
    link = outlook_made(OWNER)
    assert link.org is not None
    plan = link.run(org=link.org.model_copy(update={"subject": "Budget review", "change_key": "k2"}))
    (act,) = plan.actions
    assert isinstance(act, UpdateBooking)
    assert act.changes.name == "Budget review"


def test_room_mode_rename_renames_when_the_room_keeps_subjects() -> None:
    cfg = config(
        ROOM, room_rewrites={AURORA: RoomRewrite(add_organizer_to_subject=True, delete_subject=False)}
    )
    room = room_event(subject="Alice Adams Team sync")
    plan0 = reconcile(GONE, Present(room), UNREAD, None, cfg)
    assert plan0.new_base is not None
    base = record_created_booking(plan0.new_base, booking_id="BK-1")
    b = booking(name="Team sync", origin_ical_uid="ICAL-1")
    settled = reconcile(Present(b), Present(room), UNREAD, base, cfg)
    assert settled.is_noop
    assert settled.new_base is not None
    renamed = room.model_copy(update={"subject": "Alice Adams Budget", "change_key": "k2"})
    (act,) = reconcile(Present(b), Present(renamed), UNREAD, settled.new_base, cfg).actions
    assert isinstance(act, UpdateBooking)
    assert act.changes.name == "Budget"


@pytest.mark.parametrize("mode", [OWNER, ROOM])
def test_attendee_changes_update_parties(mode) -> None:
    link = outlook_made(mode, attendees=(person(BOB),))
    new_people = (person(CAROL), person(GUEST))
    room = link.room.model_copy(
        update={"attendees": (person(ALICE), *new_people, resource(AURORA)), "change_key": "k2"}
    )
    org = (
        link.org.model_copy(update={"attendees": (*new_people, resource(AURORA)), "change_key": "k2"})
        if link.org
        else None
    )
    plan = link.run(room=room, org=org)
    (act,) = plan.actions
    assert isinstance(act, UpdateBooking)
    assert act.changes.parties is not None
    assert [(p.email, p.is_visitor) for p in act.changes.parties] == [
        (GUEST, True)
    ]  # Carol internal, Bob never a party
    assert plan.new_base is not None
    assert plan.new_base.attendees == (CAROL, GUEST)


def _only_room(org: OrganizerEventSnapshot, room: str) -> OrganizerEventSnapshot:
    """The organizer's copy after the meeting's rooms were changed to ``room`` alone."""
    return org.model_copy(
        update={"attendees": (resource(room),), "location_emails": frozenset({room}), "change_key": "k2"}
    )


def test_owner_mode_room_change_moves_booking() -> None:
    link = outlook_made(OWNER)
    assert link.org is not None
    org = _only_room(link.org, BOREALIS)
    plan = link.run(room=GONE, org=org)  # the old room's copy is already gone
    (act,) = plan.actions
    assert isinstance(act, UpdateBooking)
    assert act.changes.space is not None
    assert act.changes.space.space_id == "HQ-1-BOREALIS"


def test_owner_mode_a_room_removed_from_a_meeting_with_two_rooms_cancels_only_its_booking() -> None:
    # Aurora and Borealis were both invited, each with a booking (a link) of its own; Aurora is removed.
    link = outlook_made(OWNER)
    assert link.org is not None
    org = _only_room(link.org, BOREALIS)
    cancelled = link.room.model_copy(update={"is_cancelled": True, "change_key": "rck2"})
    held = link.cfg.model_copy(update={"held_elsewhere": frozenset({BOREALIS})})
    plan = link.run(room=cancelled, org=org, cfg=held)
    (act,) = plan.actions  # no write on Borealis' space, no decline sent to the organizer
    assert isinstance(act, CancelBooking)
    assert act.reason == ROOM_REMOVED


def test_room_mode_room_change_seen_through_the_new_room_copy() -> None:
    link = outlook_made(ROOM)
    new_copy = link.room.model_copy(
        update={
            "event_id": "R-borealis",
            "room_mailbox": BOREALIS,
            "change_key": "x1",
            "attendees": (person(ALICE), resource(BOREALIS)),
        }
    )
    plan = link.run(room=new_copy)
    (act,) = plan.actions
    assert isinstance(act, UpdateBooking)
    assert act.changes.space is not None
    assert act.changes.space.room_mailbox == BOREALIS
    assert plan.new_base is not None
    # the old room's cancelled copy arriving afterwards is stale: nothing happens
    moved = link.booking.model_copy(
        update={"room_mailbox": BOREALIS, "space_id": "HQ-1-BOREALIS", "version": "b2"}
    )
    old_copy = link.room.model_copy(update={"is_cancelled": True, "change_key": "rck9"})
    assert link.run(booking=moved, room=old_copy, base=plan.new_base).actions == ()


def test_room_change_to_an_unsynced_room_cancels_booking() -> None:
    link = outlook_made(OWNER)
    assert link.org is not None
    org = link.org.model_copy(
        update={"attendees": (resource(ECHO),), "location_emails": frozenset({ECHO}), "change_key": "k2"}
    )
    (act,) = link.run(room=GONE, org=org).actions
    assert isinstance(act, CancelBooking)
    assert "removed" in act.reason


@pytest.mark.parametrize("mode", [OWNER, ROOM])
@pytest.mark.parametrize("how", ["cancel", "delete"])
def test_cancel_or_delete_cancels_booking(mode, how) -> None:
    link = outlook_made(mode)
    if how == "cancel":
        room = link.room.model_copy(update={"is_cancelled": True, "change_key": "k2"})
        org = link.org.model_copy(update={"is_cancelled": True, "change_key": "k2"}) if link.org else None
        plan = link.run(room=room, org=org)
    else:
        plan = link.run(room=GONE, org=GONE if link.org else None)
    (act,) = plan.actions
    assert isinstance(act, CancelBooking)
    assert plan.new_base is not None
    assert plan.new_base.state == LinkState.CANCELLED
    assert plan.new_base.ended_by == Side.OUTLOOK


def test_room_declining_an_adopted_meeting_cancels_booking_only() -> None:
    link = outlook_made(ROOM)
    plan = link.run(
        room=link.room.model_copy(update={"room_response": Response.DECLINED, "change_key": "k2"})
    )
    assert [type(a) for a in plan.actions] == [CancelBooking]


def test_private_toggle_masks_booking_name() -> None:
    link = outlook_made(OWNER)
    assert link.org is not None
    plan = link.run(org=link.org.model_copy(update={"sensitivity": Sensitivity.PRIVATE, "change_key": "k2"}))
    (act,) = plan.actions
    assert isinstance(act, UpdateBooking)
    assert act.changes.name == "Private booking"
    assert plan.new_base is not None
    assert plan.new_base.subject is None


def test_ibss_rename_of_private_meeting_is_reverted_to_mask() -> None:
    link = outlook_made(OWNER)
    assert link.org is not None
    private_org = link.org.model_copy(update={"sensitivity": Sensitivity.PRIVATE, "change_key": "k2"})
    step = link.run(org=private_org)
    assert step.new_base is not None
    b = link.booking.model_copy(update={"name": "Private booking", "version": "b2"})
    settled = link.run(booking=b, org=private_org, base=step.new_base)
    assert settled.is_noop
    assert settled.new_base is not None
    renamed = b.model_copy(update={"name": "Leaked title", "version": "b3"})
    plan = link.run(booking=renamed, org=private_org, base=settled.new_base)
    assert [a.changes.name for a in plan.ibss_writes if isinstance(a, UpdateBooking)] == ["Private booking"]
    assert plan.outlook_writes == ()
    assert len(plan.conflicts) == 1


# ------------------------------------------------------------------ IBSS edits of Outlook-made meetings


def test_owner_mode_ibss_edits_are_written_to_the_organizers_meeting() -> None:
    link = outlook_made(OWNER)
    plan = link.run(
        booking=link.booking.model_copy(update={"start": START + H, "end": START + 2 * H, "version": "b2"})
    )
    (act,) = plan.actions
    assert isinstance(act, UpdateMeeting)
    assert act.target.role == "organizer"
    assert act.target.mailbox == ALICE


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"start": START + H, "end": START + 2 * H}, "time"),
        ({"name": "Renamed in IBSS"}, "name"),
        ({"room_mailbox": BOREALIS, "space_id": "HQ-1-BOREALIS"}, "room"),
        (
            {"parties": frozenset({__import__("shared.sync").sync.Party(email=GUEST, is_visitor=True)})},
            "parties",
        ),
    ],
)
def test_room_mode_reverts_ibss_edits_of_outlook_organized_meetings(change, field) -> None:
    link = outlook_made(ROOM)
    plan = link.run(booking=link.booking.model_copy(update={**change, "version": "b2", "modified": NOW}))
    assert plan.outlook_writes == ()
    (upd,) = plan.ibss_writes
    assert isinstance(upd, UpdateBooking)
    (conflict,) = plan.conflicts
    assert conflict.field == field
    assert conflict.winner == Side.OUTLOOK
    assert "organized in Outlook" in conflict.reason
    assert plan.new_base is not None
    assert plan.new_base.start == START
    assert plan.new_base.room_mailbox == AURORA


@pytest.mark.parametrize("mode", [OWNER, ROOM])
def test_ibss_cancel_of_outlook_made_meeting_declines_the_room_copy(mode) -> None:
    link = outlook_made(mode)
    plan = link.run(
        booking=link.booking.model_copy(update={"status": BookingStatus.CANCELLED, "version": "b2"})
    )
    (act,) = plan.actions
    assert isinstance(act, DeclineRoomEvent)
    assert act.room_mailbox == AURORA
    assert act.event_id == "R-aurora"


def test_room_mode_owner_decline_of_room_organized_meeting_cancels_both() -> None:

    link = ibss_made(ROOM)
    attendees = tuple(
        a.model_copy(update={"response": Response.DECLINED}) if a.email == ALICE else a
        for a in link.room.attendees
    )
    plan = link.run(room=link.room.model_copy(update={"attendees": attendees, "change_key": "k2"}))
    assert [type(a).__name__ for a in plan.actions] == ["CancelBooking", "CancelMeeting"]


def test_room_mode_move_to_a_room_that_declines_cancels_booking() -> None:
    link = outlook_made(ROOM)
    declined_copy = link.room.model_copy(
        update={
            "event_id": "R-borealis",
            "room_mailbox": BOREALIS,
            "room_response": Response.DECLINED,
            "change_key": "x1",
            "attendees": (person(ALICE), resource(BOREALIS)),
        }
    )
    plan = link.run(room=declined_copy)
    (act,) = plan.actions
    assert isinstance(act, CancelBooking)
    assert "declined" in act.reason
