"""Personal appointments for bookings of spaces without a synced room (desks): the pure decision.

IBSS's own Microsoft 365 Calendar Integration puts such bookings into the person's own calendar "but no
one is invited to them" when the building has ``Bkng_Sync_Enabled = 1`` and the person's preference is
to have sync enabled. This module decides the same for the service: no I/O, no clock.

Scope (``out_of_scope_reason``): the building has ``Bkng_Sync_Enabled = 1``, the space is not an
M365-synced room (those become meetings through ``reconcile``), the owner opted in, the booking is active.

Decision table of ``decide_desk`` (first matching row wins):

=================================================  ==============================================
a young plan of another worker is pending          (the adapter waits; not decided here)
base dismissed (the person deleted it in Outlook)  nothing, ever: no resurrection, IBSS untouched
base closed (completed) or removed for good        nothing
base active, create not confirmed (no event id)    CreateAppointment again (same transactionId)
booking gone / cancelled / auto-cancelled          DeleteAppointment, removed for good
booking completed (checked out or ended)           nothing, closed (the calendar keeps the history)
out of scope (building off, now a synced room,     DeleteAppointment, removed (a return to scope
person opted out)                                  creates a new one, next generation)
in scope, no appointment yet                       CreateAppointment
in scope, owner changed                            DeleteAppointment + CreateAppointment (new owner)
in scope, time / name / space changed              UpdateAppointment with only what changed
otherwise                                          nothing
=================================================  ==============================================

Changes flow IBSS -> personal calendar only: person calendars are not subscribed, and an edit the person
makes in Outlook is overwritten by the next IBSS change of the same field. A 404 on an update means the
person deleted the appointment: ``after_appointment_gone`` dismisses the link (nothing is recreated and
the desk booking stays; deleting a personal appointment does not cancel the desk in IBSS).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from shared.sync.model import BookingStatus, Email, UtcDateTime, _Frozen
from shared.sync.normalize import transaction_id

CANCELLED_REASON = "the booking was cancelled in IBSS"


class DeskState(StrEnum):
    ACTIVE = "active"  # our appointment is (or is being put) in the person's calendar
    REMOVED = "removed"  # we removed it (out of scope); a return to scope creates a new one
    CANCELLED = "cancelled"  # terminal: the booking is cancelled or gone
    CLOSED = "closed"  # terminal: the booking completed; the appointment stays as history
    DISMISSED = "dismissed"  # terminal: the person deleted the appointment in Outlook


TERMINAL = frozenset({DeskState.CANCELLED, DeskState.CLOSED, DeskState.DISMISSED})


class DeskFacts(_Frozen):
    """One IBSS booking as the adapter read it, with the flags that decide its scope."""

    booking_id: str
    node_id: int
    space_id: str
    space_name: str
    building_name: str = ""
    owner_email: Email
    name: str
    start: UtcDateTime
    end: UtcDateTime
    status: BookingStatus = BookingStatus.ACTIVE
    building_sync_enabled: bool  # Bkng_Sync_Enabled of the booking's building
    synced_room: bool  # the space is an M365-synced room: reconcile() makes it a meeting instead
    opted_in: bool  # the owner's "Synchronise Calendar" preference


class Appointment(_Frozen):
    """What the person's calendar shows: nobody invited, the space as the location."""

    mailbox: Email
    subject: str
    location: str
    start: UtcDateTime
    end: UtcDateTime


class DeskBase(_Frozen):
    """What we last wrote for one booking (stored per booking id)."""

    booking_id: str
    node_id: int
    state: DeskState = DeskState.ACTIVE
    generation: int = 0  # counts appointments created for this booking (new owner, back in scope)
    event_id: str | None = None  # None while the create is not confirmed
    appointment: Appointment | None = None

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL


class CreateAppointment(_Frozen):
    kind: Literal["create_appointment"] = "create_appointment"
    appointment: Appointment
    booking_id_marker: str  # our single-value extended property
    transaction_id: str  # Graph transactionId: a repeated create returns the first event


class UpdateAppointment(_Frozen):
    kind: Literal["update_appointment"] = "update_appointment"
    mailbox: Email
    event_id: str
    subject: str | None = None
    location: str | None = None
    start: UtcDateTime | None = None
    end: UtcDateTime | None = None


class DeleteAppointment(_Frozen):
    kind: Literal["delete_appointment"] = "delete_appointment"
    mailbox: Email
    event_id: str
    reason: str


DeskAction = CreateAppointment | UpdateAppointment | DeleteAppointment


class DeskPlan(_Frozen):
    actions: tuple[DeskAction, ...] = ()
    new_base: DeskBase | None = None  # None: nothing to store
    why: str = ""

    @property
    def is_noop(self) -> bool:
        return not self.actions


def out_of_scope_reason(facts: DeskFacts) -> str | None:
    """Why this booking gets no personal appointment; None when it does."""
    if not facts.building_sync_enabled:
        return "the building does not have Bkng_Sync_Enabled"
    if facts.synced_room:
        return "the space is a synced room (a meeting, not a personal appointment)"
    if not facts.opted_in:
        return "the owner has not opted in to calendar sync"
    return None


