"""Timer function: the IBSS change feed polls the buildings whose turn it is (shared/ibss/feed.py)."""

from __future__ import annotations

import logging

import azure.functions as func

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
