"""In-memory state: mailboxes, events, subscriptions, configuration."""

from __future__ import annotations

import base64
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from emulators.graph.clock import Clock
from emulators.graph.recurrence import Pattern, Range
from emulators.graph.tenant import AppSpec, CalendarProcessing, TenantSpec

GOID_CLASS = "040000008200E00074C5B7101A82E008"
OCC_PREFIX = "AAMkOC"


class EmulatorConfig(BaseModel):
    """Knobs for [OBS]/[INF] behaviour; documented values are the defaults."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    extra_updates_after_create: int = Field(2, alias="extraUpdatesAfterCreate")
    delivery_timeout_seconds: float = Field(3.0, alias="deliveryTimeoutSeconds")
    delivery_retry_base_seconds: float = Field(10.0, alias="deliveryRetryBaseSeconds")
    delivery_retry_max_seconds: float = Field(600.0, alias="deliveryRetryMaxSeconds")
    delivery_horizon_seconds: float = Field(4 * 3600.0, alias="deliveryHorizonSeconds")
    delivery_batch_window_seconds: float = Field(0.05, alias="deliveryBatchWindowSeconds")
    validation_timeout_seconds: float = Field(10.0, alias="validationTimeoutSeconds")
    max_expiration_minutes_basic: int = Field(10080, alias="maxExpirationMinutesBasic")
    max_expiration_minutes_rich: int = Field(1440, alias="maxExpirationMinutesRich")
    min_expiration_minutes: int = Field(45, alias="minExpirationMinutes")
    subscriptions_per_mailbox: int = Field(1000, alias="subscriptionsPerMailbox")
    require_https_notification_url: bool = Field(False, alias="requireHttpsNotificationUrl")
    throttle_limit: int = Field(10000, alias="throttleLimit")
    throttle_window_seconds: float = Field(600.0, alias="throttleWindowSeconds")
    throttle_concurrency: int = Field(4, alias="throttleConcurrency")
    concurrency_retry_after_seconds: float = Field(1.0, alias="concurrencyRetryAfterSeconds")
    default_page_size: int = Field(10, alias="defaultPageSize")
    places_page_size: int = Field(100, alias="placesPageSize")
    delta_page_size: int = Field(10, alias="deltaPageSize")
    delta_token_capacity: int = Field(10000, alias="deltaTokenCapacity")
    sync_state_not_found_status: int = Field(400, alias="syncStateNotFoundStatus")
    decline_past_meetings: bool = Field(True, alias="declinePastMeetings")
    token_lifetime_seconds: int = Field(3599, alias="tokenLifetimeSeconds")
    batch_parallelism: int = Field(4, alias="batchParallelism")


def new_id() -> str:
    """Opaque, URL-safe, Exchange-looking item id."""
    raw = b"\x00\x00" + os.urandom(40)
    return "AAMkAD" + base64.urlsafe_b64encode(raw).decode()


def new_change_key() -> str:
    return base64.b64encode(b"\x0f\x00\x00\x00\x16\x00\x00\x00" + os.urandom(22)).decode()


def new_ical_uid(now: datetime) -> str:
    """Exchange global object id: class id, zero instance date, FILETIME, size, random data."""
    filetime = int((now.timestamp() + 11644473600) * 10_000_000)
    ft_hex = filetime.to_bytes(8, "little").hex().upper()
    return GOID_CLASS + "00000000" + ft_hex + "0000000000000000" + "10000000" + os.urandom(16).hex().upper()


def occurrence_ical_uid(master_uid: str, local_day: datetime) -> str:
    """Occurrences carry the instance date (YH YL M D) in bytes 16-19 of the global object id."""
    if not master_uid.startswith(GOID_CLASS) or len(master_uid) < 40:
        return master_uid
    stamp = f"{local_day.year:04X}{local_day.month:02X}{local_day.day:02X}"
    return master_uid[:32] + stamp + master_uid[40:]


def occurrence_key(original_start: datetime) -> str:
    return original_start.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def key_to_datetime(key: str) -> datetime:
    return datetime.strptime(key, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


def occurrence_id(master_id: str, key: str) -> str:
    return OCC_PREFIX + base64.urlsafe_b64encode(f"{master_id}|{key}".encode()).decode()


def parse_occurrence_id(event_id: str) -> tuple[str, str] | None:
    if not event_id.startswith(OCC_PREFIX):
        return None
    try:
        master_id, key = base64.urlsafe_b64decode(event_id[len(OCC_PREFIX) :].encode()).decode().split("|")
    except (ValueError, UnicodeDecodeError):
        return None
    return master_id, key


@dataclass
class StoredEvent:
    id: str
    mailbox_id: str
    ical_uid: str
    type: str  # singleInstance | seriesMaster | exception
    start: datetime  # aware UTC
    end: datetime
    start_tz: str
    end_tz: str
    created: datetime
    last_modified: datetime
    change_key: str
    organizer: dict[str, Any]
    is_organizer: bool
    props: dict[str, Any] = field(default_factory=dict)
    attendees: list[dict[str, Any]] = field(default_factory=list)
    locations: list[dict[str, Any]] = field(default_factory=list)
    location: dict[str, Any] = field(default_factory=dict)
    response: str = "organizer"
    response_time: datetime | None = None
    is_cancelled: bool = False
    is_all_day: bool = False
    transaction_id: str | None = None
    sv_props: list[dict[str, str]] = field(default_factory=list)
    recurrence: tuple[Pattern, Range] | None = None
    series_master_id: str | None = None
    original_start: datetime | None = None
    cancelled_keys: set[str] = field(default_factory=set)
    exception_keys: dict[str, str] = field(default_factory=dict)  # occurrence key -> exception id

    @property
    def etag(self) -> str:
        return f'W/"{self.change_key}"'


@dataclass
class Mailbox:
    id: str
    address: str
    display_name: str
    kind: str  # user | room
    time_zone: str
    processing: CalendarProcessing | None = None
    capacity: int | None = None
    building: str | None = None
    floor_number: int | None = None
    floor_label: str | None = None
    events: dict[str, StoredEvent] = field(default_factory=dict)
    transactions: dict[str, str] = field(default_factory=dict)
    change_seq: int = 0
    change_log: list[tuple[int, str]] = field(default_factory=list)

    @property
    def email(self) -> dict[str, str]:
        return {"name": self.display_name, "address": self.address}


@dataclass
class AttendantRecord:
    at: datetime
    room: str
    ical_uid: str
    subject: str
    decision: str
    reason: str


ChangeListener = Callable[[Mailbox, str, str, str | None], None]


class EmulatorState:
    """All mutable emulator state; only touched from the server's event loop."""

    def __init__(self, tenant: TenantSpec, clock: Clock | None = None) -> None:
        self.clock = clock or Clock()
        self.config = EmulatorConfig()
        self.signing_key = secrets.token_bytes(32)
        self.change_listeners: list[ChangeListener] = []
        self.attendant_log: list[AttendantRecord] = []
        self.meeting_messages: list[Any] = []  # messages.MeetingMessage: what people would be mailed
        self.load_tenant(tenant)

    def load_tenant(self, tenant: TenantSpec) -> None:
        self.tenant = tenant
        self.mailboxes: dict[str, Mailbox] = {}
        self._by_address: dict[str, str] = {}
        for u in tenant.users:
            self._add(Mailbox(u.id, u.address, u.display_name, "user", u.time_zone))
        for r in tenant.rooms:
            self._add(
                Mailbox(
                    r.id,
                    r.address,
                    r.display_name,
                    "room",
                    r.time_zone,
                    processing=r.calendar_processing.model_copy(),
                    capacity=r.capacity,
                    building=r.building,
                    floor_number=r.floor_number,
                    floor_label=r.floor_label,
                )
            )
        self.attendant_log = []
        self.meeting_messages = []

    def _add(self, mb: Mailbox) -> None:
        self.mailboxes[mb.id] = mb
        self._by_address[mb.address.lower()] = mb.id

    def app(self, client_id: str) -> AppSpec | None:
        return next((a for a in self.tenant.apps if a.client_id == client_id), None)

    def mailbox(self, key: str) -> Mailbox | None:
        """By object id or SMTP address/UPN, case-insensitively."""
        k = key.lower()
        if k in self.mailboxes:
            return self.mailboxes[k]
        for mid, mb in self.mailboxes.items():
            if mid.lower() == k:
                return mb
        mid2 = self._by_address.get(k)
        return self.mailboxes[mid2] if mid2 else None

    def now(self) -> datetime:
        return self.clock.now()

    def touch(self, ev: StoredEvent) -> None:
        ev.change_key = new_change_key()
        ev.last_modified = self.now()

    def record_change(self, mb: Mailbox, event_id: str, change_type: str, etag: str | None) -> None:
        mb.change_seq += 1
        mb.change_log.append((mb.change_seq, event_id))
        for listener in list(self.change_listeners):
            listener(mb, event_id, change_type, etag)
