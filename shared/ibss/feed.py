"""The IBSS change feed: bookings changed since a watermark become the sync jobs that hooks make.

ICONICS documents paged reads of ``/v2/{nodeid}/bookings`` and no outbound hooks (``docs/ibss-api.md``),
so this feed is what carries Flex and Roamer edits to Outlook against any IBSS; hooks, where an IBSS
sends them, make it faster and the feed becomes the safety net. Per building, a poll reads
``Booking_Modified ge <watermark>`` (an ASSUMED filter, see ``shared/ibss/fields.py``) page by page and
hands each changed booking of a synced space on as a :class:`BookingSyncJob` with reason ``poll``. The
reconciler then reads the booking like after a hook: an echo of our own write costs no Graph call.

The watermark is *our* clock at the start of the last complete poll minus an overlap window, advanced
only after every page was handed on. An IBSS clock that runs behind ours, or a write that IBSS shows a
little late, is still seen while it lies within the overlap; what the overlap shows again is recognised
by (booking id, ETag) and not handed on twice. Polls of one building never overlap (a lease on its row,
ETag compare-and-swap); a failing or throttled poll backs off and resumes from the same watermark.

The rules are pure functions of the stored :class:`FeedState`; :class:`IbssChangeFeed` runs them.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import partial
from typing import Any, Literal, Protocol

from pydantic import BaseModel, Field, ValidationError, field_validator

from shared.ibss import fields
from shared.ibss.client import IbssClient
from shared.ibss.errors import IbssServerError, IbssThrottled
from shared.ibss.hooks import IbssHookType
from shared.ibss.intake import BookingSyncJob, JobSink
from shared.ibss.models import Booking, BookingStatus, Building
from shared.ibss.sweep import Finding, LinkReader, compare_with_links, job_for_finding
from shared.logs import new_correlation_id
from shared.storage.names import QueueName

log = logging.getLogger(__name__)


class ChangeDetection(StrEnum):
    """How IBSS changes are detected, per building (``SYNC_IBSS_CHANGE_DETECTION`` or its row)."""

    HOOKS_AND_POLL = "hooks+poll"  # hooks for speed, an infrequent poll as the safety net
    POLL = "poll"  # no hook endpoint in IBSS: the poll is the feed


def known_change_detection(value: Any) -> ChangeDetection | None:
    """An admin's value from the buildings table; a typo means "the app default", never a broken reader."""
    if isinstance(value, ChangeDetection):
        return value
    if isinstance(value, str):
        text = value.strip().lower().replace(" ", "")
        for mode in ChangeDetection:
            if text == mode.value:
                return mode
    return None


# How a poll finds changes: "modified" filters on Booking_Modified (ASSUMED grammar, shared/ibss/fields.py);
# "window" reads the bookings overlapping now .. now + scan_days and compares their ETags with the links.
FeedScan = Literal["modified", "window"]


@dataclass(frozen=True)
class FeedSettings:
    default_mode: ChangeDetection = ChangeDetection.HOOKS_AND_POLL
    poll_seconds: float = 30.0  # poll mode: how often each building is read
    safety_poll_seconds: float = 300.0  # hooks+poll: the safety net
    overlap_seconds: float = 300.0  # IBSS clock behind ours / late visibility the feed still sees
    lease_seconds: float = 300.0  # a poll that takes longer gives its building up (nothing advances)
    max_backoff_seconds: float = 900.0
    page_size: int = fields.MAX_PAGE_SIZE
    recent_cap: int = 800  # (booking, ETag) pairs remembered per building; more only costs re-reads
    scan: FeedScan = "modified"
    scan_days: int = 14

    def interval(self, mode: ChangeDetection) -> timedelta:
        seconds = self.poll_seconds if mode is ChangeDetection.POLL else self.safety_poll_seconds
        return timedelta(seconds=seconds)


