"""One sync round in-process against both emulators, with in-memory OpenTelemetry: a booking made in IBSS
→ signed hook → HookIntake (span, traceparent in the queue message) → queue worker job → reconciler →
IBSS and Graph calls, all in one trace; and the metrics the round produced."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from pydantic import BaseModel

from emulators.graph.testing import GraphEmulator
from emulators.ibss.testing import HookReceiver, IbssEmulator
from scripts.stack import Azurite
from shared import telemetry
from shared.graph.notifications import CachedClientStates, NotificationIntake
from shared.ibss.intake import BookingSyncJob, HookClaim, HookIntake
from shared.state.sync_events import SyncEventLog, SyncEventState
from shared.storage.account import StorageAccount
from shared.storage.names import QueueName
from shared.storage.queues import StorageQueueSink
from shared.sync.model import Present
from shared.worker import wiring
from shared.worker.jobs import run_booking_job
from tests.slots import business_slot
from tests.stack_fixtures import HOOK_SECRET, emulator_settings
from tests.telemetry.conftest import Otel

ALICE = "alice@contoso.example"
ROOM = "aurora@contoso.example"


@dataclass
class SeenIds:
    ids: set[str] = field(default_factory=set)

    async def claim(self, hook_id: str) -> HookClaim:
        if hook_id in self.ids:
            return HookClaim.REPLAY
        self.ids.add(hook_id)
        return HookClaim.NEW

    async def enqueued(self, hook_id: str) -> None:
        pass

    async def release(self, hook_id: str) -> None:
        self.ids.discard(hook_id)


@dataclass
class QueueCapture:
    """The intake's queue: keeps the JSON exactly as it would travel."""

    sent: list[tuple[str, str]] = field(default_factory=list)

    async def send(self, queue: str, message: BaseModel) -> None:
        self.sent.append((queue, message.model_dump_json()))


class NoSubscriptions:
    async def client_state(self, subscription_id: str) -> str | None:
        return None

    async def all_client_states(self) -> dict[str, str]:
        return {}


class OneSubscription:
    """The room's change-notification subscription as the subscription table would answer for it."""

    ID = "sub-telemetry-room"
    CLIENT_STATE = "client-state-telemetry"

    async def client_state(self, subscription_id: str) -> str | None:
        return self.CLIENT_STATE if subscription_id == self.ID else None

    async def all_client_states(self) -> dict[str, str]:
        return {self.ID: self.CLIENT_STATE}


# Private emulators (and Azurite, conftest): no dev host of the session syncs them or takes our faults.
@pytest.fixture(scope="module")
def graph_emulator() -> Iterator[GraphEmulator]:
    with GraphEmulator() as emulator:
        yield emulator


@pytest.fixture(scope="module")
def ibss_emulator() -> Iterator[IbssEmulator]:
    with IbssEmulator(hook_backoff_s=0.05, hook_timeout_s=2.0) as emulator:
        yield emulator


def _sum(points: dict[str, list[tuple[dict[str, object], float]]], name: str, **attrs: object) -> float:
    return sum(v for a, v in points.get(name, []) if all(a.get(k) == w for k, w in attrs.items()))


