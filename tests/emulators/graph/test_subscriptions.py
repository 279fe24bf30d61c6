"""Subscriptions, validation handshake, delivery, retries, faults and lifecycle events."""

# The emulator and the webhook receiver run in their own threads, so blocking waits and
# control-plane calls here cannot starve them; model imports stay next to their use.
# ruff: noqa: ASYNC251

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.subscription import Subscription

from .helpers import ALICE, AURORA, meeting, meeting_json, raw


def sub_body(
    receiver, minutes: int = 60, resource: str = f"users/{AURORA}/events", lifecycle: bool = True
) -> Subscription:
    return Subscription(
        change_type="created,updated,deleted",
        notification_url=f"{receiver.url}/hook?tenant=t1",
        lifecycle_notification_url=f"{receiver.url}/lifecycle" if lifecycle else None,
        resource=resource,
        expiration_date_time=datetime(2026, 11, 20, 8, tzinfo=UTC) + timedelta(minutes=minutes),
        client_state="s3cret",
    )


async def test_create_validates_both_urls_and_returns_201(graph, emu, receiver):
    with raw(emu) as c:
        r = c.post(
            "/subscriptions",
            json={
                "changeType": "created",
                "notificationUrl": f"{receiver.url}/hook",
                "resource": f"users/{AURORA}/events",
                "expirationDateTime": "2026-11-21T08:00:00Z",
                "clientState": "x",
            },
        )
    assert r.status_code == 201
    assert r.json()["applicationId"] == emu.client_id
    sub = await graph.subscriptions.post(sub_body(receiver))
    assert sub.id
    assert sub.client_state == "s3cret"
    assert sub.resource == f"users/{AURORA}/events"
    assert len(receiver.validations) == 3
    assert receiver.validations[-1].startswith("Validation: ")
    listed = await graph.subscriptions.get()
    assert {s.id for s in listed.value} >= {sub.id}
    got = await graph.subscriptions.by_subscription_id(sub.id).get()
    assert got.expiration_date_time == sub.expiration_date_time


async def test_failed_or_encoded_validation_is_400(graph, emu, receiver):
    receiver.fail_validation = True
    with pytest.raises(ODataError) as err:
        await graph.subscriptions.post(sub_body(receiver))
    assert err.value.response_status_code == 400
    receiver.fail_validation = False
    receiver.echo_encoded = True
    with pytest.raises(ODataError) as err:
        await graph.subscriptions.post(sub_body(receiver))
    assert err.value.response_status_code == 400
    assert await graph.subscriptions.get() is not None
    assert emu.subscriptions() == []


async def test_expiration_limits_renew_delete_reauthorize(graph, emu, receiver):
    with pytest.raises(ODataError) as err:
        await graph.subscriptions.post(sub_body(receiver, minutes=10081))
    assert err.value.response_status_code == 400
    assert err.value.error.code == "ExtensionError"
    assert "10080 minutes" in str(err.value.error.message)
    short = await graph.subscriptions.post(sub_body(receiver, minutes=5))
    assert short.expiration_date_time == datetime(
        2026, 11, 20, 8, 45, tzinfo=UTC
    ) or short.expiration_date_time > datetime(2026, 11, 20, 8, 44, tzinfo=UTC)
    renewed = await graph.subscriptions.by_subscription_id(short.id).patch(
        Subscription(expiration_date_time=datetime(2026, 11, 25, tzinfo=UTC))
    )
    assert renewed.expiration_date_time == datetime(2026, 11, 25, tzinfo=UTC)
    await graph.subscriptions.by_subscription_id(short.id).reauthorize.post()
    await graph.subscriptions.by_subscription_id(short.id).delete()
    with pytest.raises(ODataError) as err:
        await graph.subscriptions.by_subscription_id(short.id).get()
    assert err.value.response_status_code == 404


async def test_expired_subscriptions_disappear_and_quota(graph, emu, receiver):
    sub = await graph.subscriptions.post(sub_body(receiver, minutes=60))
    emu.advance_clock(3601)
    with pytest.raises(ODataError):
        await graph.subscriptions.by_subscription_id(sub.id).get()
    emu.set_config(subscriptionsPerMailbox=1)
    await graph.subscriptions.post(sub_body(receiver, minutes=120))
    with pytest.raises(ODataError) as err:
        await graph.subscriptions.post(sub_body(receiver, minutes=120))
    assert err.value.response_status_code == 403


async def test_notifications_have_graph_shape(graph, emu, receiver):
    sub = await graph.subscriptions.post(sub_body(receiver))
    created = await graph.users.by_user_id(ALICE).events.post(meeting())
    items = receiver.wait_for(lambda i: i.get("changeType") == "updated")
    time.sleep(0.3)
    items = receiver.items()
    room_id = "9a1c0f7e-0000-4000-8000-00000000a001"
    first = items[0]
    assert first["changeType"] == "created"
    assert first["subscriptionId"] == sub.id
    assert first["resource"].startswith(f"Users/{room_id}/Events/")
    assert first["resourceData"]["@odata.type"] == "#Microsoft.Graph.Event"
    assert first["resourceData"]["@odata.etag"].startswith('W/"')
    assert first["clientState"] == "s3cret"
    assert first["tenantId"] == emu.tenant_id
    assert sum(1 for i in items if i["changeType"] == "updated") >= 2  # Exchange's follow-up updates
    assert created.id not in {i["resourceData"]["id"] for i in items}  # organizer mailbox not subscribed
    log = emu.deliveries()
    assert all(entry["url"].endswith("/hook?tenant=t1") for entry in log)


