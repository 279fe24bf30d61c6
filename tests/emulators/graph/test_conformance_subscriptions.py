"""Conformance: subscription limits, validation timing, delivery timeouts, faults and lifecycle."""

# The emulator and the webhook receiver run in their own threads, so blocking waits and
# control-plane calls here cannot starve them.
# ruff: noqa: ASYNC212, ASYNC251

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.subscription import Subscription

from shared.graph.client import build_credential, build_graph_client

from .conftest import settings_for
from .helpers import ALICE, AURORA, BOB, meeting, meeting_json, raw
from .test_conformance_tenant_events import OTHER_APP, two_app_tenant
from .test_subscriptions import sub_body

NOW = datetime(2026, 11, 20, 8, tzinfo=UTC)


def wait_until(predicate, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


async def test_documented_defaults(emu):
    cfg = emu.set_config()
    assert cfg["maxExpirationMinutesBasic"] == 10080
    assert cfg["minExpirationMinutes"] == 45
    assert cfg["subscriptionsPerMailbox"] == 1000
    assert cfg["validationTimeoutSeconds"] == 10
    assert cfg["deliveryTimeoutSeconds"] == 3
    assert cfg["deliveryHorizonSeconds"] == 4 * 3600
    assert cfg["throttleLimit"] == 10000
    assert cfg["throttleWindowSeconds"] == 600
    assert cfg["throttleConcurrency"] == 4


async def test_expiration_bounds_exact(graph, emu, receiver):
    emu.set_clock("2026-11-20T08:00:00Z", frozen=True)  # "now" is the request time
    at_max = await graph.subscriptions.post(sub_body(receiver, minutes=10080))
    assert at_max.expiration_date_time == NOW + timedelta(minutes=10080)
    short = await graph.subscriptions.post(sub_body(receiver, minutes=5))
    assert short.expiration_date_time == NOW + timedelta(minutes=45)  # raised to the 45-minute minimum
    with pytest.raises(ODataError) as err:  # renewing past the limit fails the same way
        await graph.subscriptions.by_subscription_id(short.id).patch(
            Subscription(expiration_date_time=NOW + timedelta(minutes=10081))
        )
    assert err.value.response_status_code == 400
    assert err.value.error.code == "ExtensionError"
    assert err.value.error.message == "Subscription expiration can only be 10080 minutes in the future."
    with pytest.raises(ODataError) as err:  # lifecycleNotificationUrl can only be set at creation
        await graph.subscriptions.by_subscription_id(short.id).patch(
            Subscription(lifecycle_notification_url=f"{receiver.url}/lifecycle")
        )
    assert err.value.response_status_code == 400


async def test_resource_forms_client_state_and_https(graph, emu, receiver):
    for resource in (
        f"/users/{AURORA}/calendar/events",
        f"users('{AURORA}')/events",
        f"Users/{AURORA}/Events",
    ):
        sub = await graph.subscriptions.post(sub_body(receiver, resource=resource, lifecycle=False))
        assert sub.resource == resource
    body = sub_body(receiver)
    body.client_state = "x" * 129
    with pytest.raises(ODataError) as err:
        await graph.subscriptions.post(body)
    assert err.value.response_status_code == 400
    emu.set_config(requireHttpsNotificationUrl=True)
    with pytest.raises(ODataError) as err:
        await graph.subscriptions.post(sub_body(receiver))
    assert err.value.response_status_code == 400


async def test_validation_must_answer_within_the_limit(graph, emu, receiver):
    emu.set_config(validationTimeoutSeconds=0.3)
    receiver.validation_delay = 1.0
    with pytest.raises(ODataError) as err:
        await graph.subscriptions.post(sub_body(receiver))
    assert err.value.response_status_code == 400
    assert err.value.error.code == "InvalidRequest"
    receiver.validation_delay = 0.0
    sub = await graph.subscriptions.post(sub_body(receiver))
    assert [s["id"] for s in emu.subscriptions()] == [sub.id]


async def test_lifecycle_url_is_validated_too(graph, emu, receiver):
    body = sub_body(receiver)
    body.lifecycle_notification_url = "http://127.0.0.1:9/nothing-listens-here"
    with pytest.raises(ODataError) as err:
        await graph.subscriptions.post(body)
    assert err.value.response_status_code == 400
    assert emu.subscriptions() == []


async def test_one_thousand_per_mailbox_across_apps(emu, graph, receiver):
    """The documented default: 1,000 subscriptions per mailbox, counted across all applications."""
    two_app_tenant(emu, scope=None)
    body = {
        "changeType": "created",
        "notificationUrl": f"{receiver.url}/hook",
        "resource": f"users/{AURORA}/events",
        "expirationDateTime": "2026-11-21T08:00:00Z",
    }
    with raw(emu) as c:
        for _ in range(999):
            assert c.post("/subscriptions", json=body).status_code == 201
    s = settings_for(emu, client_id=OTHER_APP, client_secret="other-secret")
    cred = build_credential(s)
    other = build_graph_client(s, cred)
    try:
        thousandth = await other.subscriptions.post(sub_body(receiver, lifecycle=False))
        assert thousandth.application_id == OTHER_APP
        assert thousandth.id is not None
        with pytest.raises(ODataError) as err:
            await graph.subscriptions.post(sub_body(receiver, lifecycle=False))
        assert err.value.response_status_code == 403
        assert "1000" in str(err.value.error.message)
        # Another mailbox has its own quota; deleting one frees a slot.
        await graph.subscriptions.post(sub_body(receiver, resource=f"users/{BOB}/events", lifecycle=False))
        await other.subscriptions.by_subscription_id(thousandth.id).delete()
        await graph.subscriptions.post(sub_body(receiver, lifecycle=False))
    finally:
        await cred.close()


async def test_expired_subscription_stops_delivering_and_is_gone(graph, emu, receiver):
    emu.set_config(extraUpdatesAfterCreate=0)
    sub = await graph.subscriptions.post(sub_body(receiver, minutes=60))
    emu.advance_clock(3601)
    emu.act_create_meeting(AURORA, meeting_json(room=None))
    time.sleep(0.4)
    assert receiver.items() == []
    assert sub.id not in {s.id for s in (await graph.subscriptions.get()).value}
    with pytest.raises(ODataError) as err:
        await graph.subscriptions.by_subscription_id(sub.id).get()
    assert err.value.response_status_code == 404
    with pytest.raises(ODataError) as err:
        await graph.subscriptions.by_subscription_id(sub.id).reauthorize.post()
    assert err.value.response_status_code == 404


async def test_no_answer_within_three_seconds_is_retried(graph, emu, receiver):
    emu.set_config(deliveryTimeoutSeconds=0.3, deliveryRetryBaseSeconds=0.1, extraUpdatesAfterCreate=0)
    await graph.subscriptions.post(sub_body(receiver))
    receiver.slow_next, receiver.slow_seconds = 1, 1.0
    ev = emu.act_create_meeting(AURORA, meeting_json(room=None))
    assert receiver.wait_for(lambda i: i["resourceData"]["id"] == ev["id"])
    assert wait_until(lambda: any(d["outcome"] == "delivered" for d in emu.deliveries()))
    log = emu.deliveries()
    assert [(d["status"], d["outcome"]) for d in log[:2]] == [(None, "retrying"), (202, "delivered")]


async def test_notification_wire_details(graph, emu, receiver):
    emu.set_config(extraUpdatesAfterCreate=2)
    sub = await graph.subscriptions.post(sub_body(receiver, resource=f"users/{AURORA}/events"))
    created = await graph.users.by_user_id(AURORA).events.post(meeting(room=None))
    assert receiver.wait_for(lambda i: i["changeType"] == "updated")
    time.sleep(0.3)
    items = [i for i in receiver.items() if i["resourceData"]["id"] == created.id]
    assert [i["changeType"] for i in items] == ["created", "updated", "updated"]
    path = f"Users/9a1c0f7e-0000-4000-8000-00000000a001/Events/{created.id}"
    for item in items:
        assert item["resource"] == path  # GUID, PascalCase, even though the subscription used the UPN
        assert item["resourceData"]["@odata.id"] == path
        assert item["subscriptionExpirationDateTime"].startswith("2026-11-20T09:00:00")
    receiver.clear()
    await graph.users.by_user_id(AURORA).events.by_event_id(created.id).delete()
    [gone] = receiver.wait_for(lambda i: i["changeType"] == "deleted")
    assert gone["resourceData"]["id"] == created.id
    assert gone["subscriptionId"] == sub.id


async def test_delay_fault_and_forced_errors(graph, emu, receiver):
    emu.set_config(extraUpdatesAfterCreate=0, deliveryBatchWindowSeconds=0)
    await graph.subscriptions.post(sub_body(receiver))
    emu.inject_fault("delay", count=1, seconds=0.8)
    started = time.monotonic()
    emu.act_create_meeting(AURORA, meeting_json(room=None))
    time.sleep(0.4)
    assert receiver.items() == []
    assert receiver.wait_for(lambda i: True)
    assert time.monotonic() - started >= 0.8
    emu.inject_fault("http", status=503, count=1, mailbox=ALICE, pathContains="/events", method="POST")
    with pytest.raises(ODataError) as err:
        await graph.users.by_user_id(ALICE).events.post(meeting(room=None))
    assert err.value.response_status_code == 503
    assert err.value.response_headers is not None
    assert err.value.response_headers["retry-after"] == "2"
    assert (await graph.users.by_user_id(ALICE).events.get()).value == []


async def test_lifecycle_payloads_and_renewal_after_reauthorization(graph, emu, receiver):
    sub = await graph.subscriptions.post(sub_body(receiver))
    assert emu.send_lifecycle(sub.id, "reauthorizationRequired")
    [item] = receiver.wait_for(lambda i: i.get("lifecycleEvent") == "reauthorizationRequired")
    assert set(item) == {
        "subscriptionId",
        "subscriptionExpirationDateTime",
        "tenantId",
        "clientState",
        "lifecycleEvent",
    }
    assert item["clientState"] == "s3cret"
    assert item["tenantId"] == emu.tenant_id
    # The answer to reauthorizationRequired: reauthorize or renew; both keep the subscription.
    await graph.subscriptions.by_subscription_id(sub.id).reauthorize.post()
    renewed = await graph.subscriptions.by_subscription_id(sub.id).patch(
        Subscription(expiration_date_time=NOW + timedelta(days=2))
    )
    assert renewed.expiration_date_time == NOW + timedelta(days=2)
    assert all(d["url"].endswith("/lifecycle") for d in emu.deliveries())
    with httpx.Client(base_url=emu.control_url) as c:  # unknown lifecycle events are refused
        assert (
            c.post(f"/subscriptions/{sub.id}/lifecycle", json={"lifecycleEvent": "bogus"}).status_code == 400
        )


async def test_a_reset_forgets_delayed_and_retrying_deliveries(graph, emu, receiver):
    emu.set_config(extraUpdatesAfterCreate=0, deliveryBatchWindowSeconds=0)
    await graph.subscriptions.post(sub_body(receiver))
    emu.inject_fault("delay", count=1, seconds=0.5)
    emu.act_create_meeting(AURORA, meeting_json(room=None))
    emu.reset()  # the next test's emulator: nothing of this one may still arrive
    time.sleep(1.0)
    assert emu.deliveries() == []
    assert receiver.items() == []
