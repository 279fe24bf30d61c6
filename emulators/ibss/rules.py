"""The platform rules the emulator enforces (pure functions).

* no double booking of a space (409 ``SpaceUnavailable``);
* no booking starting in the past (400 ``BookingInPast``; one minute of grace for clock skew);
* booking policies per space: bookable hours by weekday in the building's local time
  (400 ``OutsideBookableHours``), maximum duration (400 ``MaxDurationExceeded``) and booking window,
  i.e. how many days ahead a booking may start (400 ``OutsideBookingWindow``).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from shared.ibss import fields
from shared.ibss.models import ACTIVE_STATUSES, Booking, BookingPolicy, Weekday, format_utc

PAST_GRACE = timedelta(minutes=1)
EARLY_CHECKIN_WINDOW = timedelta(minutes=30)


class ApiError(Exception):
    """An error response of the emulated API: ``{"Code", "Reason", "Message", "Details"}``."""

    def __init__(
        self,
        status: int,
        reason: str,
        message: str,
        *,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message
        self.details = details
        self.headers = headers or {}


def check_window(start: datetime, end: datetime) -> None:
    if end <= start:
        raise ApiError(400, "InvalidTimeRange", f"{fields.BOOKING_END} must be after {fields.BOOKING_START}")


def check_not_past(start: datetime, now: datetime) -> None:
    if start < now - PAST_GRACE:
        raise ApiError(
            400,
            "BookingInPast",
            f"bookings cannot start in the past (start {format_utc(start)}, now {format_utc(now)})",
        )


def _within_hours(policy: BookingPolicy, local_start: datetime, local_end: datetime) -> bool:
    day = list(Weekday)[local_start.weekday()]
    for hours in policy.bookable_hours:
        if hours.day != day:
            continue
        open_at = datetime.combine(local_start.date(), hours.start)
        if hours.end == time.max:
            close_at = datetime.combine(local_start.date() + timedelta(days=1), time(0, 0))
        else:
            close_at = datetime.combine(local_start.date(), hours.end)
        if open_at <= local_start.replace(tzinfo=None) and local_end.replace(tzinfo=None) <= close_at:
            return True
    return False


def check_policy(policy: BookingPolicy, tz_name: str, start: datetime, end: datetime, now: datetime) -> None:
    if policy.max_duration_min is not None and end - start > timedelta(minutes=policy.max_duration_min):
        raise ApiError(
            400,
            "MaxDurationExceeded",
            f"policy {policy.id!r} allows at most {policy.max_duration_min} minutes",
            details={fields.POLICY_ID: policy.id},
        )
    if policy.window_days is not None and start > now + timedelta(days=policy.window_days):
        raise ApiError(
            400,
            "OutsideBookingWindow",
            f"policy {policy.id!r} allows bookings at most {policy.window_days} days ahead",
            details={fields.POLICY_ID: policy.id},
        )
    if policy.bookable_hours:
        tz = ZoneInfo(tz_name)
        if not _within_hours(policy, start.astimezone(tz), end.astimezone(tz)):
            raise ApiError(
                400,
                "OutsideBookableHours",
                f"policy {policy.id!r}: the space is not bookable at that time ({tz_name})",
                details={fields.POLICY_ID: policy.id},
            )


def find_conflict(
    bookings: Iterable[Booking],
    *,
    node_id: int,
    space_id: str,
    start: datetime,
    end: datetime,
    exclude: set[str],
) -> Booking | None:
    """The first active booking of the space overlapping [start, end) (half-open: back-to-back is fine)."""
    for other in bookings:
        if other.id in exclude or other.node_id != node_id or other.space_id != space_id:
            continue
        if other.status not in ACTIVE_STATUSES:
            continue
        if other.start < end and start < other.end:
            return other
    return None


def conflict_error(other: Booking) -> ApiError:
    return ApiError(
        409,
        "SpaceUnavailable",
        f"space {other.space_id!r} is already booked "
        f"from {format_utc(other.start)} to {format_utc(other.end)}",
        details={fields.BOOKING_ID: other.id},
    )
