"""Typed pydantic models of IBSS resources.

Attributes are Python snake_case; the wire names come from :mod:`shared.ibss.fields` as aliases
(``populate_by_name`` lets code construct models by attribute name). Datetimes are always UTC-aware:
naive datetimes from the API are taken as UTC (IBSS stores booking times in UTC) and every datetime is
serialised as ``YYYY-MM-DDTHH:MM:SS[.fff]Z``. 0/1 flags become ``bool`` and go back out as 0/1.
"""

from __future__ import annotations

from datetime import UTC, datetime, time
from enum import StrEnum
from typing import Annotated, Any, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    model_validator,
)

from shared.ibss import fields


def _to_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def format_utc(value: datetime) -> str:
    """Wire format of a datetime: UTC with ``Z``; milliseconds only when present."""
    value = _to_utc(value)
    if value.microsecond:
        return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


UtcDatetime = Annotated[
    datetime,
    AfterValidator(_to_utc),
    PlainSerializer(format_utc, return_type=str, when_used="json"),
]
"""A datetime that is always UTC-aware and goes on the wire as ISO 8601 with ``Z``."""


def _flag(value: Any) -> Any:
    if isinstance(value, str) and value.strip().lower() in {"0", "1", "true", "false"}:
        return value.strip().lower() in {"1", "true"}
    return value


Flag = Annotated[
    bool,
    BeforeValidator(_flag),
    PlainSerializer(lambda v: 1 if v else 0, return_type=int, when_used="json"),
]
"""An IBSS 0/1 flag."""


class BookingStatus(StrEnum):
    """``Booking_Status`` values. The documented list is truncated; ``COMPLETED`` is assumed."""

    NEW = fields.STATUS_NEW
    AMENDED = fields.STATUS_AMENDED
    EARLY_CHECKIN = fields.STATUS_EARLY_CHECKIN
    LATE_CHECKIN = fields.STATUS_LATE_CHECKIN
    IN_PROGRESS = fields.STATUS_IN_PROGRESS
    CANCELLED = fields.STATUS_CANCELLED
    AUTO_CANCELLED = fields.STATUS_AUTO_CANCELLED
    COMPLETED = fields.STATUS_COMPLETED


ACTIVE_STATUSES: frozenset[str] = frozenset(
    {
        BookingStatus.NEW,
        BookingStatus.AMENDED,
        BookingStatus.EARLY_CHECKIN,
        BookingStatus.LATE_CHECKIN,
        BookingStatus.IN_PROGRESS,
    }
)
"""Statuses of a booking that still holds its space."""


class Weekday(StrEnum):
    MONDAY = "Monday"
    TUESDAY = "Tuesday"
    WEDNESDAY = "Wednesday"
    THURSDAY = "Thursday"
    FRIDAY = "Friday"
    SATURDAY = "Saturday"
    SUNDAY = "Sunday"

    @property
    def weekday_index(self) -> int:
        """0 = Monday, like :meth:`datetime.weekday`."""
        return list(Weekday).index(self)


