"""Timer triggers on NCRONTAB schedules (six fields, seconds first), in UTC as the host uses by default."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from azure.functions.timer import TimerRequest
from croniter import croniter

from devhost.config import DevHostConfigError, resolve_binding_expression
from devhost.invoke import invoke
from devhost.loader import TimerFunction

log = logging.getLogger("devhost.timer")

PAST_DUE_SECONDS = 1.0


def parse_schedule(expression: str) -> str:
    schedule = resolve_binding_expression(expression).strip()
    if len(schedule.split()) != 6:
        raise DevHostConfigError(f"NCRONTAB schedule needs six fields (seconds first): {schedule!r}")
    if not croniter.is_valid(schedule, second_at_beginning=True):
        raise DevHostConfigError(f"invalid NCRONTAB schedule: {schedule!r}")
    return schedule


class TimerScheduler:
    def __init__(self, fn: TimerFunction) -> None:
        self.fn = fn
        self.schedule = parse_schedule(fn.schedule)

    async def _fire(self, past_due: bool) -> None:
        try:
            await invoke(self.fn.user_function, self.fn.arg_name, TimerRequest(past_due=past_due))
        except Exception:
            log.exception("timer function %s failed", self.fn.name)

    async def run(self, stop: asyncio.Event) -> None:
        if self.fn.run_on_startup:
            await self._fire(past_due=False)
        it = croniter(self.schedule, datetime.now(UTC), second_at_beginning=True)
        while not stop.is_set():
            due: datetime = it.get_next(datetime)
            wait = (due - datetime.now(UTC)).total_seconds()
            if wait > 0:
                try:
                    await asyncio.wait_for(stop.wait(), timeout=wait)
                    return
                except TimeoutError:
                    pass
            late = (datetime.now(UTC) - due).total_seconds()
            await self._fire(past_due=late > PAST_DUE_SECONDS)
