"""Storage limitation: sync state of bookings that ended long ago, and old bookkeeping rows, are deleted.

Links (with their sync base: subjects, times, addresses) go `SYNC_PURGE_AFTER_DAYS` after the booking
ended; the day-partitioned logs (sync events, conflicts) and the notification/dedup records go after the
same number of days since they were written.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from azure.core.exceptions import ResourceNotFoundError

from shared.state.links import TableLinkStore, key_row
from shared.storage.account import StorageAccount
from shared.storage.names import TableName
from shared.sync.reconcile import link_keys

log = logging.getLogger(__name__)


@dataclass
class RetentionReport:
    links: int = 0
    rows: int = 0


@dataclass
class Retention:
    account: StorageAccount
    links: TableLinkStore

    async def purge(self, now: datetime, keep_days: int) -> RetentionReport:
        cutoff = now - timedelta(days=keep_days)
        report = RetentionReport()
        report.links = await self._links_ended_before(cutoff)
        day = cutoff.strftime("%Y%m%d")
        for table in (TableName.SYNC_EVENTS, TableName.CONFLICTS):
            report.rows += await self._delete(table, "PartitionKey lt @v", day)
        report.rows += await self._delete(TableName.NOTIFICATIONS, "processed_at lt @v", cutoff.isoformat())
        report.rows += await self._delete(TableName.DEDUP, "seen_at lt @v", cutoff.isoformat())
        log.info(
            "retention purge", extra={"links": report.links, "rows": report.rows, "keep_days": keep_days}
        )
        return report

    async def _links_ended_before(self, cutoff: datetime) -> int:
        table = await self.account.ready_table(TableName.LINKS)
        keys = await self.account.ready_table(TableName.LINK_KEYS)
        removed = 0
        stale = [e async for e in table.query_entities("end lt @v", parameters={"v": cutoff.isoformat()})]
        for entity in stale:
            link = await self.links.get(str(entity["PartitionKey"]))
            if link is None or link.pending is not None:
                continue  # a plan still running on it: next time
            for kind, value in link_keys(link.base):
                pk, rk = key_row(kind, value, link.base.room_mailbox)
                with contextlib.suppress(ResourceNotFoundError):
                    await keys.delete_entity(partition_key=pk, row_key=rk)
            with contextlib.suppress(ResourceNotFoundError):
                await self.links.delete(link)
            removed += 1
        return removed

    async def _delete(self, name: str, query: str, value: str) -> int:
        table = await self.account.ready_table(name)
        count = 0
        async for entity in table.query_entities(
            query, parameters={"v": value}, select=["PartitionKey", "RowKey"]
        ):
            with contextlib.suppress(ResourceNotFoundError):
                await table.delete_entity(partition_key=entity["PartitionKey"], row_key=entity["RowKey"])
            count += 1
        return count
