"""Graph webhook intake through the dev host over HTTP, with real Azurite behind it."""

import asyncio
import base64
import json
import secrets
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import httpx
import pytest
from azure.storage.queue.aio import QueueClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scripts.stack import ROOT, stop_process
from shared.config import AppSettings
from shared.state.subscriptions import RoomSubscription, TableSubscriptionStore
from shared.storage.account import StorageAccount
from shared.storage.names import QueueName, TableName
from tests.stack_fixtures import RunningHost, start_host

ROUTES = ["graph/notifications", "graph/lifecycle"]


@pytest.fixture
async def storage(storage_connection: str) -> AsyncIterator[StorageAccount]:
    account = StorageAccount.from_settings(AppSettings(AzureWebJobsStorage=storage_connection))
    yield account
    await account.close()


@pytest.fixture
async def subscription(storage: StorageAccount) -> RoomSubscription:
    sub = RoomSubscription(
        subscription_id=str(uuid.uuid4()),
        room_mailbox="aurora@contoso.example",
        resource="/users/aurora@contoso.example/events",
        client_state=secrets.token_urlsafe(48),
        expiration=datetime.now(UTC) + timedelta(days=3),
        created_at=datetime.now(UTC),
    )
    await TableSubscriptionStore(storage).create(sub)
    return sub


def change(
    sub_id: str, client_state: str | None, event_id: str, change_type: str = "updated"
) -> dict[str, object]:
    user = "9a1c0f7e-0000-4000-8000-00000000a412"
    item: dict[str, object] = {
        "subscriptionId": sub_id,
        "subscriptionExpirationDateTime": "2026-11-24T09:00:00+00:00",
        "changeType": change_type,
        "resource": f"Users/{user}/Events/{event_id}",
        "resourceData": {
            "@odata.type": "#Microsoft.Graph.Event",
            "@odata.id": f"Users/{user}/Events/{event_id}",
            "@odata.etag": 'W/"DwAAABYAAAC2mY0x"',
            "id": event_id,
        },
        "tenantId": "7f1c2d3e-0000-4000-8000-000000000001",
    }
    if client_state is not None:
        item["clientState"] = client_state
    return item


async def recorded_event_ids(storage: StorageAccount, kind: str = "graph.change") -> set[str]:
    table = await storage.ready_table(TableName.NOTIFICATIONS)
    return {
        str(e.get("event_id") or e.get("subscription_id"))
        async for e in table.query_entities(f"kind eq '{kind}'")
    }


async def wait_for(predicate, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = await predicate()
        if value:
            return value
        await asyncio.sleep(0.1)
    raise AssertionError("condition not met in time")


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize(
    ("sent", "expected"),
    [
        ("abc123", "abc123"),
        (
            quote("Validation: Testing client application reachability for subscription Request-Id: 6e2c"),
            "Validation: Testing client application reachability for subscription Request-Id: 6e2c",
        ),
        ("a%2Bb%3Dc%2Fd", "a+b=c/d"),
    ],
)
def test_handshake_echoes_the_decoded_token(
    devhost: RunningHost, route: str, sent: str, expected: str
) -> None:
    r = httpx.post(
        devhost.url(route) + f"&validationToken={sent}", content=b"", headers={"Content-Type": "text/plain"}
    )
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.text == expected


HOSTILE = [
    "<script>alert(1)</script>",
    '"quoted"',
    "it's",
    "a&b",
    "line\r\nSet-Cookie: x=1",
    "tab\tchar",
    "bell\x07",
    "x" * 1025,
    "ünïcode",
    "",
]


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("token", HOSTILE)
def test_hostile_token_is_refused_and_never_reflected(devhost: RunningHost, route: str, token: str) -> None:
    r = httpx.post(devhost.url(route) + "&validationToken=" + quote(token, safe=""), content=b"")
    assert r.status_code == 400
    assert r.headers["x-content-type-options"] == "nosniff"
    if token:
        assert token not in r.text


def test_webhooks_are_anonymous_because_graph_cannot_send_keys(devhost: RunningHost) -> None:
    for route in ROUTES:
        assert httpx.post(devhost.url(route, key=False) + "?validationToken=abc").text == "abc"


def test_health(devhost: RunningHost) -> None:
    r = httpx.get(devhost.url("health", key=False))
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "storage": "ok"}


async def test_mixed_batch_enqueues_only_genuine_items(
    devhost: RunningHost, storage: StorageAccount, subscription: RoomSubscription
) -> None:
    good = [f"good-{uuid.uuid4().hex}" for _ in range(2)]
    bad = [f"bad-{uuid.uuid4().hex}" for _ in range(3)]
    batch = {
        "value": [
            change(subscription.subscription_id, subscription.client_state, good[0], "created"),
            change(subscription.subscription_id, "forged-" + subscription.client_state[7:], bad[0]),
            change(subscription.subscription_id, None, bad[1]),
            change(str(uuid.uuid4()), subscription.client_state, bad[2]),
            {"subscriptionId": subscription.subscription_id, "clientState": subscription.client_state},
            change(subscription.subscription_id, subscription.client_state, good[1], "deleted"),
        ]
    }
    async with httpx.AsyncClient() as client:
        r = await client.post(devhost.url("graph/notifications"), json=batch)
    assert r.status_code == 202
    assert r.json() == {"accepted": 2, "rejected": 4}

    async def consumed() -> bool:
        return set(good) <= await recorded_event_ids(storage)

    await wait_for(consumed)
    await asyncio.sleep(0.5)
    assert not set(bad) & await recorded_event_ids(storage)


