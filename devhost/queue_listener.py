"""Queue triggers: polls Storage with the Functions host's semantics (see host.json extensions.queues).

- receives up to batchSize messages, fetching again when in-flight work drops to newBatchThreshold;
- a message is hidden for 10 minutes while it runs (the host's lock), deleted on success;
- on failure it becomes visible again after visibilityTimeout, until its dequeue count reaches
  maxDequeueCount: then it is moved, as it was, to `<queue>-poison`;
- bodies are base64-decoded unless messageEncoding is "none";
- an idle queue is polled with exponential back-off up to maxPollingInterval.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import os
from typing import Any

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.functions.queue import QueueMessage as FuncQueueMessage
from azure.identity.aio import DefaultAzureCredential
from azure.storage.queue import QueueMessage
from azure.storage.queue.aio import QueueClient, QueueServiceClient

from devhost.config import DevHostConfigError, QueueHostSettings
from devhost.invoke import invoke
from devhost.loader import QueueFunction

log = logging.getLogger("devhost.queue")

HOST_LOCK_SECONDS = 600  # the host keeps a running message invisible for 10 minutes
MIN_POLL_SECONDS = 0.1


def queue_service_for(connection: str) -> QueueServiceClient:
    """Resolve a trigger's `connection` the way the host does: a connection string, or identity settings."""
    value = os.environ.get(connection)
    if value:
        return QueueServiceClient.from_connection_string(value)
    uri = os.environ.get(f"{connection}__queueServiceUri")
    account = os.environ.get(f"{connection}__accountName")
    if not uri and account:
        uri = f"https://{account}.queue.core.windows.net"
    if not uri:
        raise DevHostConfigError(f"connection {connection!r} is not configured")
    credential = DefaultAzureCredential(managed_identity_client_id=os.environ.get(f"{connection}__clientId"))
    return QueueServiceClient(uri, credential=credential)


class QueueListener:
    def __init__(self, fn: QueueFunction, service: QueueServiceClient, settings: QueueHostSettings) -> None:
        self.fn = fn
        self.settings = settings
        self.queue: QueueClient = service.get_queue_client(fn.queue_name)
        self.poison: QueueClient = service.get_queue_client(f"{fn.queue_name}-poison")
        self._in_flight: set[asyncio.Task[None]] = set()
        self._capacity = asyncio.Event()
        self._capacity.set()

    def _decode(self, message: QueueMessage) -> bytes:
        content = message.content
        raw = content if isinstance(content, bytes) else str(content).encode()
        if self.settings.message_encoding == "base64":
            return base64.b64decode(raw, validate=True)
        return raw

    async def _move_to_poison(self, message: QueueMessage) -> None:
        with contextlib.suppress(ResourceExistsError):
            await self.poison.create_queue()
        await self.poison.send_message(message.content)
        await self.queue.delete_message(message)
        log.warning(
            "message moved to poison queue",
            extra={
                "function": self.fn.name,
                "queue": self.fn.queue_name,
                "dequeue_count": message.dequeue_count,
            },
        )

    async def _process(self, message: QueueMessage) -> None:
        try:
            if message.dequeue_count and message.dequeue_count > self.settings.max_dequeue_count:
                await self._move_to_poison(message)
                return
            try:
                body = self._decode(message)
                argument = FuncQueueMessage(  # type: ignore[no-untyped-call]
                    id=message.id,
                    body=body,
                    dequeue_count=message.dequeue_count,
                    expiration_time=message.expires_on,
                    insertion_time=message.inserted_on,
                    time_next_visible=message.next_visible_on,
                    pop_receipt=message.pop_receipt,
                )
                await invoke(self.fn.user_function, self.fn.arg_name, argument)
            except Exception as exc:
                await self._failed(message, exc)
                return
            await self.queue.delete_message(message)
        except Exception:
            log.exception("queue bookkeeping failed", extra={"function": self.fn.name})

    async def _failed(self, message: QueueMessage, exc: BaseException) -> None:
        log.warning(
            "function failed",
            extra={
                "function": self.fn.name,
                "dequeue_count": message.dequeue_count,
                "error": f"{type(exc).__name__}: {exc}"[:500],
            },
        )
        if (message.dequeue_count or 0) >= self.settings.max_dequeue_count:
            await self._move_to_poison(message)
        else:
            await self.queue.update_message(
                message,
                pop_receipt=message.pop_receipt,
                visibility_timeout=int(self.settings.visibility_timeout),
            )

    def _done(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        if len(self._in_flight) <= self.settings.new_batch_threshold:
            self._capacity.set()

    async def run(self, stop: asyncio.Event) -> None:
        delay = MIN_POLL_SECONDS
        while not stop.is_set():
            await self._capacity.wait()
            try:
                batch = [
                    m
                    async for m in self.queue.receive_messages(
                        messages_per_page=self.settings.batch_size,
                        max_messages=self.settings.batch_size,
                        visibility_timeout=HOST_LOCK_SECONDS,
                    )
                ]
            except ResourceNotFoundError:
                batch = []  # the queue does not exist yet: keep polling, as the host does
            except Exception:
                log.exception("receive failed", extra={"queue": self.fn.queue_name})
                batch = []
            if batch:
                delay = MIN_POLL_SECONDS
                for message in batch:
                    task = asyncio.create_task(self._process(message))
                    self._in_flight.add(task)
                    task.add_done_callback(self._done)
                if len(self._in_flight) > self.settings.new_batch_threshold:
                    self._capacity.clear()
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=delay)
            delay = min(delay * 2, self.settings.max_polling_interval)

    async def drain(self) -> None:
        if self._in_flight:
            await asyncio.gather(*self._in_flight, return_exceptions=True)

    async def close(self) -> Any:
        await self.queue.close()
        await self.poison.close()
