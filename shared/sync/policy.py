"""Booking policies for meetings made in Outlook: a pure check, and what it does to a plan.

IBSS knows a space's booking policy (bookable hours per weekday in the building's time zone, a maximum
duration, how many days ahead a booking may start); Outlook does not. ``check_policy`` says which rules a
meeting breaks, each with a reason a person understands. ``apply_policy`` turns the core's plan for an
Outlook-made meeting (``CreateBooking``) into what the building's mode asks for:

* ``enforce``: the room declines the meeting with the reasons; nothing is booked in IBSS;
* ``warn``: the booking is made, then the room accepts again with the reasons as its comment, so the
  organizer gets a response that says what the meeting breaks;
* ``ignore``: no check (what ICONICS' own Sync Service v2 does: it "disregards any booking policy").

Pure and deterministic like the rest of ``shared/sync``: no I/O, ``now`` is passed in.

Rules (consistent with the IBSS emulator, ``emulators/ibss/rules.py``, where both are defined):

* hours: the whole meeting must lie in the bookable hours of the local day it starts on. Intervals that
  touch (Mon 18:00-24:00 and Tue 00:00-06:00) form one window, so an overnight meeting fits when the
  hours run through the night; an interval whose end is not after its start (22:00-06:00) runs past
  midnight. Boundaries are local wall-clock times converted to instants, so DST days are handled:
  Sunday 08:00-18:00 on a DST day is 9 or 11 hours long in real time. A policy without hours does not
  limit the time of day (the IBSS model's assumption; see ``docs/ibss-api.md``).
* duration: real elapsed time (``end - start``) above ``max_duration_min``.
* window: a start later than ``now + window_days`` days.
* no policy: allowed.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field

from shared.sync.plan import AcceptRoomEvent, Action, CreateBooking, DeclineRoomEvent, SyncPlan

MINUTES_PER_DAY = 24 * 60
_DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_FULL_DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


class PolicyMode(StrEnum):
    """Per building (``BuildingConfig.policy_mode``), default ``SYNC_POLICY_MODE``."""

    ENFORCE = "enforce"
    WARN = "warn"
    IGNORE = "ignore"


class BookableInterval(BaseModel):
    """Bookable on ``weekday`` (0 = Monday) from ``start_minute`` to ``end_minute`` local time.

    Minutes since local midnight; ``end_minute`` 1440 is 24:00. An end not after the start runs past
    midnight into the next day."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    weekday: int = Field(ge=0, le=6)
    start_minute: int = Field(ge=0, le=MINUTES_PER_DAY)
    end_minute: int = Field(ge=0, le=MINUTES_PER_DAY)


