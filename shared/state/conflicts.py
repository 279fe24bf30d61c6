"""Conflicts an admin can see: the same field changed differently on both sides, and who won."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from shared.storage.account import StorageAccount
from shared.storage.names import TableName
from shared.sync.plan import RecordConflict


@dataclass
class TableConflictLog:
    account: StorageAccount

    async def record(self, link_id: str, conflict: RecordConflict) -> None:
        table = await self.account.ready_table(TableName.CONFLICTS)
        now = datetime.now(UTC)
        await table.create_entity(
            {
                # One partition per day keeps the admin page's "recent conflicts" a single-partition query.
                "PartitionKey": now.strftime("%Y%m%d"),
                "RowKey": f"{now.strftime('%H%M%S%f')}-{uuid.uuid4().hex[:8]}",
                "link_id": link_id,
                "field": conflict.field,
                "winner": conflict.winner.value,
                "ibss_value": conflict.ibss_value[:1000],
                "outlook_value": conflict.outlook_value[:1000],
                "reason": conflict.reason[:1000],
                "recorded_at": now.isoformat(),
            }
        )
