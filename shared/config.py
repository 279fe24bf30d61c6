"""Application settings, read once from the environment (app settings in Azure, local settings locally)."""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.ibss.feed import ChangeDetection, FeedScan
from shared.sync.policy import PolicyMode


class OrganizerMode(StrEnum):
    OWNER = "owner"
    ROOM = "room"


class AppSettings(BaseSettings):
    """Every setting the app reads. Secrets come from Key Vault references in Azure."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True, case_sensitive=True)

    storage_connection: str | None = Field(default=None, alias="AzureWebJobsStorage")
    # Identity-based storage (Azure): AzureWebJobsStorage__queueServiceUri and friends.
    storage_queue_service_uri: str | None = Field(default=None, alias="AzureWebJobsStorage__queueServiceUri")
    storage_table_service_uri: str | None = Field(default=None, alias="AzureWebJobsStorage__tableServiceUri")
    storage_account_name: str | None = Field(default=None, alias="AzureWebJobsStorage__accountName")
    storage_client_id: str | None = Field(default=None, alias="AzureWebJobsStorage__clientId")

    organizer_mode: OrganizerMode = Field(default=OrganizerMode.OWNER, alias="SYNC_ORGANIZER_MODE")
    # Sync state of bookings that ended more than this many days ago is deleted (daily purge timer).
    purge_after_days: int = Field(default=30, alias="SYNC_PURGE_AFTER_DAYS", ge=1, le=3650)
    # After inviting a room to a person's meeting, look at the room's reply this many seconds later.
    room_reply_check_seconds: int = Field(default=15, alias="SYNC_ROOM_REPLY_CHECK_SECONDS", ge=1, le=3600)
    # Comma-separated; empty = the domains of the synced room mailboxes. Others' attendees are visitors.
    internal_domains: str = Field(default="", alias="SYNC_INTERNAL_DOMAINS")
    # Booking policies for meetings made in Outlook, for buildings without a mode of their own
    # (`policy_mode` of the building's row): enforce (the room declines), warn (accepts, tells why), ignore.
    policy_mode: PolicyMode = Field(default=PolicyMode.ENFORCE, alias="SYNC_POLICY_MODE")

    graph_base_url: str = Field(default="https://graph.microsoft.com/v1.0", alias="GRAPH_BASE_URL")
    graph_authority: str = Field(default="https://login.microsoftonline.com", alias="GRAPH_AUTHORITY")
    graph_tenant_id: str | None = Field(default=None, alias="GRAPH_TENANT_ID")
    graph_client_id: str | None = Field(default=None, alias="GRAPH_CLIENT_ID")
    graph_client_secret: str | None = Field(default=None, alias="GRAPH_CLIENT_SECRET", repr=False)
    graph_client_certificate: str | None = Field(default=None, alias="GRAPH_CLIENT_CERTIFICATE", repr=False)
    graph_ca_bundle: str | None = Field(default=None, alias="GRAPH_CA_BUNDLE")
    graph_notification_url: str | None = Field(default=None, alias="GRAPH_NOTIFICATION_URL")
    graph_lifecycle_url: str | None = Field(default=None, alias="GRAPH_LIFECYCLE_URL")

    ibss_base_url: str | None = Field(default=None, alias="IBSS_BASE_URL")
    ibss_api_key: str | None = Field(default=None, alias="IBSS_API_KEY", repr=False)
    ibss_hook_secret: str | None = Field(default=None, alias="IBSS_HOOK_SECRET", repr=False)

    # Seconds a subscription's clientState stays cached in the intake function.
    client_state_cache_seconds: float = Field(default=300.0, alias="CLIENT_STATE_CACHE_SECONDS", ge=0)

    # Rooms: subscriptions, delta catch-up, onboarding (shared/rooms, docs/operations-subscriptions.md).
    # false = polling mode: no subscriptions, a delta round per room every SYNC_POLL_INTERVAL_SECONDS.
    sync_notifications_enabled: bool = Field(default=True, alias="SYNC_NOTIFICATIONS_ENABLED")
    sync_poll_interval_seconds: float = Field(default=300.0, alias="SYNC_POLL_INTERVAL_SECONDS", gt=0)
    # With notifications on, a catch-up round runs for any room without a round for this long.
    sync_safety_net_seconds: float = Field(default=900.0, alias="SYNC_SAFETY_NET_SECONDS", gt=0)
    sync_onboarding_interval_seconds: float = Field(
        default=900.0, alias="SYNC_ONBOARDING_INTERVAL_SECONDS", ge=0
    )
    sync_horizon_days: int = Field(default=90, alias="SYNC_HORIZON_DAYS", ge=1, le=365)
    # 0: a round starts at once; bursts still collapse while a round is pending (the room row flag).
    sync_coalesce_seconds: int = Field(default=0, alias="SYNC_COALESCE_SECONDS", ge=0, le=60)
    sync_subscription_lifetime_minutes: int = Field(
        default=10_000, alias="SYNC_SUBSCRIPTION_LIFETIME_MINUTES", ge=45, le=10_080
    )
    sync_renew_before_hours: float = Field(default=36.0, alias="SYNC_RENEW_BEFORE_HOURS", gt=0)
    sync_graph_concurrency: int = Field(default=16, alias="SYNC_GRAPH_CONCURRENCY", ge=1, le=256)
    sync_mailbox_concurrency: int = Field(default=4, alias="SYNC_MAILBOX_CONCURRENCY", ge=1, le=4)
    sync_delta_page_size: int = Field(default=100, alias="SYNC_DELTA_PAGE_SIZE", ge=1, le=1000)

    # IBSS change feed (shared/ibss/feed.py): hooks+poll (hooks, and a poll as the safety net) or poll (no
    # hook endpoint in IBSS). Per building override: `change_detection` in its row of the buildings table.
    ibss_change_detection: ChangeDetection = Field(
        default=ChangeDetection.HOOKS_AND_POLL, alias="SYNC_IBSS_CHANGE_DETECTION"
    )
    ibss_poll_seconds: float = Field(default=30.0, alias="SYNC_IBSS_POLL_SECONDS", ge=1, le=3600)
    ibss_safety_poll_seconds: float = Field(
        default=300.0, alias="SYNC_IBSS_SAFETY_POLL_SECONDS", ge=1, le=86_400
    )
    ibss_poll_overlap_seconds: float = Field(
        default=300.0, alias="SYNC_IBSS_POLL_OVERLAP_SECONDS", ge=0, le=86_400
    )
    # modified: read what changed since the watermark (Booking_Modified ge, an ASSUMED filter). window: for
    # an IBSS that cannot filter on Booking_Modified, read the bookings overlapping now .. now + N days on
    # every poll and compare their ETags with the links (shared/ibss/sweep.py; costs more requests).
    ibss_feed_scan: FeedScan = Field(default="modified", alias="SYNC_IBSS_FEED_SCAN")
    ibss_scan_days: int = Field(default=14, alias="SYNC_IBSS_SCAN_DAYS", ge=1, le=365)


@lru_cache(maxsize=1)
def get_settings() -> AppSettings:
    return AppSettings()
