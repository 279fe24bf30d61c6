"""One Graph subscription per synced room mailbox: create, renew before expiry, recreate, remove.

The clientState is random per subscription (``secrets.token_urlsafe``), stored only in the
`subscriptions` table (the intake's lookup) and never logged. The room row carries the subscription id
and expiry so the timer can decide without reading the secrets."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from azure.core.exceptions import ResourceNotFoundError

from shared import telemetry
from shared.rooms.graph_rooms import GraphRoomsError, GraphThrottled, SubscriptionGone
from shared.rooms.models import RoomRow
from shared.rooms.ports import Clock, GraphRoomsPort, describe
from shared.rooms.store import Conflict, RoomStore
from shared.state.subscriptions import RoomSubscription, TableSubscriptionStore

log = logging.getLogger(__name__)

CLIENT_STATE_BYTES = 48  # 64 URL-safe characters, within Graph's 128


@dataclass
class SubscriptionSettings:
    notification_url: str
    lifecycle_url: str
    lifetime_minutes: int = 10_000  # Graph's maximum for events is 10,080
    renew_before_hours: float = 36.0
    expiry_jitter_hours: float = 24.0  # spreads renewals of rooms onboarded together over a day
    concurrency: int = 16


@dataclass
class SubscriptionStats:
    created: int = 0
    renewed: int = 0
    recreated: int = 0
    removed: int = 0
    failed: int = 0
    throttled: int = 0
    unchanged: int = 0
    resync: list[str] = field(default_factory=list)  # rooms whose notifications may have been lost


@dataclass
class SubscriptionManager:
    rooms: RoomStore
    subscriptions: TableSubscriptionStore
    graph: GraphRoomsPort
    settings: SubscriptionSettings
    clock: Clock

    def _expiration(self, now: datetime) -> datetime:
        jitter = random.uniform(0, self.settings.expiry_jitter_hours * 3600)
        lifetime = self.settings.lifetime_minutes * 60
        # Never jitter below what keeps the subscription clear of the renewal threshold.
        floor = self.settings.renew_before_hours * 3600 + 3600
        return now + timedelta(seconds=max(floor, lifetime - jitter))

    async def _update_room(self, mailbox: str, **values: object) -> RoomRow | None:
        for _ in range(8):
            found = await self.rooms.get(mailbox)
            if found is None:
                return None
            row, etag = found
            for name, value in values.items():
                setattr(row, name, value)
            try:
                await self.rooms.replace(row, etag)
                return row
            except Conflict:
                continue
        raise Conflict(mailbox)

    async def create(self, row: RoomRow) -> str:
        now = self.clock()
        client_state = secrets.token_urlsafe(CLIENT_STATE_BYTES)
        created = await self.graph.create_subscription(
            row.mailbox,
            row.user_id,
            notification_url=self.settings.notification_url,
            lifecycle_url=self.settings.lifecycle_url,
            client_state=client_state,
            expiration=self._expiration(now),
        )
        await self.subscriptions.create(
            RoomSubscription(
                subscription_id=created.id,
                room_mailbox=row.mailbox,
                resource=f"/users/{row.user_id}/events",
                client_state=client_state,
                expiration=created.expiration,
                created_at=now,
            )
        )
        await self._update_room(
            row.mailbox,
            subscription_id=created.id,
            subscription_expiration=created.expiration,
            subscription_error=None,
        )
        log.info("subscription created", extra={"subscription_id": created.id})
        return created.id

    async def _forget(self, subscription_id: str) -> None:
        with contextlib.suppress(ResourceNotFoundError):
            await self.subscriptions.delete(subscription_id)

    async def recreate(self, row: RoomRow) -> str:
        """Replace a removed or unusable subscription (subscriptionRemoved, 404 on renew)."""
        old = row.subscription_id
        if old:
            try:
                await self.graph.delete_subscription(row.mailbox, old)
            except GraphThrottled:
                raise
            except GraphRoomsError:
                log.info("old subscription not deleted; it expires on its own")
            await self._forget(old)
        return await self.create(row)

    async def renew(self, row: RoomRow) -> datetime | None:
        """PATCH the expiry (also reauthorizes). None when Graph no longer has it (then recreate)."""
        if not row.subscription_id:
            return None
        now = self.clock()
        try:
            expiration = await self.graph.renew_subscription(
                row.mailbox, row.subscription_id, self._expiration(now)
            )
        except SubscriptionGone:
            return None
        found = await self.subscriptions.get(row.subscription_id)
        if found is not None:
            sub, etag = found
            sub.expiration = expiration
            sub.renewed_at = now
            sub.last_error = None
            try:
                await self.subscriptions.replace(sub, etag)
            except Exception:
                log.warning("subscription row not updated after renewal")
        await self._update_room(row.mailbox, subscription_expiration=expiration, subscription_error=None)
        return expiration

    async def remove(self, row: RoomRow) -> None:
        if row.subscription_id:
            await self.graph.delete_subscription(row.mailbox, row.subscription_id)
            await self._forget(row.subscription_id)
        await self._update_room(row.mailbox, subscription_id=None, subscription_expiration=None)

    async def _one(self, row: RoomRow, want: bool, now: datetime, stats: SubscriptionStats) -> None:
        try:
            if not want:
                if row.subscription_id:
                    await self.remove(row)
                    stats.removed += 1
                return
            if not row.subscription_id:
                await self.create(row)
                stats.created += 1
                stats.resync.append(row.mailbox)
                return
            due = row.subscription_expiration is None or row.subscription_expiration - now <= timedelta(
                hours=self.settings.renew_before_hours
            )
            if not due:
                stats.unchanged += 1
                return
            if await self.renew(row) is None:
                await self._forget(row.subscription_id)
                await self.create(row)
                stats.recreated += 1
                stats.resync.append(row.mailbox)
            else:
                stats.renewed += 1
        except GraphThrottled:
            stats.throttled += 1  # the next timer run tries again; no sleeping here
        except Exception as exc:
            stats.failed += 1
            telemetry.subscription_renewal_failed.add(1)  # the admins' alert rule counts these
            log.warning("subscription upkeep failed", extra={"error": describe(exc)})
            try:
                await self._update_room(row.mailbox, subscription_error=describe(exc))
            except Exception:
                log.warning("could not record the subscription error")

    async def reconcile(self, rows: list[RoomRow], *, enabled: bool) -> SubscriptionStats:
        """Create missing, renew those within ``renew_before_hours`` of expiry, remove unsynced ones,
        with at most ``concurrency`` Graph calls at once (and 4 per mailbox in the adapter)."""
        stats = SubscriptionStats()
        now = self.clock()
        gate = asyncio.Semaphore(self.settings.concurrency)

        async def guarded(row: RoomRow) -> None:
            async with gate:
                await self._one(row, enabled and row.synced, now, stats)

        await asyncio.gather(*(guarded(r) for r in rows))
        return stats
