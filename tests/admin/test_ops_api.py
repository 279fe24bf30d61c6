"""The ops API and page through the dev host: function-key auth, input checks, response shapes, headers."""

from __future__ import annotations

import re

import httpx

from tests.stack_fixtures import RunningHost


def test_every_ops_route_needs_the_function_key(ops_host: RunningHost) -> None:
    for method, route in [
        ("GET", "ops"),
        ("GET", "ops/overview"),
        ("GET", "ops/events"),
        ("GET", "ops/conflicts"),
        ("GET", "ops/onboarding"),
        ("POST", "ops/events/20300107/0000000000000-000000000000/reprocess"),
        ("POST", "ops/ibss/sweep"),
    ]:
        resp = httpx.request(method, ops_host.url(route, key=False), timeout=10)
        assert resp.status_code == 401, route
        wrong = httpx.request(method, ops_host.url(route, key=False) + "?code=nope", timeout=10)
        assert wrong.status_code == 401, route


def test_page_is_self_contained_with_a_strict_policy(ops_host: RunningHost) -> None:
    resp = httpx.get(ops_host.url("ops"), timeout=10)
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/html")
    csp = resp.headers["content-security-policy"]
    nonce = re.search(r"'nonce-([^']+)'", csp)
    assert nonce
    assert f'nonce="{nonce.group(1)}"' in resp.text
    assert "default-src 'none'" in csp
    assert "connect-src 'self'" in csp
    assert resp.headers["referrer-policy"] == "no-referrer"
    assert "__NONCE__" not in resp.text
    # No CDN, no external resources; data only ever reaches the DOM as text.
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", resp.text)
    assert ".innerHTML" not in resp.text
    again = httpx.get(ops_host.url("ops"), timeout=10).headers["content-security-policy"]
    assert again != csp  # a fresh nonce per response


def test_lists_and_overview_have_their_shapes(ops_host: RunningHost) -> None:
    overview = httpx.get(ops_host.url("ops/overview?days=1"), timeout=20)
    assert overview.status_code == 200, overview.text
    body = overview.json()
    assert set(body) >= {"generated_at", "buildings", "rooms", "counts"}
    assert set(body["counts"]["events_by_state"]) == {"new", "processing", "done", "error"}

    events = httpx.get(ops_host.url("ops/events?state=error"), timeout=10)
    assert events.status_code == 200
    assert events.json()["state"] == "error"
    assert all(item["state"] == "error" for item in events.json()["items"])
    assert "message" not in str(events.json().get("items", [{}])[:1])  # queue messages stay server-side

    conflicts = httpx.get(ops_host.url("ops/conflicts"), timeout=10)
    assert conflicts.status_code == 200
    assert isinstance(conflicts.json()["items"], list)
    onboarding = httpx.get(ops_host.url("ops/onboarding"), timeout=10)
    assert onboarding.status_code == 200
    assert isinstance(onboarding.json()["items"], list)


def test_bad_input_is_a_4xx(ops_host: RunningHost) -> None:
    assert httpx.get(ops_host.url("ops/events?state=broken"), timeout=10).status_code == 400
    assert httpx.get(ops_host.url("ops/events?days=-1"), timeout=10).status_code == 400
    for digits in (
        "\u0663",
        "\uff13",
        "\u00b2",
    ):  # Arabic-Indic 3, fullwidth 3, superscript 2: not numbers here
        assert httpx.get(ops_host.url(f"ops/events?days={digits}"), timeout=10).status_code == 400, digits
    bad_key = httpx.post(ops_host.url("ops/events/2030-01-07/x'or'1/reprocess"), timeout=10)
    assert bad_key.status_code == 400
    assert bad_key.json()["error"]["code"] == "BadRequest"
    unknown = httpx.post(ops_host.url("ops/events/20300107/0000000000000-000000000000/reprocess"), timeout=10)
    assert unknown.status_code == 409
    assert unknown.json()["error"]["code"] == "NotReprocessable"
