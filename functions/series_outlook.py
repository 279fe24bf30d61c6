"""Recurring meetings made in Outlook: the `sync-series` queue worker and the daily horizon roll-forward."""

from __future__ import annotations

import logging
import math

import azure.functions as func

from shared.logs import correlation
from shared.messaging import parse_or_dead_letter
from shared.state.series import TableSeriesStore
from shared.storage.names import QueueName
from shared.wiring import services
from shared.worker.errors import RetryAfter
from shared.worker.series_outlook import SeriesJob, roll_forward
from shared.worker.series_wiring import series_for_current_loop
from shared.worker.wiring import SyncNotConfigured

bp = func.Blueprint()  # type: ignore[no-untyped-call]
log = logging.getLogger(__name__)


@bp.queue_trigger(arg_name="msg", queue_name=QueueName.SYNC_SERIES, connection="AzureWebJobsStorage")
async def outlook_series_worker(msg: func.QueueMessage) -> None:
    svc = services()
    body = msg.get_body()
    job = await parse_or_dead_letter(body, SeriesJob, svc.queues, QueueName.SYNC_SERIES)
    if job is None:
        return
    with correlation(job.correlation_id):
        try:
            worker, _ = series_for_current_loop(svc.settings, svc.storage)
        except SyncNotConfigured as exc:
            await svc.queues.dead_letter(QueueName.SYNC_SERIES, body, str(exc))
            return
        try:
            result = await worker.run(job)
        except RetryAfter as wait:
            # Throttled, or another worker holds the series: the queue waits, not this function.
            again = job.model_copy(update={"attempt": job.attempt + 1, "reason": "retry"})
            await svc.queues.send(QueueName.SYNC_SERIES, again, delay_seconds=math.ceil(wait.seconds))
            return
        log.info(
            "series job",
            extra={
                "outcome": result.outcome,
                "reason": job.reason,
                "actions": [a.kind for a in result.plan.actions] if result.plan else [],
                "graph_reads": result.graph_reads,
            },
        )


@bp.timer_trigger(schedule="0 15 0 * * *", arg_name="timer", run_on_startup=False, use_monitor=False)
async def series_roll_forward_timer(timer: func.TimerRequest) -> None:
    """Daily at 00:15 UTC: the sync horizon moved a day, so every active series is looked at again."""
    svc = services()
    count = await roll_forward(TableSeriesStore(svc.storage), svc.queues)
    log.info("series roll-forward", extra={"series": count})
