"""Per-room delta rounds: coalescing of notification bursts, one round at a time, window roll-over.

Flow: ``RoundScheduler.request`` sets the room row's ``pending_round`` flag (ETag) and enqueues one
``RoomDeltaJob`` with a short visibility delay, so a burst of notifications collapses into one round.
``DeltaRoundRunner.run`` takes a lease on the row (clearing the flag: the watermark is taken before the
fetch), pages the delta query until the deltaLink, hands the result to the RoomChangeSink, updates the
room's event index and only then stores the deltaLink.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from msgraph.generated.models.event import Event

from shared import telemetry
from shared.logs import current_correlation_id, new_correlation_id
from shared.rooms.graph_rooms import DeltaResyncRequired, GraphThrottled, retry_delay_seconds
from shared.rooms.models import RoomDeltaJob, RoomRow, RoundReason
from shared.rooms.ports import Clock, GraphRoomsPort, JobQueue, RoomChangeSink, describe
from shared.rooms.store import Conflict, IndexedEvent, RoomEventIndex, RoomStore
from shared.storage.names import QueueName

log = logging.getLogger(__name__)

MAX_CAS_ATTEMPTS = 8
MAX_PAGES_PER_ROUND = 2000
# A request joins a pending job due at most this much later than it wants its round.
JOIN_TOLERANCE = timedelta(seconds=2)


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def sync_window(now: datetime, time_zone: str, horizon_days: int) -> tuple[datetime, datetime]:
    """[local midnight today, + horizon days) in the building's zone, as UTC instants.

    calendarView/delta binds the window into its token: when the local day changes the window moves and
    the next round is a new initial round (``full_resync=True``)."""
    tz = zone(time_zone)
    local = now.astimezone(tz)
    start_local = datetime(local.year, local.month, local.day, tzinfo=tz)
    end_local = start_local + timedelta(days=horizon_days)
    return start_local.astimezone(UTC), end_local.astimezone(UTC)


def _event_end(event: Event) -> datetime | None:
    end = event.end
    if end is None or not end.date_time:
        return None
    try:
        raw = datetime.fromisoformat(str(end.date_time)[:26])
    except ValueError:
        return None
    if raw.tzinfo is None:
        raw = raw.replace(tzinfo=zone(str(end.time_zone or "UTC")))
    return raw.astimezone(UTC)


@dataclass
class RoundSettings:
    coalesce_seconds: int = 0
    pending_stale_seconds: float = 300.0
    lease_seconds: float = 120.0
    busy_retry_seconds: int = 2


@dataclass
class RoundScheduler:
    """Asks for a round of a room; bursts within ``coalesce_seconds`` become one queued job."""

    rooms: RoomStore
    queue: JobQueue
    clock: Clock
    settings: RoundSettings = field(default_factory=RoundSettings)

    async def request(
        self, mailbox: str, reason: RoundReason, *, full: bool = False, delay_seconds: int | None = None
    ) -> bool:
        """True when a job was enqueued, False when coalesced into a pending one (or the room is unknown).

        A request joins the pending job only when that job runs no later than this request needs:
        a notification arriving while a safety-net job waits out its random delay gets its own job (the
        delayed one then finds the room covered and skips)."""
        delay = self.settings.coalesce_seconds if delay_seconds is None else delay_seconds
        for _ in range(MAX_CAS_ATTEMPTS):
            found = await self.rooms.get(mailbox)
            if found is None:
                return False
            row, etag = found
            if not row.synced:
                return False
            now = self.clock()
            wanted = now + timedelta(seconds=delay)
            pending_due = self._pending_due(row, now)
            joins = pending_due is not None and pending_due <= wanted + JOIN_TOLERANCE
            if joins and (row.resync_requested or not full):
                return False
            row.pending_round = True
            row.pending_at = now
            row.pending_due_at = min(wanted, pending_due) if pending_due is not None else wanted
            row.resync_requested = row.resync_requested or full
            try:
                etag = await self.rooms.replace(row, etag)
            except Conflict:
                continue
            job = RoomDeltaJob(
                room_mailbox=row.mailbox,
                reason=reason,
                requested_at=now,
                correlation_id=current_correlation_id() or new_correlation_id(),
                traceparent=telemetry.current_traceparent(),
            )
            try:
                await self.queue.send(QueueName.SYNC_ROOMS, job, delay_seconds=delay)
            except Exception:
                # No job carries the flag: clear it, or later requests would join a job that never runs.
                await self._withdraw(row, etag)
                raise
            return True
        log.warning("round request lost a compare-and-swap race repeatedly", extra={"reason": reason})
        return False

    def _pending_due(self, row: RoomRow, now: datetime) -> datetime | None:
        """When the pending job becomes visible, or None when none is pending (or it is long overdue)."""
        if not row.pending_round:
            return None
        due = row.pending_due_at or row.pending_at
        if due is None:
            return None
        due = _utc(due)
        if (now - due).total_seconds() >= self.settings.pending_stale_seconds:
            return None  # its job was lost (or is stuck): a new request gets a new job
        return due

    async def _withdraw(self, row: RoomRow, etag: str) -> None:
        row.pending_round = False
        row.pending_at = None
        row.pending_due_at = None
        try:
            await self.rooms.replace(row, etag)
        except Conflict:
            pass  # someone changed the row since: their job (or round) carries the request
        except Exception as exc:  # the original send error is the one worth raising
            log.warning("could not clear a round flag after a failed send", extra={"error": describe(exc)})


class RoundOutcome(StrEnum):
    DONE = "done"
    SKIPPED = "skipped"  # unknown or unsynced room, or already covered by a later round
    BUSY = "busy"  # another worker holds the room: re-queued
    THROTTLED = "throttled"  # 429: re-queued with Retry-After
    SUPERSEDED = "superseded"  # lost the lease while running: the other round stores its deltaLink


@dataclass
class RoundResult:
    outcome: RoundOutcome
    full_resync: bool = False
    changed: int = 0
    removed: int = 0
    requests: int = 0
    retry_in: int | None = None


@dataclass
class DeltaRoundRunner:
    rooms: RoomStore
    index: RoomEventIndex
    graph: GraphRoomsPort
    sink: RoomChangeSink
    queue: JobQueue
    clock: Clock
    settings: RoundSettings = field(default_factory=RoundSettings)

    async def _requeue(self, job: RoomDeltaJob, delay: int, reason: RoundReason = "retry") -> None:
        again = job.model_copy(update={"attempt": job.attempt + 1, "reason": reason})
        await self.queue.send(QueueName.SYNC_ROOMS, again, delay_seconds=delay)

    async def _acquire(self, job: RoomDeltaJob) -> tuple[RoomRow, str, bool] | RoundResult:
        for _ in range(MAX_CAS_ATTEMPTS):
            found = await self.rooms.get(job.room_mailbox)
            if found is None or not found[0].synced:
                return RoundResult(RoundOutcome.SKIPPED)
            row, etag = found
            now = self.clock()
            if row.lease_id and row.lease_until and _utc(row.lease_until) > now:
                delay = self.settings.busy_retry_seconds
                await self._requeue(job, delay, job.reason)
                return RoundResult(RoundOutcome.BUSY, retry_in=delay)
            covered = (
                row.round_started_at is not None
                and _utc(row.round_started_at) >= _utc(job.requested_at)
                and not row.pending_round
                and not row.resync_requested
            )
            if covered:
                return RoundResult(RoundOutcome.SKIPPED)
            full = row.resync_requested
            row.lease_id = uuid.uuid4().hex
            row.lease_until = now + timedelta(seconds=self.settings.lease_seconds)
            row.round_started_at = now  # the watermark, before the fetch
            row.pending_round = False
            row.pending_at = None
            row.pending_due_at = None
            row.resync_requested = False
            try:
                etag = await self.rooms.replace(row, etag)
            except Conflict:
                continue
            return row, etag, full
        await self._requeue(job, self.settings.busy_retry_seconds, job.reason)
        return RoundResult(RoundOutcome.BUSY, retry_in=self.settings.busy_retry_seconds)

    async def _release(
        self, row: RoomRow, etag: str, *, pending: bool, full: bool, error: str | None
    ) -> None:
        """Give the lease back after a failed round, asking for another one."""
        lease = row.lease_id
        for _ in range(MAX_CAS_ATTEMPTS):
            if row.lease_id != lease:
                return
            row.lease_id = None
            row.lease_until = None
            row.last_error = error
            if pending:
                row.pending_round = True
                row.pending_at = self.clock()
                row.pending_due_at = None  # the re-queued job's due time is the retry delay
            row.resync_requested = row.resync_requested or full
            try:
                await self.rooms.replace(row, etag)
                return
            except Conflict:
                found = await self.rooms.get(row.mailbox)
                if found is None:
                    return
                row, etag = found

    async def _fetch(
        self, row: RoomRow, start: datetime, end: datetime, link: str | None, result: RoundResult
    ) -> tuple[dict[str, Event], list[str], str]:
        changed: dict[str, Event] = {}
        removed: list[str] = []
        page = await self.graph.delta_page(row.mailbox, row.user_id, url=link, start=start, end=end)
        result.requests += 1
        for _ in range(MAX_PAGES_PER_ROUND):
            for event in page.changed:
                if event.id:
                    changed[event.id] = event  # replays: the last one wins
            for event_id in page.removed_ids:
                changed.pop(event_id, None)
                removed.append(event_id)
            if page.delta_link:
                return changed, removed, page.delta_link
            if not page.next_link:
                break
            # Empty pages with a nextLink happen: keep following until the deltaLink.
            page = await self.graph.delta_page(row.mailbox, row.user_id, url=page.next_link)
            result.requests += 1
        raise DeltaResyncRequired(None, "noDeltaLink", "delta round ended without a deltaLink")

    async def run(self, job: RoomDeltaJob) -> RoundResult:
        acquired = await self._acquire(job)
        if isinstance(acquired, RoundResult):
            return acquired
        row, etag, full = acquired
        result = RoundResult(RoundOutcome.DONE)
        now = self.clock()
        start, end = sync_window(now, row.time_zone, row.horizon_days)
        same_window = row.window_start is not None and _utc(row.window_start) == start
        same_window = same_window and row.window_end is not None and _utc(row.window_end) == end
        link = row.delta_link if (row.delta_link and same_window and not full) else None
        try:
            try:
                changed, removed, delta_link = await self._fetch(row, start, end, link, result)
            except DeltaResyncRequired:
                if link is None:
                    raise
                log.warning(
                    "delta token unusable: full resync", extra={"room_key": row.to_entity()["PartitionKey"]}
                )
                link = None
                changed, removed, delta_link = await self._fetch(row, start, end, None, result)
            full_resync = link is None
            removed_ids = await self._settle(row, start, changed, removed, full_resync)
            await self.sink.room_changed(row.mailbox, list(changed.values()), removed_ids, full_resync)
        except GraphThrottled as exc:
            delay = retry_delay_seconds(exc.retry_after)
            await self._release(row, etag, pending=True, full=full, error=describe(exc))
            await self._requeue(job, delay)
            log.info("delta round throttled: re-queued", extra={"retry_in": delay})
            return RoundResult(RoundOutcome.THROTTLED, retry_in=delay, requests=result.requests)
        except Exception as exc:
            await self._release(row, etag, pending=False, full=full, error=describe(exc))
            raise
        result.full_resync = full_resync
        result.changed = len(changed)
        result.removed = len(removed_ids)
        if not await self._commit(row, etag, delta_link, start, end):
            result.outcome = RoundOutcome.SUPERSEDED
        return result

    async def _settle(
        self, row: RoomRow, start: datetime, changed: dict[str, Event], removed: Sequence[str], full: bool
    ) -> list[str]:
        """Filter ``@removed`` to ids known in the window, find vanished events after a full resync,
        and bring the room's event index up to date. Returns the removed ids for the sink."""
        known = await self.index.load(row.mailbox)
        gone = [i for i in dict.fromkeys(removed) if i in known]  # others: outside the window, or never seen
        if full:
            for event_id, item in known.items():
                # Missing from a full window read: deleted while the token was lost, unless it merely
                # fell out of the window as the days rolled on.
                still_in_window = item.end is None or item.end > start
                if event_id not in changed and event_id not in gone and still_in_window:
                    gone.append(event_id)
        upserts = [IndexedEvent(i, _event_end(e), e.change_key) for i, e in changed.items()]
        deletes = list(gone)
        if full:
            deletes += [i for i in known if i not in changed and i not in gone]
        await self.index.apply(row.mailbox, upserts, deletes)
        return gone

    async def _commit(self, row: RoomRow, etag: str, delta_link: str, start: datetime, end: datetime) -> bool:
        lease = row.lease_id
        for _ in range(MAX_CAS_ATTEMPTS):
            if row.lease_id != lease:
                return False  # our lease expired and another round took the room
            row.delta_link = delta_link
            row.window_start = start
            row.window_end = end
            row.last_round_at = self.clock()
            row.last_round_id = lease
            row.last_error = None
            row.lease_id = None
            row.lease_until = None
            try:
                await self.rooms.replace(row, etag)
                return True
            except Conflict:
                # Usually a notification set pending_round meanwhile: merge onto the fresh row.
                found = await self.rooms.get(row.mailbox)
                if found is None:
                    return False
                row, etag = found
        return False
