"""Response models of the operations API (what the ops page shows). Ids, states, times and reasons only."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from shared.credentials import SettingProblem
from shared.ibss.sweep import SweepReport
from shared.state.sync_events import SyncEvent, SyncEventState


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class RoomStatus(_Out):
    mailbox: str
    display_name: str
    building: str
    node_id: int | None
    space_id: str | None
    synced: bool
    subscription_id: str | None
    subscription_expiration: datetime | None
    subscription_expires_in_hours: float | None
    subscription_near_expiry: bool
    subscription_error: str | None
    last_round_at: datetime | None
    since_last_round_seconds: float | None
    last_error: str | None
    last_lag_ms: float | None  # propagation lag of the newest finished sync job in this room
    recent_errors: int  # sync jobs of this room in state error, over the listed days


class BuildingStatus(_Out):
    node_id: int | None
    name: str
    enabled: bool
    rooms: int
    synced_rooms: int
    subscriptions_near_expiry: int
    rooms_with_errors: int


class FeedStatus(_Out):
    """One building's IBSS change feed (shared/ibss/feed.py)."""

    node_id: int
    mode: str | None  # hooks+poll | poll, of the last poll
    watermark: datetime
    last_poll_at: datetime | None
    last_success_at: datetime | None
    since_last_success_seconds: float | None
    next_poll_at: datetime
    failures: int  # in a row
    last_error: str | None
    last_handed_on: int
    stale: bool  # no successful poll for 15 minutes


class OverviewCounts(_Out):
    events_by_state: dict[str, int]
    conflicts: int
    onboarding_issues: int
    subscriptions_near_expiry: int
    ibss_feeds_stale: int = 0


class OwnerWithoutMailbox(_Out):
    """A booking owner whose address looks internal but has no Exchange mailbox: the room organizes."""

    address: str
    first_seen: datetime
    last_seen: datetime


class Overview(_Out):
    generated_at: datetime
    days: int
    buildings: list[BuildingStatus]
    rooms: list[RoomStatus]
    ibss_feeds: list[FeedStatus] = []
    ibss_sweeps: list[SweepReport] = []  # each building's last reconciliation sweep
    # Secret settings that are set but refused (names and reasons, never values): the service cannot work.
    setting_problems: list[SettingProblem] = []
    owners_without_mailbox: list[OwnerWithoutMailbox] = []
    counts: OverviewCounts


class SyncEventView(_Out):
    pk: str
    rk: str
    kind: str
    queue: str
    state: SyncEventState
    attempts: int
    reprocessed: int
    correlation_id: str
    booking_id: str | None
    node_id: int | None
    space_id: str | None
    error: str | None
    outcome: str | None
    ibss_writes: int
    outlook_writes: int
    conflicts: int
    lag_ms: float | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None

    @classmethod
    def of(cls, event: SyncEvent) -> SyncEventView:
        return cls.model_validate(event.model_dump(exclude={"message", "etag"}))


class SyncEventList(_Out):
    state: SyncEventState | None
    days: int
    items: list[SyncEventView]


class ConflictView(_Out):
    recorded_at: str
    link_id: str
    field: str
    winner: str
    ibss_value: str
    outlook_value: str
    reason: str


class ConflictList(_Out):
    days: int
    items: list[ConflictView]


class OnboardingIssueView(_Out):
    kind: str
    mailbox: str | None
    space_id: str | None
    node_id: int | None
    detail: str


class OnboardingList(_Out):
    last_run: datetime | None
    items: list[OnboardingIssueView]


class ReprocessResult(_Out):
    event: SyncEventView
    enqueued_to: str
