"""Rows and messages of the rooms package: room state, building config, delta jobs, onboarding issues."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared.ibss.feed import ChangeDetection, known_change_detection
from shared.sync.policy import PolicyMode

DEFAULT_HORIZON_DAYS = 90


def key_of(*parts: str) -> str:
    """A Table-safe key: Graph ids and mailboxes may hold characters keys forbid ('/', '#', '?')."""
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:40]


def room_key(mailbox: str) -> str:
    return key_of(mailbox.strip().lower())


def _entity_fields(model: type[BaseModel], entity: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in entity.items() if k in model.model_fields}


class RoomRow(BaseModel):
    """One synced (or formerly synced) room. PK = hashed mailbox (spreads load), RK = 'room'."""

    model_config = ConfigDict(validate_assignment=False)

    mailbox: str
    user_id: str
    display_name: str = ""
    node_id: int | None = None  # IBSS building node id
    building: str = ""
    space_id: str | None = None
    time_zone: str = "UTC"
    horizon_days: int = DEFAULT_HORIZON_DAYS
    discovered: bool = True  # flagged in IBSS, mailbox exists, building enabled (set by onboarding)
    enabled: bool = True  # admin switch, never overwritten by onboarding
    created_at: datetime | None = None

    # Delta state.
    delta_link: str | None = Field(default=None, repr=False)
    window_start: datetime | None = None
    window_end: datetime | None = None
    last_round_at: datetime | None = None
    last_round_id: str | None = None
    last_error: str | None = None

    # Coalescing and the one-round-at-a-time lease.
    pending_round: bool = False
    pending_at: datetime | None = None
    # When the queued job becomes visible: a notification never waits behind a delayed safety-net job.
    pending_due_at: datetime | None = None
    resync_requested: bool = False
    lease_id: str | None = None
    lease_until: datetime | None = None
    round_started_at: datetime | None = None

    # Subscription (the clientState lives only in the subscriptions table).
    subscription_id: str | None = None
    subscription_expiration: datetime | None = None
    subscription_error: str | None = None

    @property
    def synced(self) -> bool:
        return self.discovered and self.enabled

    def to_entity(self) -> dict[str, Any]:
        return {
            "PartitionKey": room_key(self.mailbox),
            "RowKey": "room",
            **self.model_dump(mode="json", exclude_none=False),
        }

    @classmethod
    def from_entity(cls, entity: dict[str, Any]) -> RoomRow:
        return cls(**_entity_fields(cls, entity))


class BuildingConfig(BaseModel):
    """Per building: admin-editable row in the `buildings` table (PK 'building', RK = IBSS node id)."""

    node_id: int
    name: str = ""
    enabled: bool = True
    horizon_days: int = Field(default=DEFAULT_HORIZON_DAYS, ge=1, le=365)
    time_zone: str = "UTC"
    # Booking policies for Outlook-made meetings: enforce | warn | ignore; None = SYNC_POLICY_MODE.
    policy_mode: PolicyMode | None = None
    # Repeated no-shows in an Outlook-made series: after this many auto-cancelled occurrences in a row the
    # room is released from the rest of the series; None (default): off, only single no-shows release.
    no_show_release_after: int | None = None
    # IBSS change detection for this building: hooks+poll | poll; None = SYNC_IBSS_CHANGE_DETECTION.
    change_detection: ChangeDetection | None = None

    @field_validator("change_detection", mode="before")
    @classmethod
    def _known_detection(cls, value: Any) -> Any:
        # As policy_mode: a typo falls back to the app default.
        return known_change_detection(value)

    @field_validator("no_show_release_after", mode="before")
    @classmethod
    def _release_count(cls, value: Any) -> Any:
        # As policy_mode: an admin's typo (text, 0, negative) means "off", never a broken reader.
        if value is None or isinstance(value, bool):
            return None
        try:
            count = int(str(value).strip())
        except ValueError:
            return None
        return count if 1 <= count <= 100 else None

    @field_validator("policy_mode", mode="before")
    @classmethod
    def _known_mode(cls, value: Any) -> Any:
        # An admin's typo in the table falls back to the app default instead of breaking every reader.
        if isinstance(value, str):
            value = value.strip().lower()
            return value if value in {m.value for m in PolicyMode} else None
        return value

    def to_entity(self) -> dict[str, Any]:
        return {"PartitionKey": "building", "RowKey": str(self.node_id), **self.model_dump(mode="json")}

    @classmethod
    def from_entity(cls, entity: dict[str, Any]) -> BuildingConfig:
        return cls(**_entity_fields(cls, entity))


RoundReason = Literal["notification", "initial", "safety_net", "poll", "lifecycle", "retry", "admin"]


class RoomDeltaJob(BaseModel):
    """Queue message on `sync-rooms`: run one delta round for a room."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["rooms.delta"] = "rooms.delta"
    room_mailbox: str = Field(min_length=3, max_length=320)
    reason: RoundReason
    requested_at: datetime
    correlation_id: str = Field(min_length=1, max_length=64)
    attempt: int = Field(default=0, ge=0, le=1000)
    # W3C trace context of the notification that asked for the round (one trace per change).
    traceparent: str | None = Field(default=None, max_length=128)


IssueKind = Literal[
    "space_mailbox_missing",  # a flagged IBSS space points to a mailbox Graph does not list as a room
    "room_without_space",  # a Graph room that no IBSS space points to
    "space_not_flagged",  # a space points to the room but is not flagged for sync
    "mailbox_claimed_twice",  # two flagged spaces point to the same mailbox (neither is synced)
]


class OnboardingIssue(BaseModel):
    kind: IssueKind
    mailbox: str | None = None
    space_id: str | None = None
    node_id: int | None = None
    detail: str = ""

    @property
    def key(self) -> str:
        return key_of(self.kind, self.mailbox or "", self.space_id or "", str(self.node_id or ""))
