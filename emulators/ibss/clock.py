"""The emulator's controllable clock.

By default it follows real UTC time. It can be set (frozen or running from a new point) and advanced.
Every platform timestamp (booking times, Booking_Modified, hook body ``timestamp``) comes from this
clock; only the ``webhook-timestamp`` header uses real wall-clock time (receivers check freshness).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta


def _ms(value: datetime) -> datetime:
    return value.replace(microsecond=(value.microsecond // 1000) * 1000)


class Clock:
    def __init__(self) -> None:
        self._frozen_at: datetime | None = None
        self._offset = timedelta(0)

    @staticmethod
    def _real() -> datetime:
        return datetime.fromtimestamp(time.time(), tz=UTC)

    def now(self) -> datetime:
        if self._frozen_at is not None:
            return self._frozen_at
        return _ms(self._real() + self._offset)

    @property
    def frozen(self) -> bool:
        return self._frozen_at is not None

    def set(self, when: datetime, *, frozen: bool = True) -> None:
        when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
        when = _ms(when)
        if frozen:
            self._frozen_at = when
            self._offset = timedelta(0)
        else:
            self._frozen_at = None
            self._offset = when - self._real()

    def advance(self, delta: timedelta) -> None:
        if self._frozen_at is not None:
            self._frozen_at = _ms(self._frozen_at + delta)
        else:
            self._offset += delta

    def freeze(self) -> None:
        self._frozen_at = self.now()
        self._offset = timedelta(0)

    def unfreeze(self) -> None:
        if self._frozen_at is not None:
            self._offset = self._frozen_at - self._real()
            self._frozen_at = None

    def reset(self) -> None:
        self._frozen_at = None
        self._offset = timedelta(0)

    def describe(self) -> dict[str, object]:
        return {"now": self.now().isoformat().replace("+00:00", "Z"), "frozen": self.frozen}
