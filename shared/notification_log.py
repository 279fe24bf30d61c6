"""Records consumed notifications in a table: the queue functions' work until the sync core takes over."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

from shared.graph.notifications import GraphChangeMessage, GraphLifecycleMessage
from shared.ibss.intake import BookingSyncJob
from shared.storage.account import StorageAccount
from shared.storage.names import TableName


def _key(*parts: str) -> str:
    # Graph ids may hold characters Table keys forbid ('/', '#', '?'): hash them.
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:40]


@dataclass
class NotificationLog:
    account: StorageAccount

    async def record_change(self, message: GraphChangeMessage) -> None:
        table = await self.account.ready_table(TableName.NOTIFICATIONS)
        # Upsert keyed by (event, etag, change): a duplicate delivery rewrites the same row.
        await table.upsert_entity(
            {
                "PartitionKey": _key(message.user_id),
                "RowKey": _key(message.event_id, message.etag or "", message.change_type),
                "kind": message.kind,
                "subscription_id": message.subscription_id,
                "change_type": message.change_type.value,
                "user_id": message.user_id,
                "event_id": message.event_id,
                "etag": message.etag or "",
                "correlation_id": message.correlation_id,
                "received_at": message.received_at.isoformat(),
                "processed_at": datetime.now(UTC).isoformat(),
            }
        )

    async def record_lifecycle(self, message: GraphLifecycleMessage) -> None:
        table = await self.account.ready_table(TableName.NOTIFICATIONS)
        await table.upsert_entity(
            {
                "PartitionKey": _key("lifecycle", message.subscription_id),
                "RowKey": _key(message.lifecycle_event, message.received_at.isoformat()),
                "kind": message.kind,
                "subscription_id": message.subscription_id,
                "lifecycle_event": message.lifecycle_event.value,
                "correlation_id": message.correlation_id,
                "received_at": message.received_at.isoformat(),
                "processed_at": datetime.now(UTC).isoformat(),
            }
        )

    async def record_booking_job(self, job: BookingSyncJob) -> None:
        table = await self.account.ready_table(TableName.NOTIFICATIONS)
        await table.upsert_entity(
            {
                "PartitionKey": _key("ibss", job.booking_id),
                "RowKey": _key(job.hook_id),
                "kind": job.kind,
                "booking_id": job.booking_id,
                "hook_type": job.hook_type.value,
                "correlation_id": job.correlation_id,
                "received_at": job.received_at.isoformat(),
                "processed_at": datetime.now(UTC).isoformat(),
            }
        )

    async def record_heartbeat(self, name: str, past_due: bool) -> None:
        table = await self.account.ready_table(TableName.HEARTBEATS)
        await table.upsert_entity(
            {
                "PartitionKey": "timer",
                "RowKey": name,
                "fired_at": datetime.now(UTC).isoformat(),
                "past_due": past_due,
            }
        )