def appointment_for(facts: DeskFacts) -> Appointment:
    location = f"{facts.space_name}, {facts.building_name}" if facts.building_name else facts.space_name
    return Appointment(
        mailbox=facts.owner_email,
        subject=facts.name.strip() or f"Booked: {facts.space_name}",
        location=location,
        start=facts.start,
        end=facts.end,
    )


def desk_transaction_id(booking_id: str, mailbox: str, generation: int) -> str:
    # Its own key space: a booking moved from a room to a desk must not reuse the meeting's transactionId.
    return transaction_id(f"desk:{booking_id}", mailbox, generation)


def _create(booking_id: str, appointment: Appointment, generation: int) -> CreateAppointment:
    return CreateAppointment(
        appointment=appointment,
        booking_id_marker=booking_id,
        transaction_id=desk_transaction_id(booking_id, appointment.mailbox, generation),
    )


def decide_desk(facts: DeskFacts | None, base: DeskBase | None) -> DeskPlan:
    """``facts`` None: the booking is gone (404). ``base`` None: we never wrote anything for it."""
    if base is not None and base.terminal:
        return DeskPlan(why=f"link {base.state.value}: nothing more is written")
    if base is not None and base.event_id is None and base.appointment is not None:
        # A create whose answer we never recorded (a worker died): repeat it, Graph returns the same event.
        return DeskPlan(
            actions=(_create(base.booking_id, base.appointment, base.generation),),
            new_base=base,
            why="confirm an earlier create",
        )
    holds = base is not None and base.state is DeskState.ACTIVE and base.event_id is not None
    if facts is None or facts.status in (BookingStatus.CANCELLED, BookingStatus.AUTO_CANCELLED):
        if base is None:
            return DeskPlan(why="booking gone or cancelled, nothing of ours exists")
        return (
            _remove(base, DeskState.CANCELLED, CANCELLED_REASON)
            if holds
            else _mark(base, DeskState.CANCELLED)
        )
    if facts.status is BookingStatus.COMPLETED:
        return DeskPlan(why="booking completed") if base is None else _mark(base, DeskState.CLOSED)
    reason = out_of_scope_reason(facts)
    if reason is not None:
        if base is not None and holds:
            return _remove(base, DeskState.REMOVED, reason)
        return DeskPlan(why=reason)
    wanted = appointment_for(facts)
    if base is None or not holds or base.appointment is None:
        generation = 0 if base is None else base.generation + 1
        new_base = DeskBase(
            booking_id=facts.booking_id, node_id=facts.node_id, generation=generation, appointment=wanted
        )
        return DeskPlan(
            actions=(_create(facts.booking_id, wanted, generation),), new_base=new_base, why="create"
        )
    assert base.event_id is not None
    had = base.appointment
    if had.mailbox != wanted.mailbox:
        generation = base.generation + 1
        return DeskPlan(
            actions=(
                DeleteAppointment(
                    mailbox=had.mailbox, event_id=base.event_id, reason="the booking has a new owner"
                ),
                _create(facts.booking_id, wanted, generation),
            ),
            new_base=base.model_copy(
                update={"generation": generation, "event_id": None, "appointment": wanted}
            ),
            why="new owner",
        )
    if had == wanted:
        return DeskPlan(why="in sync")
    update = UpdateAppointment(
        mailbox=had.mailbox,
        event_id=base.event_id,
        subject=None if had.subject == wanted.subject else wanted.subject,
        location=None if had.location == wanted.location else wanted.location,
        start=None if had.start == wanted.start else wanted.start,
        end=None if had.end == wanted.end else wanted.end,
    )
    return DeskPlan(actions=(update,), new_base=base.model_copy(update={"appointment": wanted}), why="update")


def _remove(base: DeskBase, state: DeskState, reason: str) -> DeskPlan:
    assert base.event_id is not None
    assert base.appointment is not None
    delete = DeleteAppointment(mailbox=base.appointment.mailbox, event_id=base.event_id, reason=reason)
    return DeskPlan(
        actions=(delete,),
        new_base=base.model_copy(update={"state": state, "event_id": None, "appointment": None}),
        why=reason,
    )


def _mark(base: DeskBase, state: DeskState) -> DeskPlan:
    return DeskPlan(new_base=base.model_copy(update={"state": state}), why=f"link {state.value}")


def record_created(base: DeskBase, event_id: str) -> DeskBase:
    """The base after Graph returned the created appointment's id."""
    return base.model_copy(update={"event_id": event_id})


def after_appointment_gone(base: DeskBase) -> DeskBase:
    """The person deleted our appointment (an update found 404): leave it deleted, touch nothing else."""
    return base.model_copy(update={"state": DeskState.DISMISSED, "event_id": None, "appointment": None})


__all__ = [
    "Appointment",
    "CreateAppointment",
    "DeleteAppointment",
    "DeskAction",
    "DeskBase",
    "DeskFacts",
    "DeskPlan",
    "DeskState",
    "UpdateAppointment",
    "after_appointment_gone",
    "appointment_for",
    "decide_desk",
    "desk_transaction_id",
    "out_of_scope_reason",
    "record_created",
]
