"""Desk bookings -> the owner's own calendar: read IBSS, ask ``shared.sync.desks``, write through Graph.

Runs after the room reconcile of every booking hook (``functions/ibss_hooks.py``). Most hooks end
before any extra read: a booking with no desk link in a building without ``Bkng_Sync_Enabled``, or of a
synced room, costs one table read and a cached building lookup. Changes flow IBSS -> personal calendar
only; person calendars are not subscribed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypeVar

from azure.core.exceptions import ResourceExistsError, ResourceModifiedError

from shared.graph.appointments import AppointmentGone, AppointmentWriter
from shared.graph.errors import GraphForbidden, GraphNotFound, GraphThrottled, translate
from shared.ibss.client import IbssClient
from shared.ibss.errors import IbssNotFound, IbssThrottled
from shared.ibss.intake import BookingSyncJob
from shared.ibss.models import Booking, Building, Space
from shared.ibss.models import BookingStatus as IbssStatus
from shared.state.desk_links import PendingDeskPlan, StoredDeskLink, TableDeskLinkStore
from shared.storage.account import StorageAccount
from shared.storage.names import QueueName
from shared.storage.queues import StorageQueueSink
from shared.sync.desks import (
    CreateAppointment,
    DeleteAppointment,
    DeskBase,
    DeskFacts,
    DeskPlan,
    UpdateAppointment,
    after_appointment_gone,
    decide_desk,
    record_created,
)
from shared.sync.model import BookingStatus
from shared.worker.errors import RetryAfter, StaleRead
from shared.worker.outlook_side import GraphOutlookSide
from shared.worker.reconciler import Reconciler

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_ATTEMPTS = 4
PENDING_LEASE_SECONDS = 60.0
_RELEASED = datetime(2000, 1, 1, tzinfo=UTC)
_STATUS = {
    IbssStatus.CANCELLED: BookingStatus.CANCELLED,
    IbssStatus.AUTO_CANCELLED: BookingStatus.AUTO_CANCELLED,
    IbssStatus.COMPLETED: BookingStatus.COMPLETED,
}


async def _call(step: Awaitable[T]) -> T:
    """Throttling on either side becomes a re-queue; Graph failures become their typed errors."""
    try:
        return await step
    except IbssThrottled as exc:
        raise RetryAfter(exc.retry_after or 5.0, str(exc)) from exc
    except (AppointmentGone, IbssNotFound):
        raise
    except Exception as exc:
        error = translate(exc)
        if isinstance(error, GraphThrottled):
            raise RetryAfter(error.retry_after, str(error)) from exc
        if error is not None and error is not exc:
            raise error from exc
        raise


@dataclass
class DeskDirectory:
    """Buildings, spaces and the people's "Synchronise Calendar" preference as IBSS has them, cached for
    ``ttl_seconds`` (admins and people change them without a redeploy; IBSS sends no hook for them)."""

    client: IbssClient
    ttl_seconds: float = 60.0
    clock: Callable[[], float] = time.monotonic
    _buildings: dict[int, tuple[float, Building | None]] = field(default_factory=dict)
    _spaces: dict[int, tuple[float, dict[str, Space]]] = field(default_factory=dict)
    _prefs: dict[str, tuple[float, bool]] = field(default_factory=dict)

    def _fresh(self, loaded_at: float) -> bool:
        return self.clock() - loaded_at < self.ttl_seconds

    async def building(self, node_id: int) -> Building | None:
        cached = self._buildings.get(node_id)
        if cached is not None and self._fresh(cached[0]):
            return cached[1]
        try:
            found: Building | None = await _call(self.client.get_building(node_id))
        except IbssNotFound:
            found = None
        self._buildings[node_id] = (self.clock(), found)
        return found

    async def space(self, node_id: int, space_id: str) -> Space | None:
        cached = self._spaces.get(node_id)
        if cached is None or not self._fresh(cached[0]) or space_id not in cached[1]:
            spaces = await _call(self.client.list_spaces(node_id))
            cached = (self.clock(), {s.id: s for s in spaces})
            self._spaces[node_id] = cached
        return cached[1].get(space_id)

    async def opted_in(self, email: str) -> bool:
        key = email.strip().lower()
        cached = self._prefs.get(key)
        if cached is not None and self._fresh(cached[0]):
            return cached[1]
        try:
            prefs = await _call(self.client.get_user_preferences(key))
            value = prefs.calendar_sync
        except IbssNotFound:
            value = False  # no preferences kept for this person: not opted in
        self._prefs[key] = (self.clock(), value)
        return value


def _status(booking: Booking) -> BookingStatus:
    if isinstance(booking.status, IbssStatus) and booking.status in _STATUS:
        return _STATUS[booking.status]
    return BookingStatus.CANCELLED if booking.is_cancelled else BookingStatus.ACTIVE


@dataclass
class DeskSync:
    links: TableDeskLinkStore
    ibss: IbssClient
    directory: DeskDirectory
    writer: AppointmentWriter
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    async def booking_changed(
        self, node_id: int, booking_id: str, space_hint: str | None = None
    ) -> DeskPlan | None:
        for _ in range(MAX_ATTEMPTS):
            try:
                return await self._once(node_id, booking_id, space_hint)
            except (ResourceExistsError, ResourceModifiedError):
                continue  # another worker wrote the row meanwhile: read it again
        raise StaleRead(f"desk link of booking {booking_id} kept changing during {MAX_ATTEMPTS} attempts")

    async def _once(self, node_id: int, booking_id: str, space_hint: str | None) -> DeskPlan | None:
        link = await self.links.get(booking_id)
        if link is not None and link.pending is not None:
            if (self.clock() - link.pending.started_at).total_seconds() < PENDING_LEASE_SECONDS:
                raise RetryAfter(1.0, "another worker is writing this desk appointment")
            log.warning("replaying a pending desk plan", extra={"booking_id": booking_id})
            link = await self._carry_out(booking_id, link, link.pending)
        base = link.base if link else None
        if base is not None and base.terminal:
            return None  # nothing is ever written again: no reads
        building = await self.directory.building(node_id)
        if base is None:
            if building is None or not building.sync_enabled:
                return None  # the common case for rooms in other buildings: no booking read
            hinted = await self.directory.space(node_id, space_hint) if space_hint else None
            if hinted is not None and hinted.is_synced_in(building):
                return None  # a synced room: the room reconcile handles it
        try:
            booking: Booking | None = await _call(self.ibss.get_booking(node_id, booking_id))
        except IbssNotFound:
            booking = None
        facts = await self._facts(booking, building) if booking is not None else None
        plan = decide_desk(facts, base)
        if plan.new_base is None or (not plan.actions and plan.new_base == base):
            return plan
        if not plan.actions:
            await self.links.commit(booking_id, link, plan.new_base)
            return plan
        log.info("desk plan", extra={"booking_id": booking_id, "actions": [a.kind for a in plan.actions]})
        pending = PendingDeskPlan(actions=plan.actions, new_base=plan.new_base, started_at=self.clock())
        claimed = await self.links.claim(booking_id, link, pending)
        await self._carry_out(booking_id, claimed, pending)
        return plan

    async def _facts(self, booking: Booking, building: Building | None) -> DeskFacts:
        space = await self.directory.space(booking.node_id, booking.space_id)
        enabled = building is not None and building.sync_enabled
        synced_room = space is not None and building is not None and space.is_synced_in(building)
        status = _status(booking)
        owner = booking.owner_email or ""
        # The preference is read only when it can matter (one cached IBSS read per person).
        wanted = enabled and not synced_room and status is BookingStatus.ACTIVE and "@" in owner
        return DeskFacts(
            booking_id=booking.id,
            node_id=booking.node_id,
            space_id=booking.space_id,
            space_name=(space.name if space else None) or booking.space_name or booking.space_id,
            building_name=building.name if building else "",
            owner_email=owner or "",
            name=booking.name,
            start=booking.start,
            end=booking.end,
            status=status,
            building_sync_enabled=enabled,
            synced_room=synced_room,
            opted_in=await self.directory.opted_in(owner) if wanted else False,
        )

    async def _carry_out(
        self, booking_id: str, link: StoredDeskLink, pending: PendingDeskPlan
    ) -> StoredDeskLink:
        base: DeskBase = pending.new_base
        try:
            for action in pending.actions:
                if isinstance(action, CreateAppointment):
                    base = record_created(base, await _call(self.writer.create(action)))
                elif isinstance(action, UpdateAppointment):
                    try:
                        await _call(self.writer.update(action))
                    except AppointmentGone:
                        # The person deleted it: leave it deleted; the desk booking itself stays.
                        base = after_appointment_gone(base)
                        break
                elif isinstance(action, DeleteAppointment):
                    await _call(self.writer.delete(action))
        except Exception:
            # Alive but failed half-way: give up the lease so the next attempt replays the plan at once.
            released = pending.model_copy(update={"started_at": _RELEASED})
            with contextlib.suppress(ResourceModifiedError):
                await self.links.claim(booking_id, link, released)
            raise
        return await self.links.commit(booking_id, link, base)


async def run_desk_job(job: BookingSyncJob, desks: DeskSync, queues: StorageQueueSink) -> DeskPlan | None:
    """The desk half of a booking hook. Throttled: the same job comes back after Retry-After (its room
    reconcile then finds nothing new). A person's mailbox outside the app's permission is logged, not
    retried."""
    if not job.is_change_hint:
        return None  # room reply checks are about rooms only
    try:
        plan = await desks.booking_changed(job.node_id, job.booking_id, job.space_id)
    except RetryAfter as wait:
        log.info("desk job re-queued", extra={"delay_s": wait.seconds, "reason": str(wait)[:200]})
        await queues.send(QueueName.SYNC_BOOKINGS, job, delay_seconds=math.ceil(wait.seconds))
        return None
    except (GraphForbidden, GraphNotFound) as exc:
        if isinstance(exc, GraphNotFound) and not exc.mailbox_missing:
            raise
        # Calendars.ReadWrite does not cover this person (or they have no mailbox): nothing we can write.
        log.warning(
            "desk appointment not written", extra={"booking_id": job.booking_id, "status": exc.status}
        )
        return None
    if plan is not None and not plan.is_noop:
        log.info(
            "desk booking synced",
            extra={
                "booking_id": job.booking_id,
                "actions": [a.kind for a in plan.actions],
                "why": plan.why[:200],
            },
        )
    return plan


_desks: dict[int, DeskSync] = {}


def desk_sync_for_current_loop(reconciler: Reconciler, storage: StorageAccount) -> DeskSync | None:
    """One DeskSync per event loop, on the reconciler's IBSS and Graph clients (they must not cross
    loops). None when the reconciler does not write through Graph (tests with fakes)."""
    loop_id = id(asyncio.get_running_loop())
    found = _desks.get(loop_id)
    if found is None:
        if not isinstance(reconciler.outlook, GraphOutlookSide):
            return None
        ibss = reconciler.ibss.client
        found = DeskSync(
            links=TableDeskLinkStore(storage),
            ibss=ibss,
            directory=DeskDirectory(ibss),
            writer=AppointmentWriter(reconciler.outlook.calendar),
        )
        _desks[loop_id] = found
    return found


__all__ = ["DeskDirectory", "DeskSync", "desk_sync_for_current_loop", "run_desk_job"]