async def test_retry_on_failure_then_delivered_and_drop_after_horizon(graph, emu, receiver):
    emu.set_config(deliveryRetryBaseSeconds=0.1, extraUpdatesAfterCreate=0)
    await graph.subscriptions.post(sub_body(receiver))
    receiver.fail_next = 2
    emu.act_create_meeting(AURORA, meeting_json(room=None))
    assert receiver.wait_for(lambda i: i.get("changeType") == "created")

    def created() -> list[dict]:
        return [
            d
            for d in emu.deliveries()
            if any(i.get("changeType") == "created" for i in d["payload"]["value"])
        ]

    # The emulator records the outcome after the receiver answered: wait for it.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and "delivered" not in [d["outcome"] for d in created()]:
        time.sleep(0.02)
    attempts = created()
    # Two refusals, each retried, then delivered. (On a loaded machine an answer slower than Graph's 3 s
    # counts as no answer too, so there may be more retries before the delivery, never fewer.)
    assert [d["outcome"] for d in attempts[:2]] == ["retrying", "retrying"]
    assert all(d["status"] is not None and d["status"] >= 400 for d in attempts[:2])
    assert [d["outcome"] for d in attempts[2:]][-1:] == ["delivered"]
    assert all(d["outcome"] == "retrying" for d in attempts[2:-1])
    emu.set_config(deliveryHorizonSeconds=0.25)
    receiver.fail_next = 100
    emu.act_create_meeting(AURORA, meeting_json(room=None, subject="lost"))
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and "dropped-after-retries" not in [
        d["outcome"] for d in emu.deliveries()
    ]:
        time.sleep(0.05)
    assert "dropped-after-retries" in [d["outcome"] for d in emu.deliveries()]


async def test_delivery_faults_drop_duplicate_reorder(graph, emu, receiver):
    emu.set_config(extraUpdatesAfterCreate=0, deliveryBatchWindowSeconds=0.3)
    await graph.subscriptions.post(sub_body(receiver))
    emu.inject_fault("drop", count=1)
    emu.act_create_meeting(AURORA, meeting_json(room=None, subject="a"))
    emu.inject_fault("duplicate", count=1)
    emu.act_create_meeting(
        AURORA, meeting_json(room=None, subject="b", start="2026-11-25T09:00:00", end="2026-11-25T10:00:00")
    )
    dup = receiver.wait_for(lambda i: True)
    time.sleep(0.2)
    ids = [i["resourceData"]["id"] for i in receiver.items()]
    assert len(ids) == 2
    assert ids[0] == ids[1]
    receiver.clear()
    emu.inject_fault("reorder", count=2)
    e1 = emu.act_create_meeting(
        AURORA, meeting_json(room=None, subject="c", start="2026-11-26T09:00:00", end="2026-11-26T10:00:00")
    )
    e2 = emu.act_create_meeting(
        AURORA, meeting_json(room=None, subject="d", start="2026-11-27T09:00:00", end="2026-11-27T10:00:00")
    )
    receiver.wait_for(lambda i: True)
    time.sleep(0.2)
    assert [i["resourceData"]["id"] for i in receiver.items()] == [e2["id"], e1["id"]]
    assert dup


async def test_clearing_a_reorder_fault_releases_what_it_held(graph, emu, receiver):
    """A reorder fault that never reached its count must not swallow the notification it holds."""
    emu.set_config(extraUpdatesAfterCreate=0, deliveryBatchWindowSeconds=0)
    await graph.subscriptions.post(sub_body(receiver))
    emu.inject_fault("reorder", count=2)
    held = emu.act_create_meeting(
        AURORA, meeting_json(room=None, subject="e", start="2026-11-30T09:00:00", end="2026-11-30T10:00:00")
    )
    time.sleep(0.3)
    assert receiver.items() == []
    emu.clear_faults()
    receiver.wait_for(lambda i: True)
    assert [i["resourceData"]["id"] for i in receiver.items()] == [held["id"]]


async def test_lifecycle_notifications(graph, emu, receiver):
    sub = await graph.subscriptions.post(sub_body(receiver))
    for event in ("reauthorizationRequired", "missed"):
        assert emu.send_lifecycle(sub.id, event)
    emu.remove_subscription(sub.id)
    got = receiver.wait_for(lambda i: i.get("lifecycleEvent") == "subscriptionRemoved")
    assert got
    assert got[0]["subscriptionId"] == sub.id
    assert "resource" not in got[0]
    assert {i["lifecycleEvent"] for i in receiver.items()} == {
        "reauthorizationRequired",
        "missed",
        "subscriptionRemoved",
    }
    with pytest.raises(ODataError):
        await graph.subscriptions.by_subscription_id(sub.id).get()
