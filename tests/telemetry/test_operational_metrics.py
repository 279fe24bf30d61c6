"""The metrics that are not part of a sync round but that the alerts and the workbook read: poison
messages, failed subscription renewals and subscriptions near expiry, each from the code path that
emits it in production (against Azurite, with the session's in-memory meter provider)."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel

from shared.admin.service import AdminService
from shared.ibss.intake import BookingSyncJob
from shared.messaging import parse_or_dead_letter
from shared.rooms.graph_rooms import GraphRoomsError
from shared.rooms.models import RoomRow
from shared.rooms.ports import CreatedSubscription, DeltaPage, GraphRoom
from shared.rooms.store import RoomStore
from shared.rooms.subscriptions import SubscriptionManager, SubscriptionSettings
from shared.state.subscriptions import TableSubscriptionStore
from shared.storage.account import StorageAccount
from shared.storage.names import QueueName, poison_queue
from shared.storage.queues import StorageQueueSink
from tests.telemetry.conftest import Otel, metric_sum


class FailingGraph:
    """Graph answering every subscription call with a 500 (an outage, not throttling)."""

    async def list_rooms(self) -> list[GraphRoom]:
        return []

    async def delta_page(
        self,
        mailbox: str,
        user_id: str,
        *,
        url: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> DeltaPage:
        return DeltaPage()

    async def create_subscription(
        self,
        mailbox: str,
        user_id: str,
        *,
        notification_url: str,
        lifecycle_url: str,
        client_state: str,
        expiration: datetime,
    ) -> CreatedSubscription:
        raise GraphRoomsError(500, "InternalServerError", "outage")

    async def renew_subscription(self, mailbox: str, subscription_id: str, expiration: datetime) -> datetime:
        raise GraphRoomsError(500, "InternalServerError", "outage")

    async def delete_subscription(self, mailbox: str, subscription_id: str) -> None:
        raise GraphRoomsError(500, "InternalServerError", "outage")


class NoSends:
    async def send(self, queue: str, message: BaseModel, delay_seconds: int | None = None) -> None:
        raise AssertionError("nothing is re-processed here")


async def test_bad_queue_message_counts_as_poison(otel: Otel, storage: StorageAccount) -> None:
    before = otel.points()
    parsed = await parse_or_dead_letter(
        b'{"booking_id": 42}', BookingSyncJob, StorageQueueSink(storage), QueueName.SYNC_BOOKINGS
    )
    assert parsed is None
    after = otel.points()
    attrs = {"queue": QueueName.SYNC_BOOKINGS.value, "reason": "invalid_message"}
    assert metric_sum(after, "poison_messages", **attrs) - metric_sum(before, "poison_messages", **attrs) == 1

    poison = await storage.ready_queue(poison_queue(QueueName.SYNC_BOOKINGS))
    # The account's queue clients encode base64 (host.json messageEncoding); they only encode on send.
    raw = [m.content async for m in poison.receive_messages(max_messages=32)]
    envelopes = [json.loads(base64.b64decode(body)) for body in raw]
    assert any(e["reason"].startswith("invalid BookingSyncJob") for e in envelopes)


async def test_failed_renewal_is_counted_and_the_gauge_shows_the_expiring_subscription(
    otel: Otel, storage: StorageAccount
) -> None:
    now = datetime.now(UTC)
    mailbox = f"expiring-{uuid.uuid4().hex[:8]}@rooms.example"
    rooms = RoomStore(storage)
    await rooms.create(
        RoomRow(
            mailbox=mailbox,
            user_id=uuid.uuid4().hex,
            node_id=4242,
            space_id=f"S-{mailbox[:17]}",
            subscription_id=uuid.uuid4().hex,
            subscription_expiration=now + timedelta(hours=2),
        )
    )
    found = await rooms.get(mailbox)
    assert found is not None
    manager = SubscriptionManager(
        rooms,
        TableSubscriptionStore(storage),
        FailingGraph(),
        SubscriptionSettings(notification_url="https://x/n", lifecycle_url="https://x/l"),
        lambda: now,
    )

    before = otel.points()
    stats = await manager.reconcile([found[0]], enabled=True)
    assert stats.failed == 1
    admin = AdminService(storage, NoSends(), clock=lambda: now)
    count = await admin.publish_subscriptions_near_expiry()
    after = otel.points()

    failed = "subscription_renewal_failed"
    assert metric_sum(after, failed) - metric_sum(before, failed) == 1
    assert count >= 1  # this room; other tests of the package may add their own
    assert after["subscriptions_near_expiry"] == [({}, float(count))]
    # The failure is what the ops page shows for the room.
    overview = await admin.overview()
    (room,) = [r for r in overview.rooms if r.mailbox == mailbox]
    assert room.subscription_near_expiry
    assert room.subscription_error == "InternalServerError"