class FeedState(BaseModel):
    """One building's feed: its row in the ``ibssfeed`` table (PK ``feed``, RK = node id)."""

    node_id: int
    # Our clock at the start of the last complete poll, minus the overlap: the next poll reads from here.
    watermark: datetime
    # Fingerprint of (booking id, ETag) -> that version's Booking_Modified (Unix s): handed on already.
    recent: dict[str, int] = Field(default_factory=dict)
    lease_until: datetime | None = None
    next_poll_at: datetime
    mode: ChangeDetection | None = None  # of the last poll, for the ops page
    last_poll_at: datetime | None = None  # start of the last poll, successful or not
    last_success_at: datetime | None = None
    last_error: str | None = Field(default=None, max_length=500)
    failures: int = Field(default=0, ge=0)  # in a row
    last_handed_on: int = Field(default=0, ge=0)
    last_pages: int = Field(default=0, ge=0)
    created_at: datetime | None = None
    interval_seconds: float | None = None  # of the mode of the last poll: how stale is too stale

    @field_validator("mode", mode="before")
    @classmethod
    def _mode(cls, value: Any) -> Any:
        return known_change_detection(value)


# ------------------------------------------------------------------------------------------ rules


def new_feed(node_id: int, now: datetime, mode: ChangeDetection, settings: FeedSettings) -> FeedState:
    """A building seen for the first time: its first poll comes one interval later, from ``now`` minus the
    overlap (bookings that already exist are the reconciliation sweep's, not the feed's)."""
    return FeedState(
        node_id=node_id,
        watermark=now - timedelta(seconds=settings.overlap_seconds),
        next_poll_at=now + settings.interval(mode),
        mode=mode,
        created_at=now,
        interval_seconds=settings.interval(mode).total_seconds(),
    )


# The timer ticks on whole seconds, and a poll starts a moment after its tick: without this, the poll due
# one interval later would come just after that tick and wait for the next one, each interval a tick longer.
DUE_EARLY = timedelta(seconds=0.5)


def is_due(state: FeedState, now: datetime) -> bool:
    leased = state.lease_until is not None and state.lease_until > now
    return not leased and state.next_poll_at <= now + DUE_EARLY


def next_turn(state: FeedState, started_at: datetime, interval: timedelta) -> datetime:
    """The poll after one that started at ``started_at``: one interval after the turn it took, so a late
    start does not push every later poll back; from its start when it ran early ("poll now") or fell a
    whole interval behind (no burst of polls to catch up)."""
    on_turn = state.next_poll_at <= started_at + DUE_EARLY
    following = state.next_poll_at + interval
    return following if on_turn and following > started_at else started_at + interval


def claimed(state: FeedState, now: datetime, mode: ChangeDetection, settings: FeedSettings) -> FeedState:
    return state.model_copy(
        update={
            "lease_until": now + timedelta(seconds=settings.lease_seconds),
            "last_poll_at": now,
            "mode": mode,
            "interval_seconds": settings.interval(mode).total_seconds(),
        }
    )


STALE_AFTER = timedelta(minutes=15)


def is_stale(state: FeedState, now: datetime) -> bool:
    """No successful poll for 15 minutes (or two intervals, if longer) since the last one or since the
    building was first seen: its Flex edits may not be reaching Outlook (the ops page and alert say so)."""
    since = state.last_success_at or state.created_at
    if since is None:
        return False
    allowed = max(STALE_AFTER, timedelta(seconds=2 * (state.interval_seconds or 0)))
    return now - since > allowed


def version_key(booking_id: str, version: str) -> str:
    """The key under which one version of one booking is remembered as handed on."""
    return hashlib.sha256(f"{booking_id}|{version}".encode()).hexdigest()[:16]


def fingerprint(booking: Booking) -> str:
    """One version of one booking. Without an ETag, Booking_Modified stands for the version."""
    return version_key(booking.id, booking.etag or (booking.modified.isoformat() if booking.modified else ""))


def _epoch(value: datetime | None) -> int:
    return int(value.timestamp()) if value is not None else 0


def to_hand_on(bookings: Iterable[Booking], known: dict[str, int]) -> list[tuple[str, Booking]]:
    """The versions not handed on yet (by an earlier poll, or earlier on this one), with fingerprints."""
    out: list[tuple[str, Booking]] = []
    taken = set(known)
    for booking in bookings:
        key = fingerprint(booking)
        if key not in taken:
            taken.add(key)
            out.append((key, booking))
    return out