class SpacePolicy(BaseModel):
    """A space's booking policy as the check needs it (built from IBSS's ``BookingPolicy``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    space_name: str  # the reasons name the room as people know it
    time_zone: str  # IANA name of the building's zone
    hours: tuple[BookableInterval, ...] = ()  # empty: any time of day
    max_duration_min: int | None = Field(default=None, ge=1)
    window_days: int | None = Field(default=None, ge=0)


ViolationKind = Literal["outside_hours", "too_long", "outside_window"]


class PolicyViolation(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: ViolationKind
    reason: str


# =============================================================================== formatting


def _hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def _duration(minutes: int) -> str:
    hours, rest = divmod(minutes, 60)
    parts = []
    if hours:
        parts.append(f"{hours} hour" + ("" if hours == 1 else "s"))
    if rest or not hours:
        parts.append(f"{rest} minute" + ("" if rest == 1 else "s"))
    return " ".join(parts)


def _day_ranges(days: list[int]) -> str:
    """[0, 1, 2, 3, 4] -> "Mon-Fri"; [0, 2] -> "Mon, Wed"; [5] -> "Sat"."""
    groups: list[list[int]] = []
    for day in sorted(days):
        if groups and groups[-1][-1] == day - 1:
            groups[-1].append(day)
        else:
            groups.append([day])
    parts = []
    for g in groups:
        if len(g) == 1:
            parts.append(_DAY_NAMES[g[0]])
        elif len(g) == 2:
            parts.append(f"{_DAY_NAMES[g[0]]}, {_DAY_NAMES[g[1]]}")
        else:
            parts.append(f"{_DAY_NAMES[g[0]]}-{_DAY_NAMES[g[-1]]}")
    return ", ".join(parts)


def describe_hours(hours: tuple[BookableInterval, ...]) -> str:
    """ "Mon-Fri 08:00-18:00" (days with the same intervals grouped), "; " between groups."""
    by_day: dict[int, tuple[tuple[int, int], ...]] = {}
    for h in sorted(hours, key=lambda h: (h.weekday, h.start_minute)):
        by_day[h.weekday] = (*by_day.get(h.weekday, ()), (h.start_minute, h.end_minute))
    by_spans: dict[tuple[tuple[int, int], ...], list[int]] = {}
    for day, spans in by_day.items():
        by_spans.setdefault(spans, []).append(day)
    parts = []
    for spans, days in sorted(by_spans.items(), key=lambda item: min(item[1])):
        times = ", ".join(f"{_hhmm(s)}-{_hhmm(e)}" for s, e in spans)
        parts.append(f"{_day_ranges(days)} {times}")
    return "; ".join(parts)


# =============================================================================== the check


def _windows(policy: SpacePolicy, tz: ZoneInfo, first: date, last: date) -> list[tuple[datetime, datetime]]:
    """Bookable instants of the local days first-1 .. last, touching windows merged."""
    spans: list[tuple[datetime, datetime]] = []
    day = first - timedelta(days=1)
    while day <= last:
        for h in policy.hours:
            if h.weekday != day.weekday():
                continue
            length = h.end_minute - h.start_minute
            if length <= 0:
                length += MINUTES_PER_DAY  # 22:00-06:00 runs into the next day
            # Wall-clock arithmetic on the local date, then resolved in the zone (DST days).
            opens = _local(day, h.start_minute, tz)
            closes = _local(day, h.start_minute + length, tz)
            spans.append((opens, closes))
        day += timedelta(days=1)
    spans.sort()
    merged: list[tuple[datetime, datetime]] = []
    for opens, closes in spans:
        if merged and opens <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], closes))
        else:
            merged.append((opens, closes))
    return merged


def _local(day: date, minute: int, tz: ZoneInfo) -> datetime:
    """The instant of local wall-clock ``day`` + ``minute`` minutes (may be past midnight)."""
    extra_days, minute = divmod(minute, MINUTES_PER_DAY)
    wall = datetime.combine(day + timedelta(days=extra_days), time(minute // 60, minute % 60))
    return wall.replace(tzinfo=tz)


def _hours_violation(policy: SpacePolicy, start: datetime, end: datetime) -> PolicyViolation | None:
    tz = ZoneInfo(policy.time_zone)
    local_start, local_end = start.astimezone(tz), end.astimezone(tz)
    for opens, closes in _windows(policy, tz, local_start.date(), local_end.date()):
        if opens <= start and end <= closes:
            return None
    allowed = f"{policy.space_name} can be booked {describe_hours(policy.hours)} ({policy.time_zone})"
    day = local_start.weekday()
    if _inside_some_window(policy, tz, start):
        detail = f"this meeting ends at {local_end.strftime('%H:%M')}"
        if local_end.date() != local_start.date():
            detail += f" on {_FULL_DAY_NAMES[local_end.weekday()]}"
    elif not any(h.weekday == day for h in policy.hours):
        detail = f"this meeting is on a {_FULL_DAY_NAMES[day]}"
    else:
        detail = f"this meeting starts at {local_start.strftime('%H:%M')}"
    return PolicyViolation(kind="outside_hours", reason=f"{allowed}; {detail}.")


def _inside_some_window(policy: SpacePolicy, tz: ZoneInfo, instant: datetime) -> bool:
    local = instant.astimezone(tz)
    return any(o <= instant < c for o, c in _windows(policy, tz, local.date(), local.date()))


def check_policy(
    policy: SpacePolicy | None, start: datetime, end: datetime, now: datetime
) -> tuple[PolicyViolation, ...]:
    """Every rule of ``policy`` the meeting [start, end) breaks; () when it fits or there is no policy."""
    if policy is None:
        return ()
    found: list[PolicyViolation] = []
    if policy.hours:
        hours = _hours_violation(policy, start, end)
        if hours is not None:
            found.append(hours)
    minutes = int((end - start).total_seconds() // 60)
    if policy.max_duration_min is not None and end - start > timedelta(minutes=policy.max_duration_min):
        found.append(
            PolicyViolation(
                kind="too_long",
                reason=(
                    f"{policy.space_name} can be booked for at most {_duration(policy.max_duration_min)}; "
                    f"this meeting lasts {_duration(minutes)}."
                ),
            )
        )
    if policy.window_days is not None and start > now + timedelta(days=policy.window_days):
        ahead = (start - now).days
        found.append(
            PolicyViolation(
                kind="outside_window",
                reason=(
                    f"{policy.space_name} can be booked at most {policy.window_days} days ahead; "
                    f"this meeting is {ahead} days ahead."
                ),
            )
        )
    return tuple(found)


# =============================================================================== the plan


def decline_comment(violations: tuple[PolicyViolation, ...]) -> str:
    return "Declined: the meeting breaks the room's booking policy. " + " ".join(v.reason for v in violations)


def warning_comment(violations: tuple[PolicyViolation, ...]) -> str:
    return "Accepted, but the meeting breaks the room's booking policy. " + " ".join(
        v.reason for v in violations
    )


def apply_policy(
    plan: SyncPlan, create: CreateBooking, mode: PolicyMode, violations: tuple[PolicyViolation, ...]
) -> SyncPlan:
    """What the building's mode makes of a plan whose ``create`` (an Outlook-made meeting) breaks the
    space's policy. ``create`` must be one of the plan's actions."""
    if mode is PolicyMode.IGNORE or not violations or create not in plan.actions:
        return plan
    room, event_id = create.space.room_mailbox, create.room_event_id
    if mode is PolicyMode.ENFORCE:
        # Nothing else of the plan happens: there is no booking to link, the room is freed.
        return SyncPlan(
            actions=(
                DeclineRoomEvent(room_mailbox=room, event_id=event_id, comment=decline_comment(violations)),
            ),
            new_base=None,
            explanation=(
                *plan.explanation,
                "the meeting breaks the space's booking policy: the room declines",
            ),
        )
    # Warn: the accept (and its comment) comes after the booking, so a booking IBSS refuses anyway is
    # declined by the rejection path instead of being announced as accepted.
    actions: list[Action] = []
    for action in plan.actions:
        actions.append(action)
        if action == create:
            actions.append(
                AcceptRoomEvent(room_mailbox=room, event_id=event_id, comment=warning_comment(violations))
            )
    return plan.model_copy(
        update={
            "actions": tuple(actions),
            "explanation": (
                *plan.explanation,
                "the meeting breaks the space's booking policy: organizer warned",
            ),
        }
    )
