"""The rooms service: what the queue and timer functions call.

* change notification → ``RoundScheduler.request`` (coalesced) → `sync-rooms` → ``DeltaRoundRunner``
* lifecycle: reauthorizationRequired → renew (PATCH also reauthorizes) + round; subscriptionRemoved →
  recreate + round; missed → full resync round
* timer: onboarding refresh, subscription upkeep, safety-net (or polling) rounds with jittered delays
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime

from shared.graph.notifications import GraphChangeMessage, GraphLifecycleMessage, LifecycleEvent
from shared.rooms.delta import DeltaRoundRunner, RoundResult, RoundScheduler
from shared.rooms.graph_rooms import GraphThrottled
from shared.rooms.models import RoomDeltaJob, RoomRow, RoundReason
from shared.rooms.onboarding import Onboarding, OnboardingStats
from shared.rooms.ports import Clock, describe
from shared.rooms.store import OnboardingReport, RoomStore
from shared.rooms.subscriptions import SubscriptionManager, SubscriptionStats
from shared.state.subscriptions import TableSubscriptionStore

log = logging.getLogger(__name__)


@dataclass
class MaintenanceSettings:
    notifications_enabled: bool = True
    safety_net_seconds: float = 900.0  # with notifications: catch-up round when none ran for this long
    poll_interval_seconds: float = 300.0  # polling mode: a round per room this often
    onboarding_interval_seconds: float = 900.0
    max_spread_seconds: int = 240  # jittered delays of timer-enqueued rounds stay below this
    timer_slack_seconds: float = 30.0  # a round due within this is run now, not one timer period later
    storage_concurrency: int = 32


@dataclass
class MaintenanceReport:
    onboarding: OnboardingStats | None = None
    subscriptions: SubscriptionStats | None = None
    rounds_requested: int = 0
    error: str | None = None


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@dataclass
class RoomsService:
    rooms: RoomStore
    subscriptions: TableSubscriptionStore
    scheduler: RoundScheduler
    runner: DeltaRoundRunner | None
    manager: SubscriptionManager | None
    onboarding: Onboarding | None
    report: OnboardingReport
    clock: Clock
    settings: MaintenanceSettings = field(default_factory=MaintenanceSettings)

    # ------------------------------------------------------------------ notifications

    async def on_change(self, message: GraphChangeMessage) -> bool:
        """A hint that the room changed: ask for a round (coalesced). The payload is not trusted."""
        if self.runner is None:
            log.warning("change notification ignored: Graph is not configured")
            return False
        found = await self.subscriptions.get(message.subscription_id)
        if found is None:
            log.info("change for an unknown subscription dropped")
            return False
        return await self.scheduler.request(found[0].room_mailbox, "notification")

    async def on_lifecycle(self, message: GraphLifecycleMessage) -> None:
        found = await self.subscriptions.get(message.subscription_id)
        if found is None:
            log.info("lifecycle event for an unknown subscription dropped")
            return
        mailbox = found[0].room_mailbox
        room = await self.rooms.get(mailbox)
        if room is None or not room[0].synced:
            return
        row = room[0]
        event = message.lifecycle_event
        extra = {"lifecycle_event": event.value, "subscription_id": message.subscription_id}
        if event is LifecycleEvent.MISSED:
            await self.scheduler.request(mailbox, "lifecycle", full=True, delay_seconds=0)
            log.info("missed notifications: full resync requested", extra=extra)
            return
        if self.manager is None:
            log.warning("lifecycle event not handled: notifications are off", extra=extra)
            await self.scheduler.request(mailbox, "lifecycle", delay_seconds=0)
            return
        if row.subscription_id != message.subscription_id:
            # Already replaced (a duplicate or late event): the room still gets a catch-up round.
            await self.scheduler.request(mailbox, "lifecycle", delay_seconds=0)
            return
        if event is LifecycleEvent.REAUTHORIZATION_REQUIRED:
            if await self.manager.renew(row) is None:
                await self.manager.recreate(row)
            log.info("subscription reauthorized", extra=extra)
        else:  # subscriptionRemoved
            await self.manager.recreate(row)
            log.info("subscription recreated", extra=extra)
        # Changes while delivery paused or the subscription was gone are only in delta: catch up.
        await self.scheduler.request(mailbox, "lifecycle", delay_seconds=0)

    async def run_round(self, job: RoomDeltaJob) -> RoundResult:
        if self.runner is None:
            raise RuntimeError("Graph is not configured (GRAPH_TENANT_ID, GRAPH_CLIENT_ID, credential)")
        return await self.runner.run(job)

    # ------------------------------------------------------------------ timer

    async def _onboarding_due(self, now: datetime) -> bool:
        last = await self.report.last_run()
        return last is None or (now - _utc(last)).total_seconds() >= self.settings.onboarding_interval_seconds

    def _round_due(self, row: RoomRow, now: datetime) -> bool:
        if row.delta_link is None or row.last_round_at is None:
            return True
        interval = (
            self.settings.safety_net_seconds
            if self.settings.notifications_enabled
            else self.settings.poll_interval_seconds
        )
        age = (now - _utc(row.last_round_at)).total_seconds()
        return age + self.settings.timer_slack_seconds >= interval

    async def maintain(self) -> MaintenanceReport:
        report = MaintenanceReport()
        if self.runner is None:
            return report  # Graph not configured: nothing to keep in sync
        now = self.clock()
        if self.onboarding is not None and await self._onboarding_due(now):
            try:
                report.onboarding = await self.onboarding.run()
            except Exception as exc:
                report.error = describe(exc)
                log.warning("onboarding failed", extra={"error": report.error})
        rows = [row for row, _ in await self.rooms.list_all()]
        resync: set[str] = set()
        if self.manager is not None:
            report.subscriptions = await self.manager.reconcile(
                rows, enabled=self.settings.notifications_enabled
            )
            resync = set(report.subscriptions.resync)
        interval = (
            self.settings.safety_net_seconds
            if self.settings.notifications_enabled
            else self.settings.poll_interval_seconds
        )
        spread = int(max(0, min(self.settings.max_spread_seconds, interval / 2)))
        gate = asyncio.Semaphore(self.settings.storage_concurrency)

        async def schedule(row: RoomRow) -> bool:
            async with gate:
                if row.mailbox in resync:
                    # A new subscription: changes before it existed are only visible through delta.
                    return await self.scheduler.request(row.mailbox, "lifecycle", delay_seconds=0)
                reason: RoundReason = "safety_net" if self.settings.notifications_enabled else "poll"
                delay = random.randint(0, spread) if spread else 0
                return await self.scheduler.request(row.mailbox, reason, delay_seconds=delay)

        due = [r for r in rows if r.synced and (r.mailbox in resync or self._round_due(r, now))]
        report.rounds_requested = sum(await asyncio.gather(*(schedule(r) for r in due)))
        log.info(
            "rooms maintenance done",
            extra={"rooms": len(rows), "rounds_requested": report.rounds_requested},
        )
        return report


__all__ = ["GraphThrottled", "MaintenanceReport", "MaintenanceSettings", "RoomsService"]
