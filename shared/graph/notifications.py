"""Microsoft Graph change and lifecycle notifications: wire models, validation and the intake service.

The intake validates and enqueues; it decides nothing. Workers fetch current state later (notifications
are hints: they can be dropped, duplicated and reordered).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import re
import time
from collections import Counter
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal, Protocol

from opentelemetry.trace import SpanKind
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared import telemetry
from shared.logs import new_correlation_id
from shared.storage.names import QueueName

log = logging.getLogger(__name__)

MAX_VALIDATION_TOKEN_BYTES = 1024
MAX_BATCH_ITEMS = 1000
MAX_BODY_BYTES = 1024 * 1024
_TOKEN_FORBIDDEN = set("<>\"'&`\\")


def safe_validation_token(token: str) -> str | None:
    """The token to echo, or None when it must not be reflected.

    Graph never sends markup in tokens, so anything that could be markup, break a header or a log line,
    or is oversized is refused instead of escaped (escaping would alter a legitimate token).
    """
    if not token or len(token.encode("utf-8")) > MAX_VALIDATION_TOKEN_BYTES:
        return None
    if any(ch < " " or ch > "~" or ch in _TOKEN_FORBIDDEN for ch in token):
        return None
    return token


class ResourceData(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    odata_type: str | None = Field(default=None, alias="@odata.type", max_length=256)
    odata_id: str | None = Field(default=None, alias="@odata.id", max_length=2048)
    odata_etag: str | None = Field(default=None, alias="@odata.etag", max_length=512)
    id: str | None = Field(default=None, max_length=1024)


class ChangeType(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    DELETED = "deleted"


class LifecycleEvent(StrEnum):
    REAUTHORIZATION_REQUIRED = "reauthorizationRequired"
    SUBSCRIPTION_REMOVED = "subscriptionRemoved"
    MISSED = "missed"


class _GraphItem(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    subscription_id: str = Field(alias="subscriptionId", min_length=1, max_length=128)
    subscription_expiration: datetime | None = Field(default=None, alias="subscriptionExpirationDateTime")
    client_state: str | None = Field(default=None, alias="clientState", max_length=256)
    tenant_id: str | None = Field(default=None, alias="tenantId", max_length=128)


class ChangeNotification(_GraphItem):
    change_type: ChangeType = Field(alias="changeType")
    resource: str = Field(min_length=1, max_length=2048)
    resource_data: ResourceData | None = Field(default=None, alias="resourceData")


class LifecycleNotification(_GraphItem):
    lifecycle_event: LifecycleEvent = Field(alias="lifecycleEvent")


_RESOURCE_PATTERNS = (
    re.compile(r"^/?users/(?P<user>[^/]+)/(?:calendar/)?events/(?P<event>[^/]+)$", re.IGNORECASE),
    re.compile(r"^/?users\('(?P<user>[^']+)'\)/(?:calendar/)?events\('(?P<event>[^']+)'\)$", re.IGNORECASE),
)


def parse_event_resource(resource: str) -> tuple[str, str] | None:
    """(user id, event id) from `Users/{id}/Events/{id}` or `Users('{id}')/Events('{id}')`."""
    for pattern in _RESOURCE_PATTERNS:
        m = pattern.match(resource)
        if m:
            return m.group("user"), m.group("event")
    return None


class GraphChangeMessage(BaseModel):
    """Queue message for one accepted change notification. Carries ids only, never the clientState."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["graph.change"] = "graph.change"
    subscription_id: str = Field(min_length=1, max_length=128)
    change_type: ChangeType
    user_id: str = Field(min_length=1, max_length=256)
    event_id: str = Field(min_length=1, max_length=1024)
    etag: str | None = Field(default=None, max_length=512)
    tenant_id: str | None = None
    received_at: datetime
    correlation_id: str = Field(min_length=1, max_length=64)
    traceparent: str | None = Field(default=None, max_length=128)  # W3C context of the intake span


class GraphLifecycleMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["graph.lifecycle"] = "graph.lifecycle"
    subscription_id: str = Field(min_length=1, max_length=128)
    lifecycle_event: LifecycleEvent
    tenant_id: str | None = None
    received_at: datetime
    correlation_id: str = Field(min_length=1, max_length=64)
    traceparent: str | None = Field(default=None, max_length=128)  # W3C context of the intake span


class MalformedNotification(ValueError):
    """The request body is not a notification collection at all (answered with 400)."""


