"""Onboarding: match Graph rooms with the IBSS spaces flagged for sync, by mailbox address.

Graph's room list and IBSS's spaces are read on the timer (every ``SYNC_ONBOARDING_INTERVAL_SECONDS``),
so an admin adds or removes a room or a building in IBSS (flags) or in the `buildings` / `rooms` tables
(``enabled``) without a redeploy. New rooms get an initial round; mismatches go to the `onboarding` table.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from shared.ibss.client import IbssClient, RetryPolicy
from shared.rooms.delta import RoundScheduler
from shared.rooms.models import BuildingConfig, OnboardingIssue, RoomRow
from shared.rooms.ports import Clock, FlaggedSpace, GraphRoom, GraphRoomsPort, SpaceDirectory
from shared.rooms.store import BuildingStore, Conflict, OnboardingReport, RoomStore

log = logging.getLogger(__name__)


@dataclass
class IbssSpaces:
    """SpaceDirectory over the IBSS REST API (never sleeps: throttling surfaces as IbssThrottled)."""

    base_url: str
    api_key: str = field(repr=False)

    async def spaces(self) -> list[FlaggedSpace]:
        policy = RetryPolicy(max_retries=0, max_retry_after=0, max_total_wait=0)
        out: list[FlaggedSpace] = []
        async with IbssClient(self.base_url, self.api_key, retry_policy=policy) as ibss:
            for building in await ibss.list_buildings():
                for space in await ibss.list_spaces(building.node_id):
                    out.append(
                        FlaggedSpace(
                            space_id=space.id,
                            node_id=building.node_id,
                            building_name=building.name,
                            building_time_zone=building.time_zone,
                            mailbox=(space.room_mailbox or "").strip().lower() or None,
                            flagged=space.is_synced_in(building),
                        )
                    )
        return out


@dataclass(frozen=True)
class Desired:
    room: GraphRoom
    space: FlaggedSpace
    building: BuildingConfig


@dataclass
class Match:
    desired: dict[str, Desired]
    issues: list[OnboardingIssue]
    new_buildings: list[BuildingConfig]


def match(
    rooms: list[GraphRoom],
    spaces: list[FlaggedSpace],
    buildings: dict[int, BuildingConfig],
    default_horizon_days: int,
) -> Match:
    """Pure matching: which rooms to sync, which mismatches to report, which building rows to add."""
    by_mail = {r.email.lower(): r for r in rooms}
    new_buildings: dict[int, BuildingConfig] = {}
    claims: dict[str, list[FlaggedSpace]] = defaultdict(list)
    pointed: set[str] = set()
    issues: list[OnboardingIssue] = []
    for space in spaces:
        if space.mailbox:
            pointed.add(space.mailbox)
        if space.flagged and space.mailbox:
            claims[space.mailbox].append(space)
            if space.node_id not in buildings and space.node_id not in new_buildings:
                new_buildings[space.node_id] = BuildingConfig(
                    node_id=space.node_id,
                    name=space.building_name,
                    horizon_days=default_horizon_days,
                    time_zone=space.building_time_zone or "UTC",
                )
        elif space.mailbox and space.mailbox in by_mail:
            issues.append(
                OnboardingIssue(
                    kind="space_not_flagged",
                    mailbox=space.mailbox,
                    space_id=space.space_id,
                    node_id=space.node_id,
                    detail="the space points to this room but is not flagged for M365 sync",
                )
            )
    configs = {**buildings, **new_buildings}
    desired: dict[str, Desired] = {}
    for mailbox, claimants in claims.items():
        if len(claimants) > 1:
            issues.append(
                OnboardingIssue(
                    kind="mailbox_claimed_twice",
                    mailbox=mailbox,
                    detail="spaces " + ", ".join(sorted(s.space_id for s in claimants)),
                )
            )
            continue
        space = claimants[0]
        room = by_mail.get(mailbox)
        if room is None:
            issues.append(
                OnboardingIssue(
                    kind="space_mailbox_missing",
                    mailbox=mailbox,
                    space_id=space.space_id,
                    node_id=space.node_id,
                    detail="no Microsoft 365 room has this address",
                )
            )
            continue
        building = configs[space.node_id]
        if building.enabled:
            desired[mailbox] = Desired(room, space, building)
    for mailbox, room in by_mail.items():
        if mailbox not in pointed:
            issues.append(
                OnboardingIssue(
                    kind="room_without_space",
                    mailbox=mailbox,
                    detail=f"no IBSS space points to room {room.display_name!r}",
                )
            )
    return Match(desired, issues, list(new_buildings.values()))


@dataclass
class OnboardingStats:
    added: int = 0
    updated: int = 0
    retired: int = 0
    issues: int = 0
    synced: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(vars(self))


@dataclass
class Onboarding:
    graph: GraphRoomsPort
    spaces: SpaceDirectory
    rooms: RoomStore
    buildings: BuildingStore
    report: OnboardingReport
    scheduler: RoundScheduler
    clock: Clock
    default_horizon_days: int = 90

    async def run(self) -> OnboardingStats:
        graph_rooms = await self.graph.list_rooms()
        spaces = await self.spaces.spaces()
        configs = await self.buildings.list_all()
        result = match(graph_rooms, spaces, configs, self.default_horizon_days)
        for building in result.new_buildings:
            await self.buildings.create_if_absent(building)
        stats = OnboardingStats(issues=len(result.issues), synced=len(result.desired))
        existing = {row.mailbox: (row, etag) for row, etag in await self.rooms.list_all()}
        for mailbox, want in result.desired.items():
            current = existing.get(mailbox)
            if current is None:
                if await self._add(want):
                    stats.added += 1
            elif await self._refresh(current[0], current[1], want):
                stats.updated += 1
        for mailbox, (row, etag) in existing.items():
            if mailbox not in result.desired and row.discovered:
                await self._set(row, etag, discovered=False, delta_link=None)
                stats.retired += 1
        await self.report.replace_issues(result.issues)
        await self.report.record_run(self.clock(), stats.as_dict())
        log.info("onboarding refreshed", extra=stats.as_dict())
        return stats

    @staticmethod
    def _fields(want: Desired) -> dict[str, Any]:
        return {
            "user_id": want.room.id,
            "display_name": want.room.display_name,
            "node_id": want.space.node_id,
            "building": want.building.name or want.space.building_name,
            "space_id": want.space.space_id,
            "time_zone": want.building.time_zone,
            "horizon_days": want.building.horizon_days,
            "discovered": True,
        }

    async def _add(self, want: Desired) -> bool:
        row = RoomRow(mailbox=want.room.email, created_at=self.clock(), **self._fields(want))
        try:
            await self.rooms.create(row)
        except Conflict:
            return False
        await self.scheduler.request(row.mailbox, "initial", delay_seconds=0)
        return True

    async def _set(self, row: RoomRow, etag: str, **values: Any) -> RoomRow | None:
        for _ in range(8):
            for name, value in values.items():
                setattr(row, name, value)
            try:
                await self.rooms.replace(row, etag)
                return row
            except Conflict:
                found = await self.rooms.get(row.mailbox)
                if found is None:
                    return None
                row, etag = found
        return None

    async def _refresh(self, row: RoomRow, etag: str, want: Desired) -> bool:
        values = self._fields(want)
        if all(getattr(row, k) == v for k, v in values.items()):
            return False
        was_synced = row.synced
        window_changed = row.time_zone != values["time_zone"] or row.horizon_days != values["horizon_days"]
        updated = await self._set(row, etag, **values)
        if updated is not None and updated.synced and (not was_synced or window_changed):
            # Back in sync, or a new window: read the whole window again.
            await self.scheduler.request(updated.mailbox, "initial", full=True, delay_seconds=0)
        return True