async def test_one_sync_round_is_one_trace_with_its_metrics(
    otel: Otel,
    telemetry_azurite: Azurite,
    storage: StorageAccount,
    graph_emulator: GraphEmulator,
    ibss_emulator: IbssEmulator,
) -> None:
    graph, ibss = graph_emulator, ibss_emulator
    graph.reset()
    ibss.reset()
    settings = emulator_settings(graph, ibss, telemetry_azurite.connection_string)
    telemetry.instrument_http_clients(ibss.base_url, graph.base_url)
    loop_id = id(asyncio.get_running_loop())
    wiring._reconcilers.pop(loop_id, None)
    try:
        before = otel.points()
        otel.spans.clear()
        with HookReceiver() as receiver:
            ibss.set_hook_target(receiver.url, HOOK_SECRET)
            start, end = business_slot(4, 14)
            booking_id = str(ibss.act_book(ALICE, "HQ-1-AURORA", start, end, name="Telemetry")["Booking_Id"])
            hook = receiver.wait_for(1)[0]

        # HTTP intake: verifies, opens the intake span and writes its traceparent into the queue message.
        queue = QueueCapture()
        intake = HookIntake(secret=HOOK_SECRET, seen=SeenIds(), sink=queue)
        await intake.accept(hook.body, hook.headers)
        ((queue_name, body),) = queue.sent
        assert queue_name == QueueName.SYNC_BOOKINGS
        assert json.loads(body)["traceparent"]

        # A notification with an unknown subscription: counted as rejected, nothing enqueued.
        graph_intake = NotificationIntake(secrets=CachedClientStates(NoSubscriptions()), sink=queue)
        notification = {"subscriptionId": "nope", "changeType": "updated", "resource": "Users/u/Events/e"}
        await graph_intake.accept_changes(json.dumps({"value": [notification]}).encode())

        # The queue worker: IBSS throttles the first booking read once (the client retries after 0 s).
        ibss.inject_fault(status=429, method="GET", path_regex=r"^/v2/\d+/bookings/", retry_after="0")
        job = BookingSyncJob.model_validate_json(body)
        reconciler = wiring.reconciler_for_current_loop(settings, storage)
        await run_booking_job(job, reconciler, StorageQueueSink(storage))

        # The echo: Graph notifies about the room's copy of the meeting we just wrote (a genuine
        # notification, accepted), and the room's delta round reconciles it: our own write coming back.
        # (The room's copy carries the organizer's iCalUId; its subject is the room's to rewrite.)
        (written,) = [e for e in graph.mailbox_events(ALICE) if "Telemetry" in (e.get("subject") or "")]
        (room_copy,) = [e for e in graph.mailbox_events(ROOM) if e.get("iCalUId") == written["iCalUId"]]
        echo_intake = NotificationIntake(secrets=CachedClientStates(OneSubscription()), sink=queue)
        echo = {
            "subscriptionId": OneSubscription.ID,
            "clientState": OneSubscription.CLIENT_STATE,
            "changeType": "updated",
            "resource": f"Users/{ROOM}/Events/{room_copy['id']}",
        }
        await echo_intake.accept_changes(json.dumps({"value": [echo]}).encode())
        assert queue.sent[-1][0] == QueueName.GRAPH_NOTIFICATIONS
        assert json.loads(queue.sent[-1][1])["traceparent"]
        snapshot = await reconciler.outlook.room_event(ROOM, str(room_copy["id"]))
        assert isinstance(snapshot, Present)
        echo_plan = await reconciler.room_event_changed(ROOM, str(room_copy["id"]), snapshot.value)
        assert echo_plan is not None
        assert not echo_plan.ibss_writes + echo_plan.outlook_writes
    finally:
        wiring._reconcilers.pop(loop_id, None)
        telemetry.uninstrument_http_clients()

    meetings = [e for e in graph.mailbox_events(ALICE) if "Telemetry" in (e.get("subject") or "")]
    assert len(meetings) == 1

    # ---- spans: intake → worker → reconcile → IBSS and Graph requests, one trace id
    spans = otel.spans.get_finished_spans()
    (intake_span,) = [s for s in spans if s.name == "ibss hook intake"]
    trace_id = intake_span.context.trace_id
    in_trace = [s for s in spans if s.context.trace_id == trace_id]
    by_id = {s.context.span_id: s for s in in_trace}
    (worker,) = [s for s in in_trace if s.name == "booking sync job"]
    (reconcile,) = [s for s in in_trace if s.name == "reconcile booking"]
    assert worker.parent is not None
    assert worker.parent.span_id == intake_span.context.span_id
    assert reconcile.parent is not None
    assert reconcile.parent.span_id == worker.context.span_id
    assert intake_span.attributes
    assert intake_span.attributes["sync.outcome"] == "accepted"
    assert reconcile.attributes
    assert reconcile.attributes["sync.outlook_writes"] == 1

    def under_reconcile(span_id: int) -> bool:
        span = by_id.get(span_id)
        while span is not None and span.parent is not None:
            if span.parent.span_id == reconcile.context.span_id:
                return True
            span = by_id.get(span.parent.span_id)
        return False

    ibss_calls = [s for s in in_trace if (s.attributes or {}).get("peer.service") == "ibss"]
    graph_calls = [s for s in in_trace if (s.attributes or {}).get("peer.service") == "graph"]
    assert {s.name for s in ibss_calls} >= {"IBSS GET"}
    assert "GRAPH POST" in {s.name for s in graph_calls}
    assert all(under_reconcile(s.context.span_id) for s in ibss_calls + graph_calls)
    statuses = {
        (s.attributes or {}).get("http.status_code", (s.attributes or {}).get("http.response.status_code"))
        for s in ibss_calls
    }
    assert {200, 429} <= statuses
    # Exported spans carry no mailbox addresses (Graph paths hold them) and no query strings.
    for span in in_trace:
        for value in (span.attributes or {}).values():
            assert "@" not in str(value), (span.name, value)
            assert "%40" not in str(value), (span.name, value)

    # ---- metrics of the round
    after = otel.points()

    def delta(name: str, **attrs: object) -> float:
        return _sum(after, name, **attrs) - _sum(before, name, **attrs)

    assert delta("ibss_hooks_accepted") == 1
    assert delta("notifications_rejected", reason="unknown_subscription") == 1
    assert delta("ibss_requests") >= 2
    assert delta("ibss_throttled", status_code=429) == 1
    assert delta("graph_requests", method="POST") >= 1
    assert delta("graph_throttled") == 0
    assert delta("sync_propagation_lag_ms", direction="ibss_to_outlook") == 1
    assert delta("sync_jobs", outcome="done") == 1
    assert delta("sync_conflicts") == 0
    assert delta("notifications_accepted", kind="change") == 1
    assert delta("echoes_suppressed") == 1

    # ---- the job's sync event row
    rows = [e for e in await SyncEventLog(storage).recent() if e.booking_id == booking_id]
    assert [(r.state, r.outlook_writes) for r in rows] == [(SyncEventState.DONE, 1)]
    assert rows[0].lag_ms is not None
    assert rows[0].lag_ms >= 0
