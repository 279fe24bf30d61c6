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
from enum import StrEnum
from typing import Annotated, Literal, Protocol

from opentelemetry.trace import SpanKind
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from shared import telemetry
from shared.credentials import hook_secret_problem
from shared.ibss import fields
from shared.ibss.errors import IbssHookVerificationError
from shared.ibss.hooks import IbssHookEvent, IbssHookType, verify_hook
from shared.logs import new_correlation_id
from shared.storage.names import QueueName, is_table_key

log = logging.getLogger(__name__)

TOLERANCE_SECONDS = 300  # Standard Webhooks: refuse timestamps more than 5 minutes old or ahead


def _storage_key(value: str) -> str:
    if not is_table_key(value):
        raise ValueError("holds characters a storage key cannot hold")
    return value


class BookingSyncJob(BaseModel):
    """Queue message: reconcile this booking. Ids only."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["ibss.booking"] = "ibss.booking"
    booking_id: str = Field(min_length=1, max_length=256)
    node_id: int = Field(ge=0, le=2**53)
    space_id: str = Field(min_length=1, max_length=256)
    # Part of the series row's key (shared/state/ibss_series.py): characters a storage key refuses are out.
    series_id: Annotated[str, AfterValidator(_storage_key)] | None = Field(default=None, max_length=256)
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


class HookClaim(StrEnum):
    NEW = "new"  # first delivery (or one whose earlier attempt died before enqueueing): go ahead
    REPLAY = "replay"  # its job was enqueued
    IN_FLIGHT = "in_flight"  # another delivery of this id is being enqueued right now


class SeenHookIds(Protocol):
    """The replay guard, in two steps: an id is claimed before its job is sent and marked enqueued after,
    so a delivery that fails (or dies) before its job is safely queued never makes its retry a replay."""

    async def claim(self, hook_id: str) -> HookClaim: ...

    async def enqueued(self, hook_id: str) -> None: ...

    async def release(self, hook_id: str) -> None: ...


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
        # ASCII digits only: int() also takes other scripts' digits, signs, spaces and underscores.
        if not (stamp.isascii() and stamp.isdigit()) or len(stamp) > 12:
            raise HookRejected(400, "BadHeader", "webhook-timestamp must be Unix seconds")
        sent_at = int(stamp)
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

    def _secret(self) -> str:
        """The signing secret, or a 503: misconfiguration is not bad input, and IBSS retries a 5xx."""
        problem = "is not set" if not self.secret else hook_secret_problem(self.secret)
        if problem is None and self.secret:
            return self.secret
        telemetry.hooks_rejected.add(1, {"reason": "SecretRefused"})
        log.error("ibss hook refused: IBSS_HOOK_SECRET %s", problem, extra={"setting": "IBSS_HOOK_SECRET"})
        raise HookRejected(503, "NotConfigured", "the hook intake is not configured")

    async def _accept(self, body: bytes, headers: Mapping[str, str]) -> BookingSyncJob:
        secret = self._secret()
        try:
            hook_id = self._check_headers(headers)
            try:
                event = verify_hook(secret, body, headers)
            except IbssHookVerificationError as exc:
                status, code = (400, "BadBody") if exc.reason == "InvalidBody" else (401, "BadSignature")
                raise HookRejected(status, code, "hook rejected: " + code) from exc
            # Every field is checked before the id is recorded: a hook that can never be processed is a 400,
            # not a 500 whose retry would then be refused as a replay.
            job = self._job(event, hook_id)
            claim = await self.seen.claim(hook_id)
            if claim is HookClaim.REPLAY:
                raise HookRejected(409, "Replay", "this webhook-id was already received")
            if claim is HookClaim.IN_FLIGHT:
                raise HookRejected(503, "InFlight", "this webhook-id is being processed; retry later")
        except HookRejected as rejected:
            telemetry.hooks_rejected.add(1, {"reason": rejected.code})
            log.warning("ibss hook rejected", extra={"reason": rejected.code, "status": rejected.status})
            raise
        try:
            await self.sink.send(QueueName.SYNC_BOOKINGS, job)
        except BaseException:
            # Not enqueued: let the sender's retry through instead of refusing it as a replay.
            await self.seen.release(hook_id)
            raise
        try:
            await self.seen.enqueued(hook_id)
        except Exception:  # the job is queued: the hook is accepted; a retry may at worst queue it again
            log.warning("ibss hook id not marked enqueued", exc_info=True)
        telemetry.hooks_accepted.add(1, {"type": event.type.value})
        return job

    @staticmethod
    def _job(event: IbssHookEvent, hook_id: str) -> BookingSyncJob:
        try:
            return BookingSyncJob(
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
        except ValidationError as exc:
            raise HookRejected(400, "BadBody", "hook rejected: BadBody") from exc


def hook_id_key(hook_id: str) -> tuple[str, str]:
    """(PartitionKey, RowKey) for a hook id: hashed (ids are sender-chosen), spread over 16 partitions."""
    digest = hashlib.sha256(hook_id.encode()).hexdigest()
    return f"ibsshook-{digest[0]}", digest
