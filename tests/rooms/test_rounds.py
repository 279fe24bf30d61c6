"""Delta rounds in-process against the Graph emulator and a private Azurite (jobs in a fake queue)."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import cast

import pytest

from shared.rooms.delta import RoundOutcome, sync_window
from shared.rooms.models import RoomDeltaJob
from shared.rooms.store import RoomStore
from shared.worker.errors import RetryAfter
from shared.worker.reconciler import Reconciler
from shared.worker.room_sink import ReconcilingChangeSink
from tests.rooms.conftest import ALICE, SYNCED_ROOMS, InProcess, in_sync, meeting, room_row, sink_rows, slot

AURORA = SYNCED_ROOMS[0]


def job(mailbox: str = AURORA) -> RoomDeltaJob:
    from datetime import UTC, datetime  # noqa: PLC0415

    return RoomDeltaJob(
        room_mailbox=mailbox, reason="admin", requested_at=datetime.now(UTC), correlation_id="t"
    )


async def test_onboarding_matches_rooms_and_reports_mismatches(inproc: InProcess) -> None:
    # A flagged space whose mailbox does not exist in Microsoft 365.
    inproc.ibss.load(
        {
            "buildings": [
                {
                    "node_id": 2002,
                    "name": "Annex",
                    "time_zone": "Europe/London",
                    "bkng_ext_system": 1,
                    "floors": [{"node_id": 2012, "name": "F1"}],
                    "spaces": [
                        {
                            "space_id": "AX-1-GHOST",
                            "name": "Ghost",
                            "floor": 2012,
                            "type": "MeetingRoom",
                            "ext_booking_system": 1,
                            "ext_booking_space_id": "ghost@contoso.example",
                        }
                    ],
                }
            ]
        }
    )
    await inproc.onboard()
    rows = {r.mailbox: r for r, _ in await RoomStore(inproc.storage).list_all()}
    assert sorted(rows) == sorted(SYNCED_ROOMS)
    assert all(r.synced and r.delta_link and r.space_id for r in rows.values())
    assert rows[AURORA].time_zone == "Europe/Berlin"
    assert rows[AURORA].horizon_days == 90
    issues = {(i.kind, i.mailbox) for i in await inproc.service.report.issues()}
    assert ("space_mailbox_missing", "ghost@contoso.example") in issues
    assert ("room_without_space", "foxtrot@contoso.example") in issues
    assert ("space_not_flagged", "echo@contoso.example") in issues
    buildings = await inproc.service.onboarding.buildings.list_all()
    assert buildings[1001].horizon_days == 90
    assert buildings[2002].time_zone == "Europe/London"


async def test_admin_disables_a_building_and_the_rooms_stop(inproc: InProcess) -> None:
    await inproc.onboard()
    buildings = inproc.service.onboarding.buildings
    config = (await buildings.list_all())[1001]
    config.enabled = False
    await buildings.put(config)
    stats = await inproc.service.onboarding.run()
    assert stats.retired == 4
    rows = [r for r, _ in await RoomStore(inproc.storage).list_all()]
    assert not any(r.synced for r in rows)
    config.enabled = True
    await buildings.put(config)
    await inproc.service.onboarding.run()
    results = await inproc.drain()
    assert sum(r.full_resync for r in results) == 4  # back in sync: whole window again


async def test_round_reports_changes_and_ignores_removed_outside_window(inproc: InProcess) -> None:
    g = inproc.g
    await inproc.onboard()
    created = [g.act_create_meeting(ALICE, meeting(slot(g, 1, h))) for h in (9, 11, 13)]
    far = g.act_create_meeting(ALICE, meeting(slot(g, 120, 9)))  # outside the 90-day window
    assert await inproc.service.scheduler.request(AURORA, "admin")
    results = await inproc.drain()
    assert [r.outcome for r in results] == [RoundOutcome.DONE]
    assert not results[0].full_resync
    assert results[0].changed == 3
    ok, why = await in_sync(g, inproc.storage, AURORA)
    assert ok, why
    g.act_delete_meeting(ALICE, created[0]["id"])
    g.act_delete_meeting(ALICE, far["id"])  # Graph reports this as @removed although it never was in view
    await inproc.service.scheduler.request(AURORA, "admin")
    (result,) = await inproc.drain()
    ok, why = await in_sync(g, inproc.storage, AURORA)
    assert ok, why
    rows = await sink_rows(inproc.storage, AURORA)
    assert len(rows) == 3  # no row for the event outside the window
    assert result.removed <= 1


@pytest.mark.parametrize("mode", ["resyncRequired", "syncStateNotFound"])
async def test_invalidated_token_is_a_full_resync_without_duplicates(inproc: InProcess, mode: str) -> None:
    g = inproc.g
    await inproc.onboard()
    events = [g.act_create_meeting(ALICE, meeting(slot(g, 2, h))) for h in range(8, 16)]
    await inproc.service.scheduler.request(AURORA, "admin")
    await inproc.drain()
    # While the token is lost: one deleted, one moved, one new.
    g.invalidate_delta_tokens(mode, AURORA)
    room_copies = {e["subject"]: e for e in g.mailbox_events(AURORA)}
    assert room_copies
    g.act_delete_meeting(ALICE, events[0]["id"])
    g.act_update_meeting(ALICE, events[1]["id"], {"subject": "Moved"})
    g.act_create_meeting(ALICE, meeting(slot(g, 3, 9)))
    seen: list[list[str]] = []
    original = inproc.sink.room_changed

    async def spy(room_mailbox, changed, removed_event_ids, full_resync):
        seen.append([e.id for e in changed])
        await original(room_mailbox, changed, removed_event_ids, full_resync)

    inproc.service.runner.sink = type("Spy", (), {"room_changed": staticmethod(spy)})()
    await inproc.service.scheduler.request(AURORA, "admin")
    (result,) = await inproc.drain()
    assert result.outcome is RoundOutcome.DONE
    assert result.full_resync
    assert len(seen[0]) == len(set(seen[0]))  # no event twice within the resync
    ok, why = await in_sync(g, inproc.storage, AURORA)
    assert ok, why


async def test_window_rolls_forward_as_days_pass(inproc: InProcess) -> None:
    g = inproc.g
    await inproc.onboard()
    g.act_create_meeting(ALICE, meeting(slot(g, 0, 15)))  # today, falls out of the window tomorrow
    await inproc.service.scheduler.request(AURORA, "admin")
    await inproc.drain()
    before = await room_row(inproc.storage, AURORA)
    inproc.clock.advance(24 * 3600)
    g.act_create_meeting(ALICE, meeting(slot(g, 89, 10)))  # only inside the new window
    await inproc.service.scheduler.request(AURORA, "admin")
    (result,) = await inproc.drain()
    assert result.full_resync
    after = await room_row(inproc.storage, AURORA)
    assert after.window_start > before.window_start
    assert (after.window_start, after.window_end) == sync_window(inproc.clock(), "Europe/Berlin", 90)
    ok, why = await in_sync(g, inproc.storage, AURORA)
    assert ok, why


async def test_burst_of_requests_is_coalesced_into_one_job(inproc: InProcess) -> None:
    await inproc.onboard()
    results = await asyncio.gather(
        *(inproc.service.scheduler.request(AURORA, "notification") for _ in range(50))
    )
    assert sum(results) == 1
    (_, _, delay) = inproc.queue.sent[-1]
    assert delay == 1


async def test_a_notification_does_not_wait_behind_a_delayed_safety_net_job(inproc: InProcess) -> None:
    """The lost wake-up CI caught: a safety-net round queued with a random delay of minutes must not
    swallow the notifications that arrive meanwhile."""
    g = inproc.g
    await inproc.onboard()
    assert await inproc.service.scheduler.request(AURORA, "safety_net", delay_seconds=240)
    g.act_create_meeting(ALICE, meeting(slot(g, 1, 9)))
    assert await inproc.service.scheduler.request(AURORA, "notification", delay_seconds=0)
    delays = [d for q, m, d in inproc.queue.sent if isinstance(m, RoomDeltaJob)]
    assert delays == [240, 0]
    # More notifications join the prompt job; the delayed one finds the room covered.
    assert not await inproc.service.scheduler.request(AURORA, "notification", delay_seconds=0)
    results = await inproc.drain()
    assert [r.outcome for r in results] == [RoundOutcome.DONE, RoundOutcome.SKIPPED] or [
        r.outcome for r in results
    ] == [RoundOutcome.SKIPPED, RoundOutcome.DONE]
    ok, why = await in_sync(g, inproc.storage, AURORA)
    assert ok, why


async def test_a_failed_send_leaves_no_flag_that_later_requests_would_join(inproc: InProcess) -> None:
    await inproc.onboard()
    scheduler = inproc.service.scheduler
    real_queue = scheduler.queue

    class Unavailable:
        async def send(self, queue: str, message: object, delay_seconds: int | None = None) -> None:
            raise ConnectionError("queue service unavailable")

    scheduler.queue = Unavailable()
    with pytest.raises(ConnectionError):
        await scheduler.request(AURORA, "notification")
    scheduler.queue = real_queue
    assert not (await room_row(inproc.storage, AURORA)).pending_round
    assert await scheduler.request(AURORA, "notification")


async def test_429_requeues_with_retry_after_and_never_sleeps(inproc: InProcess) -> None:
    g = inproc.g
    await inproc.onboard()
    g.inject_fault("http", status=429, count=1, mailbox=AURORA, pathContains="delta", retryAfter=7.2)
    await inproc.service.scheduler.request(AURORA, "admin")
    jobs = inproc.queue.take_jobs()
    t0 = time.monotonic()
    result = await inproc.service.runner.run(jobs[0])
    assert time.monotonic() - t0 < 2
    assert result.outcome is RoundOutcome.THROTTLED
    assert inproc.queue.sent[-1][2] == 8  # ceil(Retry-After)
    row = await room_row(inproc.storage, AURORA)
    assert row.lease_id is None
    assert row.pending_round
    (again,) = await inproc.drain()
    assert again.outcome is RoundOutcome.DONE


async def test_two_workers_on_one_room_run_one_round(inproc: InProcess) -> None:
    await inproc.onboard()
    runner = inproc.service.runner
    assert runner is not None
    a, b = await asyncio.gather(runner.run(job()), runner.run(job()))
    assert sorted([a.outcome, b.outcome]) == sorted([RoundOutcome.DONE, RoundOutcome.BUSY])


async def test_polling_mode_makes_no_subscriptions_and_polls(inproc: InProcess) -> None:
    from tests.rooms.conftest import make_in_process  # noqa: PLC0415

    polling = make_in_process(
        inproc.g,
        inproc.ibss,
        inproc.storage,
        inproc.graph.client,
        inproc.receiver,
        SYNC_NOTIFICATIONS_ENABLED=False,
        SYNC_POLL_INTERVAL_SECONDS=120,
    )
    assert polling.service.manager is None
    await polling.service.maintain()
    await polling.drain()
    assert polling.g.subscriptions() == []
    polling.g.act_create_meeting(ALICE, meeting(slot(polling.g, 1, 9)))
    await polling.service.maintain()
    assert polling.queue.jobs() == []  # not due yet
    polling.clock.advance(121)
    await polling.service.maintain()
    assert len(polling.queue.jobs()) == 4
    await polling.drain()
    ok, why = await in_sync(polling.g, polling.storage, AURORA)
    assert ok, why


async def test_client_state_is_never_logged(inproc: InProcess, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    await inproc.service.maintain()
    from shared.state.subscriptions import TableSubscriptionStore  # noqa: PLC0415

    subs = await TableSubscriptionStore(inproc.storage).list_all()
    assert len(subs) == 4
    assert len({s.client_state for s in subs}) == 4
    for sub in subs:
        assert len(sub.client_state) <= 128
        assert sub.client_state not in caplog.text
    emulated = inproc.g.subscriptions()
    assert all(s["notificationUrl"] and s["lifecycleNotificationUrl"] for s in emulated)


class _BusyLinks:
    """Stands in for the reconciler: every link is being carried out by another worker right now."""

    series_echo = None

    async def room_event_changed(self, *_: object) -> None:
        raise RetryAfter(1.0, "another worker is carrying out a plan on this link")


async def test_a_busy_link_requeues_the_round_instead_of_failing_it(inproc: InProcess) -> None:
    """A reconcile told to come back later re-queues the whole round with a visibility delay; it never
    fails the queue message (5 failures would move a room's round to the poison queue)."""
    await inproc.onboard()
    inproc.g.act_create_meeting(ALICE, meeting(slot(inproc.g, 2, 10)))
    runner = inproc.service.runner
    assert runner is not None
    runner.sink = ReconcilingChangeSink(cast(Reconciler, _BusyLinks()))
    await inproc.service.scheduler.request(AURORA, "notification")
    (first,) = inproc.queue.take_jobs()
    result = await runner.run(first)
    assert result.outcome is RoundOutcome.THROTTLED
    assert inproc.queue.sent[-1][2] == 1  # the same round again in a second
    assert (await room_row(inproc.storage, AURORA)).pending_round
