"""Graph subscription rows: one per synced room mailbox. The clientState lives only here and in Graph."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceNotFoundError
from pydantic import BaseModel, Field

from shared.storage.account import StorageAccount
from shared.storage.names import TableName, is_table_key

_ROW = "subscription"


class RoomSubscription(BaseModel):
    subscription_id: str = Field(min_length=1, max_length=128)
    room_mailbox: str
    resource: str
    client_state: str = Field(repr=False, min_length=16, max_length=128)
    expiration: datetime
    created_at: datetime
    renewed_at: datetime | None = None
    last_error: str | None = None

    def to_entity(self) -> dict[str, Any]:
        data = self.model_dump(mode="json", exclude={"subscription_id"})
        return {"PartitionKey": self.subscription_id, "RowKey": _ROW, **data}

    @classmethod
    def from_entity(cls, entity: dict[str, Any]) -> RoomSubscription:
        fields = {k: v for k, v in entity.items() if k in cls.model_fields}
        return cls(subscription_id=entity["PartitionKey"], **fields)


@dataclass
class TableSubscriptionStore:
    """Partitioned by subscription id, so lookups from the intake spread over partitions at 10,000 rooms."""

    account: StorageAccount

    async def get(self, subscription_id: str) -> tuple[RoomSubscription, str] | None:
        if not is_table_key(subscription_id):
            return None  # no subscription of ours has such an id (a notification's, say): no storage call
        table = await self.account.ready_table(TableName.SUBSCRIPTIONS)
        try:
            entity = await table.get_entity(partition_key=subscription_id, row_key=_ROW)
        except ResourceNotFoundError:
            return None
        return RoomSubscription.from_entity(dict(entity)), str(entity.metadata["etag"])

    async def client_state(self, subscription_id: str) -> str | None:
        found = await self.get(subscription_id)
        return found[0].client_state if found else None

    async def all_client_states(self) -> dict[str, str]:
        """Every subscription's clientState by id: one query (a page per 1,000 rooms), two columns."""
        table = await self.account.ready_table(TableName.SUBSCRIPTIONS)
        return {
            str(e["PartitionKey"]): str(e["client_state"])
            async for e in table.query_entities(
                f"RowKey eq '{_ROW}'", select=["PartitionKey", "client_state"]
            )
            if e.get("client_state")
        }

    async def create(self, subscription: RoomSubscription) -> str:
        table = await self.account.ready_table(TableName.SUBSCRIPTIONS)
        meta = await table.create_entity(subscription.to_entity())
        return str(meta["etag"])

    async def replace(self, subscription: RoomSubscription, etag: str) -> str:
        """Replace the row if nobody changed it since `etag` (raises ResourceModifiedError otherwise)."""
        table = await self.account.ready_table(TableName.SUBSCRIPTIONS)
        meta = await table.update_entity(
            subscription.to_entity(), etag=etag, match_condition=MatchConditions.IfNotModified
        )
        return str(meta["etag"])

    async def delete(self, subscription_id: str) -> None:
        table = await self.account.ready_table(TableName.SUBSCRIPTIONS)
        await table.delete_entity(partition_key=subscription_id, row_key=_ROW)

    async def list_all(self) -> list[RoomSubscription]:
        table = await self.account.ready_table(TableName.SUBSCRIPTIONS)
        return [RoomSubscription.from_entity(dict(e)) async for e in table.list_entities()]