class IbssModel(BaseModel):
    """Base of every IBSS wire model: aliases from fields.py, unknown fields ignored."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=False)

    def to_wire(self, *, exclude_unset: bool = False) -> dict[str, Any]:
        """JSON-ready dict with wire names."""
        return self.model_dump(mode="json", by_alias=True, exclude_unset=exclude_unset)


# ------------------------------------------------------------------------------------------------
# Bookings
# ------------------------------------------------------------------------------------------------
class BookingParty(IbssModel):
    """One entry of ``Booking_Parties`` (all names CONFIRMED)."""

    is_visitor: Flag = Field(default=False, alias=fields.PARTY_IS_VISITOR)
    email: str = Field(alias=fields.PARTY_EMAIL)
    first_name: str | None = Field(default=None, alias=fields.PARTY_FIRST_NAME)
    last_name: str | None = Field(default=None, alias=fields.PARTY_LAST_NAME)
    company: str | None = Field(default=None, alias=fields.PARTY_COMPANY)
    visit_id: str | None = Field(default=None, alias=fields.PARTY_VISIT_ID)


class BookingPartyRow(BookingParty):
    """A row of ``GET /v2/{nodeid}/bookingparties``: a party plus the booking it belongs to."""

    booking_id: str = Field(alias=fields.BOOKING_ID)
    node_id: int = Field(alias=fields.BOOKING_NODE_ID)


class Booking(IbssModel):
    """A booking as returned by the API."""

    id: str = Field(alias=fields.BOOKING_ID, min_length=1)
    node_id: int = Field(alias=fields.BOOKING_NODE_ID)
    space_id: str = Field(alias=fields.BOOKING_SPACE_ID, min_length=1)
    space_name: str | None = Field(default=None, alias=fields.BOOKING_SPACE_NAME)
    name: str = Field(default="", alias=fields.BOOKING_NAME)
    description: str | None = Field(default=None, alias=fields.BOOKING_DESCRIPTION)
    start: UtcDatetime = Field(alias=fields.BOOKING_START)
    end: UtcDatetime = Field(alias=fields.BOOKING_END)
    status: BookingStatus | str = Field(alias=fields.BOOKING_STATUS, union_mode="left_to_right")
    owner_email: str | None = Field(default=None, alias=fields.BOOKING_OWNER_EMAIL)
    series_id: str | None = Field(default=None, alias=fields.BOOKING_SERIES_ID)
    created: UtcDatetime | None = Field(default=None, alias=fields.BOOKING_CREATED)
    modified: UtcDatetime | None = Field(default=None, alias=fields.BOOKING_MODIFIED)
    etag: str | None = Field(default=None, alias=fields.BOOKING_ETAG)
    online_meeting: Flag = Field(default=False, alias=fields.BOOKING_ONLINE_MEETING)
    ext_ref: str | None = Field(default=None, alias=fields.BOOKING_EXT_REF)
    cancel_reason: str | None = Field(default=None, alias=fields.BOOKING_CANCEL_REASON)
    share_loc: Flag = Field(default=False, alias=fields.BOOKING_SHARE_LOC)
    all_day: Flag = Field(default=False, alias=fields.BOOKING_ALL_DAY)
    party_count: int | None = Field(default=None, alias=fields.BOOKING_PARTY_COUNT)
    parties: list[BookingParty] = Field(default_factory=list, alias=fields.BOOKING_PARTIES)
    is_checked_in: Flag = Field(default=False, alias=fields.BOOKING_IS_CHECKED_IN)
    is_active: Flag = Field(default=True, alias=fields.BOOKING_IS_ACTIVE)
    is_cancelled: Flag = Field(default=False, alias=fields.BOOKING_IS_CANCELLED)
    is_completed: Flag = Field(default=False, alias=fields.BOOKING_IS_COMPLETED)
    is_early_checkin: Flag = Field(default=False, alias=fields.BOOKING_IS_EARLY_CHECKIN)
    is_late_checkin: Flag = Field(default=False, alias=fields.BOOKING_IS_LATE_CHECKIN)
    auto_check_in: Flag = Field(default=False, alias=fields.BOOKING_AUTO_CHECKIN)
    checkin_time: UtcDatetime | None = Field(default=None, alias=fields.BOOKING_CHECKIN_TIME)
    completed_time: UtcDatetime | None = Field(default=None, alias=fields.BOOKING_COMPLETED_TIME)
    cancelled_time: UtcDatetime | None = Field(default=None, alias=fields.BOOKING_CANCELLED_TIME)
    auto_cancel_threshold_min: int | None = Field(default=None, alias=fields.BOOKING_AUTO_CANCEL_THLD_MIN)

    @property
    def holds_space(self) -> bool:
        """True while the booking still occupies its space (not cancelled or completed)."""
        return self.status in ACTIVE_STATUSES

    @property
    def is_any_cancelled(self) -> bool:
        return self.status in (BookingStatus.CANCELLED, BookingStatus.AUTO_CANCELLED) or self.is_cancelled


def _check_window(start: datetime | None, end: datetime | None) -> None:
    if start is not None and end is not None and end <= start:
        raise ValueError("end must be after start")


class BookingCreate(IbssModel):
    """Body of ``POST /v2/{nodeid}/bookings``."""

    space_id: str = Field(alias=fields.BOOKING_SPACE_ID, min_length=1)
    name: str = Field(default="", alias=fields.BOOKING_NAME)
    description: str | None = Field(default=None, alias=fields.BOOKING_DESCRIPTION)
    start: UtcDatetime = Field(alias=fields.BOOKING_START)
    end: UtcDatetime = Field(alias=fields.BOOKING_END)
    owner_email: str = Field(alias=fields.BOOKING_OWNER_EMAIL, min_length=3)
    parties: list[BookingParty] = Field(default_factory=list, alias=fields.BOOKING_PARTIES)
    online_meeting: Flag = Field(default=False, alias=fields.BOOKING_ONLINE_MEETING)
    share_loc: Flag = Field(default=False, alias=fields.BOOKING_SHARE_LOC)
    ext_ref: str | None = Field(default=None, alias=fields.BOOKING_EXT_REF, max_length=1024)

    @model_validator(mode="after")
    def _window(self) -> Self:
        _check_window(self.start, self.end)
        return self


class BookingUpdate(IbssModel):
    """Body of ``PATCH /v2/{nodeid}/bookings/{id}``: only the fields that are set are sent."""

    space_id: str | None = Field(default=None, alias=fields.BOOKING_SPACE_ID, min_length=1)
    name: str | None = Field(default=None, alias=fields.BOOKING_NAME)
    description: str | None = Field(default=None, alias=fields.BOOKING_DESCRIPTION)
    start: UtcDatetime | None = Field(default=None, alias=fields.BOOKING_START)
    end: UtcDatetime | None = Field(default=None, alias=fields.BOOKING_END)
    owner_email: str | None = Field(default=None, alias=fields.BOOKING_OWNER_EMAIL, min_length=3)
    parties: list[BookingParty] | None = Field(default=None, alias=fields.BOOKING_PARTIES)
    online_meeting: Flag | None = Field(default=None, alias=fields.BOOKING_ONLINE_MEETING)
    share_loc: Flag | None = Field(default=None, alias=fields.BOOKING_SHARE_LOC)

    @model_validator(mode="after")
    def _window(self) -> Self:
        _check_window(self.start, self.end)
        return self


class Occurrence(IbssModel):
    start: UtcDatetime = Field(alias=fields.BOOKING_START)
    end: UtcDatetime = Field(alias=fields.BOOKING_END)
    # Per-occurrence Booking_Ext_Ref (ASSUMED): the idempotency key of a series made from Outlook.
    ext_ref: str | None = Field(default=None, alias=fields.BOOKING_EXT_REF, max_length=1024)

    @model_validator(mode="after")
    def _window(self) -> Self:
        _check_window(self.start, self.end)
        return self


class BookingSeriesCreate(IbssModel):
    """Body of ``POST /v2/{nodeid}/bookings/series``: one booking per occurrence, one series id."""

    space_id: str = Field(alias=fields.BOOKING_SPACE_ID, min_length=1)
    name: str = Field(default="", alias=fields.BOOKING_NAME)
    description: str | None = Field(default=None, alias=fields.BOOKING_DESCRIPTION)
    owner_email: str = Field(alias=fields.BOOKING_OWNER_EMAIL, min_length=3)
    parties: list[BookingParty] = Field(default_factory=list, alias=fields.BOOKING_PARTIES)
    online_meeting: Flag = Field(default=False, alias=fields.BOOKING_ONLINE_MEETING)
    share_loc: Flag = Field(default=False, alias=fields.BOOKING_SHARE_LOC)
    occurrences: list[Occurrence] = Field(alias=fields.SERIES_OCCURRENCES, min_length=1, max_length=500)


class BookingSeriesUpdate(IbssModel):
    """Body of ``PATCH /v2/{nodeid}/bookings/series/{seriesid}``: applied to every future occurrence."""

    space_id: str | None = Field(default=None, alias=fields.BOOKING_SPACE_ID, min_length=1)
    name: str | None = Field(default=None, alias=fields.BOOKING_NAME)
    description: str | None = Field(default=None, alias=fields.BOOKING_DESCRIPTION)
    owner_email: str | None = Field(default=None, alias=fields.BOOKING_OWNER_EMAIL, min_length=3)
    parties: list[BookingParty] | None = Field(default=None, alias=fields.BOOKING_PARTIES)
    online_meeting: Flag | None = Field(default=None, alias=fields.BOOKING_ONLINE_MEETING)
    share_loc: Flag | None = Field(default=None, alias=fields.BOOKING_SHARE_LOC)


class BookingSeries(IbssModel):
    """Response of the series endpoints."""

    series_id: str = Field(alias=fields.BOOKING_SERIES_ID, min_length=1)
    bookings: list[Booking] = Field(default_factory=list, alias=fields.ODATA_VALUE)


# ------------------------------------------------------------------------------------------------
# Buildings, spaces, policies
# ------------------------------------------------------------------------------------------------
class Floor(IbssModel):
    node_id: int = Field(alias=fields.NODE_ID)
    name: str = Field(default="", alias=fields.NODE_NAME)


class Building(IbssModel):
    node_id: int = Field(alias=fields.NODE_ID)
    name: str = Field(default="", alias=fields.NODE_NAME)
    time_zone: str | None = Field(default=None, alias=fields.NODE_TIME_ZONE)
    ext_system: Flag = Field(default=False, alias=fields.BKNG_EXT_SYSTEM)
    sync_enabled: Flag = Field(default=False, alias=fields.BKNG_SYNC_ENABLED)
    floors: list[Floor] = Field(default_factory=list, alias=fields.NODE_FLOORS)


class Space(IbssModel):
    id: str = Field(alias=fields.SPACE_ID, min_length=1)
    name: str = Field(default="", alias=fields.SPACE_NAME)
    node_id: int = Field(alias=fields.SPACE_NODE_ID)
    floor_node_id: int | None = Field(default=None, alias=fields.SPACE_FLOOR_NODE_ID)
    capacity: int | None = Field(default=None, alias=fields.SPACE_CAPACITY)
    type: str | None = Field(default=None, alias=fields.SPACE_TYPE)
    bookable: Flag = Field(default=True, alias=fields.SPACE_BOOKABLE)
    ext_booking_system: Flag = Field(default=False, alias=fields.SPACE_EXT_BOOKING_SYSTEM)
    ext_booking_space_id: str | None = Field(default=None, alias=fields.SPACE_EXT_BOOKING_SPACE_ID)
    auto_cancel_threshold_min: int | None = Field(default=None, alias=fields.SPACE_AUTO_CANCEL_THLD_MIN)
    policy_id: str | None = Field(default=None, alias=fields.SPACE_BOOKING_POLICY_ID)

    @property
    def room_mailbox(self) -> str | None:
        """The M365 room mailbox, when set (``Meta_Ext_Booking_SpaceId``)."""
        return self.ext_booking_space_id or None

    def is_synced_in(self, building: Building) -> bool:
        """The documented M365 rule: building ``Bkng_Ext_System`` = 1 and space
        ``Meta_Ext_Booking_System`` = 1 and ``Meta_Ext_Booking_SpaceId`` = a mailbox."""
        return building.ext_system and self.ext_booking_system and bool(self.room_mailbox)


def _parse_hhmm(value: Any) -> Any:
    if isinstance(value, str) and value.strip() in {"24:00", "24:00:00"}:
        return time.max
    return value


def _format_hhmm(value: time) -> str:
    return "24:00" if value == time.max else value.strftime("%H:%M")


HhMm = Annotated[time, BeforeValidator(_parse_hhmm), PlainSerializer(_format_hhmm, return_type=str)]


class BookableHours(IbssModel):
    """One bookable interval on a weekday, in the building's local time."""

    day: Weekday = Field(alias=fields.POLICY_HOURS_DAY)
    start: HhMm = Field(alias=fields.POLICY_HOURS_START)
    end: HhMm = Field(alias=fields.POLICY_HOURS_END)


