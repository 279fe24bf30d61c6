"""Delta rounds hand their changes to the reconciler: one reconcile per changed or removed room event."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from msgraph.generated.models.event import Event

from shared.credentials import SecretRefused
from shared.graph.errors import GraphThrottled
from shared.graph.mapping import MappingError, to_room_snapshot
from shared.rooms.graph_rooms import GraphThrottled as RoundThrottled
from shared.rooms.ports import RoomChangeSink
from shared.sync import Gone, Present
from shared.worker.errors import RetryAfter
from shared.worker.reconciler import Reconciler
from shared.worker.series_outlook import SeriesRouter, series_master_id

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
class RefusedSecretSink:
    """Stands in for the reconciler while a secret it needs is refused (shared/credentials.py): each round
    fails with the refusal, so its deltaLink is not stored and the changes are read again once fixed."""

    refusal: SecretRefused

    async def room_changed(
        self,
        room_mailbox: str,
        changed: Sequence[Event],
        removed_event_ids: Sequence[str],
        full_resync: bool,
    ) -> None:
        raise SecretRefused(self.refusal.setting, self.refusal.problem)


@dataclass
class ReconcilingChangeSink:
    """The RoomChangeSink of the running service (shared.rooms.ports.RoomChangeSink)."""

    reconciler: Reconciler
    # Recurring meetings made in Outlook: one series job per series instead of one reconcile per
    # occurrence (shared/worker/series_outlook.py), so no occurrence is booked by both paths.
    series: SeriesRouter | None = None
    # Recurring meetings made from IBSS series (owner mode): items leaving the room that no link knows may
    # be occurrences the organizer cancelled in Outlook; the room's series jobs look (series_ibss.py).
    ibss_series: Callable[[str], Awaitable[None]] | None = None
    # Items of one round reconciled at a time. Exchange serves an app at most 4 concurrent requests per
    # mailbox (more get 429), every reconcile here reads or writes the room's, and one is left to the
    # room's other readers (a hook's job, the sweep).
    concurrency: int = 3

    async def _outlook_series(self, room_mailbox: str, event: Event) -> str | None:
        """The series master id when the Outlook series path owns this item, else None."""
        master_id = series_master_id(event) if self.series is not None else None
        if master_id is None or self.reconciler.series_echo is None:
            return master_id
        try:
            snapshot = to_room_snapshot(event, room_mailbox)
        except MappingError:
            return master_id
        # Made by the service from an IBSS series: that path's, through the reconciler's gate.
        return None if await self.reconciler.series_echo(room_mailbox, snapshot) else master_id

    async def _series_removed(
        self, room_mailbox: str, removed_event_ids: Sequence[str], routed: Sequence[str]
    ) -> None:
        """Removed ids: a linked single meeting goes the usual way; the rest may be occurrences of a
        series (a cancelled occurrence, a master time or pattern change drops the old ids), which the
        room's active series jobs sort out without one Graph read per id."""
        assert self.series is not None
        unlinked = False
        for event_id in removed_event_ids:
            if await self.reconciler.links.find("room_event", event_id) is not None:
                await self.reconciler.room_event_removed(room_mailbox, event_id)
                continue
            if routed:
                unlinked = True  # this round already saw the series change: its jobs cover the ids
                continue
            found = await self.series.read_removed(room_mailbox, event_id)
            if isinstance(found, Gone):
                unlinked = True
            elif isinstance(found, Present) and found.value.id:
                master_id = await self._outlook_series(room_mailbox, found.value)
                if master_id is not None:
                    await self.series.enqueue(room_mailbox, [master_id], "removed")
                    continue
                try:
                    snapshot = to_room_snapshot(found.value, room_mailbox)
                except MappingError:
                    continue
                await self.reconciler.room_event_changed(room_mailbox, event_id, snapshot)
        if unlinked:
            await self.series.removed(room_mailbox)  # a whole series may have left the calendar
            if self.ibss_series is not None:
                await self.ibss_series(room_mailbox)

    async def _changed(self, room_mailbox: str, event: Event) -> str | None:
        """Reconcile one changed item; the series master id instead when the series path owns it."""
        assert event.id
        master_id = await self._outlook_series(room_mailbox, event)
        if master_id is not None:
            return master_id
        try:
            snapshot = to_room_snapshot(event, room_mailbox)
        except MappingError as exc:
            # One unreadable item must not block the room; it is skipped and logged.
            log.warning("room event skipped", extra={"reason": str(exc)[:300]})
            return None
        await self.reconciler.room_event_changed(room_mailbox, event.id, snapshot)
        return None

    async def _all_changed(self, room_mailbox: str, changed: Sequence[Event]) -> list[str]:
        """The round's items side by side, at most ``concurrency`` at a time: a burst of 50 new meetings
        is not 50 reconciles in a row while the room's next round waits. Every item is tried; then the
        first failure is raised (a throttle first), so the round is replayed and the done ones are echoes."""
        gate = asyncio.Semaphore(self.concurrency)

        async def one(event: Event) -> str | None:
            async with gate:
                return await self._changed(room_mailbox, event)

        outcomes = await asyncio.gather(*(one(e) for e in changed if e.id), return_exceptions=True)
        failures = [o for o in outcomes if isinstance(o, BaseException)]
        throttled = [f for f in failures if isinstance(f, RetryAfter | GraphThrottled)]
        if failures:
            first = (throttled or failures)[0]
            if len(failures) > 1:
                kinds = sorted({type(f).__name__ for f in failures})
                log.warning("round items failed", extra={"failed": len(failures), "kinds": kinds})
            raise first
        return [o for o in outcomes if isinstance(o, str)]

    async def room_changed(
        self,
        room_mailbox: str,
        changed: Sequence[Event],
        removed_event_ids: Sequence[str],
        full_resync: bool,
    ) -> None:
        try:
            series_masters = await self._all_changed(room_mailbox, changed)  # enqueue drops repeats
            if self.series is not None:
                await self.series.enqueue(room_mailbox, series_masters, "delta")
                await self._series_removed(room_mailbox, removed_event_ids, series_masters)
                return
            unlinked = False
            for event_id in removed_event_ids:
                unlinked = unlinked or await self.reconciler.links.find("room_event", event_id) is None
                # "Removed" means gone from the window: a meeting moved past the horizon still exists.
                await self.reconciler.room_event_removed(room_mailbox, event_id)
            if unlinked and self.ibss_series is not None:
                await self.ibss_series(room_mailbox)
        except RetryAfter as wait:
            # The round re-queues itself (visibility delay) on the rooms' GraphThrottled without storing its
            # deltaLink: replayed later, never counted as a failed delivery on the way to the poison queue.
            raise RoundThrottled(None, "RetryAfter", wait.seconds) from wait
        except GraphThrottled as throttled:
            raise RoundThrottled(throttled.status, throttled.code, throttled.retry_after) from throttled
