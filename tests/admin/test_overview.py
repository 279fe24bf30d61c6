"""The overview joins room rows (rooms package) with sync events; the near-expiry count for the gauge."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from shared.admin.service import AdminService
from shared.ibss.hooks import IbssHookType
from shared.ibss.intake import BookingSyncJob
from shared.rooms.models import RoomRow
from shared.rooms.store import RoomStore
from shared.state.sync_events import SyncEventLog
from shared.storage.account import StorageAccount
from shared.storage.names import QueueName
from tests.admin.test_sync_events import Sent


def _job(space_id: str) -> BookingSyncJob:
    return BookingSyncJob(
        booking_id=f"BK-{uuid.uuid4().hex[:8]}",
        node_id=7777,
        space_id=space_id,
        hook_type=IbssHookType.CREATED,
        hook_id=uuid.uuid4().hex,
        received_at=datetime.now(UTC),
        correlation_id=uuid.uuid4().hex,
    )


async def test_overview_shows_expiry_rounds_errors_and_lag(ops_storage: StorageAccount) -> None:
    now = datetime.now(UTC)
    tag = uuid.uuid4().hex[:6]
    soon, later = f"soon-{tag}@rooms.example", f"later-{tag}@rooms.example"
    store = RoomStore(ops_storage)
    for mailbox, space, expires in (
        (soon, f"S-{tag}", now + timedelta(hours=2)),
        (later, f"L-{tag}", now + timedelta(days=3)),
    ):
        await store.create(
            RoomRow(
                mailbox=mailbox,
                user_id=uuid.uuid4().hex,
                display_name=mailbox.split("@")[0],
                node_id=7777,
                building="Ops test building",
                space_id=space,
                subscription_id=uuid.uuid4().hex,
                subscription_expiration=expires,
                last_round_at=now - timedelta(minutes=3),
                last_error="GraphThrottled" if mailbox == soon else None,
            )
        )
    log = SyncEventLog(ops_storage)
    done = await log.begin(QueueName.SYNC_BOOKINGS, _job(f"L-{tag}"))
    await log.done(done, outcome="1 write(s)", outlook_writes=1, lag_ms=850.0)
    failed = await log.begin(QueueName.SYNC_BOOKINGS, _job(f"S-{tag}"))
    await log.failed(failed, "IBSS 500: down")

    admin = AdminService(ops_storage, Sent())
    overview = await admin.overview(days=2)
    rooms = {r.mailbox: r for r in overview.rooms}
    assert rooms[soon].subscription_near_expiry
    assert not rooms[later].subscription_near_expiry
    assert rooms[soon].last_error == "GraphThrottled"
    assert rooms[soon].recent_errors == 1
    assert rooms[later].last_lag_ms == 850.0
    assert rooms[later].recent_errors == 0
    since = rooms[soon].since_last_round_seconds
    assert since is not None
    assert 170 < since < 600
    (building,) = [b for b in overview.buildings if b.node_id == 7777]
    assert (building.rooms, building.subscriptions_near_expiry, building.rooms_with_errors) == (2, 1, 1)
    assert overview.counts.events_by_state["error"] >= 1
    assert await admin.count_subscriptions_near_expiry() >= 1
    mine = [
        e for e in (await admin.sync_events(None, days=2)).items if e.space_id in (f"S-{tag}", f"L-{tag}")
    ]
    assert sorted(e.state.value for e in mine) == ["done", "error"]