@dataclass(frozen=True)
class KnownClientStates:
    """What a lookup found for a batch's subscription ids: the clientStates of the known ones, and the ids
    it did not look up (over its read budget for one batch). Ids in neither are unknown subscriptions."""

    known: dict[str, str]
    unchecked: frozenset[str] = frozenset()


class ClientStateLookup(Protocol):
    async def client_states(self, subscription_ids: Collection[str]) -> KnownClientStates: ...


class ClientStateDirectory(Protocol):
    """Where the clientStates live (the subscriptions table)."""

    async def client_state(self, subscription_id: str) -> str | None:
        """The clientState stored for this subscription, or None if the subscription is unknown."""
        ...

    async def all_client_states(self) -> dict[str, str]:
        """Every subscription's clientState, by subscription id (one query)."""
        ...


class MessageSink(Protocol):
    async def send(self, queue: str, message: BaseModel) -> None: ...


@dataclass(frozen=True)
class IntakeResult:
    accepted: int
    rejected: dict[str, int]

    def summary(self) -> dict[str, Any]:
        return {"accepted": self.accepted, "rejected": sum(self.rejected.values())}


def _parse_collection(body: bytes) -> list[Any]:
    if len(body) > MAX_BODY_BYTES:
        raise MalformedNotification(f"body larger than {MAX_BODY_BYTES} bytes")
    try:
        doc = json.loads(body)
    # ValueError covers JSONDecodeError, UnicodeDecodeError and an integer past Python's digit limit.
    except (ValueError, RecursionError) as exc:
        raise MalformedNotification("body is not valid JSON") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("value"), list):
        raise MalformedNotification("body must be a JSON object with a 'value' array")
    items: list[Any] = doc["value"]
    if len(items) > MAX_BATCH_ITEMS:
        raise MalformedNotification(f"more than {MAX_BATCH_ITEMS} notifications in one batch")
    return items


@dataclass
class NotificationIntake:
    """Validates Graph notification batches item by item and enqueues the genuine ones."""

    secrets: ClientStateLookup
    sink: MessageSink
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    @staticmethod
    def _genuine(item: _GraphItem, states: KnownClientStates, reasons: Counter[str]) -> bool:
        expected = states.known.get(item.subscription_id)
        if expected is None:
            unchecked = item.subscription_id in states.unchecked
            reasons["unchecked_subscription" if unchecked else "unknown_subscription"] += 1
            return False
        if item.client_state is None:
            reasons["missing_client_state"] += 1
            return False
        # Constant-time: clientState is the only proof that Graph sent this.
        if not hmac.compare_digest(item.client_state.encode(), expected.encode()):
            reasons["client_state_mismatch"] += 1
            return False
        return True

    async def accept_changes(self, body: bytes) -> IntakeResult:
        with telemetry.tracer.start_as_current_span(
            "graph notification intake", kind=SpanKind.SERVER
        ) as span:
            result = await self._accept_changes(body)
            span.set_attributes(
                {"sync.accepted": result.accepted, "sync.rejected": sum(result.rejected.values())}
            )
            return result

    async def _accept_changes(self, body: bytes) -> IntakeResult:
        items = _parse_collection(body)
        reasons: Counter[str] = Counter()
        messages: list[GraphChangeMessage] = []
        now = self.clock()
        candidates: list[tuple[ChangeNotification, tuple[str, str]]] = []
        for raw in items:
            try:
                item = ChangeNotification.model_validate(raw)
            except ValidationError:
                reasons["malformed_item"] += 1
                continue
            target = parse_event_resource(item.resource)
            if target is None:
                reasons["unsupported_resource"] += 1
                continue
            candidates.append((item, target))
        states = await self.secrets.client_states({item.subscription_id for item, _ in candidates})
        for item, (user_id, event_id) in candidates:
            if not self._genuine(item, states, reasons):
                continue
            etag = item.resource_data.odata_etag if item.resource_data else None
            messages.append(
                GraphChangeMessage(
                    subscription_id=item.subscription_id,
                    change_type=item.change_type,
                    user_id=user_id,
                    event_id=event_id,
                    etag=etag,
                    tenant_id=item.tenant_id,
                    received_at=now,
                    correlation_id=new_correlation_id(),
                    traceparent=telemetry.current_traceparent(),
                )
            )
        await asyncio.gather(*(self.sink.send(QueueName.GRAPH_NOTIFICATIONS, m) for m in messages))
        return self._report("change", len(messages), reasons)

    async def accept_lifecycle(self, body: bytes) -> IntakeResult:
        with telemetry.tracer.start_as_current_span("graph lifecycle intake", kind=SpanKind.SERVER) as span:
            result = await self._accept_lifecycle(body)
            span.set_attributes(
                {"sync.accepted": result.accepted, "sync.rejected": sum(result.rejected.values())}
            )
            return result

    async def _accept_lifecycle(self, body: bytes) -> IntakeResult:
        items = _parse_collection(body)
        reasons: Counter[str] = Counter()
        messages: list[GraphLifecycleMessage] = []
        now = self.clock()
        candidates: list[LifecycleNotification] = []
        for raw in items:
            try:
                candidates.append(LifecycleNotification.model_validate(raw))
            except ValidationError:
                reasons["malformed_item"] += 1
        states = await self.secrets.client_states({item.subscription_id for item in candidates})
        for item in candidates:
            if not self._genuine(item, states, reasons):
                continue
            messages.append(
                GraphLifecycleMessage(
                    subscription_id=item.subscription_id,
                    lifecycle_event=item.lifecycle_event,
                    tenant_id=item.tenant_id,
                    received_at=now,
                    correlation_id=new_correlation_id(),
                    traceparent=telemetry.current_traceparent(),
                )
            )
        await asyncio.gather(*(self.sink.send(QueueName.GRAPH_LIFECYCLE, m) for m in messages))
        return self._report("lifecycle", len(messages), reasons)

    @staticmethod
    def _report(kind: str, accepted: int, reasons: Counter[str]) -> IntakeResult:
        if accepted:
            telemetry.notifications_accepted.add(accepted, {"kind": kind})
        for reason, count in reasons.items():
            telemetry.notifications_rejected.add(count, {"kind": kind, "reason": reason})
        if reasons:
            # Counts and reasons only: never the clientState or the resource.
            log.warning("notifications rejected", extra={"kind": kind, "rejected": dict(reasons)})
        return IntakeResult(accepted=accepted, rejected=dict(reasons))


