"""Reconcile one link: read both sides, ask the pure core, carry the plan out through an outbox.

Notifications and hooks are only hints: every run reads current state. A plan's external writes are
first recorded on the link row (ETag-guarded) as pending, then carried out with idempotent calls (Graph
creates carry a transactionId, IBSS creates carry the meeting's iCalUId), then the new base is committed.
A worker that dies half-way leaves the pending plan; the next run replays it before deciding anything.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from azure.core.exceptions import ResourceExistsError, ResourceModifiedError
from opentelemetry import trace

from shared import telemetry
from shared.state.links import StoredLink, TableLinkStore, new_pending
from shared.state.mailboxless import TableMailboxlessOwners
from shared.sync import (
    GONE,
    UNREAD,
    BookingSnapshot,
    Gone,
    Observed,
    OrganizerEventSnapshot,
    OrganizerMode,
    Present,
    RoomEventSnapshot,
    SyncBase,
    SyncConfig,
    reconcile,
)
from shared.sync.assumed import fits_conditional_write, outlook_as_in_base
from shared.sync.normalize import normalize_email
from shared.sync.plan import (
    AcceptRoomEvent,
    Action,
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
    HolderMeeting,
    IbssRejection,
    holder_meeting,
    plan_after_ibss_rejection,
    plan_after_room_unavailable,
    record_created_booking,
    record_created_meeting,
    synced_rooms_of,
)
from shared.sync.series_outlook import is_outlook_series_ref
from shared.worker.errors import OrganizerWithoutMailbox, RetryAfter, RoomUnavailable, StaleRead
from shared.worker.ibss_side import BookingRejected, IbssSide
from shared.worker.policy import PolicyGate
from shared.worker.scope import CachedScope, SyncScope

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 4
PENDING_LEASE_SECONDS = 60.0  # longer than any plan takes; a worker that died leaves it older than this


def _unchanged_since_base(link: StoredLink | None, booking: Observed[BookingSnapshot]) -> bool:
    if link is None or link.base.terminal or not isinstance(booking, Present):
        return False
    return bool(link.base.booking_version) and link.base.booking_version == booking.value.version


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
        self,
        action: CreateMeeting | UpdateMeeting | CancelMeeting | DeclineRoomEvent | AcceptRoomEvent,
        based_on_change_key: str | None = None,
    ) -> MeetingWritten | None:
        """Carry out one Outlook action; an update is conditional on the change key the decision saw.
        Raises RetryAfter, StaleRead or RoomUnavailable."""
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
    # Called after we invited a room to a person's meeting: look at its reply later (node, booking, space).
    room_reply_check: Callable[[int, str, str], Awaitable[None]] | None = None
    # Booking policies for Outlook-made meetings (shared/worker/policy.py); None: not checked.
    policies: PolicyGate | None = None
    # Is a room item part of a recurring meeting made from an IBSS series (shared/worker/series_ibss.py)?
    # Then the series worker owns it and this single-booking path does nothing (echo of our series).
    series_echo: Callable[[str, RoomEventSnapshot], Awaitable[bool]] | None = None
    # A booking of an Outlook series changed in IBSS (no-show, check-in): hand it to its series job
    # (shared/worker/series_outlook.py ``series_booking_hook``); None: ignored as before.
    outlook_series_booking: Callable[[BookingSnapshot], Awaitable[None]] | None = None
    # Owners whose meeting got 404 ErrorInvalidUser (shared/state/mailboxless.py); None: not remembered.
    mailboxless: TableMailboxlessOwners | None = None
    _without_mailbox: frozenset[str] = field(default=frozenset(), init=False)
    _without_mailbox_read_at: float | None = field(default=None, init=False)

    async def _read_without_mailbox(self) -> None:
        """The remembered owners without a mailbox, read at most once a minute per process."""
        if self.mailboxless is None:
            return
        now = time.monotonic()
        if self._without_mailbox_read_at is not None and now - self._without_mailbox_read_at < 60:
            return
        owners = await self.mailboxless.list_all(self.clock())
        self._without_mailbox = frozenset(o.address for o in owners)
        self._without_mailbox_read_at = now

    async def owners_without_mailbox(self) -> frozenset[str]:
        """The remembered owners without a mailbox (for the series path's decisions)."""
        await self._read_without_mailbox()
        return self._without_mailbox

    async def remember_without_mailbox(self, address: str) -> None:
        """Graph has no mailbox for this owner: from now on the room organizes its meetings."""
        self._without_mailbox = self._without_mailbox | {normalize_email(address)}
        if self.mailboxless is not None:
            await self.mailboxless.remember(address, self.clock())
        log.warning("booking owner has no mailbox: the room organizes the meeting")

    async def _owner_without_mailbox(self, missing: OrganizerWithoutMailbox) -> StaleRead:
        """Remember the owner, and read and decide again: the room organizes the meeting now."""
        await self.remember_without_mailbox(missing.mailbox)
        return StaleRead("the booking owner has no mailbox")

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
            without_mailbox=self._without_mailbox,
        )

    # ------------------------------------------------------------------ entry points

    async def booking_changed(self, node_id: int, booking_id: str, *, force: bool = False) -> SyncPlan | None:
        """An IBSS booking may have changed (hook, series expansion, catch-up)."""
        with telemetry.tracer.start_as_current_span(
            "reconcile booking", attributes={"ibss.node_id": node_id, "ibss.booking_id": booking_id}
        ):
            scope = await self.scope.current()
            await self._read_without_mailbox()
            for attempt in range(MAX_ATTEMPTS):
                try:
                    link = await self._settled(await self.links.find("booking", booking_id))
                    booking = await self.ibss.read(node_id, booking_id, scope)
                    if isinstance(booking, Present) and is_outlook_series_ref(booking.value.origin_ical_uid):
                        # A booking of an Outlook series: shared/worker/series_outlook.py owns it.
                        if self.outlook_series_booking is not None:
                            await self.outlook_series_booking(booking.value)
                        return None
                    if not force and _unchanged_since_base(link, booking):
                        return None  # the hook of our own write (or a repeat): no Graph read, no write
                    assumed = None if attempt or force else self._outlook_as_in_base(link, booking, scope)
                    room, organizer = assumed or await self._outlook_for(link, booking)
                    return await self._decide_and_apply(link, booking, room, organizer, scope)
                except (StaleRead, ResourceModifiedError, ResourceExistsError):
                    continue  # another worker or a person changed something meanwhile: read again
            raise StaleRead(f"booking {booking_id} kept changing during {MAX_ATTEMPTS} attempts")

    async def room_event_changed(
        self, room_mailbox: str, event_id: str, event: RoomEventSnapshot | None
    ) -> SyncPlan | None:
        """A room calendar item changed (delta round) or disappeared (`event=None`)."""
        with telemetry.tracer.start_as_current_span("reconcile room event"):
            return await self._room_event_changed(room_mailbox, event_id, event)

    async def _room_event_changed(
        self, room_mailbox: str, event_id: str, event: RoomEventSnapshot | None
    ) -> SyncPlan | None:
        scope = await self.scope.current()
        if scope.space_for_mailbox(room_mailbox) is None:
            return None  # not a synced room: never touched
        if event is not None and self.series_echo is not None and await self.series_echo(room_mailbox, event):
            return None
        for attempt in range(MAX_ATTEMPTS):
            try:
                if attempt and event is not None:
                    # The delta round's copy is what went stale: read the room's event again.
                    fresh = await self.outlook.room_event(room_mailbox, event_id)
                    if not isinstance(fresh, Present | Gone):
                        return None  # unreadable now: decide on a later round, never on a guess
                    event = fresh.value if isinstance(fresh, Present) else None
                link = await self.links.find("room_event", event_id)
                if link is None and event is not None:
                    link = await self.links.find("ical_uid", event.ical_uid, room_mailbox)
                organizer = await self._organizer_for(link, event)
                if link is None:
                    # Our marker on the meeting names the booking even before the link knows this copy.
                    marker = (event.booking_id_marker if event else None) or (
                        organizer.value.booking_id_marker if isinstance(organizer, Present) else None
                    )
                    if marker:
                        link = await self.links.find("booking", marker)
                link = await self._settled(link)
                room: Observed[RoomEventSnapshot] = Present(event) if event is not None else GONE
                booking: Observed[BookingSnapshot]
                if link is not None and link.base.booking_id:
                    booking = await self.ibss.read(link.base.node_id, link.base.booking_id, scope)
                elif event is not None:
                    booking = await self._booking_by_origin(scope, room_mailbox, event.ical_uid)
                else:
                    booking = GONE
                # The room's copy was read before the link (by the round, or again after a conflict): a
                # plan finished meanwhile may have changed it, so unconditional writes look once more.
                return await self._decide_and_apply(
                    link, booking, room, organizer, scope, room_read_first=True
                )
            except (StaleRead, ResourceModifiedError, ResourceExistsError):
                continue
        raise StaleRead(f"room event in {room_mailbox} kept changing during {MAX_ATTEMPTS} attempts")

    async def room_event_removed(self, room_mailbox: str, event_id: str) -> SyncPlan | None:
        """A delta round lost sight of an event: deleted, or moved out of the sync window. Look again."""
        found = await self.outlook.room_event(room_mailbox, event_id)
        if isinstance(found, Present):
            return await self.room_event_changed(room_mailbox, event_id, found.value)
        if not isinstance(found, Gone):
            return None  # unreadable now: decide on a later round, never cancel on a guess
        return await self.room_event_changed(room_mailbox, event_id, None)

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
        if base.organizer_mailbox and base.ical_uid and self._may_read(base.organizer_mailbox, base):
            organizer = await self.outlook.organizer_event(base.organizer_mailbox, base.ical_uid)
        return room, organizer

    def _may_read(self, mailbox: str, base: SyncBase) -> bool:
        """Room mode touches room mailboxes only (a rooms-only access policy answers 403 for people's)."""
        if self.settings.organizer_mode is OrganizerMode.OWNER:
            return True
        return base.room_mailbox is not None and mailbox.lower() == base.room_mailbox.lower()

    def _outlook_as_in_base(
        self, link: StoredLink | None, booking: Observed[BookingSnapshot], scope: SyncScope
    ) -> tuple[Observed[RoomEventSnapshot], Observed[OrganizerEventSnapshot]] | None:
        """Outlook as the base saw it, when the plan decided on that is a conditional update only (412
        sends the next attempt to real reads). Saves the two reads of most IBSS edits."""
        if link is None or link.pending is not None or not isinstance(booking, Present):
            return None
        copies = outlook_as_in_base(link.base)
        if copies is None:
            return None
        room, organizer = Present(copies[0]), Present(copies[1]) if copies[1] is not None else UNREAD
        plan = reconcile(booking, room, organizer, link.base, self._config(scope))
        return (room, organizer) if fits_conditional_write(plan, link.base) else None

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
        """Finish a plan an earlier run left half done, before anything new is decided.

        A young pending plan is another worker's, still running: come back later rather than carry the
        same writes out twice. Only a plan older than the lease is taken to be abandoned (a crashed worker).
        """
        if link is None or link.pending is None:
            return link
        age = (self.clock() - link.pending.started_at).total_seconds()
        if age < PENDING_LEASE_SECONDS:
            raise RetryAfter(1.0, "another worker is carrying out a plan on this link")
        log.warning("replaying a pending plan", extra={"link_id": link.link_id})
        return await self._run_pending(link)

    async def _decide_and_apply(
        self,
        link: StoredLink | None,
        booking: Observed[BookingSnapshot],
        room: Observed[RoomEventSnapshot],
        organizer: Observed[OrganizerEventSnapshot],
        scope: SyncScope,
        *,
        room_read_first: bool = False,
    ) -> SyncPlan:
        config = self._config(scope)
        held = await self._held_elsewhere(link, organizer, config)
        if held:
            config = config.model_copy(update={"held_elsewhere": held})
        plan = reconcile(booking, room, organizer, link.base if link else None, config)
        if self.policies is not None and plan.ibss_writes:
            plan = await self.policies.review(plan, config.now)
        unconditional = any(
            isinstance(a, CancelMeeting | DeclineRoomEvent | AcceptRoomEvent) for a in plan.outlook_writes
        )
        if room_read_first and (unconditional or plan.ibss_writes) and isinstance(room, Present):
            await self._still_current(room.value)
        _log_plan("plan", plan, link, booking, room)
        seen = {
            "organizer": organizer.value.change_key if isinstance(organizer, Present) else None,
            "room": room.value.change_key if isinstance(room, Present) else None,
        }
        try:
            await self._apply(link, plan, {k: v for k, v in seen.items() if v})
        except BookingRejected as rejected:
            if not isinstance(room, Present):
                raise
            rejection = await self._with_conflict_holder(rejected.rejection, plan)
            follow_up = plan_after_ibss_rejection(room.value, link.base if link else None, rejection)
            _log_plan("follow-up plan", follow_up, link, booking, room)
            await self._apply(await self._refresh(link), follow_up)
            return follow_up
        except RoomUnavailable as unavailable:
            previous = link.base if link else None
            if not isinstance(booking, Present):
                raise
            follow_up = plan_after_room_unavailable(booking.value, previous, config, str(unavailable))
            _log_plan("follow-up plan", follow_up, link, booking, room)
            await self._apply(await self._refresh(link), follow_up)
            return follow_up
        self._observe(plan, booking, room)
        return plan

    async def _held_elsewhere(
        self, link: StoredLink | None, organizer: Observed[OrganizerEventSnapshot], config: SyncConfig
    ) -> frozenset[str]:
        """The synced rooms of the organizer's meeting that hold it under another live link; read only when
        the link's own room is no longer among them (a room removed from a meeting with several rooms)."""
        if link is None or not isinstance(organizer, Present) or not link.base.ical_uid:
            return frozenset()
        rooms = synced_rooms_of(organizer.value, config)
        if link.base.room_mailbox in rooms:
            return frozenset()
        held: set[str] = set()
        for other in sorted(rooms):
            found = await self.links.find("ical_uid", link.base.ical_uid, other)
            if found is not None and found.link_id != link.link_id and not found.base.terminal:
                held.add(other)
        return frozenset(held)

    async def _with_conflict_holder(self, rejection: IbssRejection, plan: SyncPlan) -> IbssRejection:
        """IBSS refused a create because the space is taken: by which booking, made when, and does the room
        calendar hold that booking's meeting, accepted? The core then decides whether that booking (say made
        in Flex moments after the room accepted this meeting, not yet seen by the feed) lost the race."""
        create = next((a for a in plan.ibss_writes if isinstance(a, CreateBooking)), None)
        if rejection.kind != "conflict" or create is None:
            return rejection
        holder = await self.ibss.conflict_holder(create, rejection.conflicting_booking_id)
        if holder is None:
            return rejection
        return rejection.model_copy(
            update={
                "conflicting_booking_id": holder.id,
                "conflicting_booking_created": holder.created,
                "conflicting_meeting": await self._meeting_in_the_room(holder.id),
            }
        )

    async def _meeting_in_the_room(self, booking_id: str) -> HolderMeeting:
        """The observations ``holder_meeting`` decides on: the booking's link and its room copy."""
        holder = await self.links.find("booking", booking_id)
        base = holder.base if holder is not None else None
        copy = None
        if base is not None and not base.terminal and base.ical_uid and base.room_mailbox:
            copy = await self.outlook.room_event_by_uid(base.room_mailbox, base.ical_uid)
        return holder_meeting(base, copy)

    async def _still_current(self, room: RoomEventSnapshot) -> None:
        """A delta round's copy can be older than a write we just made (e.g. our cancel or move of the
        meeting reached the room after the round read it). Graph updates are conditional (If-Match on the
        change key the decision saw); cancel, decline and accept are not, and IBSS writes are conditional on
        the booking's version only, so before those the copy is read once more: an old time on a stale copy
        is not an Outlook edit to carry back to the booking."""
        fresh = await self.outlook.room_event(room.room_mailbox, room.event_id)
        if not isinstance(fresh, Present) or fresh.value.change_key != room.change_key:
            raise StaleRead(f"room event {room.event_id} changed since the delta round read it")

    def _observe(
        self, plan: SyncPlan, booking: Observed[BookingSnapshot], room: Observed[RoomEventSnapshot]
    ) -> None:
        """Span attributes and the propagation lag of a plan that was carried out."""
        span = trace.get_current_span()
        span.set_attributes(
            {
                "sync.ibss_writes": len(plan.ibss_writes),
                "sync.outlook_writes": len(plan.outlook_writes),
                "sync.conflicts": len(plan.conflicts),
            }
        )
        now = self.clock()
        if plan.outlook_writes and isinstance(booking, Present):
            lag = (now - booking.value.modified).total_seconds() * 1000
            telemetry.record_propagation_lag(lag, "ibss_to_outlook")
        if plan.ibss_writes and isinstance(room, Present):
            lag = (now - room.value.last_modified).total_seconds() * 1000
            telemetry.record_propagation_lag(lag, "outlook_to_ibss")

    async def _refresh(self, link: StoredLink | None) -> StoredLink | None:
        return await self.links.get(link.link_id) if link else None

    async def _apply(
        self, link: StoredLink | None, plan: SyncPlan, seen: dict[str, str] | None = None
    ) -> None:
        retry = next((a for a in plan.actions if isinstance(a, RetryLater)), None)
        if retry is not None:
            # The writes before the retry make it possible (cancel the booking that lost the race): they
            # link nothing and are idempotent, so they are carried out now, and again if the job is replayed.
            await self._carry_out_unlinked(plan.actions)
            raise RetryAfter(5.0, retry.reason)
        writes = plan.ibss_writes + plan.outlook_writes
        if not writes:
            await self._record_conflicts(link.link_id if link else "", plan)
            if plan.new_base is None:
                return
            if link is None:
                await self.links.create(plan.new_base, None)
            elif plan.new_base != link.base:
                await self.links.save(link, plan.new_base, None)  # versions learned from an echo
                telemetry.echoes_suppressed.add(1)
            return
        if plan.new_base is None:
            # Nothing to link (e.g. cancel a booking that never held the room): idempotent calls only.
            if link is None:
                await self._carry_out_unlinked(plan.actions)
                return
            base = link.base
            for action in plan.actions:
                base = await self._carry_out(action, base)
            return
        # Claim the link first (ETag): two workers on the same link cannot both carry a plan out.
        if link is None:
            claimed = await self.links.create(
                plan.new_base, new_pending(plan.actions, plan.new_base, creates_link=True, seen=seen)
            )
        else:
            pending = new_pending(plan.actions, plan.new_base, seen=seen)
            claimed = await self.links.save(link, link.base, pending)
        await self._run_pending(claimed)

    async def _carry_out_unlinked(self, actions: tuple[Action, ...]) -> None:
        """Writes that belong to no link: cancel a booking known by id only, decline a room's copy."""
        for action in actions:
            if isinstance(action, CancelBooking):
                await self.ibss.cancel_anywhere(action, (await self.scope.current()).nodes)
            elif isinstance(action, DeclineRoomEvent):
                await self.outlook.apply(action)

    async def _run_pending(self, link: StoredLink) -> StoredLink:
        assert link.pending is not None
        base = link.pending.new_base
        try:
            for action in link.pending.actions:
                base = await self._carry_out(action, base, link.pending.seen)
                if isinstance(action, CreateMeeting | CreateBooking):
                    # Notifications about the new item may come back before this plan finishes.
                    await self.links.index(link, base)
        except (StaleRead, BookingRejected, RoomUnavailable):
            # The plan no longer fits the world: drop it (keeping the committed base) and decide again.
            if link.pending.creates_link:
                await self.links.delete(link)
            else:
                await self.links.save(link, link.base, None)
            raise
        except Exception:
            # Throttled or failed half-way but alive: give up the lease so the next attempt replays the
            # plan at once instead of waiting for it to look abandoned.
            released = link.pending.model_copy(update={"started_at": datetime(2000, 1, 1, tzinfo=UTC)})
            with contextlib.suppress(ResourceModifiedError):
                await self.links.save(link, link.base, released)
            raise
        await self._record_conflicts(link.link_id, SyncPlan(actions=link.pending.actions))
        return await self.links.save(link, base, None)

    async def _carry_out(
        self, action: object, base: SyncBase, seen: dict[str, str] | None = None
    ) -> SyncBase:
        if isinstance(action, CreateBooking):
            created = await self.ibss.create(action)
            linked = record_created_booking(base, booking_id=created.id)
            return linked.model_copy(update={"booking_version": created.etag}) if created.etag else linked
        if isinstance(action, UpdateBooking):
            updated = await self.ibss.update(base.node_id, action)
            # The version our write produced: its hook then compares equal and costs nothing.
            return base.model_copy(update={"booking_version": updated.etag}) if updated.etag else base
        if isinstance(action, CancelBooking):
            await self.ibss.cancel(base.node_id, action)
            return base
        if isinstance(
            action, CreateMeeting | UpdateMeeting | CancelMeeting | DeclineRoomEvent | AcceptRoomEvent
        ):
            based_on = (seen or {}).get(action.target.role) if isinstance(action, UpdateMeeting) else None
            try:
                written = await self.outlook.apply(action, based_on)
            except OrganizerWithoutMailbox as missing:
                raise await self._owner_without_mailbox(missing) from None
            invited = (isinstance(action, CreateMeeting) and not action.organizer_is_room) or (
                isinstance(action, UpdateMeeting)
                and action.changes.room is not None
                and action.changes.room.new
            )
            if invited and base.booking_id and self.room_reply_check is not None:
                await self.room_reply_check(base.node_id, base.booking_id, base.space_id)
            if isinstance(action, CreateMeeting) and written is not None:
                return record_created_meeting(
                    base, event_id=written.event_id, ical_uid=written.ical_uid, change_key=written.change_key
                )
            if isinstance(action, UpdateMeeting) and written is not None and written.change_key:
                # The version our write produced: the next IBSS edit can write on it conditionally, and
                # in room mode the room's echo of it already compares equal.
                key = "organizer_change_key" if action.target.role == "organizer" else "room_change_key"
                return base.model_copy(update={key: written.change_key})
            return base
        return base  # bookkeeping actions (LinkOnly, RecordConflict) need no call

    async def _record_conflicts(self, link_id: str, plan: SyncPlan) -> None:
        for conflict in plan.conflicts:
            await self.conflicts.record(link_id, conflict)
            # "room" is the IBSS space id: an id, never a mailbox address.
            space = plan.new_base.space_id if plan.new_base else ""
            telemetry.sync_conflicts.add(1, {"kind": conflict.field, "room": space})


def _log_plan(
    message: str,
    plan: SyncPlan,
    link: StoredLink | None,
    booking: Observed[BookingSnapshot],
    room: Observed[RoomEventSnapshot],
) -> None:
    """What was decided and why; a refusal's follow-up too, so a declined meeting's reason is in the log."""
    if plan.is_noop:
        return
    log.info(
        message,
        extra={
            "actions": [a.kind for a in plan.actions],
            "fields": _changed_fields(plan.actions),
            "why": "; ".join(plan.explanation)[:300],
            "link_id": link.link_id if link else None,
            "booking_id": booking.value.booking_id if isinstance(booking, Present) else None,
            "room_event_id": room.value.event_id[-16:] if isinstance(room, Present) else None,
        },
    )


def _changed_fields(actions: Iterable[Action]) -> list[str]:
    """Which fields the plan's updates write (names only, never values: the log carries no content)."""
    return [
        f"{action.kind}.{name}"
        for action in actions
        if isinstance(action, UpdateBooking | UpdateMeeting)
        for name in sorted(action.changes.model_dump(exclude_defaults=True))
    ]
