"""What the operations API reads and does: room and subscription state, sync events, conflicts,
onboarding mismatches, and re-processing a failed job. Read-only on the tables of other packages."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from shared import telemetry
from shared.admin.models import (
    BuildingStatus,
    ConflictList,
    ConflictView,
    FeedStatus,
    OnboardingIssueView,
    OnboardingList,
    Overview,
    OverviewCounts,
    OwnerWithoutMailbox,
    ReprocessResult,
    RoomStatus,
    SyncEventList,
    SyncEventView,
)
from shared.credentials import SettingProblem
from shared.ibss.feed import FeedState, is_stale
from shared.rooms.models import RoomRow
from shared.rooms.store import BuildingStore, OnboardingReport, RoomStore
from shared.state.ibss_feed import TableFeedStore, TableSweepReports
from shared.state.mailboxless import TableMailboxlessOwners
from shared.state.sync_events import MessageSender, SyncEvent, SyncEventLog, SyncEventState
from shared.storage.account import StorageAccount
from shared.storage.names import TableName

MAX_DAYS = 14
MAX_ITEMS = 500


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def clamp_days(days: int) -> int:
    return max(1, min(days, MAX_DAYS))


def _day_keys(now: datetime, days: int) -> list[str]:
    return [(now - timedelta(days=back)).strftime("%Y%m%d") for back in range(clamp_days(days))]


@dataclass
class AdminService:
    account: StorageAccount
    sender: MessageSender
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    near_expiry: timedelta = timedelta(hours=telemetry.NEAR_EXPIRY_HOURS)
    setting_problems: list[SettingProblem] = field(default_factory=list)

    @property
    def events(self) -> SyncEventLog:
        return SyncEventLog(self.account, clock=self.clock)

    # ------------------------------------------------------------------ overview

    async def overview(self, days: int = 2) -> Overview:
        days = clamp_days(days)
        now = self.clock()
        rooms = [row for row, _ in await RoomStore(self.account).list_all()]
        buildings = await BuildingStore(self.account).list_all()
        events = await self.events.recent(days=days, limit=5000)
        conflicts = await self._conflict_entities(days, limit=5000)
        issues = await OnboardingReport(self.account).issues()
        feeds = [self._feed_status(f, now) for f in await TableFeedStore(self.account).list_all()]
        sweeps = await TableSweepReports(self.account).list_all()
        mailboxless = await TableMailboxlessOwners(self.account).list_all(now)

        lag: dict[tuple[int | None, str | None], float] = {}
        errors: Counter[tuple[int | None, str | None]] = Counter()
        for event in events:  # newest first: the first lag seen per room is its latest
            key = (event.node_id, event.space_id)
            if event.state is SyncEventState.DONE and event.lag_ms is not None:
                lag.setdefault(key, event.lag_ms)
            if event.state is SyncEventState.ERROR:
                errors[key] += 1

        statuses = [self._room_status(row, now, lag, errors) for row in rooms]
        statuses.sort(key=lambda r: (r.building, r.display_name or r.mailbox))
        by_state = Counter(e.state.value for e in events)
        return Overview(
            generated_at=now,
            days=days,
            buildings=self._buildings(statuses, buildings),
            rooms=statuses,
            ibss_feeds=sorted(feeds, key=lambda f: f.node_id),
            ibss_sweeps=sorted(sweeps, key=lambda r: r.node_id),
            setting_problems=self.setting_problems,
            owners_without_mailbox=[
                OwnerWithoutMailbox(address=o.address, first_seen=o.first_seen, last_seen=o.last_seen)
                for o in mailboxless
            ],
            counts=OverviewCounts(
                events_by_state={s.value: by_state.get(s.value, 0) for s in SyncEventState},
                conflicts=len(conflicts),
                onboarding_issues=len(issues),
                subscriptions_near_expiry=sum(r.subscription_near_expiry for r in statuses),
                ibss_feeds_stale=sum(f.stale for f in feeds),
            ),
        )

    @staticmethod
    def _feed_status(state: FeedState, now: datetime) -> FeedStatus:
        since = (now - state.last_success_at).total_seconds() if state.last_success_at else None
        return FeedStatus(
            node_id=state.node_id,
            mode=state.mode.value if state.mode else None,
            watermark=state.watermark,
            last_poll_at=state.last_poll_at,
            last_success_at=state.last_success_at,
            since_last_success_seconds=round(since, 1) if since is not None else None,
            next_poll_at=state.next_poll_at,
            failures=state.failures,
            last_error=state.last_error,
            last_handed_on=state.last_handed_on,
            stale=is_stale(state, now),
        )

    def _room_status(
        self,
        row: RoomRow,
        now: datetime,
        lag: dict[tuple[int | None, str | None], float],
        errors: Counter[tuple[int | None, str | None]],
    ) -> RoomStatus:
        expiration = _utc(row.subscription_expiration)
        expires_in = (expiration - now).total_seconds() / 3600 if expiration else None
        last_round = _utc(row.last_round_at)
        key = (row.node_id, row.space_id)
        return RoomStatus(
            mailbox=row.mailbox,
            display_name=row.display_name,
            building=row.building,
            node_id=row.node_id,
            space_id=row.space_id,
            synced=row.synced,
            subscription_id=row.subscription_id,
            subscription_expiration=expiration,
            subscription_expires_in_hours=round(expires_in, 2) if expires_in is not None else None,
            subscription_near_expiry=bool(
                row.synced and expiration is not None and expiration - now < self.near_expiry
            ),
            subscription_error=row.subscription_error,
            last_round_at=last_round,
            since_last_round_seconds=round((now - last_round).total_seconds(), 1) if last_round else None,
            last_error=row.last_error,
            last_lag_ms=lag.get(key),
            recent_errors=errors.get(key, 0),
        )

    @staticmethod
    def _buildings(statuses: list[RoomStatus], configs: dict[int, Any]) -> list[BuildingStatus]:
        grouped: dict[int | None, list[RoomStatus]] = {}
        for status in statuses:
            grouped.setdefault(status.node_id, []).append(status)
        for configured in configs:
            grouped.setdefault(configured, [])
        out: list[BuildingStatus] = []
        for node_id, rooms in grouped.items():
            config = configs.get(node_id) if node_id is not None else None
            name = (
                config.name
                if config is not None and config.name
                else next(
                    (r.building for r in rooms if r.building), "" if node_id is not None else "(no building)"
                )
            )
            out.append(
                BuildingStatus(
                    node_id=node_id,
                    name=name,
                    enabled=config.enabled if config is not None else True,
                    rooms=len(rooms),
                    synced_rooms=sum(r.synced for r in rooms),
                    subscriptions_near_expiry=sum(r.subscription_near_expiry for r in rooms),
                    rooms_with_errors=sum(bool(r.last_error or r.recent_errors) for r in rooms),
                )
            )
        out.sort(key=lambda b: (b.node_id is None, b.name, b.node_id or 0))
        return out

    # ------------------------------------------------------------------ lists

    async def sync_events(
        self, state: SyncEventState | None, days: int = 2, limit: int = 100
    ) -> SyncEventList:
        days = clamp_days(days)
        found = await self.events.recent(days=days, state=state, limit=max(1, min(limit, MAX_ITEMS)))
        return SyncEventList(state=state, days=days, items=[SyncEventView.of(e) for e in found])

    async def _conflict_entities(self, days: int, limit: int) -> list[dict[str, Any]]:
        table = await self.account.ready_table(TableName.CONFLICTS)
        out: list[dict[str, Any]] = []
        for pk in _day_keys(self.clock(), days):
            rows = [dict(e) async for e in table.query_entities("PartitionKey eq @pk", parameters={"pk": pk})]
            rows.sort(key=lambda e: str(e["RowKey"]), reverse=True)  # newest first
            out.extend(rows)
            if len(out) >= limit:
                return out[:limit]
        return out

    async def conflicts(self, days: int = 7, limit: int = 200) -> ConflictList:
        days = clamp_days(days)
        rows = await self._conflict_entities(days, max(1, min(limit, MAX_ITEMS)))
        return ConflictList(
            days=days,
            items=[
                ConflictView(
                    recorded_at=str(e.get("recorded_at", "")),
                    link_id=str(e.get("link_id", "")),
                    field=str(e.get("field", "")),
                    winner=str(e.get("winner", "")),
                    ibss_value=str(e.get("ibss_value", "")),
                    outlook_value=str(e.get("outlook_value", "")),
                    reason=str(e.get("reason", "")),
                )
                for e in rows
            ],
        )

    async def onboarding(self) -> OnboardingList:
        report = OnboardingReport(self.account)
        issues = await report.issues()
        return OnboardingList(
            last_run=await report.last_run(),
            items=[
                OnboardingIssueView(
                    kind=i.kind, mailbox=i.mailbox, space_id=i.space_id, node_id=i.node_id, detail=i.detail
                )
                for i in issues
            ],
        )

    # ------------------------------------------------------------------ actions

    async def reprocess(self, pk: str, rk: str) -> ReprocessResult:
        event: SyncEvent = await self.events.reprocess(pk, rk, self.sender)
        return ReprocessResult(event=SyncEventView.of(event), enqueued_to=event.queue)

    async def publish_subscriptions_near_expiry(self) -> int:
        """Count the synced rooms whose subscription is near expiry and set the subscriptions_near_expiry
        gauge (the workbook and the admins read it); the ops timer calls this every 5 minutes."""
        count = await self.count_subscriptions_near_expiry()
        telemetry.subscriptions_near_expiry.set(count)
        return count

    async def publish_ibss_feeds_stale(self) -> int:
        """Buildings whose IBSS change feed has not polled successfully for 15 minutes: the ibss_feeds_stale
        gauge (the alert reads it); the ops timer calls this every 5 minutes."""
        now = self.clock()
        count = sum(is_stale(f, now) for f in await TableFeedStore(self.account).list_all())
        telemetry.ibss_feeds_stale.set(count)
        return count

    async def count_subscriptions_near_expiry(self) -> int:
        """Synced rooms whose subscription expires within `near_expiry` (a server-side filtered query)."""
        table = await self.account.ready_table(TableName.ROOMS)
        limit = (self.clock() + self.near_expiry).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
        count = 0
        async for entity in table.query_entities(
            "RowKey eq 'room' and subscription_expiration lt @limit",
            parameters={"limit": limit},
            select=["discovered", "enabled", "subscription_expiration"],
        ):
            if entity.get("discovered", True) and entity.get("enabled", True):
                count += 1
        return count
