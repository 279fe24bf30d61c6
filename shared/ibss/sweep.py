"""The IBSS side compared with the links: what a modified-since filter or a lost hook cannot show.

Two users of one rule, :func:`compare_with_links`:

- the **reconciliation sweep** (nightly, and on demand from the ops API) reads each building's bookings over
  the sync horizon and its links: every booking that holds a synced room and has no link, and every active
  link whose booking is gone from the API (a hard delete) or cancelled, becomes the job a hook would have
  made. The reconciler reads both sides again and decides (a gone booking cancels its meeting, as a cancel
  hook would);
- the change feed's **window scan** (``SYNC_IBSS_FEED_SCAN=window``, for an IBSS whose bookings cannot be
  filtered by ``Booking_Modified``) runs the same comparison over a short window on every poll and also
  hands on bookings whose ETag differs from the one their link converged on.

IBSS series are handed on once per series (the series job compares the whole series); desk bookings are
not compared here (their links live in the desk table; the feed still carries their changes).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from shared.ibss.client import IbssClient
from shared.ibss.hooks import IbssHookType
from shared.ibss.intake import BookingSyncJob, JobSink
from shared.ibss.models import ACTIVE_STATUSES, Booking, Building
from shared.logs import new_correlation_id
from shared.storage.names import QueueName
from shared.sync import LinkState, SyncBase

log = logging.getLogger(__name__)

FindingKind = Literal["unlinked", "changed", "gone", "cancelled", "series"]


@dataclass(frozen=True)
class Finding:
    """One booking whose IBSS state and link disagree (or may: a series is compared by its own job)."""

    kind: FindingKind
    booking_id: str
    node_id: int
    space_id: str
    series_id: str | None = None
    version: str | None = None  # the booking's ETag, when it was read


def holds_its_space(booking: Booking) -> bool:
    return str(booking.status) in ACTIVE_STATUSES


def compare_with_links(
    bookings: Iterable[Booking],
    links: Iterable[SyncBase],
    *,
    synced_spaces: frozenset[str],
    window_start: datetime,
    window_end: datetime,
    compare_versions: bool = False,
) -> list[Finding]:
    """The disagreements between one building's bookings overlapping [window_start, window_end) and its
    links. ``links``: every link row of the building that ends after ``window_start``, in any state (a
    link that ended is a decision already taken, so its booking is not "unlinked"). ``compare_versions``:
    a linked booking whose ETag differs from the link's is reported as ``changed``."""
    in_scope = [b for b in bookings if b.space_id in synced_spaces]
    by_booking: dict[str, SyncBase] = {lk.booking_id: lk for lk in links if lk.booking_id}
    seen: set[str] = set()
    out = _series_findings([b for b in in_scope if b.series_id])
    for b in in_scope:
        seen.add(b.id)
        if b.series_id:
            continue
        link = by_booking.get(b.id)
        if link is None:
            if holds_its_space(b):
                out.append(Finding("unlinked", b.id, b.node_id, b.space_id, None, b.etag))
        elif link.state is LinkState.ACTIVE:
            if not holds_its_space(b):
                out.append(Finding("cancelled", b.id, b.node_id, b.space_id, None, b.etag))
            elif compare_versions and b.etag and link.booking_version != b.etag:
                out.append(Finding("changed", b.id, b.node_id, b.space_id, None, b.etag))
    for booking_id, link in by_booking.items():
        overlaps = link.start < window_end and link.end > window_start
        if booking_id not in seen and link.state is LinkState.ACTIVE and overlaps:
            out.append(Finding("gone", booking_id, link.node_id, link.space_id))
    return out


def _series_findings(bookings: list[Booking]) -> list[Finding]:
    """One finding per series with an occurrence that holds its space; its version stands for every
    occurrence in the window (any edit to one of them makes a new version)."""
    by_series: dict[str, list[Booking]] = {}
    for b in bookings:
        by_series.setdefault(b.series_id or "", []).append(b)
    out: list[Finding] = []
    for series_id, items in by_series.items():
        live = sorted((b for b in items if holds_its_space(b)), key=lambda b: (b.start, b.id))
        if not live:
            continue
        versions = "|".join(f"{b.id}:{b.etag or b.modified}" for b in sorted(items, key=lambda b: b.id))
        digest = hashlib.sha256(versions.encode()).hexdigest()[:16]
        first = live[0]
        out.append(Finding("series", first.id, first.node_id, first.space_id, series_id, digest))
    return out


_HOOK_TYPE: dict[FindingKind, IbssHookType] = {
    "unlinked": IbssHookType.CREATED,
    "changed": IbssHookType.UPDATED,
    "gone": IbssHookType.CANCELLED,
    "cancelled": IbssHookType.CANCELLED,
    "series": IbssHookType.UPDATED,
}


def job_for_finding(finding: Finding, now: datetime, reason: Literal["poll", "sweep"]) -> BookingSyncJob:
    return BookingSyncJob(
        booking_id=finding.booking_id,
        node_id=finding.node_id,
        space_id=finding.space_id,
        series_id=finding.series_id,
        hook_type=_HOOK_TYPE[finding.kind],
        hook_id=f"{reason}-{uuid.uuid4().hex}",
        reason=reason,
        received_at=now,
        correlation_id=new_correlation_id(),
    )


# ------------------------------------------------------------------------------------------ runner


