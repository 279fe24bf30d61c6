"""Timer function. It records a heartbeat for now; subscription renewal and delta catch-up join it later."""

from __future__ import annotations

import azure.functions as func

from shared.wiring import services

bp = func.Blueprint()  # type: ignore[no-untyped-call]


@bp.timer_trigger(schedule="%SYNC_TIMER_SCHEDULE%", arg_name="timer", run_on_startup=False, use_monitor=False)
async def maintenance_timer(timer: func.TimerRequest) -> None:
    await services().notification_log.record_heartbeat("maintenance_timer", past_due=timer.past_due)
