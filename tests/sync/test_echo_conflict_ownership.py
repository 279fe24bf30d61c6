"""Echo suppression, conflicts, no resurrection, ownership, unread inputs, failure follow-ups, recovery."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from shared.sync import (
    GONE,
    UNREAD,
    BookingStatus,
    CancelBooking,
    CancelMeeting,
    CreateBooking,
    CreateMeeting,
    DeclineRoomEvent,
    IbssRejection,
    LinkOnly,
    LinkState,
    OrganizerMode,
    Present,
    Response,
    RetryLater,
    Side,
    SyncPlan,
    UpdateBooking,
    UpdateMeeting,
    plan_after_ibss_rejection,
    reconcile,
)
from shared.sync.reconcile import holder_meeting
from tests.sync.factories import (
    AURORA,
    BOB,
    GUEST,
    NOW,
    START,
    H,
    Link,
    booking,
    config,
    ibss_made,
    org_event,
    outlook_made,
    parties,
    person,
    resource,
    room_event,
)

OWNER, ROOM = OrganizerMode.OWNER, OrganizerMode.ROOM
ALL_LINKS = [
    pytest.param(lambda: ibss_made(OWNER), id="ibss-owner"),
    pytest.param(lambda: ibss_made(ROOM), id="ibss-room"),
    pytest.param(lambda: outlook_made(OWNER), id="outlook-owner"),
    pytest.param(lambda: outlook_made(ROOM), id="outlook-room"),
]


def _touch(link: Link, ck: str = "new") -> dict:
    """Exchange re-notifies with a new change key and unchanged content."""
    return {
        "room": link.room.model_copy(update={"change_key": f"r-{ck}"}),
        "org": link.org.model_copy(update={"change_key": f"o-{ck}"}) if link.org else None,
    }


# ------------------------------------------------------------------ echoes


@pytest.mark.parametrize("make", ALL_LINKS)
def test_same_versions_are_a_noop_with_unchanged_base(make) -> None:
    link = make()
    plan = link.run()
    assert plan.actions == ()
    assert plan.new_base is not None
    assert plan.new_base == link.base


@pytest.mark.parametrize("make", ALL_LINKS)
def test_several_updated_notifications_only_bump_versions(make) -> None:
    link = make()
    for i in range(3):
        plan = link.run(**_touch(link, str(i)))
        assert plan.actions == ()
        assert plan.new_base is not None
        assert plan.new_base.room_change_key == f"r-{i}"
        assert plan.new_base.model_copy(update={"room_change_key": None, "organizer_change_key": None}) == (
            link.base.model_copy(update={"room_change_key": None, "organizer_change_key": None})
        )


@pytest.mark.parametrize("make", ALL_LINKS)
def test_ibss_echo_with_new_version_is_a_noop(make) -> None:
    link = make()
    plan = link.run(booking=link.booking.model_copy(update={"version": "b-echo", "modified": NOW}))
    assert plan.actions == ()
    assert plan.new_base is not None
    assert plan.new_base.booking_version == "b-echo"


@pytest.mark.parametrize("mode", [OWNER, ROOM])
def test_our_own_meeting_update_coming_back_causes_zero_writes(mode) -> None:
    link = ibss_made(mode)
    b2 = link.booking.model_copy(
        update={"start": START + H, "end": START + 2 * H, "name": "New", "version": "b2"}
    )
    plan = link.run(booking=b2)
    assert len(plan.outlook_writes) == 1
    assert plan.new_base is not None
    moved = {"start": START + H, "end": START + 2 * H, "change_key": "k-echo", "last_modified": NOW}
    # the room copy comes back rewritten ("Alice Adams"), the organizer copy truthful
    room = link.room.model_copy(update=moved | ({"subject": "New"} if mode == ROOM else {}))
    org = link.org.model_copy(update=moved | {"subject": "New"}) if link.org else None
    echo = link.run(booking=b2, room=room, org=org, base=plan.new_base)
    assert echo.actions == ()
    again = link.run(booking=b2, room=room, org=org, base=echo.new_base)
    assert again.actions == ()
    assert again.new_base == echo.new_base


def test_our_own_booking_update_coming_back_causes_zero_writes() -> None:
    link = outlook_made(ROOM)
    moved = {"start": START + H, "end": START + 2 * H, "change_key": "k2", "last_modified": NOW}
    plan = link.run(room=link.room.model_copy(update=moved))
    assert plan.new_base is not None
    b2 = link.booking.model_copy(
        update={"start": START + H, "end": START + 2 * H, "version": "b2", "modified": NOW}
    )
    echo = link.run(booking=b2, room=link.room.model_copy(update=moved), base=plan.new_base)
    assert echo.actions == ()
    assert echo.new_base is not None
    assert echo.new_base.booking_version == "b2"


@pytest.mark.parametrize("subject", ["Alice Adams", "", "Alice Adams - Team sync", "Alice Adams Team sync"])
def test_room_subject_rewrites_are_not_edits(subject) -> None:
    for link in (ibss_made(OWNER), outlook_made(OWNER), outlook_made(ROOM)):
        plan = link.run(room=link.room.model_copy(update={"subject": subject, "change_key": "rw"}))
        assert plan.actions == (), (link.kind, plan)


# ------------------------------------------------------------------ conflicts


@pytest.mark.parametrize(
    ("b_mod", "o_mod", "tie", "winner"),
    [
        (NOW, NOW - H, Side.OUTLOOK, Side.IBSS),
        (NOW - H, NOW, Side.IBSS, Side.OUTLOOK),
        (NOW, NOW, Side.OUTLOOK, Side.OUTLOOK),
        (NOW, NOW, Side.IBSS, Side.IBSS),
    ],
)
def test_same_field_changed_differently_latest_wins_ties_fixed(b_mod, o_mod, tie, winner) -> None:
    link = ibss_made(OWNER)
    cfg = config(OWNER, conflict_tie_winner=tie)
    b = link.booking.model_copy(
        update={"start": START + H, "end": START + 2 * H, "version": "b2", "modified": b_mod}
    )
    assert link.org is not None
    org = link.org.model_copy(
        update={"start": START + 2 * H, "end": START + 3 * H, "change_key": "o2", "last_modified": o_mod}
    )
    plan = link.run(booking=b, org=org, cfg=cfg)
    (conflict,) = plan.conflicts
    assert conflict.field == "time"
    assert conflict.winner == winner
    if winner == Side.IBSS:
        assert plan.ibss_writes == ()
        (w,) = plan.outlook_writes
        assert isinstance(w, UpdateMeeting)
        assert w.changes.start == START + H
    else:
        assert plan.outlook_writes == ()
        (wb,) = plan.ibss_writes
        assert isinstance(wb, UpdateBooking)
        assert wb.changes.start == START + 2 * H


def test_same_change_on_both_sides_converges_silently() -> None:
    link = ibss_made(OWNER)
    assert link.org is not None
    b = link.booking.model_copy(update={"start": START + H, "end": START + 2 * H, "version": "b2"})
    org = link.org.model_copy(update={"start": START + H, "end": START + 2 * H, "change_key": "o2"})
    plan = link.run(booking=b, org=org)
    assert plan.actions == ()
    assert plan.new_base is not None
    assert plan.new_base.start == START + H


def test_different_fields_on_both_sides_are_merged() -> None:
    link = ibss_made(OWNER)
    assert link.org is not None
    b = link.booking.model_copy(update={"name": "Renamed", "version": "b2"})
    org = link.org.model_copy(update={"start": START + H, "end": START + 2 * H, "change_key": "o2"})
    plan = link.run(booking=b, org=org)
    assert plan.conflicts == ()
    (ub,) = plan.ibss_writes
    (um,) = plan.outlook_writes
    assert isinstance(ub, UpdateBooking)
    assert isinstance(um, UpdateMeeting)
    assert ub.changes.start == START + H
    assert ub.changes.name is None
    assert um.changes.subject == "Renamed"
    assert um.changes.start is None


def test_parties_and_attendees_merge_per_element() -> None:
    link = ibss_made(OWNER, parties=parties(BOB))
    assert link.org is not None
    b = link.booking.model_copy(update={"parties": parties(BOB, GUEST), "version": "b2"})
    org = link.org.model_copy(update={"attendees": (resource(AURORA),), "change_key": "o2"})  # Bob removed
    plan = link.run(booking=b, org=org)
    (ub,) = plan.ibss_writes
    (um,) = plan.outlook_writes
    assert isinstance(ub, UpdateBooking)
    assert isinstance(um, UpdateMeeting)
    assert ub.changes.parties is not None
    assert [p.email for p in ub.changes.parties] == [GUEST]
    assert um.changes.attendees_add == (GUEST,)
    assert plan.conflicts == ()


def test_cancellation_dominates_a_concurrent_edit() -> None:
    link = ibss_made(OWNER)
    assert link.org is not None
    b = link.booking.model_copy(update={"status": BookingStatus.CANCELLED, "version": "b2"})
    org = link.org.model_copy(
        update={"start": START + H, "end": START + 2 * H, "change_key": "o2", "last_modified": NOW}
    )
    plan = link.run(booking=b, org=org)
    assert [type(a) for a in plan.actions] == [CancelMeeting]
    link2 = outlook_made(OWNER)
    assert link2.org is not None
    plan2 = link2.run(
        booking=link2.booking.model_copy(update={"name": "X", "version": "b2", "modified": NOW}),
        org=link2.org.model_copy(update={"is_cancelled": True, "change_key": "o2"}),
    )
    assert [type(a) for a in plan2.actions] == [CancelBooking]


# ------------------------------------------------------------------ no resurrection


@pytest.mark.parametrize("make", ALL_LINKS)
def test_cancelled_link_is_never_recreated(make) -> None:
    link = make()
    cancelled = link.booking.model_copy(update={"status": BookingStatus.CANCELLED, "version": "b2"})
    plan = link.run(booking=cancelled)
    assert plan.new_base is not None
    base = plan.new_base
    assert base.state == LinkState.CANCELLED
    # whatever later comes back, nothing is ever created again
    for room in (GONE, link.room, link.room.model_copy(update={"change_key": "zz", "start": START + H})):
        for b in (GONE, cancelled, link.booking):
            later = link.run(booking=b, room=room, base=base)
            kinds = {type(a) for a in later.actions}
            assert not kinds & {CreateBooking, CreateMeeting, UpdateBooking, UpdateMeeting}, later


def test_cancelled_booking_whose_meeting_still_exists_cancels_the_meeting_again() -> None:
    link = ibss_made(OWNER)
    first = link.run(booking=GONE)
    assert first.new_base is not None
    again = link.run(booking=GONE, base=first.new_base)  # our CancelMeeting did not land yet
    assert [type(a) for a in again.actions] == [CancelMeeting]
    done_org = link.org.model_copy(update={"is_cancelled": True}) if link.org else None
    done_room = link.room.model_copy(update={"is_cancelled": True})
    assert link.run(booking=GONE, room=done_room, org=done_org, base=first.new_base).actions == ()


def test_room_readded_after_outlook_cancellation_is_a_new_booking_not_a_resurrection() -> None:
    link = outlook_made(ROOM)
    declined = link.room.model_copy(update={"room_response": Response.DECLINED, "change_key": "k2"})
    plan = link.run(room=declined)
    assert plan.new_base is not None
    cancelled_b = link.booking.model_copy(update={"status": BookingStatus.CANCELLED, "version": "b2"})
    again = link.room.model_copy(
        update={"event_id": "R-aurora-2", "change_key": "k3", "start": START + H, "end": START + 2 * H}
    )
    later = link.run(booking=cancelled_b, room=again, base=plan.new_base)
    (create,) = later.actions
    assert isinstance(create, CreateBooking)
    assert later.new_base is not None
    assert later.new_base.booking_id is None  # a new link; the cancelled booking stays cancelled


# ------------------------------------------------------------------ ownership


EVENTS_WITHOUT_MARKER = [
    room_event(),
    room_event(room_response=Response.NONE),
    room_event(room_response=Response.DECLINED),
    room_event(is_cancelled=True),
    room_event(start=NOW - H, end=NOW + H),
    room_event(room_mailbox="echo@contoso.example"),
    room_event(is_organizer_room=True, organizer_email=AURORA),
]


@pytest.mark.parametrize("room", EVENTS_WITHOUT_MARKER)
@pytest.mark.parametrize("booking_obs", [GONE, UNREAD])
@pytest.mark.parametrize("mode", [OWNER, ROOM])
def test_unlinked_events_are_only_ever_booked_or_declined(room, booking_obs, mode) -> None:
    plan = reconcile(booking_obs, Present(room), UNREAD, None, config(mode))
    assert {type(a) for a in plan.actions} <= {CreateBooking, DeclineRoomEvent}


def test_orphan_of_our_own_room_meeting_is_cancelled_when_booking_is_gone() -> None:
    link = ibss_made(ROOM)
    plan = reconcile(GONE, Present(link.room), UNREAD, None, link.cfg)
    assert [type(a) for a in plan.actions] == [CancelMeeting]
    assert reconcile(UNREAD, Present(link.room), UNREAD, None, link.cfg).actions == ()


# ------------------------------------------------------------------ unread inputs


@pytest.mark.parametrize("make", ALL_LINKS)
def test_unread_sides_never_cause_writes(make) -> None:
    link = make()
    assert link.run(booking=UNREAD).actions == ()
    plan = link.run(room=UNREAD, org=UNREAD if link.org else None)
    assert plan.actions == ()


# ------------------------------------------------------------------ IBSS rejections


def test_ibss_policy_rejection_makes_the_room_decline() -> None:
    plan = plan_after_ibss_rejection(
        room_event(), None, IbssRejection(kind="policy", message="outside hours")
    )
    (decline,) = plan.actions
    assert isinstance(decline, DeclineRoomEvent)
    assert "outside hours" in decline.comment


def test_ibss_conflict_with_unknown_holder_declines() -> None:
    rej = IbssRejection(kind="conflict", message="space already booked", conflicting_booking_id="BK-9")
    assert [type(a) for a in plan_after_ibss_rejection(room_event(), None, rej).actions] == [DeclineRoomEvent]


def _holder(meeting: str, created: datetime | None = None) -> IbssRejection:
    return IbssRejection.model_validate(
        {
            "kind": "conflict",
            "message": "space already booked",
            "conflicting_booking_id": "BK-9",
            "conflicting_meeting": meeting,
            "conflicting_booking_created": created,
        }
    )


def _lost_the_race(plan: SyncPlan) -> bool:
    if [type(a) for a in plan.actions] != [CancelBooking, RetryLater]:
        return False
    cancel = plan.actions[0]
    return isinstance(cancel, CancelBooking) and cancel.booking_id == "BK-9" and plan.outlook_writes == ()


def test_ibss_conflict_lost_by_a_booking_made_in_flex_after_the_room_accepted() -> None:
    accepted = room_event()
    later = accepted.last_modified + timedelta(seconds=2)  # booked in Flex after the room accepted
    assert _lost_the_race(plan_after_ibss_rejection(accepted, None, _holder("none", later)))


def test_ibss_conflict_lost_by_a_booking_whose_meeting_the_room_does_not_hold() -> None:
    """Whatever its age: the room took this meeting first and refuses (or refused) the holder's."""
    accepted = room_event()
    older = accepted.last_modified - H
    assert _lost_the_race(plan_after_ibss_rejection(accepted, None, _holder("refused", older)))


