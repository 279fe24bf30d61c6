"""RecordingChangeSink: the default RoomChangeSink until the sync core's reconciler is plugged in.

One row per changed or removed event in the `roomchanges` table (PK hashed room, RK hashed event id), so a
replayed or duplicated round upserts the same rows."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from azure.data.tables import TransactionOperation, UpdateMode
from msgraph.generated.models.event import Event

from shared.rooms.models import key_of, room_key
from shared.rooms.store import submit_batches
from shared.storage.account import StorageAccount
from shared.storage.names import TableName


def _when(value: Any) -> tuple[str, str]:
    if value is None:
        return "", ""
    return str(value.date_time or ""), str(value.time_zone or "")


@dataclass
class RecordingChangeSink:
    account: StorageAccount

    async def room_changed(
        self,
        room_mailbox: str,
        changed: Sequence[Event],
        removed_event_ids: Sequence[str],
        full_resync: bool,
    ) -> None:
        table = await self.account.ready_table(TableName.ROOM_CHANGES)
        pk = room_key(room_mailbox)
        round_id = uuid.uuid4().hex
        now = datetime.now(UTC).isoformat()
        common = {"room_mailbox": room_mailbox.lower(), "round_id": round_id, "full_resync": full_resync}
        ops: list[Any] = []
        removed = set(removed_event_ids)
        for event in changed:
            if not event.id or event.id in removed:
                continue
            start, start_tz = _when(event.start)
            end, end_tz = _when(event.end)
            entity = {
                "PartitionKey": pk,
                "RowKey": key_of(event.id),
                "event_id": event.id,
                "change_key": event.change_key or "",
                "ical_uid": event.i_cal_u_id or "",
                "start": start,
                "start_tz": start_tz,
                "end": end,
                "end_tz": end_tz,
                "is_cancelled": bool(event.is_cancelled),
                "removed": False,
                "recorded_at": now,
                **common,
            }
            ops.append((TransactionOperation.UPSERT, entity, {"mode": UpdateMode.REPLACE}))
        for event_id in removed:
            entity = {
                "PartitionKey": pk,
                "RowKey": key_of(event_id),
                "event_id": event_id,
                "removed": True,
                "recorded_at": now,
                **common,
            }
            # Merge: keep what was known about the event, mark it removed.
            ops.append((TransactionOperation.UPSERT, entity, {"mode": UpdateMode.MERGE}))
        await submit_batches(table, ops)

    async def rows(self, room_mailbox: str) -> list[dict[str, Any]]:
        table = await self.account.ready_table(TableName.ROOM_CHANGES)
        pk = room_key(room_mailbox)
        return [dict(e) async for e in table.query_entities("PartitionKey eq @pk", parameters={"pk": pk})]
