"""Retention on real Azurite: ended links and old bookkeeping rows go, live ones stay."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from shared.config import AppSettings
from shared.state.links import TableLinkStore
from shared.state.retention import Retention
from shared.storage.account import StorageAccount
from shared.storage.names import TableName
from shared.sync import LinkState, Managed, Side, SyncBase
from tests.stack_fixtures import AzuritePool


@pytest.fixture
async def storage(azurite_pool: AzuritePool) -> AsyncIterator[StorageAccount]:
    # An account of its own: the session's dev host runs the same purge on the shared one at 03:30 UTC.
    account = StorageAccount.from_settings(AppSettings(AzureWebJobsStorage=azurite_pool.take()))
    yield account
    await account.close()


def base(end: datetime) -> SyncBase:
    return SyncBase(
        booking_id=f"BK-{uuid.uuid4().hex}",
        ical_uid=f"UID-{uuid.uuid4().hex}",
        room_event_id=f"EV-{uuid.uuid4().hex}",
        origin=Side.IBSS,
        managed=Managed.OWNER_ORGANIZED,
        state=LinkState.COMPLETED,
        node_id=1001,
        space_id="HQ-1-AURORA",
        room_mailbox="aurora@contoso.example",
        start=end - timedelta(hours=1),
        end=end,
        booking_name="Old meeting",
        owner_email="alice@contoso.example",
    )


async def test_ended_links_and_their_keys_are_purged_live_ones_kept(storage: StorageAccount) -> None:
    links = TableLinkStore(storage)
    now = datetime.now(UTC)
    old = await links.create(base(now - timedelta(days=40)), None)
    recent = await links.create(base(now - timedelta(days=2)), None)
    future = await links.create(base(now + timedelta(days=3)), None)
    report = await Retention(storage, links).purge(now, keep_days=30)
    assert report.links >= 1
    assert await links.get(old.link_id) is None
    assert await links.find("booking", old.base.booking_id or "") is None
    keys = await storage.ready_table(TableName.LINK_KEYS)
    assert not [e async for e in keys.query_entities(f"link_id eq '{old.link_id}'")]
    for kept in (recent, future):
        assert (await links.get(kept.link_id)) is not None
        assert (await links.find("booking", kept.base.booking_id or "")) is not None


async def test_old_day_partitions_are_purged(storage: StorageAccount) -> None:
    table = await storage.ready_table(TableName.CONFLICTS)
    now = datetime.now(UTC)
    old_day = (now - timedelta(days=45)).strftime("%Y%m%d")
    today = now.strftime("%Y%m%d")
    marker = uuid.uuid4().hex
    await table.create_entity({"PartitionKey": old_day, "RowKey": marker, "field": "time"})
    await table.create_entity({"PartitionKey": today, "RowKey": marker, "field": "time"})
    await Retention(storage, TableLinkStore(storage)).purge(now, keep_days=30)
    remaining = [e["PartitionKey"] async for e in table.query_entities(f"RowKey eq '{marker}'")]
    assert remaining == [today]
