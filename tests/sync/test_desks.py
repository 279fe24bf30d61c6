"""The pure desk decision: which bookings get a personal appointment, and what it looks like."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from shared.sync.desks import (
    CreateAppointment,
    DeleteAppointment,
    DeskBase,
    DeskFacts,
    DeskState,
    UpdateAppointment,
    after_appointment_gone,
    appointment_for,
    decide_desk,
    desk_transaction_id,
    out_of_scope_reason,
    record_created,
)
from shared.sync.model import BookingStatus
from shared.sync.normalize import transaction_id

START = datetime(2030, 1, 8, 8, 0, tzinfo=UTC)


def facts(**changes: Any) -> DeskFacts:
    values: dict[str, Any] = {
        "booking_id": "b1",
        "node_id": 1001,
        "space_id": "HQ-3-DESK-01",
        "space_name": "Desk 3.01",
        "building_name": "Contoso HQ",
        "owner_email": "Dave@Contoso.example",
        "name": "Desk",
        "start": START,
        "end": START + timedelta(hours=9),
        "building_sync_enabled": True,
        "synced_room": False,
        "opted_in": True,
    }
    values.update(changes)
    return DeskFacts(**values)


def created(f: DeskFacts | None = None) -> DeskBase:
    plan = decide_desk(f or facts(), None)
    assert plan.new_base is not None
    return record_created(plan.new_base, "evt-1")


def test_the_appointment_invites_nobody_and_names_the_desk_and_building() -> None:
    a = appointment_for(facts())
    assert a.mailbox == "dave@contoso.example"
    assert a.location == "Desk 3.01, Contoso HQ"
    assert a.subject == "Desk"
    assert appointment_for(facts(name="  ")).subject == "Booked: Desk 3.01"
    assert appointment_for(facts(building_name="")).location == "Desk 3.01"


def test_scope_needs_the_building_flag_a_non_room_space_and_the_opt_in() -> None:
    assert out_of_scope_reason(facts()) is None
    assert "Bkng_Sync_Enabled" in (out_of_scope_reason(facts(building_sync_enabled=False)) or "")
    assert "synced room" in (out_of_scope_reason(facts(synced_room=True)) or "")
    assert "opted in" in (out_of_scope_reason(facts(opted_in=False)) or "")
    for f in (facts(building_sync_enabled=False), facts(synced_room=True), facts(opted_in=False)):
        plan = decide_desk(f, None)
        assert plan.is_noop
        assert plan.new_base is None


def test_first_sight_creates_with_marker_and_a_desk_transaction_id() -> None:
    plan = decide_desk(facts(), None)
    (create,) = plan.actions
    assert isinstance(create, CreateAppointment)
    assert create.booking_id_marker == "b1"
    assert create.transaction_id == desk_transaction_id("b1", "dave@contoso.example", 0)
    # Never the transactionId of an owner-mode meeting of the same booking (a room booking moved to a desk).
    assert create.transaction_id != transaction_id("b1", "dave@contoso.example", 0)
    assert plan.new_base is not None
    assert plan.new_base.event_id is None


def test_unchanged_booking_writes_nothing() -> None:
    plan = decide_desk(facts(), created())
    assert plan.is_noop
    assert plan.new_base is None


def test_time_and_name_changes_are_patched_alone() -> None:
    base = created()
    moved = facts(start=START + timedelta(hours=1), end=START + timedelta(hours=10), name="Focus day")
    plan = decide_desk(moved, base)
    (update,) = plan.actions
    assert isinstance(update, UpdateAppointment)
    assert update.event_id == "evt-1"
    assert (update.subject, update.location) == ("Focus day", None)
    assert update.start == START + timedelta(hours=1)
    assert plan.new_base is not None
    assert plan.new_base.appointment == appointment_for(moved)


def test_another_desk_changes_the_location() -> None:
    plan = decide_desk(facts(space_id="HQ-3-DESK-02", space_name="Desk 3.02"), created())
    (update,) = plan.actions
    assert isinstance(update, UpdateAppointment)
    assert update.location == "Desk 3.02, Contoso HQ"
    assert update.start is None


def test_cancel_and_gone_delete_the_appointment_for_good() -> None:
    for f in (None, facts(status=BookingStatus.CANCELLED), facts(status=BookingStatus.AUTO_CANCELLED)):
        plan = decide_desk(f, created())
        (delete,) = plan.actions
        assert isinstance(delete, DeleteAppointment)
        assert delete.mailbox == "dave@contoso.example"
        assert plan.new_base is not None
        assert plan.new_base.state is DeskState.CANCELLED
        assert decide_desk(facts(), plan.new_base).is_noop  # never recreated


def test_completed_booking_keeps_its_appointment() -> None:
    plan = decide_desk(facts(status=BookingStatus.COMPLETED), created())
    assert plan.is_noop
    assert plan.new_base is not None
    assert plan.new_base.state is DeskState.CLOSED


def test_leaving_scope_removes_it_and_coming_back_creates_the_next_generation() -> None:
    plan = decide_desk(facts(opted_in=False), created())
    assert isinstance(plan.actions[0], DeleteAppointment)
    assert plan.new_base is not None
    assert plan.new_base.state is DeskState.REMOVED
    back = decide_desk(facts(), plan.new_base)
    (create,) = back.actions
    assert isinstance(create, CreateAppointment)
    assert create.transaction_id == desk_transaction_id("b1", "dave@contoso.example", 1)


def test_moved_to_a_synced_room_removes_the_appointment() -> None:
    plan = decide_desk(facts(synced_room=True), created())
    assert [a.kind for a in plan.actions] == ["delete_appointment"]


def test_new_owner_moves_the_appointment() -> None:
    plan = decide_desk(facts(owner_email="erin@contoso.example"), created())
    delete, create = plan.actions
    assert isinstance(delete, DeleteAppointment)
    assert delete.mailbox == "dave@contoso.example"
    assert isinstance(create, CreateAppointment)
    assert create.appointment.mailbox == "erin@contoso.example"


def test_deleted_by_the_person_is_never_resurrected() -> None:
    dismissed = after_appointment_gone(created())
    assert dismissed.state is DeskState.DISMISSED
    for f in (facts(), facts(name="Renamed"), facts(status=BookingStatus.CANCELLED), None):
        assert decide_desk(f, dismissed).is_noop


def test_an_unconfirmed_create_is_repeated_with_the_same_transaction_id() -> None:
    first = decide_desk(facts(), None)
    assert first.new_base is not None
    again = decide_desk(facts(name="Later"), first.new_base)
    (create,) = again.actions
    assert isinstance(create, CreateAppointment)
    assert create == first.actions[0]
