"""State of recurring meetings made in Outlook (one row per series and room), in Table Storage.

PartitionKey = a digest of (room mailbox, the room copy's series master id), RowKey = ``series``. The row
holds the committed ``SeriesBase`` and, while a worker carries a plan out, a lease (``pending``: when it
started and which bookings it cancels). Every write is conditional on the row's ETag, so two workers on
the same series cannot both carry a plan out; a lease older than ``LEASE_SECONDS`` is abandoned.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceNotFoundError
from pydantic import BaseModel, ConfigDict

from shared.storage.account import StorageAccount
from shared.storage.names import TableName
from shared.sync.series_outlook import SeriesBase

_ROW = "series"


class SeriesLease(BaseModel):
    model_config = ConfigDict(frozen=True)

    started_at: datetime
    cancels: tuple[str, ...] = ()  # booking ids the plan cancels: ours, not IBSS-side cancellations


@dataclass(frozen=True)
class StoredSeries:
    key: str
    room_mailbox: str
    master_event_id: str
    base: SeriesBase | None
    lease: SeriesLease | None
    etag: str | None  # None: no row yet


def series_key(room_mailbox: str, master_event_id: str) -> str:
    return hashlib.sha256(f"{room_mailbox.lower()}|{master_event_id}".encode()).hexdigest()[:48]


def _entity(room: str, master_id: str, base: SeriesBase | None, lease: SeriesLease | None) -> dict[str, Any]:
    return {
        "PartitionKey": series_key(room, master_id),
        "RowKey": _ROW,
        "room_mailbox": room.lower(),
        "master_event_id": master_id,
        "series_uid": base.series_uid if base else "",
        "base": base.model_dump_json() if base else "",
        "lease": lease.model_dump_json() if lease else "",
        "ended": bool(base.ended) if base else False,
        "updated_at": datetime.now(UTC).isoformat(),
    }


def _stored(entity: Any) -> StoredSeries:
    base_raw, lease_raw = entity.get("base") or "", entity.get("lease") or ""
    return StoredSeries(
        key=str(entity["PartitionKey"]),
        room_mailbox=str(entity["room_mailbox"]),
        master_event_id=str(entity["master_event_id"]),
        base=SeriesBase.model_validate_json(base_raw) if base_raw else None,
        lease=SeriesLease.model_validate_json(lease_raw) if lease_raw else None,
        etag=str(entity.metadata["etag"]),
    )


@dataclass
class TableSeriesStore:
    account: StorageAccount

    async def _table(self) -> Any:
        return await self.account.ready_table(TableName.OUTLOOK_SERIES)

    async def get(self, room_mailbox: str, master_event_id: str) -> StoredSeries:
        table = await self._table()
        try:
            return _stored(
                await table.get_entity(partition_key=series_key(room_mailbox, master_event_id), row_key=_ROW)
            )
        except ResourceNotFoundError:
            key = series_key(room_mailbox, master_event_id)
            return StoredSeries(key, room_mailbox.lower(), master_event_id, None, None, None)

    async def save(
        self, row: StoredSeries, base: SeriesBase | None, lease: SeriesLease | None
    ) -> StoredSeries:
        """Create the row or replace it if unchanged since read (ResourceExistsError /
        ResourceModifiedError otherwise: another worker was faster)."""
        table = await self._table()
        entity = _entity(row.room_mailbox, row.master_event_id, base, lease)
        if row.etag is None:
            meta = await table.create_entity(entity)
        else:
            meta = await table.update_entity(
                entity, mode="replace", etag=row.etag, match_condition=MatchConditions.IfNotModified
            )
        return StoredSeries(row.key, row.room_mailbox, row.master_event_id, base, lease, str(meta["etag"]))

    async def find_by_uid(self, room_mailbox: str, series_uid: str) -> StoredSeries | None:
        """The row of a series by its iCalUId (an IBSS hook names the series by its booking's ext ref)."""
        table = await self._table()
        params = {"room": room_mailbox.lower(), "uid": series_uid}
        query = "room_mailbox eq @room and series_uid eq @uid"
        async for e in table.query_entities(query, parameters=params):
            return _stored(e)
        return None

    async def active(self, room_mailbox: str | None = None) -> list[StoredSeries]:
        """Series not ended (all rooms, or one): the daily roll-forward and removal checks."""
        table = await self._table()
        query = "ended eq false"
        params: dict[str, Any] = {}
        if room_mailbox is not None:
            query += " and room_mailbox eq @room"
            params["room"] = room_mailbox.lower()
        return [_stored(e) async for e in table.query_entities(query, parameters=params)]
