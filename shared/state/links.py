"""Links between an IBSS booking and a meeting in one room, with their sync base, in Table Storage.

One row per link (PartitionKey = link id) holds the committed `SyncBase` and, while a plan is being
carried out, the pending plan (an outbox: actions + the base to commit once they all succeeded).
Index rows (`linkkeys`) find a link from either side: booking id, room event id, iCalUId in a room,
organizer event id. Every update of a link row is conditional on its ETag.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from pydantic import BaseModel, ConfigDict

from shared.storage.account import StorageAccount
from shared.storage.names import TableName
from shared.sync import SyncBase
from shared.sync.plan import Action
from shared.sync.reconcile import link_keys

KeyKind = Literal["booking", "room_event", "ical_uid", "organizer_event"]
_ROW = "link"
_IF_UNCHANGED = MatchConditions.IfNotModified


class PendingPlan(BaseModel):
    """What a worker set out to do: replayed (idempotently) if it crashed half-way."""

    model_config = ConfigDict(frozen=True)

    plan_id: str
    actions: tuple[Action, ...]
    new_base: SyncBase
    started_at: datetime
    creates_link: bool = False  # the link row exists only for this plan: dropping the plan drops the row
    seen: dict[str, str] = {}  # change keys the decision saw ("organizer"/"room"): updates are conditional


@dataclass(frozen=True)
class StoredLink:
    link_id: str
    base: SyncBase
    pending: PendingPlan | None
    etag: str


def key_row(kind: str, value: str, room_mailbox: str | None) -> tuple[str, str]:
    # A meeting that invites two rooms has one iCalUId and two links: scope that key by room.
    scoped = f"{room_mailbox or ''}|{value}" if kind == "ical_uid" else value
    digest = hashlib.sha256(f"{kind}|{scoped}".encode()).hexdigest()
    return f"{kind}-{digest[:40]}", "key"


def _entity(link_id: str, base: SyncBase, pending: PendingPlan | None) -> dict[str, Any]:
    return {
        "PartitionKey": link_id,
        "RowKey": _ROW,
        "base": json.dumps(base.to_row()),
        "pending": pending.model_dump_json() if pending else "",
        "state": base.state.value,
        "booking_id": base.booking_id or "",
        "room_mailbox": base.room_mailbox or "",
        "end": base.end.isoformat(),
        "updated_at": datetime.now(UTC).isoformat(),
    }


def _stored(entity: Any) -> StoredLink:
    pending_raw = entity.get("pending") or ""
    return StoredLink(
        link_id=entity["PartitionKey"],
        base=SyncBase.from_row(json.loads(entity["base"])),
        pending=PendingPlan.model_validate_json(pending_raw) if pending_raw else None,
        etag=str(entity.metadata["etag"]),
    )


@dataclass
class TableLinkStore:
    account: StorageAccount

    async def get(self, link_id: str) -> StoredLink | None:
        table = await self.account.ready_table(TableName.LINKS)
        try:
            return _stored(await table.get_entity(partition_key=link_id, row_key=_ROW))
        except ResourceNotFoundError:
            return None

    async def find(self, kind: KeyKind, value: str, room_mailbox: str | None = None) -> StoredLink | None:
        keys = await self.account.ready_table(TableName.LINK_KEYS)
        pk, rk = key_row(kind, value, room_mailbox)
        try:
            row = await keys.get_entity(partition_key=pk, row_key=rk)
        except ResourceNotFoundError:
            return None
        return await self.get(str(row["link_id"]))

    async def create(self, base: SyncBase, pending: PendingPlan | None) -> StoredLink:
        """A new link, claimed by its keys: ResourceExistsError when a live link already holds one.

        Two workers that both found no link (e.g. the hook of a create and of the rename right after it)
        must not both carry out a create: the first to claim the keys wins, the other backs out, deletes
        its row and reads again. Keys are claimed in `link_keys` order, so the loser fails on the first.
        """
        table = await self.account.ready_table(TableName.LINKS)
        link_id = uuid.uuid4().hex
        meta = await table.create_entity(_entity(link_id, base, pending))
        stored = StoredLink(link_id=link_id, base=base, pending=pending, etag=str(meta["etag"]))
        claimed: list[tuple[str, str]] = []
        try:
            for kind, value in link_keys(pending.new_base if pending else base):
                holder = await self._claim(stored, kind, value, base.room_mailbox)
                if holder is None:
                    claimed.append(key_row(kind, value, base.room_mailbox))
                # One meeting inviting two rooms has two links and one organizer event: that key is shared.
                elif kind != "organizer_event":
                    raise ResourceExistsError(f"{kind} key is held by live link {holder}")
        except (ResourceExistsError, ResourceModifiedError):
            await self._release(stored, claimed)
            raise
        return stored

    async def _release(self, link: StoredLink, keys_claimed: list[tuple[str, str]]) -> None:
        keys = await self.account.ready_table(TableName.LINK_KEYS)
        for pk, rk in keys_claimed:
            with contextlib.suppress(ResourceNotFoundError):
                await keys.delete_entity(partition_key=pk, row_key=rk)
        table = await self.account.ready_table(TableName.LINKS)
        with contextlib.suppress(ResourceNotFoundError):
            await table.delete_entity(partition_key=link.link_id, row_key=_ROW)

    async def _claim(self, link: StoredLink, kind: str, value: str, room_mailbox: str | None) -> str | None:
        """Point one key at `link`; returns the id of the live link that holds it instead, else None."""
        keys = await self.account.ready_table(TableName.LINK_KEYS)
        pk, rk = key_row(kind, value, room_mailbox)
        row = {"PartitionKey": pk, "RowKey": rk, "link_id": link.link_id, "kind": kind}
        try:
            await keys.create_entity(row)
            return None
        except ResourceExistsError:
            current = await keys.get_entity(partition_key=pk, row_key=rk)
        holder = str(current["link_id"])
        if holder == link.link_id:
            return None
        older = await self.get(holder)
        if older is not None and not older.base.terminal:
            return holder
        # A newer link (a room re-added after a cancel) takes the key over from a terminal or lost one.
        await keys.update_entity(row, etag=current.metadata["etag"], match_condition=_IF_UNCHANGED)
        return None

    async def save(self, link: StoredLink, base: SyncBase, pending: PendingPlan | None) -> StoredLink:
        """Replace the row if nobody changed it since it was read (ResourceModifiedError otherwise)."""
        table = await self.account.ready_table(TableName.LINKS)
        meta = await table.update_entity(
            _entity(link.link_id, base, pending),
            etag=link.etag,
            match_condition=_IF_UNCHANGED,
        )
        stored = StoredLink(link_id=link.link_id, base=base, pending=pending, etag=str(meta["etag"]))
        await self._index(stored, base)
        if pending:
            await self._index(stored, pending.new_base)
        return stored

    async def index(self, link: StoredLink, base: SyncBase) -> None:
        """Make the link findable by the ids in `base` now (e.g. right after a create returned them)."""
        await self._index(link, base)

    async def _index(self, link: StoredLink, base: SyncBase) -> None:
        # An existing link learning new ids: a key a live link already holds stays with that link.
        for kind, value in link_keys(base):
            await self._claim(link, kind, value, base.room_mailbox)

    async def delete(self, link: StoredLink) -> None:
        """Remove a link row (its index rows then lead nowhere, which `find` treats as no link)."""
        table = await self.account.ready_table(TableName.LINKS)
        await table.delete_entity(
            partition_key=link.link_id,
            row_key=_ROW,
            etag=link.etag,
            match_condition=_IF_UNCHANGED,
        )

    async def ending_after(self, since: datetime) -> list[SyncBase]:
        """The bases of every link (any state) that ends after ``since``: what the IBSS sweep compares."""
        table = await self.account.ready_table(TableName.LINKS)
        query = "end ge @v"
        bound = since.astimezone(UTC).replace(microsecond=0).isoformat()
        return [
            SyncBase.from_row(json.loads(e["base"]))
            async for e in table.query_entities(query, parameters={"v": bound}, select=["base"])
            if e.get("base")
        ]

    async def list_active(self) -> list[StoredLink]:
        table = await self.account.ready_table(TableName.LINKS)
        return [_stored(e) async for e in table.query_entities("state eq 'active'")]


def new_pending(
    actions: tuple[Action, ...],
    new_base: SyncBase,
    *,
    creates_link: bool = False,
    seen: dict[str, str] | None = None,
) -> PendingPlan:
    return PendingPlan(
        plan_id=uuid.uuid4().hex,
        actions=actions,
        new_base=new_base,
        started_at=datetime.now(UTC),
        creates_link=creates_link,
        seen=seen or {},
    )


__all__ = ["KeyKind", "PendingPlan", "StoredLink", "TableLinkStore", "new_pending"]
