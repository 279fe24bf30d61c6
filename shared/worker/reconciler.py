"""Reconcile one link: read both sides, ask the pure core, carry the plan out through an outbox.

Notifications and hooks are only hints: every run reads current state. A plan's external writes are
first recorded on the link row (ETag-guarded) as pending, then carried out with idempotent calls (Graph
creates carry a transactionId, IBSS creates carry the meeting's iCalUId), then the new base is committed.
A worker that dies half-way leaves the pending plan; the next run replays it before deciding anything.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from azure.core.exceptions import ResourceExistsError, ResourceModifiedError

from shared.state.links import StoredLink, TableLinkStore, new_pending
from shared.sync import (
    GONE,
    UNREAD,
    BookingSnapshot,
    Observed,
    OrganizerEventSnapshot,
    OrganizerMode,
    Present,
    RoomEventSnapshot,
    SyncBase,
    SyncConfig,
    reconcile,
)
from shared.sync.plan import (
    CancelBooking,
    CancelMeeting,
    CreateBooking,
    CreateMeeting,
    DeclineRoomEvent,
    RecordConflict,
    RetryLater,
    SyncPlan,
    UpdateBooking,
    UpdateMeeting,
)
from shared.sync.reconcile import (
    plan_after_ibss_rejection,
    plan_after_room_unavailable,
    record_created_booking,
    record_created_meeting,
)
from shared.worker.ibss_side import BookingRejected, IbssSide
from shared.worker.scope import CachedScope, SyncScope

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 4


class RetryAfter(Exception):
    """A side is throttling (or asked to wait): re-queue the job with this delay instead of sleeping."""

    def __init__(self, seconds: float, reason: str) -> None:
        super().__init__(reason)
        self.seconds = seconds


class StaleRead(Exception):
    """What the plan was based on changed meanwhile (a 412 on either side): read again and decide again."""


class RoomUnavailable(Exception):
    """The room cannot take an IBSS-made meeting (busy in room mode, or it declined)."""


@dataclass(frozen=True)
class MeetingWritten:
    event_id: str
    ical_uid: str
    change_key: str


class OutlookSide(Protocol):
    """The Graph side as the reconciler needs it (implemented over msgraph-sdk in outlook_side.py)."""

    async def room_event(self, room_mailbox: str, event_id: str) -> Observed[RoomEventSnapshot]: ...

    async def room_event_by_uid(self, room_mailbox: str, ical_uid: str) -> Observed[RoomEventSnapshot]: ...

    async def organizer_event(self, mailbox: str, ical_uid: str) -> Observed[OrganizerEventSnapshot]: ...

    async def apply(
        self, action: CreateMeeting | UpdateMeeting | CancelMeeting | DeclineRoomEvent
    ) -> MeetingWritten | None:
        """Carry out one Outlook action. Raises RetryAfter, StaleRead or RoomUnavailable."""
        ...


class ConflictLog(Protocol):
    async def record(self, link_id: str, conflict: RecordConflict) -> None: ...


@dataclass
class ReconcileSettings:
    organizer_mode: OrganizerMode = OrganizerMode.OWNER
    internal_domains: frozenset[str] = frozenset()
    attendees_as_parties_internal: bool = False
    private_booking_name: str = "Private booking"


@dataclass
class Reconciler:
    links: TableLinkStore
    ibss: IbssSide
    outlook: OutlookSide
    scope: CachedScope
    conflicts: ConflictLog
    settings: ReconcileSettings = field(default_factory=ReconcileSettings)
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    def _config(self, scope: SyncScope) -> SyncConfig:
        domains = self.settings.internal_domains or frozenset(
            m.split("@", 1)[1] for m in scope.by_mailbox if "@" in m
        )
        return SyncConfig(
            now=self.clock(),
            organizer_mode=self.settings.organizer_mode,
            scope=scope.by_mailbox,
            internal_domains=domains,
            attendees_as_parties_internal=self.settings.attendees_as_parties_internal,
            private_booking_name=self.settings.private_booking_name,
        )

    # ------------------------------------------------------------------ entry points

    async def booking_changed(self, node_id: int, booking_id: str) -> SyncPlan | None:
        """An IBSS booking may have changed (hook, series expansion, catch-up)."""
        scope = await self.scope.current()
        for _ in range(MAX_ATTEMPTS):
            link = await self._settled(await self.links.find("booking", booking_id))
            booking = await self.ibss.read(node_id, booking_id, scope)
            room, organizer = await self._outlook_for(link, booking)
            try:
                return await self._decide_and_apply(link, booking, room, organizer, scope)
            except (StaleRead, ResourceModifiedError, ResourceExistsError):
                continue
        raise StaleRead(f"booking {booking_id} kept changing during {MAX_ATTEMPTS} attempts")

    async def room_event_changed(
        self, room_mailbox: str, event_id: str, event: RoomEventSnapshot | None
    ) -> SyncPlan | None:
        """A room calendar item changed (delta round) or disappeared (`event=None`)."""
        scope = await self.scope.current()
        if scope.space_for_mailbox(room_mailbox) is None:
            return None  # not a synced room: never touched
        for _ in range(MAX_ATTEMPTS):
            link = await self.links.find("room_event", event_id)
            if link is None and event is not None:
                link = await self.links.find("ical_uid", event.ical_uid, room_mailbox)
            link = await self._settled(link)
            room: Observed[RoomEventSnapshot] = Present(event) if event is not None else GONE
            booking: Observed[BookingSnapshot]
            if link is not None and link.base.booking_id:
                booking = await self.ibss.read(link.base.node_id, link.base.booking_id, scope)
            elif event is not None:
                booking = await self._booking_by_origin(scope, room_mailbox, event.ical_uid)
            else:
                booking = GONE
            organizer = await self._organizer_for(link, event)
            try:
                return await self._decide_and_apply(link, booking, room, organizer, scope)
            except (StaleRead, ResourceModifiedError, ResourceExistsError):
                continue
        raise StaleRead(f"room event in {room_mailbox} kept changing during {MAX_ATTEMPTS} attempts")

    # ------------------------------------------------------------------ reading

    async def _booking_by_origin(
        self, scope: SyncScope, room_mailbox: str, ical_uid: str
    ) -> Observed[BookingSnapshot]:
        space = scope.space_for_mailbox(room_mailbox)
        if space is None:
            return GONE
        found = await self.ibss.find_by_origin(scope, space.node_id, ical_uid)
        if found is None or found.space_id != space.space_id:
            return GONE
        return await self.ibss.read(found.node_id, found.id, scope)

    async def _outlook_for(
        self, link: StoredLink | None, booking: Observed[BookingSnapshot]
    ) -> tuple[Observed[RoomEventSnapshot], Observed[OrganizerEventSnapshot]]:
        if link is None:
            snapshot = booking.value if isinstance(booking, Present) else None
            if snapshot is not None and snapshot.origin_ical_uid and snapshot.room_mailbox:
                # Made from an Outlook meeting, but our link is lost: find that meeting again.
                room = await self.outlook.room_event_by_uid(snapshot.room_mailbox, snapshot.origin_ical_uid)
                return room, UNREAD
            return GONE, GONE
        base = link.base
        room = UNREAD
        if base.room_mailbox and base.room_event_id:
            room = await self.outlook.room_event(base.room_mailbox, base.room_event_id)
        elif base.room_mailbox and base.ical_uid:
            room = await self.outlook.room_event_by_uid(base.room_mailbox, base.ical_uid)
        organizer: Observed[OrganizerEventSnapshot] = UNREAD
        if base.organizer_mailbox and base.ical_uid:
            organizer = await self.outlook.organizer_event(base.organizer_mailbox, base.ical_uid)
        return room, organizer

    async def _organizer_for(
        self, link: StoredLink | None, event: RoomEventSnapshot | None
    ) -> Observed[OrganizerEventSnapshot]:
        if (
            self.settings.organizer_mode is not OrganizerMode.OWNER
            or event is None
            or event.is_organizer_room
        ):
            return UNREAD
        mailbox = (
            link.base.organizer_mailbox if link and link.base.organizer_mailbox else event.organizer_email
        )
        return await self.outlook.organizer_event(mailbox, event.ical_uid)

    # ------------------------------------------------------------------ deciding and doing

    async def _settled(self, link: StoredLink | None) -> StoredLink | None:
        """Finish a plan an earlier run left half done, before anything new is decided."""
        if link is None or link.pending is None:
            return link
        log.warning("replaying a pending plan", extra={"link_id": link.link_id})
        return await self._run_pending(link)

    async def _decide_and_apply(
        self,
        link: StoredLink | None,
        booking: Observed[BookingSnapshot],
        room: Observed[RoomEventSnapshot],
        organizer: Observed[OrganizerEventSnapshot],
        scope: SyncScope,
    ) -> SyncPlan:
        config = self._config(scope)
        plan = reconcile(booking, room, organizer, link.base if link else None, config)
        try:
            await self._apply(link, plan)
        except BookingRejected as rejected:
            if not isinstance(room, Present):
                raise
            follow_up = plan_after_ibss_rejection(room.value, link.base if link else None, rejected.rejection)
            await self._apply(await self._refresh(link), follow_up)
            return follow_up
        except RoomUnavailable as unavailable:
            previous = link.base if link else None
            if not isinstance(booking, Present):
                raise
            follow_up = plan_after_room_unavailable(booking.value, previous, config, str(unavailable))
            await self._apply(await self._refresh(link), follow_up)
            return follow_up
        return plan

    async def _refresh(self, link: StoredLink | None) -> StoredLink | None:
        return await self.links.get(link.link_id) if link else None

    async def _apply(self, link: StoredLink | None, plan: SyncPlan) -> None:
        for action in plan.actions:
            if isinstance(action, RetryLater):
                raise RetryAfter(5.0, action.reason)
        writes = plan.ibss_writes + plan.outlook_writes
        if not writes:
            await self._record_conflicts(link.link_id if link else "", plan)
            if plan.new_base is None:
                return
            if link is None:
                await self.links.create(plan.new_base, None)
            elif plan.new_base != link.base:
                await self.links.save(link, plan.new_base, None)  # versions learned from an echo
            return
        if plan.new_base is None:
            # Nothing to link (e.g. cancel a booking that never held the room): idempotent calls only.
            base = link.base if link else None
            for action in plan.actions:
                if base is not None:
                    base = await self._carry_out(action, base)
                elif isinstance(action, CancelBooking):
                    await self.ibss.cancel_anywhere(action, (await self.scope.current()).nodes)
                elif isinstance(action, DeclineRoomEvent):
                    await self.outlook.apply(action)
            return
        # Claim the link first (ETag): two workers on the same link cannot both carry a plan out.
        if link is None:
            claimed = await self.links.create(
                plan.new_base, new_pending(plan.actions, plan.new_base, creates_link=True)
            )
        else:
            pending = new_pending(plan.actions, plan.new_base)
            claimed = await self.links.save(link, link.base, pending)
        await self._run_pending(claimed)

    async def _run_pending(self, link: StoredLink) -> StoredLink:
        assert link.pending is not None
        base = link.pending.new_base
        try:
            for action in link.pending.actions:
                base = await self._carry_out(action, base)
        except (StaleRead, BookingRejected, RoomUnavailable):
            # The plan no longer fits the world: drop it (keeping the committed base) and decide again.
            if link.pending.creates_link:
                await self.links.delete(link)
            else:
                await self.links.save(link, link.base, None)
            raise
        await self._record_conflicts(link.link_id, SyncPlan(actions=link.pending.actions))
        return await self.links.save(link, base, None)

    async def _carry_out(self, action: object, base: SyncBase) -> SyncBase:
        if isinstance(action, CreateBooking):
            created = await self.ibss.create(action)
            return record_created_booking(base, booking_id=created.id)
        if isinstance(action, UpdateBooking):
            await self.ibss.update(base.node_id, action)
            return base
        if isinstance(action, CancelBooking):
            await self.ibss.cancel(base.node_id, action)
            return base
        if isinstance(action, CreateMeeting | UpdateMeeting | CancelMeeting | DeclineRoomEvent):
            written = await self.outlook.apply(action)
            if isinstance(action, CreateMeeting) and written is not None:
                return record_created_meeting(
                    base, event_id=written.event_id, ical_uid=written.ical_uid, change_key=written.change_key
                )
            return base
        return base  # bookkeeping actions (LinkOnly, RecordConflict) need no call

    async def _record_conflicts(self, link_id: str, plan: SyncPlan) -> None:
        for conflict in plan.conflicts:
            await self.conflicts.record(link_id, conflict)