class BookingPolicy(IbssModel):
    id: str = Field(alias=fields.POLICY_ID, min_length=1)
    node_id: int = Field(alias=fields.POLICY_NODE_ID)
    name: str = Field(default="", alias=fields.POLICY_NAME)
    bookable_hours: list[BookableHours] = Field(default_factory=list, alias=fields.POLICY_BOOKABLE_HOURS)
    max_duration_min: int | None = Field(default=None, alias=fields.POLICY_MAX_DURATION_MIN)
    window_days: int | None = Field(default=None, alias=fields.POLICY_WINDOW_DAYS)


class UserPreferences(IbssModel):
    """A person's preferences (``GET /v2/userpreferences/{email}``): only what the sync reads."""

    email: str = Field(alias=fields.PREF_EMAIL, min_length=3)
    calendar_sync: Flag = Field(default=False, alias=fields.PREF_CALENDAR_SYNC)


# ------------------------------------------------------------------------------------------------
# Visits
# ------------------------------------------------------------------------------------------------
class Visit(IbssModel):
    id: str = Field(alias=fields.VISIT_ID, min_length=1)
    node_id: int = Field(alias=fields.VISIT_NODE_ID)
    booking_id: str | None = Field(default=None, alias=fields.VISIT_BOOKING_ID)
    email: str = Field(alias=fields.VISITOR_EMAIL)
    first_name: str | None = Field(default=None, alias=fields.VISITOR_FIRST_NAME)
    last_name: str | None = Field(default=None, alias=fields.VISITOR_LAST_NAME)
    company: str | None = Field(default=None, alias=fields.VISITOR_COMPANY)
    host_email: str | None = Field(default=None, alias=fields.VISIT_HOST_EMAIL)
    start: UtcDatetime = Field(alias=fields.VISIT_START)
    end: UtcDatetime = Field(alias=fields.VISIT_END)
    status: str | None = Field(default=None, alias=fields.VISIT_STATUS)


