"""Owners whose address looks internal but has no Exchange mailbox (a kiosk's, a service account's, a
booking made in IBSS Unity or Inspire): creating their meeting in that calendar got 404 ErrorInvalidUser.

Remembered per address so the next booking of that owner is organized by the room at once, without a
failed call first; the ops page lists them. A row older than ``FORGET_AFTER`` is ignored, so a mailbox
created later is used again.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from azure.core.exceptions import ResourceNotFoundError

from shared.storage.account import StorageAccount
from shared.storage.names import TableName

_PARTITION = "owner"
FORGET_AFTER = timedelta(days=30)


@dataclass(frozen=True)
class MailboxlessOwner:
    address: str
    first_seen: datetime
    last_seen: datetime


def _key(address: str) -> str:
    return hashlib.sha256(address.lower().encode()).hexdigest()[:40]


@dataclass
class TableMailboxlessOwners:
    account: StorageAccount

    async def remember(self, address: str, now: datetime) -> None:
        table = await self.account.ready_table(TableName.MAILBOXLESS)
        key = _key(address)
        try:
            first = datetime.fromisoformat(str((await table.get_entity(_PARTITION, key))["first_seen"]))
        except ResourceNotFoundError:
            first = now
        await table.upsert_entity(
            {
                "PartitionKey": _PARTITION,
                "RowKey": key,
                "address": address.lower(),
                "first_seen": first.isoformat(),
                "last_seen": now.isoformat(),
            }
        )

    async def list_all(self, now: datetime) -> list[MailboxlessOwner]:
        table = await self.account.ready_table(TableName.MAILBOXLESS)
        found = [
            MailboxlessOwner(
                address=str(row["address"]),
                first_seen=datetime.fromisoformat(str(row["first_seen"])),
                last_seen=datetime.fromisoformat(str(row["last_seen"])),
            )
            async for row in table.query_entities(f"PartitionKey eq '{_PARTITION}'")
        ]
        return sorted((o for o in found if now - o.last_seen < FORGET_AFTER), key=lambda o: o.address)
