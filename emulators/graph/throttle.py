"""Outlook service limits per (app, mailbox): requests per window and concurrent requests."""

from __future__ import annotations

from collections import defaultdict, deque
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from emulators.graph.state import EmulatorState


class HttpFault(BaseModel):
    """Force ``status`` (429/503/...) on the next ``count`` API requests matching the filters."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    kind: str = "http"
    status: int = 429
    count: int = 1
    mailbox: str | None = None
    path_contains: str | None = Field(None, alias="pathContains")
    method: str | None = None
    retry_after: float | None = Field(2.0, alias="retryAfter")


@dataclass
class Throttle:
    state: EmulatorState

    def __post_init__(self) -> None:
        self.windows: dict[tuple[str, str], deque[float]] = defaultdict(deque)
        self.inflight: dict[tuple[str, str], int] = defaultdict(int)
        self.faults: list[HttpFault] = []

    def clear(self) -> None:
        self.windows.clear()
        self.inflight.clear()
        self.faults.clear()

    def forced(self, mailbox_id: str | None, path: str, method: str) -> HttpFault | None:
        for f in self.faults:
            if f.count <= 0:
                continue
            if f.mailbox is not None:
                mb = self.state.mailbox(f.mailbox)
                if mb is None or mb.id != mailbox_id:
                    continue
            if f.path_contains and f.path_contains.lower() not in path.lower():
                continue
            if f.method and f.method.upper() != method.upper():
                continue
            f.count -= 1
            if f.count <= 0:
                self.faults.remove(f)
            return f
        return None

    def acquire(self, key: tuple[str, str]) -> float | None:
        """None when admitted (caller must release), else the Retry-After in seconds."""
        cfg = self.state.config
        now = self.state.now().timestamp()
        window = self.windows[key]
        while window and window[0] <= now - cfg.throttle_window_seconds:
            window.popleft()
        if self.inflight[key] >= cfg.throttle_concurrency:
            return cfg.concurrency_retry_after_seconds
        if len(window) >= cfg.throttle_limit:
            return max(0.001, round(window[0] + cfg.throttle_window_seconds - now, 3))
        window.append(now)
        self.inflight[key] += 1
        return None

    def release(self, key: tuple[str, str]) -> None:
        self.inflight[key] = max(0, self.inflight[key] - 1)