class VisitUpdate(IbssModel):
    """PATCH of a visit (ASSUMED): only what is set is sent."""

    start: UtcDatetime | None = Field(default=None, alias=fields.VISIT_START)
    end: UtcDatetime | None = Field(default=None, alias=fields.VISIT_END)
    status: str | None = Field(default=None, alias=fields.VISIT_STATUS)


class VisitCreate(IbssModel):
    email: str = Field(alias=fields.VISITOR_EMAIL, min_length=3)
    first_name: str | None = Field(default=None, alias=fields.VISITOR_FIRST_NAME)
    last_name: str | None = Field(default=None, alias=fields.VISITOR_LAST_NAME)
    company: str | None = Field(default=None, alias=fields.VISITOR_COMPANY)
    host_email: str | None = Field(default=None, alias=fields.VISIT_HOST_EMAIL)
    start: UtcDatetime = Field(alias=fields.VISIT_START)
    end: UtcDatetime = Field(alias=fields.VISIT_END)
    booking_id: str | None = Field(default=None, alias=fields.VISIT_BOOKING_ID)

    @model_validator(mode="after")
    def _window(self) -> Self:
        _check_window(self.start, self.end)
        return self


__all__ = [
    "ACTIVE_STATUSES",
    "BookableHours",
    "Booking",
    "BookingCreate",
    "BookingParty",
    "BookingPartyRow",
    "BookingPolicy",
    "BookingSeries",
    "BookingSeriesCreate",
    "BookingSeriesUpdate",
    "BookingStatus",
    "BookingUpdate",
    "Building",
    "Flag",
    "Floor",
    "IbssModel",
    "Occurrence",
    "Space",
    "UserPreferences",
    "UtcDatetime",
    "Visit",
    "VisitCreate",
    "Weekday",
    "format_utc",
]
