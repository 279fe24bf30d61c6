"""Booking policies for Outlook-made meetings: the pure check and what each mode makes of a plan."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.sync import SpaceRef
from shared.sync.plan import AcceptRoomEvent, CreateBooking, DeclineRoomEvent, SyncPlan
from shared.sync.policy import (
    BookableInterval,
    PolicyMode,
    SpacePolicy,
    apply_policy,
    check_policy,
    describe_hours,
)

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2030, 1, 7, 6, 0, tzinfo=UTC)  # Monday 07:00 in Berlin


def hours(days: range | tuple[int, ...], start: str, end: str) -> tuple[BookableInterval, ...]:
    def minute(text: str) -> int:
        h, m = text.split(":")
        return int(h) * 60 + int(m)

    return tuple(
        BookableInterval(weekday=d, start_minute=minute(start), end_minute=minute(end)) for d in days
    )


OFFICE = hours(range(5), "08:00", "18:00")


def policy(
    rules: tuple[BookableInterval, ...] = OFFICE,
    max_min: int | None = None,
    window: int | None = None,
    tz: str = "Europe/Berlin",
) -> SpacePolicy:
    return SpacePolicy(
        space_name="Aurora", time_zone=tz, hours=rules, max_duration_min=max_min, window_days=window
    )


def local(day: str, hhmm: str, *, fold: int = 0) -> datetime:
    """A Berlin wall-clock time as a UTC instant."""
    naive = datetime.fromisoformat(f"{day}T{hhmm}")
    return naive.replace(tzinfo=BERLIN, fold=fold).astimezone(UTC)


def kinds(found: tuple[object, ...]) -> list[str]:
    return [v.kind for v in found]  # type: ignore[attr-defined]


# ----------------------------------------------------------------------------- weekday hours


def test_missing_policy_allows_everything() -> None:
    assert check_policy(None, local("2030-01-12", "03:00"), local("2030-01-12", "23:00"), NOW) == ()


def test_policy_without_rules_allows_everything() -> None:
    p = policy(rules=())
    assert check_policy(p, local("2030-01-12", "03:00"), local("2030-01-13", "23:00"), NOW) == ()


def test_inside_hours_including_the_edges() -> None:
    p = policy()
    assert check_policy(p, local("2030-01-08", "08:00"), local("2030-01-08", "18:00"), NOW) == ()
    assert check_policy(p, local("2030-01-11", "09:00"), local("2030-01-11", "10:00"), NOW) == ()


def test_starting_after_hours_gives_the_documented_reason() -> None:
    (found,) = check_policy(policy(), local("2030-01-08", "19:00"), local("2030-01-08", "20:00"), NOW)
    assert found.kind == "outside_hours"
    assert found.reason == (
        "Aurora can be booked Mon-Fri 08:00-18:00 (Europe/Berlin); this meeting starts at 19:00."
    )


def test_starting_before_hours() -> None:
    (found,) = check_policy(policy(), local("2030-01-08", "07:30"), local("2030-01-08", "08:30"), NOW)
    assert found.reason.endswith("this meeting starts at 07:30.")


def test_running_past_closing() -> None:
    (found,) = check_policy(policy(), local("2030-01-08", "17:00"), local("2030-01-08", "19:00"), NOW)
    assert found.reason.endswith("this meeting ends at 19:00.")


def test_a_day_without_hours() -> None:
    (found,) = check_policy(policy(), local("2030-01-12", "10:00"), local("2030-01-12", "11:00"), NOW)
    assert found.reason.endswith("this meeting is on a Saturday.")


def test_times_are_the_buildings_local_times() -> None:
    # 08:00-18:00 in New York is 13:00-23:00 UTC in January.
    p = policy(tz="America/New_York")
    start = datetime(2030, 1, 8, 21, 0, tzinfo=UTC)  # 16:00 in New York, 22:00 in Berlin
    assert check_policy(p, start, start + timedelta(hours=1), NOW) == ()
    (found,) = check_policy(policy(), start, start + timedelta(hours=1), NOW)
    assert found.kind == "outside_hours"


def test_several_intervals_a_day_need_one_to_hold_the_meeting() -> None:
    p = policy(rules=hours((0,), "08:00", "12:00") + hours((0,), "13:00", "18:00"))
    assert check_policy(p, local("2030-01-07", "13:00"), local("2030-01-07", "14:00"), NOW) == ()
    (found,) = check_policy(p, local("2030-01-07", "11:30"), local("2030-01-07", "13:30"), NOW)
    assert found.reason.endswith("this meeting ends at 13:30.")
    (found,) = check_policy(p, local("2030-01-07", "12:15"), local("2030-01-07", "12:45"), NOW)
    assert found.reason.endswith("this meeting starts at 12:15.")


def test_describe_hours_groups_days() -> None:
    assert describe_hours(OFFICE) == "Mon-Fri 08:00-18:00"
    assert describe_hours(hours((0, 2), "08:00", "12:00")) == "Mon, Wed 08:00-12:00"
    mixed = hours((0, 1), "07:00", "20:00") + hours((5,), "09:00", "13:00") + hours((6,), "00:00", "24:00")
    assert describe_hours(mixed) == "Mon, Tue 07:00-20:00; Sat 09:00-13:00; Sun 00:00-24:00"
    split = hours((3,), "08:00", "12:00") + hours((3,), "14:00", "18:00")
    assert describe_hours(split) == "Thu 08:00-12:00, 14:00-18:00"


# ----------------------------------------------------------------------------- overnight


def test_overnight_through_touching_intervals() -> None:
    p = policy(rules=hours((0,), "18:00", "24:00") + hours((1,), "00:00", "06:00"))
    assert check_policy(p, local("2030-01-07", "23:00"), local("2030-01-08", "01:00"), NOW) == ()
    (found,) = check_policy(p, local("2030-01-07", "23:00"), local("2030-01-08", "07:00"), NOW)
    assert found.reason.endswith("this meeting ends at 07:00 on Tuesday.")


def test_overnight_interval_that_wraps_past_midnight() -> None:
    p = policy(rules=hours((4,), "22:00", "06:00"))  # Friday night
    assert check_policy(p, local("2030-01-11", "23:00"), local("2030-01-12", "05:00"), NOW) == ()
    # Saturday 01:00 is still Friday night's window although Saturday has no hours of its own.
    assert check_policy(p, local("2030-01-12", "01:00"), local("2030-01-12", "02:00"), NOW) == ()
    (found,) = check_policy(p, local("2030-01-12", "07:00"), local("2030-01-12", "08:00"), NOW)
    assert found.reason.endswith("this meeting is on a Saturday.")


def test_24_00_closes_at_midnight() -> None:
    p = policy(rules=hours((0,), "20:00", "24:00"))
    assert check_policy(p, local("2030-01-07", "22:00"), local("2030-01-08", "00:00"), NOW) == ()
    (found,) = check_policy(p, local("2030-01-07", "23:00"), local("2030-01-08", "00:30"), NOW)
    assert found.kind == "outside_hours"


# ----------------------------------------------------------------------------- DST days (Europe/Berlin)


def test_spring_forward_day_uses_wall_clock_hours() -> None:
    sunday = "2030-03-31"  # clocks go from 02:00 to 03:00
    p = policy(rules=hours((6,), "08:00", "18:00"))
    assert check_policy(p, local(sunday, "08:00"), local(sunday, "18:00"), NOW) == ()
    assert local(sunday, "08:00").hour == 6  # CEST already: UTC+2
    (found,) = check_policy(p, local(sunday, "07:30"), local(sunday, "09:00"), NOW)
    assert found.reason.endswith("this meeting starts at 07:30.")


def test_interval_across_the_spring_gap() -> None:
    sunday = "2030-03-31"
    p = policy(rules=hours((6,), "01:00", "04:00"))
    start, end = local(sunday, "01:30"), local(sunday, "03:30")
    assert end - start == timedelta(hours=1)
    assert check_policy(p, start, end, NOW) == ()


def test_fall_back_day_ambiguous_hour() -> None:
    sunday = "2030-10-27"  # clocks go from 03:00 back to 02:00
    p = policy(rules=hours((6,), "02:00", "03:00"))
    first, second = local(sunday, "02:30", fold=0), local(sunday, "02:30", fold=1)
    assert second - first == timedelta(hours=1)
    # 02:00 (first) .. 03:00 (after the change) is two real hours; both 02:30s are inside.
    assert check_policy(p, first, second, NOW) == ()


def test_max_duration_counts_real_time_on_dst_days() -> None:
    all_sunday = hours((6,), "00:00", "24:00")
    p = policy(rules=all_sunday, max_min=23 * 60)
    # Spring: midnight to midnight is 23 real hours; autumn: 25.
    assert check_policy(p, local("2030-03-31", "00:00"), local("2030-04-01", "00:00"), NOW) == ()
    (found,) = check_policy(p, local("2030-10-27", "00:00"), local("2030-10-28", "00:00"), NOW)
    assert found.kind == "too_long"
    assert found.reason == "Aurora can be booked for at most 23 hours; this meeting lasts 25 hours."


# ----------------------------------------------------------------------------- duration and window


def test_max_duration() -> None:
    p = policy(rules=(), max_min=120)
    assert check_policy(p, local("2030-01-08", "09:00"), local("2030-01-08", "11:00"), NOW) == ()
    (found,) = check_policy(p, local("2030-01-08", "09:00"), local("2030-01-08", "11:30"), NOW)
    assert found.reason == (
        "Aurora can be booked for at most 2 hours; this meeting lasts 2 hours 30 minutes."
    )
    (found,) = check_policy(policy(rules=(), max_min=45), NOW, NOW + timedelta(minutes=61), NOW)
    assert found.reason == "Aurora can be booked for at most 45 minutes; this meeting lasts 1 hour 1 minute."


def test_booking_window() -> None:
    p = policy(rules=(), window=90)
    assert check_policy(p, NOW + timedelta(days=90), NOW + timedelta(days=90, hours=1), NOW) == ()
    late = NOW + timedelta(days=120, hours=3)
    (found,) = check_policy(p, late, late + timedelta(hours=1), NOW)
    assert found.kind == "outside_window"
    assert found.reason == "Aurora can be booked at most 90 days ahead; this meeting is 120 days ahead."


def test_every_broken_rule_is_reported() -> None:
    p = policy(max_min=60, window=30)
    start = local("2030-03-09", "17:00")  # a Saturday, 61 days ahead
    found = check_policy(p, start, start + timedelta(hours=3), NOW)
    assert kinds(found) == ["outside_hours", "too_long", "outside_window"]


@given(
    start_min=st.integers(min_value=0, max_value=7 * 24 * 60 - 1),
    length=st.integers(min_value=1, max_value=600),
)
def test_office_hours_agree_with_a_minute_by_minute_reference(start_min: int, length: int) -> None:
    """Inside Mon-Fri 08:00-18:00 iff every minute of the meeting is (a January week: no DST)."""
    monday = local("2030-01-07", "00:00")
    start = monday + timedelta(minutes=start_min)
    end = start + timedelta(minutes=length)

    def open_at(t: datetime) -> bool:
        lt = t.astimezone(BERLIN)
        return lt.weekday() < 5 and 8 * 60 <= lt.hour * 60 + lt.minute < 18 * 60

    expected = all(open_at(start + timedelta(minutes=m)) for m in range(length))
    assert (check_policy(policy(), start, end, NOW) == ()) == expected


# ----------------------------------------------------------------------------- what the modes do to a plan

AURORA = SpaceRef(node_id=1001, space_id="HQ-1-AURORA", room_mailbox="aurora@contoso.example")


def create(start: datetime) -> CreateBooking:
    return CreateBooking(
        space=AURORA,
        start=start,
        end=start + timedelta(hours=1),
        name="Late review",
        owner_email="bob@contoso.example",
        origin_ical_uid="uid-1",
        room_event_id="room-event-1",
    )


def test_modes() -> None:
    action = create(local("2030-01-08", "19:00"))
    plan = SyncPlan(actions=(action,), explanation=("an Outlook meeting: book it",))
    violations = check_policy(policy(), action.start, action.end, NOW)

    assert apply_policy(plan, action, PolicyMode.IGNORE, violations) == plan
    assert apply_policy(plan, action, PolicyMode.ENFORCE, ()) == plan

    enforced = apply_policy(plan, action, PolicyMode.ENFORCE, violations)
    (decline,) = enforced.actions
    assert isinstance(decline, DeclineRoomEvent)
    assert (decline.room_mailbox, decline.event_id) == ("aurora@contoso.example", "room-event-1")
    assert decline.comment == (
        "Declined: the meeting breaks the room's booking policy. "
        "Aurora can be booked Mon-Fri 08:00-18:00 (Europe/Berlin); this meeting starts at 19:00."
    )
    assert enforced.new_base is None
    assert not enforced.ibss_writes

    warned = apply_policy(plan, action, PolicyMode.WARN, violations)
    first, accept = warned.actions
    assert first == action
    assert isinstance(accept, AcceptRoomEvent)
    assert accept.comment.startswith("Accepted, but the meeting breaks the room's booking policy. Aurora")
    assert accept in warned.outlook_writes
    assert warned.new_base == plan.new_base


def test_a_create_not_in_the_plan_changes_nothing() -> None:
    action = create(local("2030-01-08", "19:00"))
    plan = SyncPlan(actions=())
    violations = check_policy(policy(), action.start, action.end, NOW)
    assert apply_policy(plan, action, PolicyMode.ENFORCE, violations) == plan


@pytest.mark.parametrize("mode", list(PolicyMode))
def test_accept_action_round_trips_through_the_outbox_model(mode: PolicyMode) -> None:
    action = create(local("2030-01-08", "19:00"))
    violations = check_policy(policy(), action.start, action.end, NOW)
    plan = apply_policy(SyncPlan(actions=(action,)), action, mode, violations)
    assert SyncPlan.model_validate_json(plan.model_dump_json()) == plan
