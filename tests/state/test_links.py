"""Link store on real Azurite: a new link is claimed by its keys, so two workers cannot both create one."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from azure.core.exceptions import ResourceExistsError

from shared.config import AppSettings
from shared.state.links import TableLinkStore
from shared.storage.account import StorageAccount
from shared.storage.names import TableName
from shared.sync import LinkState, Managed, Side, SyncBase


@pytest.fixture
async def storage(storage_connection: str) -> AsyncIterator[StorageAccount]:
    account = StorageAccount.from_settings(AppSettings(AzureWebJobsStorage=storage_connection))
    yield account
    await account.close()


def base(booking_id: str, *, room: str = "aurora@contoso.example", **update: object) -> SyncBase:
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)
    made = SyncBase(
        booking_id=booking_id,
        ical_uid=f"UID-{booking_id}",
        organizer_event_id=f"ORG-{booking_id}",
        origin=Side.IBSS,
        managed=Managed.OWNER_ORGANIZED,
        state=LinkState.ACTIVE,
        node_id=1001,
        space_id="HQ-1-AURORA",
        room_mailbox=room,
        start=start,
        end=start + timedelta(hours=1),
        booking_name="Planning",
        owner_email="alice@contoso.example",
    )
    return made.model_copy(update=update)


async def _rows(storage: StorageAccount, table: TableName, query: str) -> list[dict[str, object]]:
    client = await storage.ready_table(table)
    return [dict(e) async for e in client.query_entities(query)]


async def test_two_workers_creating_a_link_for_one_booking_one_wins(storage: StorageAccount) -> None:
    links = TableLinkStore(storage)
    booking = f"BK-{uuid.uuid4().hex}"
    results = await asyncio.gather(
        *(links.create(base(booking), None) for _ in range(4)), return_exceptions=True
    )
    won = [r for r in results if not isinstance(r, BaseException)]
    lost = [r for r in results if isinstance(r, BaseException)]
    assert len(won) == 1, results
    assert all(isinstance(r, ResourceExistsError) for r in lost), lost
    found = await links.find("booking", booking)
    assert found is not None
    assert found.link_id == won[0].link_id
    # The losers backed out: no second row for this booking, every key leads to the winner.
    assert len(await _rows(storage, TableName.LINKS, f"booking_id eq '{booking}'")) == 1
    assert (await links.find("ical_uid", f"UID-{booking}", "aurora@contoso.example")) == found


async def test_a_live_link_keeps_its_keys_a_terminal_one_hands_them_over(storage: StorageAccount) -> None:
    links = TableLinkStore(storage)
    booking = f"BK-{uuid.uuid4().hex}"
    first = await links.create(base(booking), None)
    with pytest.raises(ResourceExistsError):
        await links.create(base(booking), None)
    # The room is re-added after the link was cancelled: the new link takes the keys over.
    await links.save(first, base(booking, state=LinkState.CANCELLED, ended_by=Side.IBSS), None)
    second = await links.create(base(booking), None)
    found = await links.find("booking", booking)
    assert found is not None
    assert found.link_id == second.link_id


async def test_one_meeting_with_two_rooms_has_two_links(storage: StorageAccount) -> None:
    links = TableLinkStore(storage)
    shared_uid = f"UID-{uuid.uuid4().hex}"
    organizer_event = f"ORG-{uuid.uuid4().hex}"
    a = await links.create(
        base(f"BK-{uuid.uuid4().hex}", ical_uid=shared_uid, organizer_event_id=organizer_event), None
    )
    b = await links.create(
        base(
            f"BK-{uuid.uuid4().hex}",
            room="borealis@contoso.example",
            ical_uid=shared_uid,
            organizer_event_id=organizer_event,
        ),
        None,
    )
    assert (await links.find("ical_uid", shared_uid, "aurora@contoso.example")) == a
    assert (await links.find("ical_uid", shared_uid, "borealis@contoso.example")) == b
