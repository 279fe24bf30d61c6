"""The IBSS change feed's rows (``ibssfeed``: PK ``feed``, RK = building node id; ETag compare-and-swap)
and the last reconciliation sweep of each building (PK ``sweep``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import UpdateMode

from shared.ibss.feed import FeedConflict, FeedState
from shared.ibss.sweep import SweepReport
from shared.storage.account import StorageAccount
from shared.storage.names import TableName

PARTITION = "feed"
SWEEP_PARTITION = "sweep"


def to_entity(state: FeedState) -> dict[str, Any]:
    data = state.model_dump(mode="json")
    # Table Storage has no map type: the remembered versions go as one JSON string (bounded by recent_cap).
    data["recent"] = json.dumps(data["recent"], separators=(",", ":"))
    return {"PartitionKey": PARTITION, "RowKey": str(state.node_id), **data}


def from_entity(entity: dict[str, Any]) -> FeedState:
    data = {k: v for k, v in entity.items() if k in FeedState.model_fields}
    raw = data.get("recent")
    try:
        recent = json.loads(raw) if isinstance(raw, str) else {}
    except ValueError:
        recent = {}  # a damaged cache only costs re-reads
    data["recent"] = recent if isinstance(recent, dict) else {}
    return FeedState.model_validate(data)


@dataclass
class TableFeedStore:
    account: StorageAccount

    async def _table(self) -> Any:
        return await self.account.ready_table(TableName.IBSS_FEED)

    async def get(self, node_id: int) -> tuple[FeedState, str] | None:
        table = await self._table()
        try:
            entity = await table.get_entity(partition_key=PARTITION, row_key=str(node_id))
        except ResourceNotFoundError:
            return None
        return from_entity(dict(entity)), str(entity.metadata["etag"])

    async def create(self, state: FeedState) -> str:
        table = await self._table()
        try:
            meta = await table.create_entity(to_entity(state))
        except ResourceExistsError as exc:
            raise FeedConflict(state.node_id) from exc
        return str(meta["etag"])

    async def replace(self, state: FeedState, etag: str) -> str:
        table = await self._table()
        try:
            meta = await table.update_entity(
                to_entity(state),
                mode=UpdateMode.REPLACE,
                etag=etag,
                match_condition=MatchConditions.IfNotModified,
            )
        except (ResourceModifiedError, ResourceNotFoundError) as exc:
            raise FeedConflict(state.node_id) from exc
        return str(meta["etag"])

    async def list_all(self) -> list[FeedState]:
        table = await self._table()
        return [from_entity(dict(e)) async for e in table.query_entities(f"PartitionKey eq '{PARTITION}'")]


@dataclass
class TableSweepReports:
    """Each building's last sweep. A newer sweep replaces the row only if it started later (ETag
    compare-and-swap, retried on a concurrent write): an older sweep finishing last never hides it."""

    account: StorageAccount

    async def _table(self) -> Any:
        return await self.account.ready_table(TableName.IBSS_FEED)

    async def save(self, report: SweepReport) -> None:
        table = await self._table()
        entity = {
            "PartitionKey": SWEEP_PARTITION,
            "RowKey": str(report.node_id),
            **report.model_dump(mode="json"),
        }
        for _ in range(5):
            try:
                current = await table.get_entity(partition_key=SWEEP_PARTITION, row_key=str(report.node_id))
            except ResourceNotFoundError:
                try:
                    await table.create_entity(entity)
                    return
                except ResourceExistsError:
                    continue
            if SweepReport.model_validate(_fields(current)).started_at > report.started_at:
                return
            try:
                await table.update_entity(
                    entity,
                    mode=UpdateMode.REPLACE,
                    etag=current.metadata["etag"],
                    match_condition=MatchConditions.IfNotModified,
                )
                return
            except ResourceModifiedError:
                continue

    async def list_all(self) -> list[SweepReport]:
        table = await self._table()
        query = f"PartitionKey eq '{SWEEP_PARTITION}'"
        return [SweepReport.model_validate(_fields(e)) async for e in table.query_entities(query)]


def _fields(entity: Any) -> dict[str, Any]:
    return {k: v for k, v in dict(entity).items() if k in SweepReport.model_fields}
