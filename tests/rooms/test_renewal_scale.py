"""Renewing 1,000 subscriptions in one timer run: bounded concurrency, at most 4 per mailbox, no 429."""

from __future__ import annotations

import asyncio
import random
import secrets
import uuid
from datetime import timedelta
from typing import Any

import yaml

from emulators.graph.subscriptions import Subscription as EmulatedSubscription
from emulators.graph.tenant import DEMO_TENANT_PATH
from shared.rooms.models import RoomRow
from shared.rooms.store import RoomStore
from shared.state.subscriptions import RoomSubscription, TableSubscriptionStore
from tests.rooms.conftest import InProcess

ROOMS = 1000


def fleet_tenant(rooms: int) -> dict[str, Any]:
    tenant: dict[str, Any] = yaml.safe_load(DEMO_TENANT_PATH.read_text())
    tenant["rooms"] = [
        {
            "id": f"9a1c0f7e-0000-4000-8000-{i:012d}",
            "address": f"room{i:04d}@contoso.example",
            "displayName": f"Room {i}",
            "capacity": 6,
            "building": "Fleet",
            "timeZone": "W. Europe Standard Time",
        }
        for i in range(rooms)
    ]
    return tenant


async def test_renewing_1000_subscriptions_in_one_timer_run(inproc: InProcess) -> None:
    g = inproc.g
    g.reset(fleet_tenant(ROOMS))
    g.set_clock("2026-11-20T08:00:00Z")
    inproc.clock.sync()
    now = inproc.clock()
    # Setup shortcut: 1,000 live subscriptions put straight into the emulator and our tables (creating
    # them through Graph, with two handshakes each, is covered by the other tests and the e2e suite).
    api = g.emulator.api
    store = RoomStore(inproc.storage)
    subs = TableSubscriptionStore(inproc.storage)
    gate = asyncio.Semaphore(32)

    async def seed(i: int) -> None:
        mailbox, user = f"room{i:04d}@contoso.example", f"9a1c0f7e-0000-4000-8000-{i:012d}"
        expiration = now + timedelta(hours=rng.uniform(6, 34))  # all within the 36 h renewal threshold
        sid = str(uuid.uuid4())
        api.subscriptions.items[sid] = EmulatedSubscription(
            id=sid,
            resource=f"/users/{user}/events",
            mailbox_id=user,
            change_type="created,updated,deleted",
            notification_url=f"{inproc.receiver.url}/hook",
            lifecycle_url=f"{inproc.receiver.url}/lifecycle",
            client_state=secrets.token_urlsafe(48),
            expiration=expiration,
            app_id=g.client_id,
            creator_id=g.client_id,
            latest_tls="v1_2",
        )
        async with gate:
            await subs.create(
                RoomSubscription(
                    subscription_id=sid,
                    room_mailbox=mailbox,
                    resource=f"/users/{user}/events",
                    client_state=secrets.token_urlsafe(48),
                    expiration=expiration,
                    created_at=now,
                )
            )
            await store.create(
                RoomRow(
                    mailbox=mailbox,
                    user_id=user,
                    subscription_id=sid,
                    subscription_expiration=expiration,
                    delta_link="seeded",
                    last_round_at=now,
                )
            )

    rng = random.Random(7)
    await asyncio.gather(*(seed(i) for i in range(ROOMS)))
    svc = inproc.service
    svc.onboarding = None  # the fleet is seeded directly, not from IBSS
    g.reset_request_counts()
    g.set_config(apiLatencySeconds=0.002)  # makes concurrency observable to the emulator's gate
    inproc.graph.limiter.peak = 0
    report = await svc.maintain()  # one timer run
    assert report.subscriptions is not None
    assert report.subscriptions.renewed == ROOMS, report.subscriptions
    assert report.subscriptions.failed == report.subscriptions.throttled == 0
    counts = g.request_counts()
    assert [e for e in counts["entries"] if e["status"] == 429] == []
    assert counts["total"] == ROOMS
    assert inproc.graph.limiter.peak <= 4
    later = [s for s in g.subscriptions() if s["expirationDateTime"] > (now + timedelta(days=5)).isoformat()]
    assert len(later) == ROOMS
    expiries = {s["expirationDateTime"] for s in g.subscriptions()}
    assert len(expiries) > ROOMS // 2  # renewals stay spread, not one instant
