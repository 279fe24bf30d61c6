"""Storage reads of the notification intake are bounded per batch (issue F4), counted as real HTTP requests
to Azurite, while subscriptions created a moment ago are still recognised on their first notification."""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from azure.core.pipeline import PipelineRequest
from azure.data.tables.aio import TableServiceClient
from azure.storage.queue.aio import QueueServiceClient
from pydantic import BaseModel

from shared.graph.notifications import CachedClientStates, IntakeResult, NotificationIntake
from shared.state.subscriptions import RoomSubscription, TableSubscriptionStore
from shared.storage.account import StorageAccount


@dataclass
class Requests:
    count: int = 0

    def hook(self, request: PipelineRequest[Any]) -> None:
        self.count += 1


class _Sink:
    def __init__(self) -> None:
        self.sent: list[BaseModel] = []

    async def send(self, queue: str, message: BaseModel) -> None:
        self.sent.append(message)


@dataclass
class Clock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Stack:
    account: StorageAccount
    requests: Requests
    store: TableSubscriptionStore
    clock: Clock
    sink: _Sink = field(default_factory=_Sink)

    def __post_init__(self) -> None:
        self.intake = NotificationIntake(
            secrets=CachedClientStates(self.store, clock=self.clock), sink=self.sink
        )

    async def subscribe(self) -> RoomSubscription:
        now = datetime.now(UTC)
        sub = RoomSubscription(
            subscription_id=str(uuid.uuid4()),
            room_mailbox=f"room-{uuid.uuid4().hex[:8]}@contoso.example",
            resource="users/x/events",
            client_state=secrets.token_urlsafe(24),
            expiration=now + timedelta(days=3),
            created_at=now,
        )
        await self.store.create(sub)
        return sub

    async def post(self, items: list[dict[str, Any]]) -> tuple[IntakeResult, int]:
        before = self.requests.count
        result = await self.intake.accept_changes(_body(items))
        return result, self.requests.count - before


def _item(subscription_id: str, client_state: str) -> dict[str, Any]:
    return {
        "subscriptionId": subscription_id,
        "clientState": client_state,
        "changeType": "updated",
        "resource": f"Users/room/Events/{uuid.uuid4().hex}",
    }


def _body(items: list[dict[str, Any]]) -> bytes:
    return json.dumps({"value": items}).encode()


def _made_up(n: int) -> list[dict[str, Any]]:
    return [_item(str(uuid.uuid4()), "guessed-client-state") for _ in range(n)]


@pytest.fixture
async def stack(storage_connection: str) -> AsyncIterator[Stack]:
    requests = Requests()
    account = StorageAccount(
        queue_service=QueueServiceClient.from_connection_string(storage_connection),
        table_service=TableServiceClient.from_connection_string(
            storage_connection, raw_request_hook=requests.hook
        ),
    )
    store = TableSubscriptionStore(account)
    await store.list_all()  # the table exists before counting starts (created once per process)
    yield Stack(account, requests, store, Clock())
    await account.close()


async def test_a_batch_of_1000_made_up_ids_costs_a_handful_of_reads_and_so_does_its_replay(
    stack: Stack,
) -> None:
    await stack.subscribe()
    attack = _made_up(1000)
    first, reads = await stack.post(attack)
    assert first.accepted == 0
    assert reads <= 5, reads  # one query of the whole (small) table
    again, reads_again = await stack.post(attack)
    assert again.accepted == 0
    assert reads_again <= 4, reads_again  # the table was just read: point reads only, within the budget
    stack.clock.now += 60
    _, later = await stack.post(_made_up(1000))
    assert later <= 5, later
    assert stack.sink.sent == []


async def test_a_subscription_created_a_moment_ago_is_recognised_on_its_first_notification(
    stack: Stack,
) -> None:
    old = await stack.subscribe()
    await stack.post([_item(old.subscription_id, old.client_state)])
    await stack.post(_made_up(1000))  # the cache is warm and the table was just read
    new = await stack.subscribe()
    result, reads = await stack.post([_item(new.subscription_id, new.client_state)])
    assert (result.accepted, reads) == (1, 1)
    # And with the whole table read again in the same moment: still recognised.
    newer = [await stack.subscribe() for _ in range(3)]
    result, _ = await stack.post([_item(s.subscription_id, s.client_state) for s in newer])
    assert result.accepted == 3


async def test_a_cold_start_batch_of_many_rooms_is_recognised_with_one_query(stack: Stack) -> None:
    rooms = [await stack.subscribe() for _ in range(30)]
    result, reads = await stack.post([_item(s.subscription_id, s.client_state) for s in rooms])
    assert result.accepted == 30
    assert reads <= 2, reads  # one query (a page per 1,000 subscriptions), not 30 point reads
    _, cached = await stack.post([_item(s.subscription_id, s.client_state) for s in rooms])
    assert cached == 0


async def test_ids_over_the_budget_are_counted_as_unchecked_not_silently_unknown(stack: Stack) -> None:
    await stack.post(_made_up(10))  # reads the table now: the next large batch may not read it again
    result, reads = await stack.post(_made_up(10))
    assert reads == 4
    assert result.rejected == {"unchecked_subscription": 6, "unknown_subscription": 4}
