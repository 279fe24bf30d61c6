"""A controllable clock: everything time-based in the emulator reads it."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta


class Clock:
    """Real time plus an offset, or a frozen instant when set with ``frozen=True``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._offset = timedelta(0)
        self._frozen: datetime | None = None

    def now(self) -> datetime:
        with self._lock:
            if self._frozen is not None:
                return self._frozen
            return datetime.now(UTC) + self._offset

    def set(self, instant: datetime, frozen: bool = False) -> None:
        if instant.tzinfo is None:
            instant = instant.replace(tzinfo=UTC)
        instant = instant.astimezone(UTC)
        with self._lock:
            if frozen:
                self._frozen = instant
            else:
                self._frozen = None
                self._offset = instant - datetime.now(UTC)

    def advance(self, seconds: float) -> None:
        with self._lock:
            if self._frozen is not None:
                self._frozen += timedelta(seconds=seconds)
            else:
                self._offset += timedelta(seconds=seconds)

    def reset(self) -> None:
        with self._lock:
            self._offset = timedelta(0)
            self._frozen = None

    @property
    def frozen(self) -> bool:
        return self._frozen is not None