@dataclass
class CachedClientStates:
    """The clientStates the intake checks against, with a bounded number of storage reads per batch.

    Known ids are cached for ``ttl_seconds``. Ids not in the cache are read one by one up to
    ``point_reads`` per batch, so a subscription created a moment ago is recognised on its first
    notification. More of them (a cold start, or a batch of made-up ids) reload the whole table in one
    query instead, at most once per ``reload_seconds``; beyond that a batch's remaining ids are left
    unchecked (dropped and counted: the delta catch-up is the safety net). Unknown ids are never cached,
    so a batch of 1,000 made-up ids costs a handful of reads however often it is sent.
    """

    inner: ClientStateDirectory
    ttl_seconds: float = 300.0
    point_reads: int = 4
    reload_seconds: float = 10.0
    clock: Callable[[], float] = time.monotonic
    _cache: dict[str, tuple[float, str]] = field(default_factory=dict)
    _reloaded_at: float | None = None

    async def client_states(self, subscription_ids: Collection[str]) -> KnownClientStates:
        now = self.clock()
        known: dict[str, str] = {}
        missing: list[str] = []
        for subscription_id in sorted(subscription_ids):
            hit = self._cache.get(subscription_id)
            if hit is not None and now - hit[0] < self.ttl_seconds:
                known[subscription_id] = hit[1]
            else:
                missing.append(subscription_id)
        if len(missing) > self.point_reads and self._may_reload(now):
            self._reloaded_at = now
            table = await self.inner.all_client_states()
            self._cache = {sid: (now, state) for sid, state in table.items()}
            known |= {sid: table[sid] for sid in missing if sid in table}
            return KnownClientStates(known)
        looked_up, unchecked = missing[: self.point_reads], missing[self.point_reads :]
        values = await asyncio.gather(*(self.inner.client_state(sid) for sid in looked_up))
        for subscription_id, value in zip(looked_up, values, strict=True):
            if value is None:
                self._cache.pop(subscription_id, None)
            else:
                self._cache[subscription_id] = (now, value)
                known[subscription_id] = value
        return KnownClientStates(known, frozenset(unchecked))

    def _may_reload(self, now: float) -> bool:
        return self._reloaded_at is None or now - self._reloaded_at >= self.reload_seconds