class SweepRequest(BaseModel):
    """Queue message: sweep this building (the nightly timer sends one per building; the ops API too)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["ibss.sweep"] = "ibss.sweep"
    node_id: int
    requested_by: Literal["nightly", "ops"]
    requested_at: datetime
    correlation_id: str = Field(min_length=1, max_length=64)


def sweep_request(node_id: int, requested_by: Literal["nightly", "ops"], now: datetime) -> SweepRequest:
    return SweepRequest(
        node_id=node_id, requested_by=requested_by, requested_at=now, correlation_id=new_correlation_id()
    )


class SweepFailed(Exception):
    """The sweep could not finish (its report says why): raised so the queue retries it."""


class LinkReader(Protocol):
    async def ending_after(self, since: datetime) -> list[SyncBase]: ...


class SweepReport(BaseModel):
    """One building's last sweep: its row in the ``ibssfeed`` table (PK ``sweep``, RK = node id)."""

    node_id: int
    started_at: datetime
    finished_at: datetime | None = None
    window_start: datetime
    window_end: datetime
    bookings_read: int = Field(default=0, ge=0)
    pages: int = Field(default=0, ge=0)
    links_compared: int = Field(default=0, ge=0)
    unlinked: int = Field(default=0, ge=0)
    gone: int = Field(default=0, ge=0)
    cancelled: int = Field(default=0, ge=0)
    series: int = Field(default=0, ge=0)
    handed_on: int = Field(default=0, ge=0)
    error: str | None = Field(default=None, max_length=500)


class SweepReports(Protocol):
    async def save(self, report: SweepReport) -> None: ...


def _counted(report: SweepReport, findings: list[Finding]) -> SweepReport:
    kinds = [f.kind for f in findings]
    return report.model_copy(
        update={
            "unlinked": kinds.count("unlinked"),
            "gone": kinds.count("gone"),
            "cancelled": kinds.count("cancelled"),
            "series": kinds.count("series"),
            "handed_on": len(findings),
        }
    )


@dataclass
class ReconciliationSweep:
    client: IbssClient
    links: LinkReader
    reports: SweepReports
    sink: JobSink
    synced_spaces: Callable[[int], Awaitable[frozenset[str]]]
    buildings: Callable[[], Awaitable[list[Building]]]
    horizon_days: int
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    describe_error: Callable[[BaseException], str] = field(default=lambda exc: type(exc).__name__)
    concurrency: int = 2

    async def request_all(
        self, requested_by: Literal["nightly", "ops"], *, node_id: int | None = None
    ) -> list[int]:
        """One queued sweep per building of the sync, or of one (each runs, and is retried, on its own)."""
        nodes = [b.node_id for b in await self.buildings() if node_id is None or b.node_id == node_id]
        for node in nodes:
            await self.sink.send(QueueName.IBSS_SWEEP, sweep_request(node, requested_by, self.clock()))
        return nodes

    async def run(self, node_id: int | None = None) -> list[SweepReport]:
        """Sweep every building of the sync (or one); each building's report is saved and returned."""
        buildings = [b for b in await self.buildings() if node_id is None or b.node_id == node_id]
        gate = asyncio.Semaphore(self.concurrency)

        async def one(building: Building) -> SweepReport:
            async with gate:
                return await self.sweep(building)

        return list(await asyncio.gather(*(one(b) for b in buildings)))

    async def sweep(self, building: Building) -> SweepReport:
        now = self.clock()
        report = SweepReport(
            node_id=building.node_id,
            started_at=now,
            window_start=now,
            window_end=now + timedelta(days=self.horizon_days),
        )
        try:
            report = await self._sweep(building, report)
        except Exception as exc:  # the report says why; the next sweep starts over (nothing to resume)
            reason = self.describe_error(exc)
            log.warning("ibss sweep failed", extra={"node_id": building.node_id, "reason": reason})
            report = report.model_copy(update={"error": reason[:500], "finished_at": self.clock()})
        await self.reports.save(report)
        return report

    async def _sweep(self, building: Building, report: SweepReport) -> SweepReport:
        node_id = building.node_id
        spaces = await self.synced_spaces(node_id)
        bookings: list[Booking] = []
        pages = 0
        async for page in self.client.iter_booking_pages(
            node_id, start=report.window_start, end=report.window_end
        ):
            pages += 1
            bookings.extend(page.items)
        links = [lk for lk in await self.links.ending_after(report.window_start) if lk.node_id == node_id]
        findings = compare_with_links(
            bookings,
            links,
            synced_spaces=spaces,
            window_start=report.window_start,
            window_end=report.window_end,
        )
        for finding in findings:
            await self.sink.send(QueueName.SYNC_BOOKINGS, job_for_finding(finding, self.clock(), "sweep"))
        done = _counted(report, findings).model_copy(
            update={
                "bookings_read": len(bookings),
                "pages": pages,
                "links_compared": len(links),
                "finished_at": self.clock(),
            }
        )
        log.info(
            "ibss sweep",
            extra={"node_id": node_id, "bookings": len(bookings), "pages": pages, "handed_on": len(findings)},
        )
        return done


__all__ = [
    "Finding",
    "LinkReader",
    "ReconciliationSweep",
    "SweepFailed",
    "SweepReport",
    "SweepReports",
    "SweepRequest",
    "compare_with_links",
    "holds_its_space",
    "job_for_finding",
    "sweep_request",
]
