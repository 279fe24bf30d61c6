"""Intake of IBSS booking hooks: verify, refuse replays, enqueue one sync job per genuine hook.

The hook body is only a hint; the worker reads the booking from the API.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal, Protocol

from opentelemetry.trace import SpanKind
from pydantic import BaseModel, ConfigDict, Field

from shared import telemetry
from shared.ibss import fields
from shared.ibss.errors import IbssHookVerificationError
from shared.ibss.hooks import IbssHookType, verify_hook
from shared.logs import new_correlation_id
from shared.storage.names import QueueName

log = logging.getLogger(__name__)

TOLERANCE_SECONDS = 300  # Standard Webhooks: refuse timestamps more than 5 minutes old or ahead


class BookingSyncJob(BaseModel):
    """Queue message: reconcile this booking. Ids only."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["ibss.booking"] = "ibss.booking"
    booking_id: str = Field(min_length=1, max_length=256)
    node_id: int
    space_id: str = Field(min_length=1, max_length=256)
    series_id: str | None = None
    hook_type: IbssHookType
    hook_id: str = Field(min_length=1, max_length=256)
    # "hook": IBSS said it changed. "poll": the change feed saw it change (shared/ibss/feed.py). "sweep":
    # the booking and its link disagree (shared/ibss/sweep.py). All three are change hints.
    # "room_reply_check": look again once the room had time to answer an invitation we sent (Exchange's
    # attendant replies asynchronously; a decline leaves no room item).
    reason: Literal["hook", "poll", "sweep", "room_reply_check"] = "hook"
    received_at: datetime
    correlation_id: str = Field(min_length=1, max_length=64)
    # W3C trace context of the intake span: the worker continues the same trace (absent when off).
    traceparent: str | None = Field(default=None, max_length=128)

    @property
    def is_change_hint(self) -> bool:
        """IBSS changed the booking (a hook or the feed), as opposed to a follow-up check of our own."""
        return self.reason != "room_reply_check"


class HookRejected(Exception):
    """A hook that must not be processed; `status` is the HTTP answer."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class SeenHookIds(Protocol):
    async def remember(self, hook_id: str) -> bool:
        """Record the id; False if it was already recorded (a replay)."""
        ...

    async def forget(self, hook_id: str) -> None: ...


class JobSink(Protocol):
    async def send(self, queue: str, message: BaseModel) -> None: ...


@dataclass
class HookIntake:
    secret: str | None
    seen: SeenHookIds
    sink: JobSink
    wall_clock: Callable[[], float] = field(default=time.time)

    def _check_headers(self, headers: Mapping[str, str]) -> str:
        lowered = {k.lower(): v for k, v in headers.items()}
        hook_id = lowered.get(fields.HOOK_ID_HEADER.lower(), "")
        stamp = lowered.get(fields.HOOK_TIMESTAMP_HEADER.lower(), "")
        if not hook_id or not stamp or not lowered.get(fields.HOOK_SIGNATURE_HEADER.lower()):
            raise HookRejected(
                400, "MissingHeaders", "webhook-id, webhook-timestamp and webhook-signature are required"
            )
        if len(hook_id) > 256:
            raise HookRejected(400, "BadHeader", "webhook-id is too long")
        try:
            sent_at = int(stamp)
        except ValueError:
            raise HookRejected(400, "BadHeader", "webhook-timestamp must be Unix seconds") from None
        if abs(self.wall_clock() - sent_at) > TOLERANCE_SECONDS:
            raise HookRejected(401, "StaleTimestamp", "webhook-timestamp is more than 5 minutes old or ahead")
        return hook_id

    async def accept(self, body: bytes, headers: Mapping[str, str]) -> BookingSyncJob:
        with telemetry.tracer.start_as_current_span("ibss hook intake", kind=SpanKind.SERVER) as span:
            try:
                job = await self._accept(body, headers)
            except HookRejected as rejected:
                span.set_attribute("sync.outcome", rejected.code)
                raise
            span.set_attributes({"sync.outcome": "accepted", "ibss.hook_type": job.hook_type.value})
            return job

    async def _accept(self, body: bytes, headers: Mapping[str, str]) -> BookingSyncJob:
        if not self.secret:
            # Misconfiguration, not bad input: a 5xx makes IBSS retry once the secret is set.
            raise RuntimeError("IBSS_HOOK_SECRET is not configured")
        try:
            hook_id = self._check_headers(headers)
            try:
                event = verify_hook(self.secret, body, headers)
            except IbssHookVerificationError as exc:
                status, code = (400, "BadBody") if exc.reason == "InvalidBody" else (401, "BadSignature")
                raise HookRejected(status, code, "hook rejected: " + code) from exc
            if not await self.seen.remember(hook_id):
                raise HookRejected(409, "Replay", "this webhook-id was already received")
        except HookRejected as rejected:
            telemetry.hooks_rejected.add(1, {"reason": rejected.code})
            log.warning("ibss hook rejected", extra={"reason": rejected.code, "status": rejected.status})
            raise
        job = BookingSyncJob(
            booking_id=event.data.booking_id,
            node_id=event.data.node_id,
            space_id=event.data.space_id,
            series_id=event.data.series_id,
            hook_type=event.type,
            hook_id=hook_id,
            received_at=datetime.now(UTC),
            correlation_id=new_correlation_id(),
            traceparent=telemetry.current_traceparent(),
        )
        try:
            await self.sink.send(QueueName.SYNC_BOOKINGS, job)
        except Exception:
            # Not enqueued: let the sender's retry through instead of refusing it as a replay.
            await self.seen.forget(hook_id)
            raise
        telemetry.hooks_accepted.add(1, {"type": event.type.value})
        return job


def hook_id_key(hook_id: str) -> tuple[str, str]:
    """(PartitionKey, RowKey) for a hook id: hashed (ids are sender-chosen), spread over 16 partitions."""
    digest = hashlib.sha256(hook_id.encode()).hexdigest()
    return f"ibsshook-{digest[0]}", digest
