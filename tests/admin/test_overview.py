"""The overview joins room rows (rooms package) with sync events and the IBSS feed's rows; the counts for the
gauges."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from shared.admin.service import AdminService
from shared.ibss.feed import ChangeDetection, FeedSettings, after_failure, after_success, new_feed
from shared.ibss.hooks import IbssHookType
from shared.ibss.intake import BookingSyncJob
from shared.rooms.models import RoomRow
from shared.rooms.store import RoomStore
from shared.state.ibss_feed import TableFeedStore
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


async def test_the_ibss_feed_of_each_building_is_shown_and_a_stale_one_counted(
    ops_storage: StorageAccount,
) -> None:
    now = datetime.now(UTC)
    settings = FeedSettings(default_mode=ChangeDetection.POLL, poll_seconds=30)
    store = TableFeedStore(ops_storage)
    fresh_node, stale_node, new_node = 880001, 880002, 880003
    fresh = after_success(
        new_feed(fresh_node, now - timedelta(minutes=1), ChangeDetection.POLL, settings),
        started_at=now - timedelta(seconds=20),
        handed_on={"k": int(now.timestamp())},
        pages=1,
        settings=settings,
        mode=ChangeDetection.POLL,
    )
    stale = after_failure(
        new_feed(stale_node, now - timedelta(hours=1), ChangeDetection.POLL, settings),
        now=now - timedelta(seconds=10),
        reason="IBSS 503: down",
        settings=settings,
        mode=ChangeDetection.POLL,
    ).model_copy(update={"failures": 40})
    for state in (fresh, stale, new_feed(new_node, now, ChangeDetection.POLL, settings)):
        await store.create(state)

    admin = AdminService(ops_storage, Sent(), clock=lambda: now)
    overview = await admin.overview()
    feeds = {f.node_id: f for f in overview.ibss_feeds}
    assert feeds[fresh_node].stale is False
    assert feeds[fresh_node].since_last_success_seconds == 20.0
    assert feeds[fresh_node].last_handed_on == 1
    assert feeds[fresh_node].mode == "poll"
    assert feeds[stale_node].stale is True  # seen an hour ago, never a successful poll
    assert (feeds[stale_node].failures, feeds[stale_node].last_error) == (40, "IBSS 503: down")
    assert feeds[stale_node].last_success_at is None
    assert feeds[new_node].stale is False  # its first poll has not come yet
    assert overview.counts.ibss_feeds_stale >= 1
    assert await admin.publish_ibss_feeds_stale() == overview.counts.ibss_feeds_stale
