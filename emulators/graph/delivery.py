"""Asynchronous webhook delivery: batching, retries with backoff, fault injection, a log."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field

from emulators.graph.state import EmulatorState
from emulators.graph.timezones import format_utc_z


class DeliveryFault(BaseModel):
    """drop | delay | duplicate | reorder, for the next ``count`` notification items."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    kind: str
    count: int = 1
    seconds: float = 0.0
    subscription_id: str | None = Field(None, alias="subscriptionId")


@dataclass
class _Pending:
    url: str
    item: dict[str, Any]


@dataclass
class Delivery:
    state: EmulatorState
    faults: list[DeliveryFault] = field(default_factory=list)
    log: list[dict[str, Any]] = field(default_factory=list)
    _pending: list[_Pending] = field(default_factory=list)
    _held: list[_Pending] = field(default_factory=list)
    _wake: asyncio.Event | None = None
    _task: asyncio.Task[None] | None = None
    _client: httpx.AsyncClient | None = None
    _inflight: set[asyncio.Task[None]] = field(default_factory=set)
    _timers: set[asyncio.TimerHandle] = field(default_factory=set)

    async def start(self) -> None:
        self._wake = asyncio.Event()
        self._client = httpx.AsyncClient(verify=False)  # noqa: S501 - local receivers use self-signed certs
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for t in list(self._inflight):
            t.cancel()
        if self._client is not None:
            await self._client.aclose()

    def clear(self) -> None:
        """Forget everything, also sends still retrying and notifications a delay fault holds: after a
        reset nothing of the previous tenant reaches a receiver or the log."""
        for task in list(self._inflight):
            task.cancel()
        self._inflight.clear()
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        self.faults.clear()
        self.log.clear()
        self._pending.clear()
        self._held.clear()

    def clear_faults(self) -> None:
        """Remove the faults; notifications a reorder fault was holding go out now (reversed), as the
        fault promised: clearing faults never silently drops what was only to be reordered."""
        self.faults.clear()
        for p in reversed(self._held):
            self._push_one(p)
        if self._held:
            self._held.clear()
            self._kick()

    @property
    def client(self) -> httpx.AsyncClient:
        assert self._client is not None
        return self._client

    def _fault_for(self, item: dict[str, Any]) -> DeliveryFault | None:
        for f in self.faults:
            if f.count > 0 and (f.subscription_id is None or f.subscription_id == item.get("subscriptionId")):
                return f
        return None

    def enqueue(self, url: str, item: dict[str, Any]) -> None:
        fault = self._fault_for(item)
        if fault is not None and fault.kind != "reorder":
            fault.count -= 1
            if fault.count <= 0:
                self.faults.remove(fault)
            if fault.kind == "drop":
                self._log(url, [item], None, 0, "dropped-by-fault")
                return
            if fault.kind == "duplicate":
                self._pending.append(_Pending(url, dict(item)))
            elif fault.kind == "delay":
                self._push_later(fault.seconds, _Pending(url, item))
                return
        if fault is not None and fault.kind == "reorder":
            self._held.append(_Pending(url, item))
            if len(self._held) >= fault.count:
                self.faults.remove(fault)
                for p in reversed(self._held):
                    self._push_one(p)
                self._held.clear()
                self._kick()
            return
        self._push(_Pending(url, item))

    def _push_later(self, seconds: float, p: _Pending) -> None:
        def due() -> None:
            self._timers.discard(timer)
            self._push(p)

        timer = asyncio.get_running_loop().call_later(seconds, due)
        self._timers.add(timer)

    def _push_one(self, p: _Pending) -> None:
        self._pending.append(p)

    def _push(self, p: _Pending) -> None:
        self._pending.append(p)
        self._kick()

    def _kick(self) -> None:
        if self._wake is not None:
            self._wake.set()

    async def _run(self) -> None:
        assert self._wake is not None
        while True:
            await self._wake.wait()
            self._wake.clear()
            await asyncio.sleep(self.state.config.delivery_batch_window_seconds)
            batches: dict[str, list[dict[str, Any]]] = defaultdict(list)
            for p in self._pending:
                batches[p.url].append(p.item)
            self._pending.clear()
            for url, items in batches.items():
                task = asyncio.create_task(self._send(url, items))
                self._inflight.add(task)
                task.add_done_callback(self._inflight.discard)

    def _log(
        self, url: str, items: list[dict[str, Any]], status: int | None, attempt: int, outcome: str
    ) -> None:
        self.log.append(
            {
                "at": format_utc_z(self.state.now()),
                "url": url,
                "status": status,
                "attempt": attempt,
                "outcome": outcome,
                "payload": {"value": items},
            }
        )
        del self.log[:-5000]

    async def _send(self, url: str, items: list[dict[str, Any]]) -> None:
        cfg = self.state.config
        first = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            status: int | None = None
            try:
                resp = await self.client.post(
                    url, json={"value": items}, timeout=cfg.delivery_timeout_seconds
                )
                status = resp.status_code
            except (httpx.HTTPError, OSError):
                status = None
            if status is not None and 200 <= status < 300:
                self._log(url, items, status, attempt, "delivered")
                return
            backoff = min(
                cfg.delivery_retry_base_seconds * (2 ** (attempt - 1)), cfg.delivery_retry_max_seconds
            )
            if time.monotonic() - first + backoff > cfg.delivery_horizon_seconds:
                self._log(url, items, status, attempt, "dropped-after-retries")
                return
            self._log(url, items, status, attempt, "retrying")
            await asyncio.sleep(backoff)