@pytest.mark.parametrize(
    ("meeting", "made"),
    [("none", "before"), ("none", "unknown"), ("held", "after"), ("unknown", "after")],
)
def test_ibss_conflict_kept_by_the_holder_declines(meeting: str, made: str) -> None:
    """A booking with no meeting made before this one last changed (there before the service synced the
    space), or of unknown age, keeps the space; so does one the room holds, or one the room cannot be asked
    about."""
    accepted = room_event()
    created = {"before": accepted.last_modified - H, "after": accepted.last_modified + H}.get(made)
    plan = plan_after_ibss_rejection(accepted, None, _holder(meeting, created))
    assert [type(a) for a in plan.actions] == [DeclineRoomEvent]


def test_ibss_conflict_when_the_room_did_not_accept_declines() -> None:
    tentative = room_event(room_response=Response.NONE)
    plan = plan_after_ibss_rejection(tentative, None, _holder("refused"))
    assert [type(a) for a in plan.actions] == [DeclineRoomEvent]


def test_rejected_update_of_a_linked_booking_declines_and_cancels() -> None:
    link = outlook_made(ROOM)
    plan = plan_after_ibss_rejection(link.room, link.base, IbssRejection(kind="conflict", message="taken"))
    assert [type(a) for a in plan.actions] == [DeclineRoomEvent, CancelBooking]
    assert plan.new_base is not None
    assert plan.new_base.state == LinkState.CANCELLED


