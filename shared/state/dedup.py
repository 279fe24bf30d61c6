"""'Already seen' guards in Table Storage: create-if-absent, a 409 means a duplicate."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError

from shared.ibss.intake import hook_id_key
from shared.storage.account import StorageAccount
from shared.storage.names import TableName


@dataclass
class TableHookIds:
    """Remembers IBSS webhook ids (rows older than the 5-minute tolerance can be purged)."""

    account: StorageAccount

    async def remember(self, hook_id: str) -> bool:
        table = await self.account.ready_table(TableName.DEDUP)
        pk, rk = hook_id_key(hook_id)
        try:
            await table.create_entity(
                {"PartitionKey": pk, "RowKey": rk, "seen_at": datetime.now(UTC).isoformat()}
            )
        except ResourceExistsError:
            return False
        return True

    async def forget(self, hook_id: str) -> None:
        table = await self.account.ready_table(TableName.DEDUP)
        pk, rk = hook_id_key(hook_id)
        with contextlib.suppress(ResourceNotFoundError):
            await table.delete_entity(partition_key=pk, row_key=rk)
