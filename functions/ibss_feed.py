"""IBSS change detection: the change feed's timer (shared/ibss/feed.py) and the nightly reconciliation
sweep (shared/ibss/sweep.py): the timer queues one sweep per building, a queue function runs each."""

from __future__ import annotations

import logging

import azure.functions as func

from shared.ibss.sweep import SweepFailed, SweepRequest
from shared.logs import correlation
from shared.messaging import parse_or_dead_letter
from shared.storage.names import QueueName
from shared.wiring import services

log = logging.getLogger(__name__)

bp = func.Blueprint()  # type: ignore[no-untyped-call]


@bp.timer_trigger(
    schedule="%SYNC_IBSS_FEED_SCHEDULE%", arg_name="timer", run_on_startup=False, use_monitor=False
)
async def ibss_feed_timer(timer: func.TimerRequest) -> None:
    svc = services()
    if svc.ibss_feed is None:
        return  # IBSS_BASE_URL / IBSS_API_KEY not set: nothing to poll
    await svc.notification_log.record_heartbeat("ibss_feed_timer", past_due=timer.past_due)
    await svc.ibss_feed.tick()


# 02:15 UTC, before the retention clean-up at 03:30: quiet hours in Europe, and one run a day is enough
# for what only a sweep sees (hard deletes, a lost create); the ops API runs it on demand.
@bp.timer_trigger(schedule="0 15 2 * * *", arg_name="timer", run_on_startup=False, use_monitor=False)
async def ibss_sweep_timer(timer: func.TimerRequest) -> None:
    svc = services()
    if svc.ibss_sweep is None:
        return
    await svc.notification_log.record_heartbeat("ibss_sweep_timer", past_due=timer.past_due)
    nodes = await svc.ibss_sweep.request_all("nightly")
    log.info("ibss sweeps queued", extra={"buildings": len(nodes)})


@bp.queue_trigger(arg_name="msg", queue_name=QueueName.IBSS_SWEEP, connection="AzureWebJobsStorage")
async def ibss_sweep_worker(msg: func.QueueMessage) -> None:
    svc = services()
    request = await parse_or_dead_letter(msg.get_body(), SweepRequest, svc.queues, QueueName.IBSS_SWEEP)
    if request is None or svc.ibss_sweep is None:
        return
    with correlation(request.correlation_id):
        for report in await svc.ibss_sweep.run(request.node_id):
            if report.error is not None:
                # The queue retries it (and parks it in the poison queue with the reason after that).
                raise SweepFailed(f"sweep of building {report.node_id} failed: {report.error}")
