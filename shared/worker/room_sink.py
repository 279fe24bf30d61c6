"""Delta rounds hand their changes to the reconciler: one reconcile per changed or removed room event."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from msgraph.generated.models.event import Event

from shared.graph.errors import GraphThrottled
from shared.graph.mapping import MappingError, to_room_snapshot
from shared.rooms.ports import RoomChangeSink
from shared.worker.errors import RetryAfter
from shared.worker.reconciler import Reconciler

log = logging.getLogger(__name__)


@dataclass
class ChainedChangeSink:
    """Hands each round to several sinks in order (the audit record first, then the reconciler)."""

    sinks: Sequence[RoomChangeSink]

    async def room_changed(
        self,
        room_mailbox: str,
        changed: Sequence[Event],
        removed_event_ids: Sequence[str],
        full_resync: bool,
    ) -> None:
        for sink in self.sinks:
            await sink.room_changed(room_mailbox, changed, removed_event_ids, full_resync)


@dataclass
class ReconcilingChangeSink:
    """The RoomChangeSink of the running service (shared.rooms.ports.RoomChangeSink)."""

    reconciler: Reconciler

    async def room_changed(
        self,
        room_mailbox: str,
        changed: Sequence[Event],
        removed_event_ids: Sequence[str],
        full_resync: bool,
    ) -> None:
        try:
            for event in changed:
                if not event.id:
                    continue
                try:
                    snapshot = to_room_snapshot(event, room_mailbox)
                except MappingError as exc:
                    # One unreadable item must not block the room; it is skipped and logged.
                    log.warning("room event skipped", extra={"reason": str(exc)[:300]})
                    continue
                await self.reconciler.room_event_changed(room_mailbox, event.id, snapshot)
            for event_id in removed_event_ids:
                # "Removed" means gone from the window: a meeting moved past the horizon still exists.
                await self.reconciler.room_event_removed(room_mailbox, event_id)
        except RetryAfter as wait:
            # The round re-queues itself on GraphThrottled without storing its deltaLink: replayed later.
            raise GraphThrottled(str(wait), retry_after=wait.seconds) from wait
