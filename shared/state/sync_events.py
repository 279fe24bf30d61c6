"""Sync events: one row per queue job, for the admin page and its re-process action.

PartitionKey = the UTC day the job was created (``YYYYMMDD``); RowKey = inverted milliseconds of that
moment plus a digest of the job's identity, so a day's rows list newest first and every delivery, retry
or re-process of the same message lands on the same row. States: ``new`` (waiting in a queue: deferred
after throttling, or re-processed by an admin) → ``processing`` → ``done`` | ``error`` (with a short
reason). Every state change is an ETag compare-and-swap. Rows hold ids and counts only (booking id, IBSS
node and space id), never subjects or addresses; ``message`` is the original queue message (ids only),
enqueued again unchanged by :meth:`SyncEventLog.reprocess`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import UpdateMode
from pydantic import BaseModel, Field

from shared.ibss.errors import IbssError
from shared.ibss.intake import BookingSyncJob
from shared.logs import ADDRESS
from shared.storage.account import StorageAccount
from shared.storage.names import QueueName, TableName

MAX_REASON = 300
_INVERT_MS = 10**13
_CAS_ATTEMPTS = 8
_URL = re.compile(r"https?://\S+")


class SyncEventState(StrEnum):
    NEW = "new"
    PROCESSING = "processing"
    DONE = "done"
    ERROR = "error"


class SyncEvent(BaseModel):
    pk: str
    rk: str
    kind: str
    queue: str
    state: SyncEventState
    attempts: int = 0
    correlation_id: str = ""
    booking_id: str | None = None
    node_id: int | None = None
    space_id: str | None = None
    error: str | None = None
    outcome: str | None = None
    ibss_writes: int = 0
    outlook_writes: int = 0
    conflicts: int = 0
    lag_ms: float | None = None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None = None
    reprocessed: int = 0
    message: str = Field(default="", repr=False)
    etag: str = ""

    def to_entity(self) -> dict[str, Any]:
        data = self.model_dump(mode="json", exclude={"pk", "rk", "etag"})
        return {
            "PartitionKey": self.pk,
            "RowKey": self.rk,
            **{k: v for k, v in data.items() if v is not None},
        }

    @classmethod
    def from_entity(cls, entity: Any) -> SyncEvent:
        fields = {k: v for k, v in dict(entity).items() if k in cls.model_fields}
        etag = str(entity.metadata["etag"]) if hasattr(entity, "metadata") else ""
        return cls(pk=entity["PartitionKey"], rk=entity["RowKey"], etag=etag, **fields)


class NotReprocessable(Exception):
    """Only failed items can be re-processed (or the row / its message is gone)."""


class MessageSender(Protocol):
    async def send(self, queue: str, message: BaseModel, delay_seconds: int | None = None) -> None: ...


# kind -> (queue, model): the messages a re-process can enqueue again.
REPROCESSABLE: dict[str, tuple[str, type[BaseModel]]] = {
    "ibss.booking": (QueueName.SYNC_BOOKINGS, BookingSyncJob),
}


def event_key(kind: str, identity: str, created_at: datetime) -> tuple[str, str]:
    """(PartitionKey, RowKey) of a job's row: deterministic, so retries find the same row."""
    at = created_at.astimezone(UTC) if created_at.tzinfo else created_at.replace(tzinfo=UTC)
    millis = int(at.timestamp() * 1000)
    digest = hashlib.sha256(f"{kind}|{identity}".encode()).hexdigest()[:12]
    return at.strftime("%Y%m%d"), f"{_INVERT_MS - millis:013d}-{digest}"


