"""'Already seen' guards in Table Storage: create-if-absent, a 409 means a duplicate."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError

from shared.ibss.intake import HookClaim, hook_id_key
from shared.storage.account import StorageAccount
from shared.storage.names import TableName

# A claim older than this belongs to a delivery that died before enqueueing (an HTTP invocation never
# lasts this long): the next delivery of the id takes it over.
CLAIM_TIMEOUT = timedelta(seconds=30)


@dataclass
class TableHookIds:
    """Remembers IBSS webhook ids (rows older than the 5-minute tolerance can be purged).

    A row is ``pending`` from the claim until the job is enqueued, then ``enqueued``. Rows written before
    the two steps existed have no state and count as enqueued."""

    account: StorageAccount
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    async def claim(self, hook_id: str) -> HookClaim:
        table = await self.account.ready_table(TableName.DEDUP)
        pk, rk = hook_id_key(hook_id)
        now = self.clock()
        row = {"PartitionKey": pk, "RowKey": rk, "seen_at": now.isoformat(), "state": "pending"}
        try:
            await table.create_entity(row)
            return HookClaim.NEW
        except ResourceExistsError:
            pass
        try:
            found = await table.get_entity(partition_key=pk, row_key=rk)
        except ResourceNotFoundError:
            return HookClaim.IN_FLIGHT  # released a moment ago: the sender retries
        if found.get("state") != "pending":
            return HookClaim.REPLAY
        claimed_at = datetime.fromisoformat(str(found.get("seen_at")))
        if now - claimed_at < CLAIM_TIMEOUT:
            return HookClaim.IN_FLIGHT
        try:  # the delivery that claimed it died: take the claim over, once
            await table.update_entity(
                row, etag=found.metadata["etag"], match_condition=MatchConditions.IfNotModified
            )
        except (ResourceModifiedError, ResourceNotFoundError):
            return HookClaim.IN_FLIGHT
        return HookClaim.NEW

    async def enqueued(self, hook_id: str) -> None:
        table = await self.account.ready_table(TableName.DEDUP)
        pk, rk = hook_id_key(hook_id)
        await table.upsert_entity(
            {"PartitionKey": pk, "RowKey": rk, "seen_at": self.clock().isoformat(), "state": "enqueued"}
        )

    async def release(self, hook_id: str) -> None:
        table = await self.account.ready_table(TableName.DEDUP)
        pk, rk = hook_id_key(hook_id)
        with contextlib.suppress(ResourceNotFoundError):
            await table.delete_entity(partition_key=pk, row_key=rk)
