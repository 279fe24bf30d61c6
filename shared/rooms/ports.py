"""Ports of the rooms package: what a delta round hands on, and what it needs from Graph and IBSS."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from msgraph.generated.models.event import Event
from pydantic import BaseModel

Clock = Callable[[], datetime]


class RoomChangeSink(Protocol):
    """Where a finished delta round goes (the sync core's reconciler plugs in here).

    ``changed``: msgraph ``Event`` models as the delta response returned them (one per event id);
    ``removed_event_ids``: ids deleted inside the window (``@removed`` for ids outside it are dropped);
    ``full_resync``: True after an initial round, a window roll or a 410 / syncStateNotFound resync, when
    ``changed`` is the complete content of the window so the consumer can detect events that vanished.
    Must be idempotent: a round can be replayed after a crash before its deltaLink was stored.
    """

    async def room_changed(
        self,
        room_mailbox: str,
        changed: Sequence[Event],
        removed_event_ids: Sequence[str],
        full_resync: bool,
    ) -> None: ...


@dataclass(frozen=True)
class GraphRoom:
    id: str
    email: str
    display_name: str = ""
    building: str | None = None


@dataclass
class DeltaPage:
    changed: list[Event] = field(default_factory=list)
    removed_ids: list[str] = field(default_factory=list)
    next_link: str | None = None
    delta_link: str | None = None


@dataclass(frozen=True)
class CreatedSubscription:
    id: str
    expiration: datetime


class GraphRoomsPort(Protocol):
    async def list_rooms(self) -> list[GraphRoom]: ...

    async def delta_page(
        self,
        mailbox: str,
        user_id: str,
        *,
        url: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> DeltaPage: ...

    async def create_subscription(
        self,
        mailbox: str,
        user_id: str,
        *,
        notification_url: str,
        lifecycle_url: str,
        client_state: str,
        expiration: datetime,
    ) -> CreatedSubscription: ...

    async def renew_subscription(
        self, mailbox: str, subscription_id: str, expiration: datetime
    ) -> datetime: ...

    async def delete_subscription(self, mailbox: str, subscription_id: str) -> None: ...


@dataclass(frozen=True)
class FlaggedSpace:
    """An IBSS space and whether it is flagged for M365 sync (building and space flags)."""

    space_id: str
    node_id: int
    building_name: str
    building_time_zone: str | None
    mailbox: str | None
    flagged: bool


class SpaceDirectory(Protocol):
    async def spaces(self) -> list[FlaggedSpace]: ...


class JobQueue(Protocol):
    async def send(self, queue: str, message: BaseModel, delay_seconds: int | None = None) -> None: ...


def describe(exc: BaseException) -> str:
    """A short, secret-free description for last_error columns and logs."""
    text: Any = getattr(exc, "code", None) or type(exc).__name__
    return str(text)[:200]
