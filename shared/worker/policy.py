"""Booking policies for Outlook-made meetings, as the reconciler applies them (``shared/sync/policy.py``).

``PolicyGate.review(plan, now)`` looks at a plan's ``CreateBooking`` (a meeting made in Outlook): it reads
the space's IBSS booking policy and the building's time zone (cached for ``ttl_seconds``, like the sync
scope: admins change policies without a redeploy), checks the meeting and, only when it breaks a rule,
reads the building's mode (``BuildingConfig.policy_mode`` in the ``buildings`` table, else
``SYNC_POLICY_MODE``) and lets the pure core rewrite the plan.

IBSS stays the arbiter: when the policy cannot be read, the meeting is let through and IBSS's own answer to
the create decides (a rejection makes the room decline, ``plan_after_ibss_rejection``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from azure.core.exceptions import AzureError, ResourceNotFoundError

from shared.ibss.client import IbssClient
from shared.ibss.errors import IbssError, IbssNotFound, IbssThrottled
from shared.ibss.models import BookingPolicy
from shared.rooms.models import BuildingConfig
from shared.storage.account import StorageAccount
from shared.storage.names import TableName
from shared.sync import SpaceRef
from shared.sync.plan import CreateBooking, SyncPlan
from shared.sync.policy import (
    MINUTES_PER_DAY,
    BookableInterval,
    PolicyMode,
    SpacePolicy,
    apply_policy,
    check_policy,
)
from shared.worker.errors import RetryAfter

log = logging.getLogger(__name__)


def space_policy(policy: BookingPolicy, space_name: str, time_zone: str) -> SpacePolicy:
    """IBSS's wire model -> the core's (minutes since local midnight; 24:00 is 1440)."""

    def minute(value: Any) -> int:
        return MINUTES_PER_DAY if value == value.max else value.hour * 60 + value.minute

    return SpacePolicy(
        space_name=space_name,
        time_zone=time_zone,
        hours=tuple(
            BookableInterval(
                weekday=h.day.weekday_index, start_minute=minute(h.start), end_minute=minute(h.end)
            )
            for h in policy.bookable_hours
        ),
        max_duration_min=policy.max_duration_min,
        window_days=policy.window_days,
    )


class BuildingModes(Protocol):
    async def mode_for(self, node_id: int) -> PolicyMode | None: ...


@dataclass
class TableBuildingModes:
    """The building row's ``policy_mode`` (one point read; asked only for a meeting that breaks a rule,
    so an admin's change applies to the next such meeting without waiting for a cache)."""

    account: StorageAccount

    async def mode_for(self, node_id: int) -> PolicyMode | None:
        try:
            table = await self.account.ready_table(TableName.BUILDINGS)
            entity = await table.get_entity(partition_key="building", row_key=str(node_id))
        except ResourceNotFoundError:
            return None
        except AzureError as exc:
            # The default mode still applies; a storage hiccup must not hold every Outlook meeting back.
            log.warning(
                "building config unreadable, using the default policy mode", extra={"error": str(exc)}
            )
            return None
        return BuildingConfig.from_entity(dict(entity)).policy_mode

    async def no_show_release_after(self, node_id: int) -> int | None:
        """The building's ``no_show_release_after`` (None: off; also when the row is missing or unreadable,
        so a storage hiccup never releases a room)."""
        try:
            table = await self.account.ready_table(TableName.BUILDINGS)
            entity = await table.get_entity(partition_key="building", row_key=str(node_id))
        except ResourceNotFoundError:
            return None
        except AzureError as exc:
            log.warning("building config unreadable, no series release", extra={"error": str(exc)})
            return None
        return BuildingConfig.from_entity(dict(entity)).no_show_release_after


@dataclass
class PolicyGate:
    client: IbssClient
    buildings: BuildingModes
    default_mode: PolicyMode = PolicyMode.ENFORCE
    ttl_seconds: float = 60.0
    clock: Callable[[], float] = time.monotonic
    _policies: dict[tuple[int, str], tuple[float, SpacePolicy | None]] = field(default_factory=dict)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def review(self, plan: SyncPlan, now: datetime) -> SyncPlan:
        """The plan as the building's policy mode wants it (unchanged unless a create breaks a rule).

        The policy is checked in every mode: a building may override an `ignore` default."""
        for action in plan.actions:
            if not isinstance(action, CreateBooking):
                continue
            violations = check_policy(await self.policy_of(action.space), action.start, action.end, now)
            if not violations:
                continue
            mode = await self.buildings.mode_for(action.space.node_id) or self.default_mode
            log.info(
                "booking policy",
                extra={
                    "mode": mode.value,
                    "rules": [v.kind for v in violations],
                    "space": action.space.space_id,
                },
            )
            return apply_policy(plan, action, mode, violations)
        return plan

    async def policy_of(self, space: SpaceRef) -> SpacePolicy | None:
        key = (space.node_id, space.space_id)
        cached = self._policies.get(key)
        if cached is not None and self.clock() - cached[0] < self.ttl_seconds:
            return cached[1]
        async with self._lock:
            cached = self._policies.get(key)
            if cached is not None and self.clock() - cached[0] < self.ttl_seconds:
                return cached[1]
            try:
                value = await self._load(space)
            except IbssThrottled as exc:
                raise RetryAfter(exc.retry_after or 5.0, str(exc)) from exc
            except IbssError as exc:
                # Not cached: the next meeting tries again. Meanwhile IBSS's answer to the create decides.
                log.warning("booking policy unreadable; IBSS decides", extra={"error": str(exc)})
                return None
            self._policies[key] = (self.clock(), value)
            return value

    async def _load(self, space: SpaceRef) -> SpacePolicy | None:
        try:
            details = await self.client.get_space(space.node_id, space.space_id)
        except IbssNotFound:
            return None
        if not details.policy_id:
            return None
        policies = await self.client.list_booking_policies(space.node_id)
        policy = next((p for p in policies if p.id == details.policy_id), None)
        if policy is None:
            return None  # a dangling policy id: IBSS itself cannot apply it either
        building = await self.client.get_building(space.node_id)
        return space_policy(policy, details.name or space.space_id, building.time_zone or "UTC")
