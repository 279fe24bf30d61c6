"""Desk links: one row per IBSS booking that has (or had) a personal appointment, in Table Storage.

The row holds the committed ``DeskBase`` and, while a worker carries a plan out, the pending plan with
its start time (an outbox, as for room links): a second worker sees the young plan and waits; a plan
older than the lease was left by a worker that died and is carried out again (its calls are
idempotent: creates carry a transactionId, updates are PATCHes, deletes of a gone item count as done).
Every write is conditional on the row's ETag.
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
from shared.sync.desks import DeskAction, DeskBase

_ROW = "desk"


class PendingDeskPlan(BaseModel):
    model_config = ConfigDict(frozen=True)

    actions: tuple[DeskAction, ...]
    new_base: DeskBase
    started_at: datetime


@dataclass(frozen=True)
class StoredDeskLink:
    base: DeskBase | None  # None: the row exists only for a first plan still being carried out
    pending: PendingDeskPlan | None
    etag: str


def _partition(booking_id: str) -> str:
    # Booking ids are IBSS strings; table keys must not contain / \ # ?, so hash them.
    return "desk-" + hashlib.sha256(booking_id.encode()).hexdigest()[:40]


def _entity(booking_id: str, base: DeskBase | None, pending: PendingDeskPlan | None) -> dict[str, Any]:
    return {
        "PartitionKey": _partition(booking_id),
        "RowKey": _ROW,
        "booking_id": booking_id,
        "base": base.model_dump_json() if base else "",
        "pending": pending.model_dump_json() if pending else "",
        "state": base.state.value if base else "",
        "updated_at": datetime.now(UTC).isoformat(),
    }


def _stored(entity: Any) -> StoredDeskLink:
    base_raw = entity.get("base") or ""
    pending_raw = entity.get("pending") or ""
    return StoredDeskLink(
        base=DeskBase.model_validate_json(base_raw) if base_raw else None,
        pending=PendingDeskPlan.model_validate_json(pending_raw) if pending_raw else None,
        etag=str(entity.metadata["etag"]),
    )


@dataclass
class TableDeskLinkStore:
    account: StorageAccount

    async def get(self, booking_id: str) -> StoredDeskLink | None:
        table = await self.account.ready_table(TableName.DESK_LINKS)
        try:
            return _stored(await table.get_entity(partition_key=_partition(booking_id), row_key=_ROW))
        except ResourceNotFoundError:
            return None

    async def claim(
        self, booking_id: str, link: StoredDeskLink | None, pending: PendingDeskPlan
    ) -> StoredDeskLink:
        """Record the plan before its calls (ResourceExistsError / ResourceModifiedError: someone else
        got there first; read again)."""
        table = await self.account.ready_table(TableName.DESK_LINKS)
        base = link.base if link else None
        if link is None:
            meta = await table.create_entity(_entity(booking_id, None, pending))
        else:
            meta = await table.update_entity(
                _entity(booking_id, base, pending),
                etag=link.etag,
                match_condition=MatchConditions.IfNotModified,
            )
        return StoredDeskLink(base=base, pending=pending, etag=str(meta["etag"]))

    async def commit(self, booking_id: str, link: StoredDeskLink | None, base: DeskBase) -> StoredDeskLink:
        """Store the new base and clear the pending plan (conditional on the row not having changed)."""
        table = await self.account.ready_table(TableName.DESK_LINKS)
        if link is None:
            meta = await table.create_entity(_entity(booking_id, base, None))
        else:
            meta = await table.update_entity(
                _entity(booking_id, base, None), etag=link.etag, match_condition=MatchConditions.IfNotModified
            )
        return StoredDeskLink(base=base, pending=None, etag=str(meta["etag"]))


__all__ = ["PendingDeskPlan", "StoredDeskLink", "TableDeskLinkStore"]
