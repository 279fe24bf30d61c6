"""Which IBSS spaces are synced, and with which room mailbox (from IBSS's own parameters)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from shared.ibss.client import IbssClient
from shared.sync import SpaceRef
from shared.sync.normalize import normalize_email


@dataclass(frozen=True)
class SyncScope:
    """Room mailbox -> synced space, for spaces with `Meta_Ext_Booking_System = 1` in buildings with
    `Bkng_Ext_System = 1`. Everything else is left alone in both directions."""

    by_mailbox: dict[str, SpaceRef]
    nodes: tuple[int, ...]

    def space_for_mailbox(self, mailbox: str) -> SpaceRef | None:
        return self.by_mailbox.get(normalize_email(mailbox))

    def mailbox_for_space(self, node_id: int, space_id: str) -> str | None:
        for ref in self.by_mailbox.values():
            if ref.node_id == node_id and ref.space_id == space_id:
                return ref.room_mailbox
        return None


async def load_scope(client: IbssClient) -> SyncScope:
    by_mailbox: dict[str, SpaceRef] = {}
    nodes: list[int] = []
    for building in await client.list_buildings():
        nodes.append(building.node_id)
        if not building.ext_system:
            continue
        for space in await client.list_spaces(building.node_id):
            mailbox = space.room_mailbox
            if space.is_synced_in(building) and mailbox:
                ref = SpaceRef(node_id=building.node_id, space_id=space.id, room_mailbox=mailbox)
                by_mailbox[ref.room_mailbox] = ref
    return SyncScope(by_mailbox=by_mailbox, nodes=tuple(nodes))


@dataclass
class CachedScope:
    """Re-reads the scope at most every `ttl_seconds`: admins change it without a redeploy."""

    client: IbssClient
    ttl_seconds: float = 60.0
    clock: Callable[[], float] = time.monotonic
    _value: SyncScope | None = None
    _loaded_at: float = 0.0
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def current(self) -> SyncScope:
        if self._value is not None and self.clock() - self._loaded_at < self.ttl_seconds:
            return self._value
        async with self._lock:
            if self._value is None or self.clock() - self._loaded_at >= self.ttl_seconds:
                self._value = await load_scope(self.client)
                self._loaded_at = self.clock()
        return self._value
