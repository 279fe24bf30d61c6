"""Table Storage state of the rooms package. Every update of a state row is an ETag compare-and-swap."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TransactionOperation, UpdateMode

from shared.rooms.models import BuildingConfig, OnboardingIssue, RoomRow, key_of, room_key
from shared.storage.account import StorageAccount
from shared.storage.names import TableName

TABLE_BATCH = 100  # entity group transactions hold at most 100 operations of one partition


class Conflict(Exception):
    """The row changed since it was read (412) or already exists (409): re-read and decide again."""


@dataclass
class RoomStore:
    account: StorageAccount

    async def _table(self) -> Any:
        return await self.account.ready_table(TableName.ROOMS)

    async def get(self, mailbox: str) -> tuple[RoomRow, str] | None:
        table = await self._table()
        try:
            entity = await table.get_entity(partition_key=room_key(mailbox), row_key="room")
        except ResourceNotFoundError:
            return None
        return RoomRow.from_entity(dict(entity)), str(entity.metadata["etag"])

    async def create(self, row: RoomRow) -> str:
        table = await self._table()
        try:
            meta = await table.create_entity(row.to_entity())
        except ResourceExistsError as exc:
            raise Conflict(row.mailbox) from exc
        return str(meta["etag"])

    async def replace(self, row: RoomRow, etag: str) -> str:
        table = await self._table()
        try:
            meta = await table.update_entity(
                row.to_entity(),
                mode=UpdateMode.REPLACE,
                etag=etag,
                match_condition=MatchConditions.IfNotModified,
            )
        except (ResourceModifiedError, ResourceNotFoundError) as exc:
            raise Conflict(row.mailbox) from exc
        return str(meta["etag"])

    async def list_all(self) -> list[tuple[RoomRow, str]]:
        table = await self._table()
        return [
            (RoomRow.from_entity(dict(e)), str(e.metadata["etag"]))
            async for e in table.query_entities("RowKey eq 'room'")
        ]


@dataclass
class BuildingStore:
    account: StorageAccount

    async def list_all(self) -> dict[int, BuildingConfig]:
        table = await self.account.ready_table(TableName.BUILDINGS)
        out: dict[int, BuildingConfig] = {}
        async for e in table.query_entities("PartitionKey eq 'building'"):
            cfg = BuildingConfig.from_entity(dict(e))
            out[cfg.node_id] = cfg
        return out

    async def create_if_absent(self, config: BuildingConfig) -> None:
        """New buildings get defaults; an admin's edits to an existing row are never overwritten."""
        table = await self.account.ready_table(TableName.BUILDINGS)
        with contextlib.suppress(ResourceExistsError):
            await table.create_entity(config.to_entity())

    async def put(self, config: BuildingConfig) -> None:
        """Admin write (tests, admin page)."""
        table = await self.account.ready_table(TableName.BUILDINGS)
        await table.upsert_entity(config.to_entity(), mode=UpdateMode.REPLACE)


@dataclass
class OnboardingReport:
    """Mismatches found by onboarding, for the admin page (PK 'issue'), and the last run (PK 'run')."""

    account: StorageAccount

    async def replace_issues(self, issues: Iterable[OnboardingIssue]) -> None:
        table = await self.account.ready_table(TableName.ONBOARDING)
        current = {i.key: i for i in issues}
        stale = [
            e["RowKey"] async for e in table.query_entities("PartitionKey eq 'issue'", select=["RowKey"])
        ]
        for key, issue in current.items():
            await table.upsert_entity(
                {"PartitionKey": "issue", "RowKey": key, **issue.model_dump(mode="json")},
                mode=UpdateMode.REPLACE,
            )
        for key in stale:
            if key not in current:
                with contextlib.suppress(ResourceNotFoundError):
                    await table.delete_entity(partition_key="issue", row_key=key)

    async def issues(self) -> list[OnboardingIssue]:
        table = await self.account.ready_table(TableName.ONBOARDING)
        return [
            OnboardingIssue(**{k: v for k, v in e.items() if k in OnboardingIssue.model_fields})
            async for e in table.query_entities("PartitionKey eq 'issue'")
        ]

    async def last_run(self) -> datetime | None:
        table = await self.account.ready_table(TableName.ONBOARDING)
        try:
            entity = await table.get_entity(partition_key="run", row_key="last")
        except ResourceNotFoundError:
            return None
        return datetime.fromisoformat(str(entity["ran_at"]))

    async def record_run(self, ran_at: datetime, counts: dict[str, int]) -> None:
        table = await self.account.ready_table(TableName.ONBOARDING)
        await table.upsert_entity(
            {"PartitionKey": "run", "RowKey": "last", "ran_at": ran_at.isoformat(), **counts},
            mode=UpdateMode.REPLACE,
        )


@dataclass(frozen=True)
class IndexedEvent:
    event_id: str
    end: datetime | None
    change_key: str | None


@dataclass
class RoomEventIndex:
    """The event ids a room's window holds, as last seen by a delta round (PK hashed room, RK hashed id).

    It lets a round drop ``@removed`` items outside the window and find events that vanished during a
    full resync (after a 410 the deletions in between are not reported)."""

    account: StorageAccount

    async def load(self, mailbox: str) -> dict[str, IndexedEvent]:
        table = await self.account.ready_table(TableName.ROOM_EVENTS)
        pk = room_key(mailbox)
        out: dict[str, IndexedEvent] = {}
        async for e in table.query_entities("PartitionKey eq @pk", parameters={"pk": pk}):
            end = datetime.fromisoformat(str(e["end"])) if e.get("end") else None
            out[str(e["event_id"])] = IndexedEvent(str(e["event_id"]), end, e.get("change_key"))
        return out

    async def apply(self, mailbox: str, upserts: Iterable[IndexedEvent], deletes: Iterable[str]) -> None:
        table = await self.account.ready_table(TableName.ROOM_EVENTS)
        pk = room_key(mailbox)
        ops: list[TransactionOperation | tuple[Any, ...]] = []
        seen: set[str] = set()
        for item in upserts:
            rk = key_of(item.event_id)
            seen.add(rk)
            entity = {
                "PartitionKey": pk,
                "RowKey": rk,
                "event_id": item.event_id,
                "end": item.end.isoformat() if item.end else "",
                "change_key": item.change_key or "",
            }
            ops.append((TransactionOperation.UPSERT, entity, {"mode": UpdateMode.REPLACE}))
        await submit_batches(table, ops)
        # Deletes one by one: in a batch, one missing row fails the whole batch.
        for event_id in deletes:
            rk = key_of(event_id)
            if rk not in seen:
                with contextlib.suppress(ResourceNotFoundError):
                    await table.delete_entity(partition_key=pk, row_key=rk)


async def submit_batches(table: Any, ops: list[Any]) -> None:
    for i in range(0, len(ops), TABLE_BATCH):
        await table.submit_transaction(ops[i : i + TABLE_BATCH])
