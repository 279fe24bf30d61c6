"""The IBSS side of a reconcile: bookings as snapshots, and the IBSS actions of a plan carried out."""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TypeVar

from shared.ibss import fields
from shared.ibss.client import IbssClient
from shared.ibss.errors import (
    IbssBadRequest,
    IbssConflict,
    IbssNotFound,
    IbssPreconditionFailed,
    IbssThrottled,
)
from shared.ibss.models import (
    Booking,
    BookingCreate,
    BookingParty,
    BookingStatus,
    BookingUpdate,
    VisitUpdate,
)
from shared.sync import GONE, BookingSnapshot, Observed, Party, Present
from shared.sync import BookingStatus as SyncStatus
from shared.sync.plan import CancelBooking, CreateBooking, UpdateBooking
from shared.sync.reconcile import IbssRejection
from shared.worker.errors import RetryAfter, StaleRead
from shared.worker.scope import SyncScope

_STATUS = {
    BookingStatus.CANCELLED: SyncStatus.CANCELLED,
    BookingStatus.AUTO_CANCELLED: SyncStatus.AUTO_CANCELLED,
    BookingStatus.COMPLETED: SyncStatus.COMPLETED,
}
_POLICY_REASONS = {"MaxDurationExceeded", "OutsideBookingWindow", "OutsideBookableHours", "SpaceNotBookable"}


class BookingRejected(Exception):
    """IBSS refused a write the plan asked for; the core decides what follows."""

    def __init__(self, rejection: IbssRejection) -> None:
        super().__init__(rejection.message)
        self.rejection = rejection


def booking_snapshot(booking: Booking, scope: SyncScope) -> BookingSnapshot:
    status = (
        _STATUS.get(booking.status, SyncStatus.ACTIVE)
        if isinstance(booking.status, BookingStatus)
        else (SyncStatus.ACTIVE)
    )
    return BookingSnapshot(
        booking_id=booking.id,
        node_id=booking.node_id,
        space_id=booking.space_id,
        room_mailbox=scope.mailbox_for_space(booking.node_id, booking.space_id),
        start=booking.start,
        end=booking.end,
        name=booking.name,
        owner_email=booking.owner_email or "",  # a kiosk's booking: no owner (never a made-up address)
        parties=frozenset(Party(email=p.email, is_visitor=p.is_visitor) for p in booking.parties if p.email),
        status=status,
        online_meeting=booking.online_meeting,
        version=booking.etag or "",
        modified=booking.modified or booking.created or booking.start,
        series_id=booking.series_id,
        origin_ical_uid=booking.ext_ref,
        checked_out_at=booking.completed_time if status == SyncStatus.COMPLETED else None,
        checked_in=booking.status
        in (BookingStatus.EARLY_CHECKIN, BookingStatus.LATE_CHECKIN, BookingStatus.IN_PROGRESS),
    )


def _party(p: Party) -> BookingParty:
    local = p.email.split("@", 1)[0]
    return BookingParty(email=p.email, is_visitor=p.is_visitor, first_name=local)


def _rejection(exc: IbssConflict | IbssBadRequest) -> IbssRejection:
    if isinstance(exc, IbssConflict):
        other = (exc.details or {}).get("Booking_Id") if isinstance(exc.details, dict) else None
        return IbssRejection(kind="conflict", message=exc.message, conflicting_booking_id=other)
    if exc.reason == "BookingInPast":
        return IbssRejection(kind="past", message=exc.message)
    return IbssRejection(kind="policy", message=exc.message)


T = TypeVar("T")


async def _ibss(call: Awaitable[T]) -> T:
    """IBSS asked us to wait longer than a function should sleep: hand the wait to the queue."""
    try:
        return await call
    except IbssThrottled as exc:
        raise RetryAfter(exc.retry_after or 5.0, str(exc)) from exc


