"""IBSS booking series -> one recurring Outlook meeting: the queue trigger (the work is in shared/)."""

from __future__ import annotations

import logging

import azure.functions as func

from shared.logs import correlation
from shared.messaging import parse_or_dead_letter
from shared.storage.names import QueueName
from shared.wiring import services
from shared.worker.series_ibss import IbssSeriesJob, run_series_job, series_worker_for_current_loop
from shared.worker.wiring import SyncNotConfigured

log = logging.getLogger(__name__)

bp = func.Blueprint()  # type: ignore[no-untyped-call]


@bp.queue_trigger(arg_name="msg", queue_name=QueueName.SYNC_IBSS_SERIES, connection="AzureWebJobsStorage")
async def ibss_series_worker(msg: func.QueueMessage) -> None:
    svc = services()
    job = await parse_or_dead_letter(msg.get_body(), IbssSeriesJob, svc.queues, QueueName.SYNC_IBSS_SERIES)
    if job is None:
        return
    with correlation(job.correlation_id):
        try:
            worker = series_worker_for_current_loop(svc.settings, svc.storage)
        except SyncNotConfigured as exc:
            log.warning("series job not synced: %s", exc)
            return
        await run_series_job(job, worker, svc.queues)
