"""Booking hook delivery (Standard Webhooks) from an asyncio background task.

Each event becomes a :class:`Delivery` with a stable ``webhook-id`` (``msg_<hex>``). Delivery runs as its
own task on the server loop, so requests never wait for it. Non-2xx answers, timeouts and connection
errors are retried with exponential backoff (``backoff_s * 2**n``) up to ``max_attempts``. Each attempt
is signed afresh with the real wall-clock time in ``webhook-timestamp`` (receivers check freshness
against real time); the body's ``timestamp`` is the emulator clock. Deliveries are not ordered.
Hook faults can drop events or delay them. Hooks can be switched off altogether (an IBSS with no hook
endpoint configured: the service's change feed polls instead) or a share of them dropped at random
(seeded, so a run repeats).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from math import floor
from typing import Any, Literal

import httpx
from standardwebhooks.webhooks import Webhook

from shared.ibss import fields
from shared.ibss.hooks import IbssHookData, IbssHookEvent, IbssHookType
from shared.ibss.models import Booking

logger = logging.getLogger(__name__)

DeliveryStatus = Literal["pending", "delivered", "failed", "dropped", "no_target", "off"]


@dataclass
class Delivery:
    msg_id: str
    event: IbssHookEvent
    body: str
    url: str | None
    status: DeliveryStatus = "pending"
    attempts: int = 0
    last_status: int | None = None
    last_error: str | None = None

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.msg_id,
            "type": self.event.type.value,
            "booking_id": self.event.data.booking_id,
            "url": self.url,
            "status": self.status,
            "attempts": self.attempts,
            "last_status": self.last_status,
            "last_error": self.last_error,
            "body": self.body,
        }


@dataclass
class HookFault:
    action: Literal["drop", "delay"]
    times: int | None = 1
    delay_ms: int = 0
    types: set[str] = field(default_factory=set)

    def describe(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "times": self.times,
            "delay_ms": self.delay_ms,
            "types": sorted(self.types),
        }


def _share(value: float) -> float:
    share = float(value)
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"drop_share must be between 0 and 1, got {value}")
    return share


class HookDispatcher:
    def __init__(
        self,
        url: str | None = None,
        secret: str | None = None,
        *,
        max_attempts: int = 5,
        backoff_s: float = 1.0,
        timeout_s: float = 5.0,
        enabled: bool = True,
        drop_share: float = 0.0,
        seed: int = 0,
    ) -> None:
        self._defaults = (url, secret, max_attempts, backoff_s, timeout_s, enabled, drop_share)
        self.url = url
        self.secret = secret
        self.max_attempts = max_attempts
        self.backoff_s = backoff_s
        self.timeout_s = timeout_s
        self.enabled = enabled
        self.drop_share = _share(drop_share)
        self._seed = seed
        self._random = random.Random(seed)
        self.deliveries: list[Delivery] = []
        self.faults: list[HookFault] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._http: httpx.AsyncClient | None = None
        if secret is not None:
            Webhook(secret)  # validate early

    def configure(
        self,
        *,
        url: str | None,
        secret: str | None,
        max_attempts: int | None = None,
        backoff_s: float | None = None,
        timeout_s: float | None = None,
    ) -> None:
        if url and not secret:
            raise ValueError("a hook secret (whsec_<base64>) is required with a hook URL")
        if secret:
            Webhook(secret)
        self.url, self.secret = url, secret
        if max_attempts is not None:
            self.max_attempts = max(1, max_attempts)
        if backoff_s is not None:
            self.backoff_s = max(0.0, backoff_s)
        if timeout_s is not None:
            self.timeout_s = max(0.01, timeout_s)

    def switch(self, *, enabled: bool | None = None, drop_share: float | None = None) -> None:
        """Hooks on or off, and the share dropped at random; the target stays as configured."""
        if drop_share is not None:
            self.drop_share = _share(drop_share)
        if enabled is not None:
            self.enabled = bool(enabled)

    def describe(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "secret_set": bool(self.secret),
            "max_attempts": self.max_attempts,
            "backoff_s": self.backoff_s,
            "timeout_s": self.timeout_s,
            "enabled": self.enabled,
            "drop_share": self.drop_share,
            "pending": sum(1 for d in self.deliveries if d.status == "pending"),
            "faults": [f.describe() for f in self.faults],
        }

    def emit(self, hook_type: IbssHookType, booking: Booking, now: datetime) -> None:
        """Queue an event (called on the server loop, from request handlers and clock ticks)."""
        event = IbssHookEvent(
            type=hook_type,
            timestamp=now,
            data=IbssHookData(
                booking_id=booking.id,
                node_id=booking.node_id,
                space_id=booking.space_id,
                series_id=booking.series_id,
            ),
        )
        delivery = Delivery(msg_id=f"msg_{uuid.uuid4().hex}", event=event, body=event.to_json(), url=self.url)
        self.deliveries.append(delivery)
        if not self.enabled:
            delivery.status = "off"
            return
        if not self.url or not self.secret:
            delivery.status = "no_target"
            return
        fault = self._take_fault(hook_type)
        if (fault is not None and fault.action == "drop") or (
            self.drop_share and self._random.random() < self.drop_share
        ):
            delivery.status = "dropped"
            return
        delay = fault.delay_ms / 1000 if fault is not None else 0.0
        task = asyncio.get_running_loop().create_task(self._deliver(delivery, self.secret, delay))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _take_fault(self, hook_type: IbssHookType) -> HookFault | None:
        for fault in self.faults:
            if fault.types and hook_type.value not in fault.types:
                continue
            if fault.times is not None:
                fault.times -= 1
                if fault.times <= 0:
                    self.faults.remove(fault)
            return fault
        return None

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(follow_redirects=False)
        return self._http

    async def _deliver(self, d: Delivery, secret: str, delay: float) -> None:
        if delay > 0:
            await asyncio.sleep(delay)
        assert d.url is not None
        signer = Webhook(secret)
        for attempt in range(self.max_attempts):
            d.attempts = attempt + 1
            sent_at = datetime.now(tz=UTC)  # real wall-clock time, never the emulator clock
            headers = {
                fields.HOOK_ID_HEADER: d.msg_id,
                fields.HOOK_TIMESTAMP_HEADER: str(floor(sent_at.timestamp())),
                fields.HOOK_SIGNATURE_HEADER: signer.sign(d.msg_id, sent_at, d.body),
                "content-type": "application/json",
            }
            try:
                resp = await self._client().post(
                    d.url, content=d.body.encode(), headers=headers, timeout=self.timeout_s
                )
            except httpx.HTTPError as exc:
                d.last_status, d.last_error = None, type(exc).__name__
            else:
                d.last_status, d.last_error = resp.status_code, None
                if 200 <= resp.status_code < 300:
                    d.status = "delivered"
                    return
            if attempt + 1 < self.max_attempts:
                await asyncio.sleep(self.backoff_s * (2**attempt))
        d.status = "failed"
        logger.warning("hook %s (%s) failed after %d attempts", d.msg_id, d.event.type, d.attempts)

    async def reset(self) -> None:
        """Cancel pending deliveries, forget history and faults, restore the configured target."""
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        self.deliveries.clear()
        self.faults.clear()
        url, secret, max_attempts, backoff_s, timeout_s, enabled, drop_share = self._defaults
        self.url, self.secret = url, secret
        self.max_attempts, self.backoff_s, self.timeout_s = max_attempts, backoff_s, timeout_s
        self.enabled, self.drop_share = enabled, _share(drop_share)
        self._random = random.Random(self._seed)

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._http is not None:
            await self._http.aclose()
            self._http = None