@dataclass
class IbssSide:
    client: IbssClient

    async def read(self, node_id: int, booking_id: str, scope: SyncScope) -> Observed[BookingSnapshot]:
        try:
            return Present(booking_snapshot(await _ibss(self.client.get_booking(node_id, booking_id)), scope))
        except IbssNotFound:
            return GONE

    async def find_by_origin(self, scope: SyncScope, node_id: int, ical_uid: str) -> Booking | None:
        """A booking the sync created for this Outlook meeting before (recovery after lost state)."""
        found = [b for b in await _ibss(self.client.list_bookings(node_id, ext_ref=ical_uid)) if b.is_active]
        return found[0] if found else None

    async def create(self, action: CreateBooking) -> Booking:
        # Retried after a crash? The booking we made then carries the meeting's iCalUId.
        existing = [
            b
            for b in await _ibss(
                self.client.list_bookings(action.space.node_id, ext_ref=action.origin_ical_uid)
            )
            # The same meeting may hold a booking in another space (the room was changed): not ours.
            if b.status not in (BookingStatus.CANCELLED, BookingStatus.AUTO_CANCELLED)
            and b.space_id == action.space.space_id
        ]
        if existing:
            return existing[0]
        try:
            return await _ibss(
                self.client.create_booking(
                    action.space.node_id,
                    BookingCreate(
                        space_id=action.space.space_id,
                        name=action.name,
                        start=action.start,
                        end=action.end,
                        owner_email=action.owner_email,
                        parties=[_party(p) for p in action.parties],
                        ext_ref=action.origin_ical_uid,
                    ),
                )
            )
        except (IbssConflict, IbssBadRequest) as exc:
            if isinstance(exc, IbssBadRequest) and exc.reason not in _POLICY_REASONS | {"BookingInPast"}:
                raise
            raise BookingRejected(_rejection(exc)) from exc

    async def conflict_holder(self, action: CreateBooking, named: str | None) -> Booking | None:
        """The booking that holds the space a create was refused for: the one the 409 named, else
        (fields.py: ASSUMED) the first other active booking of the space in the slot."""
        node_id = action.space.node_id
        if named is not None:
            try:
                held = await _ibss(self.client.get_booking(node_id, named))
            except IbssNotFound:
                return None
            return held if held.holds_space else None
        found = await _ibss(
            self.client.list_bookings(
                node_id, space_id=action.space.space_id, start=action.start, end=action.end
            )
        )
        return next((b for b in found if b.holds_space and b.ext_ref != action.origin_ical_uid), None)

    async def update(self, node_id: int, action: UpdateBooking) -> Booking:
        changes = action.changes
        values = {
            "space_id": changes.space.space_id if changes.space else None,
            "name": changes.name,
            "start": changes.start,
            "end": changes.end,
            "parties": [_party(p) for p in changes.parties] if changes.parties is not None else None,
        }
        # Only the fields that changed are sent (unset fields are left out of the PATCH body).
        update = BookingUpdate(**{k: v for k, v in values.items() if v is not None})
        try:
            updated = await _ibss(
                self.client.update_booking(node_id, action.booking_id, update, etag=action.if_match)
            )
        except IbssPreconditionFailed as exc:
            raise StaleRead(str(exc)) from exc  # someone changed the booking meanwhile: decide again
        except (IbssConflict, IbssBadRequest) as exc:
            if isinstance(exc, IbssBadRequest) and exc.reason not in _POLICY_REASONS | {"BookingInPast"}:
                raise
            raise BookingRejected(_rejection(exc)) from exc
        if changes.start is not None or changes.end is not None:
            await self._visits_follow(updated, VisitUpdate(start=updated.start, end=updated.end))
        return updated

    async def _visits_follow(self, booking: Booking, changes: VisitUpdate) -> None:
        """The booking's visitor records follow it (IBSS is not documented to move or cancel them)."""
        for party in booking.parties:
            if not party.visit_id:
                continue
            try:
                await _ibss(self.client.update_visit(booking.node_id, party.visit_id, changes))
            except IbssNotFound:
                continue  # deleted meanwhile: nothing to follow

    async def cancel_anywhere(self, action: CancelBooking, nodes: tuple[int, ...] = ()) -> None:
        """Cancel a booking known only by id (no link row): try the buildings in scope."""
        for node_id in nodes:
            try:
                await self.client.get_booking(node_id, action.booking_id)
            except IbssNotFound:
                continue
            await self.cancel(node_id, action)
            return

    async def cancel(self, node_id: int, action: CancelBooking) -> None:
        try:
            cancelled = await _ibss(
                self.client.cancel_booking(node_id, action.booking_id, reason=action.reason)
            )
        except IbssConflict as exc:
            if exc.reason != "AlreadyCancelled":  # cancelling twice is the same as once
                raise
            cancelled = await _ibss(self.client.get_booking(node_id, action.booking_id))  # a replay
        except IbssNotFound:
            return
        await self._visits_follow(cancelled, VisitUpdate(status=fields.VISIT_STATUS_CANCELLED))
