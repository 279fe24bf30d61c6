"""Queue adapter: JSON messages, base64-encoded as the Functions queue trigger expects."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import BaseModel

from shared import telemetry
from shared.storage.account import StorageAccount
from shared.storage.names import poison_queue

log = logging.getLogger(__name__)

MAX_VISIBILITY_DELAY_SECONDS = 7 * 24 * 3600


@dataclass
class StorageQueueSink:
    account: StorageAccount

    async def send(self, queue: str, message: BaseModel, delay_seconds: int | None = None) -> None:
        client = await self.account.ready_queue(queue)
        delay = None if delay_seconds is None else max(0, min(delay_seconds, MAX_VISIBILITY_DELAY_SECONDS))
        await client.send_message(message.model_dump_json(), visibility_timeout=delay)

    async def dead_letter(self, queue: str, body: bytes, reason: str) -> None:
        """Move a message that can never succeed (bad input) to `<queue>-poison` with the reason,
        instead of letting the host retry it maxDequeueCount times."""
        client = await self.account.ready_queue(poison_queue(queue))
        envelope = {
            "reason": reason[:2000],
            "failed_at": datetime.now(UTC).isoformat(),
            "message": body.decode("utf-8", errors="replace")[:32000],
        }
        await client.send_message(json.dumps(envelope))
        telemetry.poison_messages.add(1, {"queue": queue, "reason": "invalid_message"})
        log.error("message dead-lettered", extra={"queue": queue, "reason": reason[:500]})