@pytest.mark.parametrize("bad_char", ["/", "\\", "#", "?", "\x00", "\x1f", "\x7f", "\x9f"])
async def test_subscription_ids_table_storage_cannot_hold_are_unknown_not_a_500(
    devhost: RunningHost, subscription: RoomSubscription, bad_char: str
) -> None:
    # Characters a Table Storage key refuses: such an id cannot be a subscription of ours, and one of them
    # must not fail the genuine item beside it.
    good = f"good-{uuid.uuid4().hex}"
    batch = {
        "value": [
            change(f"{uuid.uuid4()}{bad_char}x", subscription.client_state, f"bad-{uuid.uuid4().hex}"),
            change(subscription.subscription_id, subscription.client_state, good, "created"),
        ]
    }
    # Lifecycle: neither item has a lifecycleEvent, so both are rejected there.
    for endpoint, answer in (("graph/notifications", (1, 1)), ("graph/lifecycle", (0, 2))):
        async with httpx.AsyncClient() as client:
            r = await client.post(devhost.url(endpoint), json=batch)
        assert r.status_code == 202, (endpoint, r.status_code)
        assert (r.json()["accepted"], r.json()["rejected"]) == answer


async def test_lifecycle_batch_is_enqueued_and_consumed(
    devhost: RunningHost, storage: StorageAccount, subscription: RoomSubscription
) -> None:
    body = {
        "value": [
            {
                "subscriptionId": subscription.subscription_id,
                "subscriptionExpirationDateTime": "2026-11-24T09:00:00Z",
                "tenantId": "7f1c2d3e-0000-4000-8000-000000000001",
                "clientState": subscription.client_state,
                "lifecycleEvent": "missed",
            },
            {
                "subscriptionId": subscription.subscription_id,
                "clientState": "forged-forged-forged",
                "lifecycleEvent": "subscriptionRemoved",
            },
        ]
    }
    async with httpx.AsyncClient() as client:
        r = await client.post(devhost.url("graph/lifecycle"), json=body)
    assert r.status_code == 202
    assert r.json() == {"accepted": 1, "rejected": 1}

    async def consumed() -> bool:
        return subscription.subscription_id in await recorded_event_ids(storage, "graph.lifecycle")

    await wait_for(consumed)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"[]",
        b'{"value": {}}',
        b'{"value": "x"}',
        b"\xff\xfe",
        b'{"value": [' * 5000,
        b"null",
        # Past Python's int-parsing limit: a ValueError, not a JSONDecodeError.
        b'{"value": [' + b"1" * 4301 + b"]}",
    ],
)
@pytest.mark.parametrize("endpoint", ["graph/notifications", "graph/lifecycle"])
def test_malformed_body_is_a_400_with_a_json_error(devhost: RunningHost, endpoint: str, body: bytes) -> None:
    r = httpx.post(devhost.url(endpoint), content=body)
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "BadRequest"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
notification_like = st.fixed_dictionaries(
    {
        "value": st.lists(
            st.dictionaries(
                st.sampled_from(
                    [
                        "subscriptionId",
                        "changeType",
                        "resource",
                        "resourceData",
                        "clientState",
                        "tenantId",
                        "lifecycleEvent",
                    ]
                ),
                json_values,
                max_size=7,
            ),
            max_size=5,
        )
    }
)
bodies = st.one_of(
    st.binary(max_size=300),
    json_values.map(lambda v: json.dumps(v).encode()),
    notification_like.map(lambda v: json.dumps(v).encode()),
)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=bodies, route=st.sampled_from(ROUTES))
def test_generated_malformed_bodies_never_cause_a_5xx(devhost: RunningHost, body: bytes, route: str) -> None:
    r = httpx.post(devhost.url(route), content=body, timeout=10)
    assert r.status_code < 500
    assert r.status_code in {202, 400}


async def test_invalid_queue_message_is_dead_lettered_with_its_reason(
    devhost: RunningHost, storage: StorageAccount
) -> None:
    marker = uuid.uuid4().hex
    q = await storage.ready_queue(QueueName.GRAPH_NOTIFICATIONS)
    await q.send_message(json.dumps({"kind": "graph.change", "marker": marker}))
    poison: QueueClient = await storage.ready_queue(f"{QueueName.GRAPH_NOTIFICATIONS}-poison")

    async def dead_lettered() -> dict[str, str] | None:
        async for m in poison.receive_messages(max_messages=32, visibility_timeout=1):
            envelope = json.loads(base64.b64decode(m.content))  # poison entries are base64 like all ours
            if marker in envelope["message"]:
                return envelope  # type: ignore[no-any-return]
        return None

    envelope = await wait_for(dead_lettered)
    assert "invalid GraphChangeMessage" in envelope["reason"]
    assert "subscription_id" in envelope["reason"]


def test_storage_down_is_a_5xx_so_graph_retries(storage_connection: str) -> None:
    dead = "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=eA==;" + (
        "QueueEndpoint=http://127.0.0.1:9/devstoreaccount1;TableEndpoint=http://127.0.0.1:9/devstoreaccount1;"
    )
    host = start_host(ROOT / "function_app.py", dead)
    try:
        body = {"value": [change(str(uuid.uuid4()), "x" * 20, "evt")]}
        r = httpx.post(host.url("graph/notifications"), json=body, timeout=120)
        assert r.status_code >= 500
        assert httpx.get(host.url("health", key=False), timeout=30).status_code == 503
    finally:
        stop_process(host.proc)
