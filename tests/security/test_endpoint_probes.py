"""What the endpoints promise anyone on the network, probed through the dev host running function_app.py.

- Only Graph's two webhooks, the IBSS hook and /health are anonymous; every other route (found from the
  app's own registrations, so a new route is covered the day it is added) answers 401 without the key.
- The validation handshake echoes Graph's token byte for byte, in either query encoding, and reflects
  nothing else.
- No body, header or signature, however made, gets a 5xx; nothing unsigned or unknown is accepted.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, quote_plus

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from standardwebhooks.webhooks import Webhook

from tests.stack_fixtures import HOOK_SECRET, RunningHost

ANONYMOUS = {"/api/graph/notifications", "/api/graph/lifecycle", "/api/ibss/hooks", "/api/health"}
GRAPH_ROUTES = ["graph/notifications", "graph/lifecycle"]
PROBES = settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


# ------------------------------------------------------------------------------------------- auth


def test_only_the_webhooks_and_health_are_anonymous(devhost: RunningHost) -> None:
    routes: list[dict[str, Any]] = httpx.get(devhost.base_url + "/admin/functions", timeout=10).json()
    assert {r["route"] for r in routes} >= ANONYMOUS
    keyed = 0
    for route in routes:
        path = re.sub(r"\{[^}]+\}", "x", route["route"])
        for method in route["methods"]:
            url = devhost.base_url + path
            answer = httpx.request(method, url, timeout=10).status_code
            if route["route"] in ANONYMOUS:
                assert answer != 401, (method, path)
                continue
            keyed += 1
            assert answer == 401, (method, path)
            assert httpx.request(method, url + "?code=nope", timeout=10).status_code == 401, (method, path)
            wrong_header = httpx.request(method, url, headers={"x-functions-key": "nope"}, timeout=10)
            assert wrong_header.status_code == 401, (method, path)
    assert keyed >= 7  # the ops page and API routes


# -------------------------------------------------------------------------------------- handshake

# The shape of the token Graph sends (documented example text with a request id).
GRAPH_TOKEN = "Validation: Testing client application reachability for subscription Request-Id: 6e2c3d4f-1a2b-4c5d-8e9f-0a1b2c3d4e5f"  # noqa: E501


def test_graphs_token_is_echoed_byte_for_byte_in_either_encoding(devhost: RunningHost) -> None:
    for route in GRAPH_ROUTES:
        for encoded in (quote(GRAPH_TOKEN, safe=""), quote_plus(GRAPH_TOKEN)):
            r = httpx.post(devhost.url(route, key=False) + "?validationToken=" + encoded, content=b"")
            assert r.status_code == 200
            assert r.content == GRAPH_TOKEN.encode()
            assert r.headers["content-type"].startswith("text/plain")


@PROBES
@given(token=st.text(min_size=1, max_size=1200), route=st.sampled_from(GRAPH_ROUTES))
def test_a_token_is_echoed_exactly_or_refused_without_reflection(
    devhost: RunningHost, token: str, route: str
) -> None:
    r = httpx.post(devhost.url(route, key=False) + "?validationToken=" + quote(token, safe=""), content=b"")
    assert r.status_code in (200, 400)
    assert r.headers["x-content-type-options"] == "nosniff"
    if r.status_code == 200:
        assert r.text == token
        assert r.headers["content-type"].startswith("text/plain")
    else:
        assert r.text == "invalid validationToken"  # one fixed answer: nothing of the token comes back


# ---------------------------------------------------------------------------------- notifications

hostile_text = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["/", "\\", "#", "?", "\x00", "%2F", "..", "' or 1 eq 1", "<script>", "x" * 5000]),
)
hostile_item = st.fixed_dictionaries(
    {
        "subscriptionId": hostile_text,
        "clientState": st.none() | hostile_text,
        "changeType": st.sampled_from(["created", "updated", "deleted"]) | hostile_text,
        "resource": st.builds(lambda a, b: f"Users/{a}/Events/{b}", hostile_text, hostile_text)
        | hostile_text,
        "lifecycleEvent": st.sampled_from(["missed", "subscriptionRemoved", "reauthorizationRequired"])
        | hostile_text,
        "subscriptionExpirationDateTime": st.none() | hostile_text | st.integers(),
    }
)


@PROBES
@given(items=st.lists(hostile_item, max_size=8), route=st.sampled_from(GRAPH_ROUTES))
def test_notifications_with_hostile_values_are_answered_and_none_is_accepted(
    devhost: RunningHost, items: list[dict[str, Any]], route: str
) -> None:
    r = httpx.post(devhost.url(route, key=False), content=json.dumps({"value": items}), timeout=10)
    assert r.status_code == 202, r.text
    assert r.json()["accepted"] == 0  # no subscription of ours, no clientState of ours


# ------------------------------------------------------------------------------------- IBSS hooks

# Printable ASCII without outer spaces: what an HTTP client can put in a header at all.
header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=80).map(str.strip)
hook_data = st.fixed_dictionaries(
    {
        "Booking_Id": hostile_text | st.integers(),
        "Node_Id": st.integers() | hostile_text | st.floats(allow_nan=False),
        "Space_Id": hostile_text,
        "Booking_Series_Id": st.none() | hostile_text,
    }
)
hook_body = st.one_of(
    st.binary(max_size=200),
    st.builds(
        lambda t, d: json.dumps({"type": t, "timestamp": "2030-01-08T09:00:00Z", "data": d}).encode(),
        st.sampled_from(["booking.updated", "booking.created", "nope"]) | hostile_text,
        hook_data,
    ),
)


@PROBES
@given(
    body=hook_body,
    hook_id=header_text,
    stamp=header_text | st.integers(0, 2**40).map(str) | st.just(str(int(time.time()))),
    signature=header_text | st.just("v1,AAAA") | st.just("v1," + "A" * 44),
)
def test_unsigned_hooks_are_refused_with_a_4xx(
    devhost: RunningHost, body: bytes, hook_id: str, stamp: str, signature: str
) -> None:
    headers = {"webhook-id": hook_id, "webhook-timestamp": stamp, "webhook-signature": signature}
    r = httpx.post(devhost.url("ibss/hooks", key=False), content=body, headers=headers, timeout=10)
    assert r.status_code in (400, 401), r.text


@PROBES
@given(body=hook_body)
def test_signed_hooks_with_any_body_are_a_202_or_a_400_never_a_5xx(devhost: RunningHost, body: bytes) -> None:
    msg_id = f"msg_{uuid.uuid4().hex}"
    now = datetime.now(UTC)
    text = body.decode("utf-8", errors="replace")
    headers = {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(HOOK_SECRET).sign(msg_id, now, text),
    }
    r = httpx.post(devhost.url("ibss/hooks", key=False), content=text.encode(), headers=headers, timeout=10)
    assert r.status_code in (202, 400), r.text