def after_success(
    state: FeedState,
    *,
    started_at: datetime,
    handed_on: dict[str, int],
    pages: int,
    settings: FeedSettings,
    mode: ChangeDetection,
) -> FeedState:
    """Every page was handed on: the watermark moves to this poll's start minus the overlap. Remembered
    versions older than the new watermark are forgotten (the filter no longer returns them)."""
    watermark = max(state.watermark, started_at - timedelta(seconds=settings.overlap_seconds))
    floor = _epoch(watermark)
    merged = {k: m for k, m in {**state.recent, **handed_on}.items() if m >= floor}
    if len(merged) > settings.recent_cap:
        newest = sorted(merged.items(), key=lambda kv: kv[1], reverse=True)[: settings.recent_cap]
        merged = dict(newest)
    return state.model_copy(
        update={
            "watermark": watermark,
            "recent": merged,
            "lease_until": None,
            "next_poll_at": next_turn(state, started_at, settings.interval(mode)),
            "last_success_at": started_at,
            "last_error": None,
            "failures": 0,
            "last_handed_on": len(handed_on),
            "last_pages": pages,
        }
    )


def after_failure(
    state: FeedState,
    *,
    now: datetime,
    reason: str,
    settings: FeedSettings,
    mode: ChangeDetection,
    retry_after: float | None = None,
) -> FeedState:
    """Nothing advances; the next poll waits longer each time in a row (and at least ``Retry-After``)."""
    failures = state.failures + 1
    base = min(settings.interval(mode).total_seconds(), 30.0)
    delay = min(base * 2 ** (failures - 1), settings.max_backoff_seconds)
    if retry_after is not None:
        delay = max(delay, min(retry_after, settings.max_backoff_seconds))
    return state.model_copy(
        update={
            "lease_until": None,
            "next_poll_at": now + timedelta(seconds=delay),
            "last_error": reason[:500],
            "failures": failures,
        }
    )


_HOOK_TYPE_OF_STATUS: dict[str, IbssHookType] = {
    BookingStatus.CANCELLED.value: IbssHookType.CANCELLED,
    BookingStatus.AUTO_CANCELLED.value: IbssHookType.AUTO_CANCELLED,
    BookingStatus.COMPLETED.value: IbssHookType.CHECKED_OUT,
    BookingStatus.EARLY_CHECKIN.value: IbssHookType.CHECKED_IN,
    BookingStatus.IN_PROGRESS.value: IbssHookType.CHECKED_IN,
}


def job_for(booking: Booking, key: str, now: datetime) -> BookingSyncJob:
    """The job a hook about this booking would have made (the worker reads the booking again anyway)."""
    return BookingSyncJob(
        booking_id=booking.id,
        node_id=booking.node_id,
        space_id=booking.space_id,
        series_id=booking.series_id,
        hook_type=_HOOK_TYPE_OF_STATUS.get(str(booking.status), IbssHookType.UPDATED),
        hook_id=f"poll-{key}",
        reason="poll",
        received_at=now,
        correlation_id=new_correlation_id(),
    )


def is_synced(booking: Booking, building: Building, synced_spaces: frozenset[str]) -> bool:
    """Bookings of rooms with a mailbox in the sync scope; in a building with Bkng_Sync_Enabled every
    booking (desk bookings go to their owners' calendars, which the desk path decides)."""
    return building.sync_enabled or booking.space_id in synced_spaces


# ------------------------------------------------------------------------------------------ runner


def _finding_key(finding: Finding) -> str:
    return version_key(finding.booking_id, finding.version or finding.kind)


class FeedConflict(Exception):
    """The building's row changed since it was read (another poll claimed it, or it already exists)."""


class FeedStore(Protocol):
    async def get(self, node_id: int) -> tuple[FeedState, str] | None: ...
    async def create(self, state: FeedState) -> str: ...
    async def replace(self, state: FeedState, etag: str) -> str: ...


PollResult = Literal["started", "not_due", "busy", "done", "failed", "lease_lost"]


@dataclass(frozen=True)
class PollOutcome:
    node_id: int
    result: PollResult
    handed_on: int = 0
    pages: int = 0
    error: str | None = None


class _LeaseExpired(Exception):
    pass


