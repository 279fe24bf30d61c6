"""Sync event rows: keys, the job's life (processing → done | error), re-process with ETags, reasons."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
from pydantic import BaseModel

from shared.ibss.errors import IbssServerError
from shared.ibss.hooks import IbssHookType
from shared.ibss.intake import BookingSyncJob
from shared.state.sync_events import (
    NotReprocessable,
    SyncEventLog,
    SyncEventState,
    describe_error,
    event_key,
)
from shared.storage.account import StorageAccount
from shared.storage.names import QueueName
from shared.storage.queues import StorageQueueSink
from shared.sync.plan import SyncPlan
from shared.worker.errors import RetryAfter
from shared.worker.jobs import run_booking_job
from shared.worker.reconciler import Reconciler


def job(booking_id: str | None = None, received_at: datetime | None = None) -> BookingSyncJob:
    return BookingSyncJob(
        booking_id=booking_id or f"BK-{uuid.uuid4().hex[:8]}",
        node_id=1001,
        space_id="HQ-1-AURORA",
        hook_type=next(iter(IbssHookType)),
        hook_id=uuid.uuid4().hex,
        received_at=received_at or datetime.now(UTC),
        correlation_id=uuid.uuid4().hex,
    )


@dataclass
class Sent:
    items: list[tuple[str, BaseModel, int | None]] = field(default_factory=list)

    async def send(self, queue: str, message: BaseModel, delay_seconds: int | None = None) -> None:
        self.items.append((queue, message, delay_seconds))


@dataclass
class FakeQueues:
    """What run_booking_job needs of StorageQueueSink: its account, and send (recorded)."""

    account: StorageAccount
    sent: Sent = field(default_factory=Sent)

    async def send(self, queue: str, message: BaseModel, delay_seconds: int | None = None) -> None:
        await self.sent.send(queue, message, delay_seconds)


@dataclass
class FakeReconciler:
    outcome: Any

    async def booking_changed(self, node_id: int, booking_id: str, *, force: bool = False) -> SyncPlan | None:
        if isinstance(self.outcome, BaseException):
            raise self.outcome
        return cast(SyncPlan | None, self.outcome)


def test_keys_are_deterministic_and_newest_first() -> None:
    t0 = datetime(2030, 1, 7, 23, 59, 59, tzinfo=UTC)
    pk, rk = event_key("ibss.booking", "a", t0)
    assert (pk, rk) == event_key("ibss.booking", "a", t0)
    assert pk == "20300107"
    _, later = event_key("ibss.booking", "b", t0 + timedelta(milliseconds=1))
    assert later < rk  # a later job sorts first within its day
    assert event_key("ibss.booking", "a", t0 + timedelta(seconds=1))[0] == "20300108"


def test_reasons_are_short_and_carry_no_urls_or_addresses() -> None:
    exc = IbssServerError(
        "owner alice@contoso.example not found " + "x" * 400,
        status=500,
        reason="InjectedFault",
        method="GET",
        url="https://ibss.example/v2/1/bookings/BK-1?filter=alice%40contoso.example",
    )
    text = describe_error(exc)
    assert text.startswith("IBSS 500 [InjectedFault]: owner <address> not found")
    assert "contoso" not in text
    assert "https://" not in text
    assert len(text) <= 300
    generic = describe_error(RuntimeError("GET https://graph.example/users/bob@contoso.example failed\nboom"))
    assert generic == "RuntimeError: GET <url> failed boom"


async def test_failed_job_is_reprocessed_with_its_exact_message(ops_storage: StorageAccount) -> None:
    log = SyncEventLog(ops_storage)
    j = job()
    event = await log.begin(QueueName.SYNC_BOOKINGS, j)
    assert (event.state, event.attempts, event.booking_id) == (SyncEventState.PROCESSING, 1, j.booking_id)
    failed = await log.failed(event, "IBSS 500: down")
    assert failed is not None
    assert failed.state is SyncEventState.ERROR

    listed = await log.recent(state=SyncEventState.ERROR)
    assert [e.rk for e in listed if e.booking_id == j.booking_id] == [event.rk]

    sent = Sent()
    claimed = await log.reprocess(event.pk, event.rk, sent)
    assert claimed.state is SyncEventState.NEW
    assert claimed.reprocessed == 1
    ((queue, message, _),) = sent.items
    assert queue == QueueName.SYNC_BOOKINGS
    assert message.model_dump_json() == j.model_dump_json()
    with pytest.raises(NotReprocessable):  # a second click: it is no longer failed
        await log.reprocess(event.pk, event.rk, sent)
    assert len(sent.items) == 1

    again = await log.begin(
        QueueName.SYNC_BOOKINGS, BookingSyncJob.model_validate_json(message.model_dump_json())
    )
    assert (again.rk, again.attempts, again.state) == (event.rk, 2, SyncEventState.PROCESSING)
    done = await log.done(again, outcome="1 write(s)", outlook_writes=1, lag_ms=1234.5)
    assert done is not None
    assert done.state is SyncEventState.DONE
    assert done.error is None
    stored = await log.get(event.pk, event.rk)
    assert stored is not None
    assert (stored.state, stored.lag_ms, stored.error) == (
        SyncEventState.DONE,
        1234.5,
        None,
    )


async def test_state_changes_are_compare_and_swap(ops_storage: StorageAccount) -> None:
    log = SyncEventLog(ops_storage)
    event = await log.begin(QueueName.SYNC_BOOKINGS, job())
    moved = await log.failed(event, "first")
    assert moved is not None
    assert moved.etag != event.etag
    # A writer holding the old ETag re-reads and applies its change to the current row.
    done = await log.done(event, outcome="ok")
    assert done is not None
    assert done.state is SyncEventState.DONE
    with pytest.raises(NotReprocessable):
        await log.reprocess(event.pk, event.rk, Sent())
    with pytest.raises(NotReprocessable):
        await log.reprocess(event.pk, "0000000000000-000000000000", Sent())


async def test_booking_job_records_done_error_and_deferred(ops_storage: StorageAccount) -> None:
    log = SyncEventLog(ops_storage)
    queues = FakeQueues(ops_storage)

    ok = job()
    await run_booking_job(ok, cast(Reconciler, FakeReconciler(SyncPlan())), cast(StorageQueueSink, queues))
    row = await log.get(*event_key(ok.kind, f"{ok.correlation_id}|{ok.hook_id}", ok.received_at))
    assert row is not None
    assert (row.state, row.outcome) == (SyncEventState.DONE, "in sync")

    bad = job()
    boom = IbssServerError("IBSS is down", status=500, reason="InjectedFault")
    with pytest.raises(IbssServerError):  # re-raised: the host retries and poisons as before
        await run_booking_job(bad, cast(Reconciler, FakeReconciler(boom)), cast(StorageQueueSink, queues))
    row = await log.get(*event_key(bad.kind, f"{bad.correlation_id}|{bad.hook_id}", bad.received_at))
    assert row is not None
    assert row.state is SyncEventState.ERROR
    assert row.error == "IBSS 500 [InjectedFault]: IBSS is down"

    slow = job()
    await run_booking_job(
        slow, cast(Reconciler, FakeReconciler(RetryAfter(7.2, "429"))), cast(StorageQueueSink, queues)
    )
    row = await log.get(*event_key(slow.kind, f"{slow.correlation_id}|{slow.hook_id}", slow.received_at))
    assert row is not None
    assert (row.state, row.outcome) == (SyncEventState.NEW, "throttled: retry in 8s")
    assert queues.sent.items[-1][1] == slow
    assert queues.sent.items[-1][2] == 8
