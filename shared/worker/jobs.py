"""Queue jobs of the sync: what a queue function does with one message."""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable
from typing import TypeVar

from shared import telemetry
from shared.ibss.intake import BookingSyncJob
from shared.state.sync_events import SyncEvent, SyncEventLog, describe_error
from shared.storage.names import QueueName
from shared.storage.queues import StorageQueueSink
from shared.sync.plan import SyncPlan
from shared.worker.errors import RetryAfter
from shared.worker.reconciler import Reconciler
from shared.worker.series_ibss import route_booking_job

log = logging.getLogger(__name__)
T = TypeVar("T")


async def run_booking_job(
    job: BookingSyncJob,
    reconciler: Reconciler,
    queues: StorageQueueSink,
    events: SyncEventLog | None = None,
) -> None:
    """Reconcile the booking a hook pointed at. Throttled: the same job comes back after Retry-After.

    The job's sync event row (admin page) goes processing → done | error; a failure is recorded with its
    reason and re-raised, so the host's retries and poison queue work as before."""
    if await route_booking_job(job, queues):
        return  # a booking of an IBSS series: the series job (debounced) decides for the whole series
    events = events if events is not None else SyncEventLog(queues.account)
    with telemetry.consumer_span(
        "booking sync job",
        job.traceparent,
        {"messaging.destination.name": QueueName.SYNC_BOOKINGS.value, "ibss.booking_id": job.booking_id},
    ) as span:
        event = await _safely(events.begin(QueueName.SYNC_BOOKINGS, job))
        try:
            with telemetry.capture_propagation_lag() as lag:
                plan = await reconciler.booking_changed(
                    job.node_id, job.booking_id, force=not job.is_change_hint
                )
        except RetryAfter as wait:
            log.info("booking job re-queued", extra={"delay_s": wait.seconds, "reason": str(wait)[:200]})
            await queues.send(QueueName.SYNC_BOOKINGS, job, delay_seconds=math.ceil(wait.seconds))
            telemetry.sync_jobs.add(1, {"kind": job.kind, "outcome": "deferred"})
            if event is not None:
                await _safely(events.deferred(event, f"throttled: retry in {math.ceil(wait.seconds)}s"))
            return
        except Exception as exc:
            telemetry.mark_error(span, exc)
            telemetry.sync_jobs.add(1, {"kind": job.kind, "outcome": "error"})
            if event is not None:
                await _safely(events.failed(event, describe_error(exc)))
            raise
        telemetry.sync_jobs.add(1, {"kind": job.kind, "outcome": "done"})
        if event is not None:
            await _safely(_record_done(events, event, plan, lag.max_ms))
    if plan is not None:
        log.info(
            "booking reconciled",
            extra={
                "booking_id": job.booking_id,
                "ibss_writes": len(plan.ibss_writes),
                "outlook_writes": len(plan.outlook_writes),
                "why": "; ".join(plan.explanation)[:500],
            },
        )


async def _record_done(
    events: SyncEventLog, event: SyncEvent, plan: SyncPlan | None, lag_ms: float | None
) -> SyncEvent | None:
    if plan is None:
        return await events.done(event, outcome="nothing to do")
    writes = len(plan.ibss_writes) + len(plan.outlook_writes)
    return await events.done(
        event,
        outcome=f"{writes} write(s)" if writes else "in sync",
        ibss_writes=len(plan.ibss_writes),
        outlook_writes=len(plan.outlook_writes),
        conflicts=len(plan.conflicts),
        lag_ms=lag_ms,
    )


async def _safely(step: Awaitable[T]) -> T | None:
    """Run a bookkeeping step; a failure to record is logged, never allowed to fail the sync itself."""
    try:
        return await step
    except Exception as exc:
        log.warning("sync event not recorded", extra={"reason": describe_error(exc)})
        return None