@dataclass
class IbssChangeFeed:
    client: IbssClient
    store: FeedStore
    sink: JobSink
    settings: FeedSettings
    # Room spaces in the sync scope, per building (shared.worker.scope.CachedScope through the wiring).
    synced_spaces: Callable[[int], Awaitable[frozenset[str]]]
    # Per-building overrides of the mode (the buildings table); missing or None: settings.default_mode.
    overrides: Callable[[], Awaitable[dict[int, ChangeDetection | None]]]
    links: LinkReader | None = None  # for the window scan
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    describe_error: Callable[[BaseException], str] = field(default=lambda exc: type(exc).__name__)
    buildings_ttl_seconds: float = 300.0
    concurrency: int = 4
    _buildings: list[Building] | None = None
    _buildings_at: float = 0.0

    async def tick(self) -> list[PollOutcome]:
        """The timer's work: poll every building of the sync whose turn it is."""
        buildings = await self.sync_buildings()
        overrides = await self.overrides()
        gate = asyncio.Semaphore(self.concurrency)

        async def one(building: Building) -> PollOutcome:
            async with gate:
                mode = overrides.get(building.node_id) or self.settings.default_mode
                return await self.poll_if_due(building, mode)

        return list(await asyncio.gather(*(one(b) for b in buildings)))

    async def sync_buildings(self) -> list[Building]:
        """The buildings of the sync (an external system or Bkng_Sync_Enabled), re-read every few minutes."""
        if self._buildings is None or time.monotonic() - self._buildings_at >= self.buildings_ttl_seconds:
            self._buildings = await self.client.list_buildings()
            self._buildings_at = time.monotonic()
        return [b for b in self._buildings if b.ext_system or b.sync_enabled]

    async def poll_if_due(
        self, building: Building, mode: ChangeDetection, *, now_due: bool = False
    ) -> PollOutcome:
        """Claim the building's row and poll it, unless another poll holds it or its turn has not come.
        ``now_due``: poll now whatever the schedule (the ops API's "poll now"; a running poll still wins)."""
        node_id = building.node_id
        now = self.clock()
        found = await self.store.get(node_id)
        if found is None:
            try:
                await self.store.create(new_feed(node_id, now, mode, self.settings))
            except FeedConflict:
                return PollOutcome(node_id, "busy")
            if not now_due:
                return PollOutcome(node_id, "started")
            found = await self.store.get(node_id)
            if found is None:
                return PollOutcome(node_id, "busy")
        state, etag = found
        if now_due:
            state = state.model_copy(update={"next_poll_at": min(state.next_poll_at, now)})
        if not is_due(state, now):
            return PollOutcome(node_id, "not_due")
        lease = claimed(state, now, mode, self.settings)
        try:
            etag = await self.store.replace(lease, etag)
        except FeedConflict:
            return PollOutcome(node_id, "busy")
        return await self._poll(building, lease, etag, mode, now)

    async def _poll(
        self, building: Building, state: FeedState, etag: str, mode: ChangeDetection, started_at: datetime
    ) -> PollOutcome:
        node_id = building.node_id
        handed_on: dict[str, int] = {}
        pages = 0
        window_recent: dict[str, int] | None = None
        try:
            spaces = await self.synced_spaces(node_id)
            if self.settings.scan == "window":
                pages, window_recent = await self._scan_window(building, state, spaces, started_at, handed_on)
            else:
                async for page in self.client.iter_booking_pages(
                    node_id, modified_since=state.watermark, page_size=self.settings.page_size
                ):
                    pages += 1
                    relevant = [b for b in page.items if is_synced(b, building, spaces)]
                    for key, booking in to_hand_on(relevant, {**state.recent, **handed_on}):
                        await self._hand_on(partial(job_for, booking, key, self.clock()))
                        handed_on[key] = _epoch(booking.modified)
                    self._check_lease(state, node_id, pages)
        except (
            Exception
        ) as exc:  # any failure: nothing advances, the next poll starts from the same watermark
            retry_after = exc.retry_after if isinstance(exc, IbssThrottled | IbssServerError) else None
            reason = self.describe_error(exc)
            failed = after_failure(
                state,
                now=self.clock(),
                reason=reason,
                settings=self.settings,
                mode=mode,
                retry_after=retry_after,
            )
            log.warning(
                "ibss feed poll failed",
                extra={"node_id": node_id, "pages": pages, "handed_on": len(handed_on), "reason": reason},
            )
            await self._save(failed, etag)
            return PollOutcome(node_id, "failed", len(handed_on), pages, reason)
        done = after_success(
            state, started_at=started_at, handed_on=handed_on, pages=pages, settings=self.settings, mode=mode
        )
        if window_recent is not None:
            done = done.model_copy(update={"recent": window_recent})
        if not await self._save(done, etag):
            return PollOutcome(node_id, "lease_lost", len(handed_on), pages)
        if handed_on:
            log.info(
                "ibss feed poll",
                extra={"node_id": node_id, "mode": mode.value, "pages": pages, "handed_on": len(handed_on)},
            )
        return PollOutcome(node_id, "done", len(handed_on), pages)

    def _check_lease(self, state: FeedState, node_id: int, pages: int) -> None:
        if state.lease_until is not None and self.clock() >= state.lease_until:
            raise _LeaseExpired(f"poll of building {node_id} outlived its lease after {pages} page(s)")

    async def _scan_window(
        self,
        building: Building,
        state: FeedState,
        spaces: frozenset[str],
        started_at: datetime,
        handed_on: dict[str, int],
    ) -> tuple[int, dict[str, int]]:
        """The window scan: every booking overlapping now .. now + scan_days, compared with the links by
        ETag. What disagrees is handed on once per version; the versions remembered are those this scan
        still found disagreeing (so a booking the reconciler chose not to sync costs one job, not one per
        poll). Returns the pages read and the versions to remember."""
        if self.links is None:
            raise RuntimeError("the window scan needs the links")
        node_id = building.node_id
        end = started_at + timedelta(days=self.settings.scan_days)
        bookings: list[Booking] = []
        pages = 0
        async for page in self.client.iter_booking_pages(
            node_id, start=started_at, end=end, page_size=self.settings.page_size
        ):
            pages += 1
            bookings.extend(page.items)
            self._check_lease(state, node_id, pages)
        links = [lk for lk in await self.links.ending_after(started_at) if lk.node_id == node_id]
        findings = compare_with_links(
            bookings,
            links,
            synced_spaces=spaces,
            window_start=started_at,
            window_end=end,
            compare_versions=True,
        )
        remembered: dict[str, int] = {}
        stamp = _epoch(started_at)
        for finding in findings:
            key = _finding_key(finding)
            remembered[key] = stamp
            if key not in state.recent and key not in handed_on:
                await self._hand_on(partial(job_for_finding, finding, self.clock(), "poll"))
                handed_on[key] = stamp
        if len(remembered) > self.settings.recent_cap:
            remembered = dict(list(remembered.items())[: self.settings.recent_cap])
        return pages, remembered

    async def _hand_on(self, make_job: Callable[[], BookingSyncJob]) -> None:
        try:
            job = make_job()
        except ValidationError as exc:
            # Ids no job can carry (over-long, or characters a storage key refuses): skipped, not retried
            # forever, which would hold the building's feed at this watermark.
            log.warning("ibss booking skipped: its ids cannot be synced", extra={"errors": exc.error_count()})
            return
        await self.sink.send(QueueName.SYNC_BOOKINGS, job)

    async def _save(self, state: FeedState, etag: str) -> bool:
        try:
            await self.store.replace(state, etag)
        except FeedConflict:
            # Our lease ran out and another poll took the building: its result stands, ours is dropped.
            log.warning("ibss feed lease lost", extra={"node_id": state.node_id})
            return False
        return True


__all__ = [
    "DUE_EARLY",
    "ChangeDetection",
    "FeedConflict",
    "FeedScan",
    "FeedSettings",
    "FeedState",
    "FeedStore",
    "IbssChangeFeed",
    "PollOutcome",
    "after_failure",
    "after_success",
    "claimed",
    "fingerprint",
    "is_due",
    "is_stale",
    "is_synced",
    "job_for",
    "known_change_detection",
    "new_feed",
    "next_turn",
    "to_hand_on",
]