def describe_error(exc: BaseException) -> str:
    """A short reason for the admin page: no URLs, addresses, tokens or stack traces."""
    if isinstance(exc, IbssError):
        status = f" {exc.status}" if exc.status is not None else ""
        reason = f" [{exc.reason}]" if exc.reason else ""
        text = f"IBSS{status}{reason}: {exc.message}"
    else:
        code = getattr(exc, "response_status_code", None)
        text = f"{type(exc).__name__}{f' {code}' if code else ''}: {exc}"
    text = _URL.sub("<url>", text)
    text = ADDRESS.sub("<address>", text)
    text = " ".join(text.split())
    return text[:MAX_REASON]


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class SyncEventLog:
    account: StorageAccount
    clock: Callable[[], datetime] = field(default=_now)

    async def _table(self) -> Any:
        return await self.account.ready_table(TableName.SYNC_EVENTS)

    # ------------------------------------------------------------------ reading

    async def get(self, pk: str, rk: str) -> SyncEvent | None:
        table = await self._table()
        try:
            return SyncEvent.from_entity(await table.get_entity(partition_key=pk, row_key=rk))
        except ResourceNotFoundError:
            return None

    async def recent(
        self, *, days: int = 2, state: SyncEventState | None = None, limit: int = 100
    ) -> list[SyncEvent]:
        """Newest first, from today back over `days` UTC days (one partition query per day)."""
        table = await self._table()
        today = self.clock().astimezone(UTC)
        out: list[SyncEvent] = []
        for back in range(max(1, days)):
            pk = (today - timedelta(days=back)).strftime("%Y%m%d")
            query = "PartitionKey eq @pk" + (" and state eq @state" if state else "")
            params: dict[str, str] = {"pk": pk}
            if state:
                params["state"] = state.value
            async for entity in table.query_entities(query, parameters=params):
                out.append(SyncEvent.from_entity(entity))
                if len(out) >= limit:
                    return out
        return out

    # ------------------------------------------------------------------ a job's life

    async def begin(self, queue: str, job: BookingSyncJob) -> SyncEvent:
        """The job is being processed (first delivery creates the row, retries count attempts)."""
        now = self.clock()
        pk, rk = event_key(job.kind, f"{job.correlation_id}|{job.hook_id}", job.received_at)
        fresh = SyncEvent(
            pk=pk,
            rk=rk,
            kind=job.kind,
            queue=queue,
            state=SyncEventState.PROCESSING,
            attempts=1,
            correlation_id=job.correlation_id,
            booking_id=job.booking_id,
            node_id=job.node_id,
            space_id=job.space_id,
            created_at=job.received_at,
            updated_at=now,
            message=job.model_dump_json(),
        )
        table = await self._table()
        try:
            meta = await table.create_entity(fresh.to_entity())
            return fresh.model_copy(update={"etag": str(meta["etag"])})
        except ResourceExistsError:
            pass

        def again(event: SyncEvent) -> SyncEvent:
            return event.model_copy(
                update={
                    "state": SyncEventState.PROCESSING,
                    "attempts": event.attempts + 1,
                    "updated_at": now,
                    "finished_at": None,
                }
            )

        changed = await self._change(pk, rk, again)
        return changed if changed is not None else fresh

    async def done(
        self,
        event: SyncEvent,
        *,
        outcome: str,
        ibss_writes: int = 0,
        outlook_writes: int = 0,
        conflicts: int = 0,
        lag_ms: float | None = None,
    ) -> SyncEvent | None:
        now = self.clock()
        return await self._change(
            event.pk,
            event.rk,
            lambda e: e.model_copy(
                update={
                    "state": SyncEventState.DONE,
                    "error": None,
                    "outcome": outcome[:MAX_REASON],
                    "ibss_writes": ibss_writes,
                    "outlook_writes": outlook_writes,
                    "conflicts": conflicts,
                    "lag_ms": lag_ms,
                    "updated_at": now,
                    "finished_at": now,
                }
            ),
            first=event,
        )

    async def failed(self, event: SyncEvent, reason: str) -> SyncEvent | None:
        now = self.clock()
        return await self._change(
            event.pk,
            event.rk,
            lambda e: e.model_copy(
                update={
                    "state": SyncEventState.ERROR,
                    "error": reason[:MAX_REASON],
                    "updated_at": now,
                    "finished_at": now,
                }
            ),
            first=event,
        )

    async def deferred(self, event: SyncEvent, note: str) -> SyncEvent | None:
        """Back in the queue with a delay (throttled): waiting again."""
        now = self.clock()
        return await self._change(
            event.pk,
            event.rk,
            lambda e: e.model_copy(
                update={"state": SyncEventState.NEW, "outcome": note[:MAX_REASON], "updated_at": now}
            ),
            first=event,
        )

    # ------------------------------------------------------------------ admin

    async def reprocess(self, pk: str, rk: str, sender: MessageSender) -> SyncEvent:
        """Enqueue a failed job's original message again and mark its row ``new``.

        The row is claimed first (ETag), so two clicks enqueue the message once; if enqueueing fails the
        row goes back to ``error`` with that reason."""
        current = await self.get(pk, rk)
        if current is None:
            raise NotReprocessable("no such sync event")
        if current.state is not SyncEventState.ERROR:
            raise NotReprocessable(f"only failed items can be re-processed (this one is {current.state})")
        target = REPROCESSABLE.get(current.kind)
        if target is None or not current.message:
            raise NotReprocessable(f"events of kind {current.kind!r} cannot be re-processed")
        queue, model = target
        message = model.model_validate_json(current.message)
        now = self.clock()
        table = await self._table()
        claimed = current.model_copy(
            update={"state": SyncEventState.NEW, "updated_at": now, "reprocessed": current.reprocessed + 1}
        )
        try:
            meta = await table.update_entity(
                claimed.to_entity(),
                mode=UpdateMode.REPLACE,
                etag=current.etag,
                match_condition=MatchConditions.IfNotModified,
            )
        except (ResourceModifiedError, ResourceNotFoundError) as exc:
            raise NotReprocessable("the item changed meanwhile: reload and try again") from exc
        claimed = claimed.model_copy(update={"etag": str(meta["etag"])})
        try:
            await sender.send(queue, message)
        except Exception as exc:
            await self.failed(claimed, f"re-process could not enqueue: {describe_error(exc)}")
            raise
        return claimed

    # ------------------------------------------------------------------ compare-and-swap

    async def _change(
        self,
        pk: str,
        rk: str,
        mutate: Callable[[SyncEvent], SyncEvent],
        first: SyncEvent | None = None,
    ) -> SyncEvent | None:
        table = await self._table()
        current = first if first is not None and first.etag else await self.get(pk, rk)
        for _ in range(_CAS_ATTEMPTS):
            if current is None:
                return None
            changed = mutate(current)
            try:
                meta = await table.update_entity(
                    changed.to_entity(),
                    mode=UpdateMode.REPLACE,
                    etag=current.etag,
                    match_condition=MatchConditions.IfNotModified,
                )
            except ResourceModifiedError:
                current = await self.get(pk, rk)
                continue
            except ResourceNotFoundError:
                return None
            return changed.model_copy(update={"etag": str(meta["etag"])})
        raise ResourceModifiedError(f"sync event {pk}/{rk} kept changing")
