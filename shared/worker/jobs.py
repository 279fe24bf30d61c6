"""Queue jobs of the sync: what a queue function does with one message."""

from __future__ import annotations

import logging
import math

from shared.ibss.intake import BookingSyncJob
from shared.storage.names import QueueName
from shared.storage.queues import StorageQueueSink
from shared.worker.reconciler import Reconciler, RetryAfter

log = logging.getLogger(__name__)


async def run_booking_job(job: BookingSyncJob, reconciler: Reconciler, queues: StorageQueueSink) -> None:
    """Reconcile the booking a hook pointed at. Throttled: the same job comes back after Retry-After."""
    try:
        plan = await reconciler.booking_changed(job.node_id, job.booking_id)
    except RetryAfter as wait:
        log.info("booking job re-queued", extra={"delay_s": wait.seconds, "reason": str(wait)[:200]})
        await queues.send(QueueName.SYNC_BOOKINGS, job, delay_seconds=math.ceil(wait.seconds))
        return
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
