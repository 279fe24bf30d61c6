"""State of IBSS series made into recurring Outlook meetings (table ``ibssseries``), ETag-guarded.

One row per IBSS series (PartitionKey ``s-<series id>``) holds the committed ``IbssSeriesBase``, the plan
being carried out (outbox, replayed by the next worker if this one dies), the worker's lease and the
debounce flag (a job is queued and has not started: further hooks join it). Index rows
(``u-<hash of the master iCalUId>``) let the room's delta rounds recognise our meeting's occurrences
without a Graph read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from pydantic import BaseModel, ConfigDict

from shared.storage.account import StorageAccount
from shared.storage.names import TableName
from shared.sync.ibss_series import IbssSeriesBase, SeriesPlan, index_key

_ROW = "series"
_IF_UNCHANGED = MatchConditions.IfNotModified


class SeriesRow(BaseModel):
    model_config = ConfigDict(extra="forbid")

    series_id: str
    node_id: int
    base: IbssSeriesBase | None = None
    pending: SeriesPlan | None = None  # outbox: actions under way and the base to commit after them
    lease_until: datetime | None = None  # a worker is running this series until then
    scheduled: bool = False  # a job is queued and has not started yet
    scheduled_at: datetime | None = None
    # The room saw the meeting change (owner mode): the job also reads the organizer's series for edits
    # made in Outlook (shared/sync/ibss_series_outlook.py).
    outlook_check: bool = False


@dataclass
class StoredSeries:
    row: SeriesRow
    etag: str


def _entity(row: SeriesRow) -> dict[str, Any]:
    return {
        "PartitionKey": f"s-{row.series_id}",
        "RowKey": _ROW,
        "data": row.model_dump_json(),
        "mode": row.base.mode.value if row.base else "",
        "room_mailbox": (row.base.room_mailbox or "") if row.base else "",
        "updated_at": datetime.now(UTC).isoformat(),
    }


@dataclass
class TableSeriesStore:
    account: StorageAccount
    _known_uids: dict[str, str] = field(default_factory=dict)  # uid key -> series id, seen here

    async def get(self, series_id: str) -> StoredSeries | None:
        table = await self.account.ready_table(TableName.IBSS_SERIES)
        try:
            entity = await table.get_entity(partition_key=f"s-{series_id}", row_key=_ROW)
        except ResourceNotFoundError:
            return None
        return StoredSeries(SeriesRow.model_validate_json(entity["data"]), str(entity.metadata["etag"]))

    async def create(self, row: SeriesRow) -> StoredSeries:
        """ResourceExistsError when another worker created it first."""
        table = await self.account.ready_table(TableName.IBSS_SERIES)
        meta = await table.create_entity(_entity(row))
        return StoredSeries(row, str(meta["etag"]))

    async def save(self, stored: StoredSeries, row: SeriesRow) -> StoredSeries:
        """Replace if unchanged since read (ResourceModifiedError otherwise)."""
        table = await self.account.ready_table(TableName.IBSS_SERIES)
        meta = await table.update_entity(_entity(row), etag=stored.etag, match_condition=_IF_UNCHANGED)
        return StoredSeries(row, str(meta["etag"]))

    async def get_or_create(self, series_id: str, node_id: int) -> StoredSeries:
        for _ in range(3):
            found = await self.get(series_id)
            if found is not None:
                return found
            try:
                return await self.create(SeriesRow(series_id=series_id, node_id=node_id))
            except ResourceExistsError:
                continue
        raise ResourceModifiedError("series row kept changing")

    async def recurring_in_room(self, room_mailbox: str) -> list[str]:
        """Series held by one recurring meeting in this room (their ids)."""
        table = await self.account.ready_table(TableName.IBSS_SERIES)
        query = "mode eq @mode and room_mailbox eq @room"
        params = {"mode": "recurring", "room": room_mailbox}
        return [
            SeriesRow.model_validate_json(e["data"]).series_id
            async for e in table.query_entities(query, parameters=params, select=["data"])
        ]

    # ------------------------------------------------------------------ master iCalUId index

    async def index_master(self, ical_uid: str, series_id: str) -> None:
        table = await self.account.ready_table(TableName.IBSS_SERIES)
        await table.upsert_entity(
            {"PartitionKey": f"u-{index_key(ical_uid)}", "RowKey": "uid", "series_id": series_id}
        )
        self._known_uids[index_key(ical_uid)] = series_id

    async def series_for_uid(self, ical_uid: str) -> str | None:
        """The IBSS series whose meeting has this iCalUId (a master's or one of its occurrences')."""
        key = index_key(ical_uid)
        if key in self._known_uids:
            return self._known_uids[key]
        table = await self.account.ready_table(TableName.IBSS_SERIES)
        try:
            entity = await table.get_entity(partition_key=f"u-{key}", row_key="uid")
        except ResourceNotFoundError:
            return None
        self._known_uids[key] = str(entity["series_id"])
        return self._known_uids[key]

    def knows_uid(self, ical_uid: str) -> bool:
        """Seen in this process already (saves the table read for every occurrence of a big series)."""
        return index_key(ical_uid) in self._known_uids


def dump(row: SeriesRow) -> str:  # pragma: no cover - debugging aid
    return json.dumps(json.loads(row.model_dump_json()), indent=2)
