"""One place that turns `AzureWebJobsStorage` settings into async queue and table clients.

Locally the value is a connection string (`UseDevelopmentStorage=true` or Azurite with explicit endpoints);
in Azure the app connects by managed identity through `AzureWebJobsStorage__queueServiceUri` and friends.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

from azure.core.exceptions import ResourceExistsError
from azure.data.tables.aio import TableClient, TableServiceClient
from azure.identity.aio import DefaultAzureCredential
from azure.storage.queue import TextBase64EncodePolicy
from azure.storage.queue.aio import QueueClient, QueueServiceClient

from shared.config import AppSettings


class StorageConfigError(ValueError):
    """AzureWebJobsStorage is missing or incomplete."""


@dataclass
class StorageAccount:
    """Lazily created clients, one per queue and table, shared by all invocations on this event loop."""

    queue_service: QueueServiceClient
    table_service: TableServiceClient
    _queues: dict[str, QueueClient] = field(default_factory=dict)
    _tables: dict[str, TableClient] = field(default_factory=dict)
    _ready_queues: set[str] = field(default_factory=set)
    _ready_tables: set[str] = field(default_factory=set)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @classmethod
    def from_settings(cls, settings: AppSettings) -> StorageAccount:
        if settings.storage_connection:
            conn = settings.storage_connection
            return cls(
                queue_service=QueueServiceClient.from_connection_string(conn),
                table_service=TableServiceClient.from_connection_string(conn),
            )
        queue_uri = settings.storage_queue_service_uri
        table_uri = settings.storage_table_service_uri
        if settings.storage_account_name:
            name = settings.storage_account_name
            queue_uri = queue_uri or f"https://{name}.queue.core.windows.net"
            table_uri = table_uri or f"https://{name}.table.core.windows.net"
        if not queue_uri or not table_uri:
            raise StorageConfigError(
                "Set AzureWebJobsStorage (connection string) or AzureWebJobsStorage__queueServiceUri and "
                "AzureWebJobsStorage__tableServiceUri (identity-based)."
            )
        credential = DefaultAzureCredential(managed_identity_client_id=settings.storage_client_id)
        return cls(
            queue_service=QueueServiceClient(queue_uri, credential=credential),
            table_service=TableServiceClient(endpoint=table_uri, credential=credential),
        )

    def queue(self, name: str) -> QueueClient:
        client = self._queues.get(name)
        if client is None:
            # The Functions queue trigger expects base64 bodies by default (host.json messageEncoding).
            client = self.queue_service.get_queue_client(name, message_encode_policy=TextBase64EncodePolicy())
            self._queues[name] = client
        return client

    async def ready_queue(self, name: str) -> QueueClient:
        """The queue client, creating the queue on first use in this process."""
        client = self.queue(name)
        if name not in self._ready_queues:
            with contextlib.suppress(ResourceExistsError):
                await client.create_queue()
            self._ready_queues.add(name)
        return client

    async def ready_table(self, name: str) -> TableClient:
        """The table client, creating the table on first use in this process."""
        client = self._tables.get(name)
        if client is None:
            client = self.table_service.get_table_client(name)
            self._tables[name] = client
        if name not in self._ready_tables:
            async with self._lock:
                if name not in self._ready_tables:
                    with contextlib.suppress(ResourceExistsError):
                        await self.table_service.create_table(name)
                    self._ready_tables.add(name)
        return client

    async def close(self) -> None:
        for q in self._queues.values():
            await q.close()
        for t in self._tables.values():
            await t.close()
        await self.queue_service.close()
        await self.table_service.close()


_accounts: dict[int, StorageAccount] = {}


def storage_for_current_loop(settings: AppSettings) -> StorageAccount:
    """The StorageAccount bound to the running event loop (aiohttp sessions must not cross loops)."""
    loop_id = id(asyncio.get_running_loop())
    account = _accounts.get(loop_id)
    if account is None:
        account = StorageAccount.from_settings(settings)
        _accounts[loop_id] = account
    return account
