"""Timer function: onboarding refresh, subscription upkeep and safety-net (or polling) delta rounds."""

from __future__ import annotations

from datetime import UTC, datetime

import azure.functions as func

from shared.state.links import TableLinkStore
from shared.state.retention import Retention
from shared.wiring import services

bp = func.Blueprint()  # type: ignore[no-untyped-call]


@bp.timer_trigger(schedule="%SYNC_TIMER_SCHEDULE%", arg_name="timer", run_on_startup=False, use_monitor=False)
async def maintenance_timer(timer: func.TimerRequest) -> None:
    svc = services()
    await svc.notification_log.record_heartbeat("maintenance_timer", past_due=timer.past_due)
    await svc.rooms.maintain()


@bp.timer_trigger(schedule="0 30 3 * * *", arg_name="timer", run_on_startup=False, use_monitor=False)
async def retention_timer(timer: func.TimerRequest) -> None:
    """Daily at 03:30 UTC: delete the state of bookings that ended SYNC_PURGE_AFTER_DAYS ago."""
    svc = services()
    retention = Retention(svc.storage, TableLinkStore(svc.storage))
    await retention.purge(datetime.now(UTC), svc.settings.purge_after_days)
