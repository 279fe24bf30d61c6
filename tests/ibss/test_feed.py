"""The IBSS change feed's rules (shared/ibss/feed.py), pure: watermark, dedupe, backoff, jobs from a page."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.ibss import fields
from shared.ibss.feed import (
    DUE_EARLY,
    ChangeDetection,
    FeedSettings,
    FeedState,
    after_failure,
    after_success,
    claimed,
    fingerprint,
    is_due,
    is_stale,
    is_synced,
    job_for,
    known_change_detection,
    new_feed,
    next_turn,
    to_hand_on,
)
from shared.ibss.hooks import IbssHookType
from shared.ibss.models import Booking, Building
from shared.rooms.models import BuildingConfig
from shared.state.ibss_feed import from_entity, to_entity

NOW = datetime(2030, 1, 8, 9, 0, tzinfo=UTC)
SETTINGS = FeedSettings(poll_seconds=30, safety_poll_seconds=300, overlap_seconds=120, recent_cap=3)
POLL, SAFETY = ChangeDetection.POLL, ChangeDetection.HOOKS_AND_POLL

# One page of GET /v2/1001/bookings?$filter=Booking_Modified ge ... as IBSS sends it (wire names from
# shared/ibss/fields.py; the shape of the documented booking list).
PAGE: dict[str, Any] = {
    fields.ODATA_VALUE: [
        {
            "Booking_Id": "b-new",
            "Node_Id": 1001,
            "Space_Id": "HQ-1-AURORA",
            "Booking_Name": "Planning",
            "Booking_Start": "2030-01-09T09:00:00Z",
            "Booking_End": "2030-01-09T10:00:00Z",
            "Booking_Status": "New",
            "Booking_Owner_Email": "alice@contoso.example",
            "Booking_Modified": "2030-01-08T08:59:30Z",
            "Booking_Etag": '"e1"',
        },
        {
            "Booking_Id": "b-cancelled",
            "Node_Id": 1001,
            "Space_Id": "HQ-2-CIRRUS",
            "Booking_Start": "2030-01-09T11:00:00Z",
            "Booking_End": "2030-01-09T12:00:00Z",
            "Booking_Status": "Cancelled",
            "Booking_Owner_Email": "bob@contoso.example",
            "Booking_Series_Id": "s-1",
            "Booking_Modified": "2030-01-08T08:59:40Z",
            "Booking_Etag": '"e7"',
        },
        {
            "Booking_Id": "b-no-show",
            "Node_Id": 1001,
            "Space_Id": "HQ-1-AURORA",
            "Booking_Start": "2030-01-08T08:00:00Z",
            "Booking_End": "2030-01-08T09:00:00Z",
            "Booking_Status": "Auto Cancelled",
            "Booking_Owner_Email": "carol@contoso.example",
            "Booking_Modified": "2030-01-08T08:15:00Z",
        },
        {
            "Booking_Id": "b-done",
            "Node_Id": 1001,
            "Space_Id": "HQ-3-ECHO",
            "Booking_Start": "2030-01-08T07:00:00Z",
            "Booking_End": "2030-01-08T08:00:00Z",
            "Booking_Status": "Completed",
            "Booking_Owner_Email": "dave@contoso.example",
            "Booking_Modified": "2030-01-08T07:40:00Z",
            "Booking_Etag": '"e3"',
        },
    ]
}
BOOKINGS = [Booking.model_validate(b) for b in PAGE[fields.ODATA_VALUE]]


def _state(**update: Any) -> FeedState:
    return new_feed(1001, NOW, POLL, SETTINGS).model_copy(update=update)


def _polled(state: FeedState, started: datetime) -> FeedState:
    """A poll claimed and finished at ``started`` that handed nothing on."""
    mine = claimed(state, started, POLL, SETTINGS)
    return after_success(mine, started_at=started, handed_on={}, pages=1, settings=SETTINGS, mode=POLL)


def test_a_new_building_polls_one_interval_later_from_now_minus_the_overlap() -> None:
    poll = new_feed(1001, NOW, POLL, SETTINGS)
    assert poll.watermark == NOW - timedelta(seconds=120)
    assert poll.next_poll_at == NOW + timedelta(seconds=30)
    assert new_feed(1001, NOW, SAFETY, SETTINGS).next_poll_at == NOW + timedelta(seconds=300)
    assert not is_due(poll, NOW)
    assert is_due(poll, NOW + timedelta(seconds=30))


def test_polls_keep_their_turns_when_each_starts_a_moment_after_its_timer_tick() -> None:
    # A one-second timer; each poll starts 120 ms after the tick that found it due.
    state = new_feed(1001, NOW + timedelta(milliseconds=120), POLL, SETTINGS)
    starts: list[datetime] = []
    tick = NOW
    while len(starts) < 20:
        tick += timedelta(seconds=1)
        if is_due(state, tick):
            started = tick + timedelta(milliseconds=120)
            starts.append(started)
            state = _polled(state, started)
    gaps = {(b - a).total_seconds() for a, b in itertools.pairwise(starts)}
    assert gaps == {30.0}  # not 31 s: a late start does not push the next turn a tick later


def test_an_early_or_a_late_poll_starts_the_count_again_from_its_own_start() -> None:
    early = after_success(_state(), started_at=NOW, handed_on={}, pages=1, settings=SETTINGS, mode=POLL)
    assert early.next_poll_at == NOW + timedelta(seconds=30)  # "poll now" 30 s before its turn
    behind = _state(next_poll_at=NOW - timedelta(minutes=5))
    late = after_success(behind, started_at=NOW, handed_on={}, pages=1, settings=SETTINGS, mode=POLL)
    assert late.next_poll_at == NOW + timedelta(seconds=30)  # no burst of polls to catch up
    on_time = _state(next_poll_at=NOW - timedelta(seconds=2))
    assert next_turn(on_time, NOW, timedelta(seconds=30)) == NOW + timedelta(seconds=28)
    assert not is_due(_state(next_poll_at=NOW + timedelta(seconds=1)), NOW)
    assert is_due(_state(next_poll_at=NOW + DUE_EARLY), NOW)


def test_a_leased_building_is_not_due_until_the_lease_runs_out() -> None:
    leased = claimed(_state(next_poll_at=NOW), NOW, POLL, SETTINGS)
    assert leased.lease_until == NOW + timedelta(seconds=SETTINGS.lease_seconds)
    assert leased.last_poll_at == NOW
    assert not is_due(leased, NOW + timedelta(seconds=10))
    assert is_due(leased, leased.lease_until)


def test_success_moves_the_watermark_to_the_polls_start_minus_the_overlap_and_never_back() -> None:
    state = _state(watermark=NOW - timedelta(minutes=5))
    done = after_success(state, started_at=NOW, handed_on={}, pages=1, settings=SETTINGS, mode=POLL)
    assert done.watermark == NOW - timedelta(seconds=120)
    assert done.next_poll_at == NOW + timedelta(seconds=30)
    assert (done.lease_until, done.failures, done.last_error, done.last_success_at) == (None, 0, None, NOW)
    earlier = after_success(
        done, started_at=NOW - timedelta(minutes=10), handed_on={}, pages=1, settings=SETTINGS, mode=POLL
    )
    assert earlier.watermark == done.watermark  # a late save of an older poll cannot move it back


def test_remembered_versions_are_pruned_below_the_watermark_and_capped_to_the_newest() -> None:
    floor = int((NOW - timedelta(seconds=120)).timestamp())
    state = _state(recent={"old": floor - 1, "edge": floor})
    handed = {"a": floor + 1, "b": floor + 2, "c": floor + 3}
    done = after_success(state, started_at=NOW, handed_on=handed, pages=1, settings=SETTINGS, mode=POLL)
    assert done.recent == {"a": floor + 1, "b": floor + 2, "c": floor + 3}  # "old" pruned, cap 3 keeps newest
    assert done.last_handed_on == 3


def test_failure_keeps_the_watermark_and_backs_off_exponentially_up_to_the_cap() -> None:
    state = claimed(_state(next_poll_at=NOW), NOW, POLL, SETTINGS)
    delays = []
    for _ in range(7):
        state = after_failure(state, now=NOW, reason="IBSS 503: down", settings=SETTINGS, mode=POLL)
        delays.append((state.next_poll_at - NOW).total_seconds())
    assert delays == [30, 60, 120, 240, 480, 900, 900]
    assert state.watermark == _state().watermark
    assert (state.failures, state.last_error, state.lease_until) == (7, "IBSS 503: down", None)
    throttled = after_failure(_state(), now=NOW, reason="429", settings=SETTINGS, mode=POLL, retry_after=200)
    assert throttled.next_poll_at == NOW + timedelta(seconds=200)  # Retry-After wins over a shorter backoff


def test_versions_are_handed_on_once_and_again_after_each_change() -> None:
    first = to_hand_on(BOOKINGS + BOOKINGS[:1], {})
    assert [b.id for _, b in first] == ["b-new", "b-cancelled", "b-no-show", "b-done"]  # no twin in a page
    known = {key: 0 for key, _ in first}
    assert to_hand_on(BOOKINGS, known) == []
    edited = BOOKINGS[0].model_copy(update={"etag": '"e2"'})
    assert [b.id for _, b in to_hand_on([edited], known)] == ["b-new"]
    assert fingerprint(edited) != fingerprint(BOOKINGS[0])
    # Without an ETag, Booking_Modified stands for the version.
    later = BOOKINGS[2].model_copy(update={"modified": NOW})
    assert fingerprint(later) != fingerprint(BOOKINGS[2])


def test_jobs_are_those_a_hook_would_make_with_reason_poll() -> None:
    jobs = [job_for(b, fingerprint(b), NOW) for b in BOOKINGS]
    assert [j.hook_type for j in jobs] == [
        IbssHookType.UPDATED,
        IbssHookType.CANCELLED,
        IbssHookType.AUTO_CANCELLED,
        IbssHookType.CHECKED_OUT,
    ]
    assert {j.reason for j in jobs} == {"poll"}
    assert all(j.is_change_hint for j in jobs)
    assert jobs[1].series_id == "s-1"
    assert (jobs[0].booking_id, jobs[0].node_id, jobs[0].space_id) == ("b-new", 1001, "HQ-1-AURORA")
    assert jobs[0].hook_id == f"poll-{fingerprint(BOOKINGS[0])}"
    assert len({j.correlation_id for j in jobs}) == 4


def test_only_synced_spaces_unless_the_building_syncs_desk_bookings() -> None:
    rooms_only = Building.model_validate({"Node_Id": 1001, "Bkng_Ext_System": 1, "Bkng_Sync_Enabled": 0})
    desks_too = Building.model_validate({"Node_Id": 1001, "Bkng_Ext_System": 1, "Bkng_Sync_Enabled": 1})
    spaces = frozenset({"HQ-1-AURORA"})
    assert [b.id for b in BOOKINGS if is_synced(b, rooms_only, spaces)] == ["b-new", "b-no-show"]
    assert len([b for b in BOOKINGS if is_synced(b, desks_too, spaces)]) == 4


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("poll", POLL),
        (" Hooks+Poll ", SAFETY),
        ("hooks + poll", SAFETY),
        ("hooks", None),
        (3, None),
        (None, None),
    ],
)
def test_an_admins_typo_means_the_app_default(value: object, expected: ChangeDetection | None) -> None:
    assert known_change_detection(value) is expected
    row = BuildingConfig.from_entity(
        {"PartitionKey": "building", "RowKey": "1001", "node_id": 1001, "change_detection": value}
    )
    assert row.change_detection is expected


def test_the_row_round_trips_through_table_storage_and_a_damaged_cache_is_dropped() -> None:
    state = after_success(
        claimed(_state(next_poll_at=NOW), NOW, POLL, SETTINGS),
        started_at=NOW,
        handed_on={"k1": int(NOW.timestamp())},
        pages=2,
        settings=SETTINGS,
        mode=POLL,
    )
    entity = to_entity(state)
    assert (entity["PartitionKey"], entity["RowKey"]) == ("feed", "1001")
    assert isinstance(entity["recent"], str)
    assert from_entity(entity) == state
    assert from_entity({**entity, "recent": "{not json"}).recent == {}
    assert from_entity({**entity, "mode": "bogus"}).mode is None


def test_a_feed_is_stale_after_15_minutes_without_a_successful_poll() -> None:
    fresh = new_feed(1001, NOW, POLL, SETTINGS)
    assert not is_stale(fresh, NOW + timedelta(minutes=15))
    assert is_stale(fresh, NOW + timedelta(minutes=15, seconds=1))  # never succeeded since first seen
    done = _polled(fresh, NOW)
    assert not is_stale(done, NOW + timedelta(minutes=14))
    assert is_stale(done, NOW + timedelta(minutes=16))
    slow = claimed(done, NOW, POLL, FeedSettings(poll_seconds=1800))  # an interval of 30 min: two of them
    assert not is_stale(slow, NOW + timedelta(minutes=59))
    assert is_stale(slow, NOW + timedelta(minutes=61))