# ------------------------------------------------------------------ recovery of a lost link


def test_lost_state_with_marked_meeting_links_instead_of_creating() -> None:
    b = booking()
    org = org_event(booking_id_marker="BK-1")
    plan = reconcile(Present(b), Present(room_event()), Present(org), None, config(OWNER))
    assert isinstance(plan.actions[0], LinkOnly)
    assert not any(isinstance(a, CreateMeeting | CreateBooking) for a in plan.actions)
    assert plan.new_base is not None


def test_lost_state_recovery_pushes_the_newer_side() -> None:
    b = booking(start=START + H, end=START + 2 * H, modified=NOW)
    org = org_event(booking_id_marker="BK-1", last_modified=NOW - 2 * H)
    plan = reconcile(Present(b), Present(room_event()), Present(org), None, config(OWNER))
    (um,) = plan.outlook_writes
    assert isinstance(um, UpdateMeeting)
    assert um.changes.start == START + H


def test_outlook_made_booking_whose_meeting_is_gone_is_cancelled() -> None:
    plan = reconcile(Present(booking(origin_ical_uid="ICAL-1")), GONE, UNREAD, None, config(ROOM))
    assert [type(a) for a in plan.actions] == [CancelBooking]
    assert (
        reconcile(Present(booking(origin_ical_uid="ICAL-1")), UNREAD, UNREAD, None, config(ROOM)).actions
        == ()
    )


def test_unrelated_event_and_booking_are_not_linked() -> None:
    plan = reconcile(Present(booking()), Present(room_event()), UNREAD, None, config(ROOM))
    assert plan.actions == ()


def test_attendee_owner_is_never_a_party() -> None:
    link = outlook_made(OWNER, attendees=(person(GUEST),))
    assert link.base.parties == (GUEST,)
    assert "alice@contoso.example" not in link.base.attendees


def test_holder_meeting_is_read_from_the_holders_link_and_its_room_copy() -> None:
    base = ibss_made(ROOM).base
    assert holder_meeting(None, None) == "none"
    assert holder_meeting(base.model_copy(update={"state": LinkState.CANCELLED}), None) == "none"
    assert holder_meeting(base.model_copy(update={"ical_uid": ""}), None) == "refused"  # being made now
    assert holder_meeting(base, Present(room_event())) == "held"
    assert holder_meeting(base, Present(room_event(room_response=Response.DECLINED))) == "refused"
    assert holder_meeting(base, Present(room_event(is_cancelled=True))) == "refused"
    assert holder_meeting(base, GONE) == "refused"
    assert holder_meeting(base, UNREAD) == "unknown"
