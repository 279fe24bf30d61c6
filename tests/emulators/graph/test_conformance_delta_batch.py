"""Conformance: delta token errors and $batch through the SDK's own request adapter; control plane."""

# The emulator runs in its own thread, so blocking control-plane calls here cannot starve it.
# ruff: noqa: ASYNC210, ASYNC212, ASYNC220, ASYNC251

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from kiota_abstractions.base_request_configuration import RequestConfiguration
from kiota_abstractions.headers_collection import HeadersCollection
from kiota_abstractions.method import Method
from kiota_abstractions.request_information import RequestInformation
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.users.item.calendar_view.delta.delta_request_builder import DeltaRequestBuilder

from emulators.graph.tenant import DEMO_TENANT_PATH
from shared.graph.client import GraphClientSettings, build_credential, build_graph_client

from .helpers import ALICE, AURORA, BOB, meeting, meeting_json

ROOT = Path(__file__).resolve().parents[3]


def delta_cfg(page: int | None = None, tz: str | None = None) -> RequestConfiguration:
    hc = HeadersCollection()
    prefs = [f"odata.maxpagesize={page}"] if page else []
    prefs += [f'outlook.timezone="{tz}"'] if tz else []
    if prefs:
        hc.add("Prefer", ", ".join(prefs))
    q = DeltaRequestBuilder.DeltaRequestBuilderGetQueryParameters(
        start_date_time="2026-11-20T00:00:00Z", end_date_time="2026-12-01T00:00:00Z"
    )
    return RequestConfiguration(headers=hc, query_parameters=q)


async def test_delta_410_location_through_the_sdk(graph, emu):
    emu.act_create_meeting(BOB, meeting_json(room=None))
    first = await graph.users.by_user_id(BOB).calendar_view.delta.get(
        request_configuration=delta_cfg(tz="W. Europe Standard Time")
    )
    assert first.value[0].start.time_zone == "W. Europe Standard Time"
    assert first.value[0].start.date_time.startswith("2026-11-24T09:00:00")
    emu.invalidate_delta_tokens("resyncRequired", mailbox=BOB)
    with pytest.raises(ODataError) as err:
        await graph.users.by_user_id(BOB).calendar_view.delta.with_url(first.odata_delta_link).get()
    assert err.value.response_status_code == 410
    assert err.value.error.code == "resyncRequired"
    assert err.value.response_headers is not None
    location = err.value.response_headers["location"]
    assert location.endswith("$deltatoken=")
    assert "startDateTime=2026-11-20T00:00:00Z" in location
    # Following Location is a fresh initial round that returns everything again.
    again = await graph.users.by_user_id(BOB).calendar_view.delta.with_url(location).get()
    assert len(again.value) == 1
    assert again.odata_delta_link


async def test_delta_sync_state_not_found_status_eviction_and_unknown_tokens(graph, emu):
    emu.set_config(deltaTokenCapacity=1)
    a = await graph.users.by_user_id(BOB).calendar_view.delta.get(request_configuration=delta_cfg())
    await graph.users.by_user_id(BOB).calendar_view.delta.get(request_configuration=delta_cfg())
    with pytest.raises(ODataError) as err:  # the older token was evicted from the cache
        await graph.users.by_user_id(BOB).calendar_view.delta.with_url(a.odata_delta_link).get()
    assert (err.value.response_status_code, err.value.error.code) == (400, "syncStateNotFound")
    emu.set_config(syncStateNotFoundStatus=404)
    bogus = a.odata_delta_link.split("$deltatoken=")[0] + "$deltatoken=not-a-token"
    with pytest.raises(ODataError) as err:
        await graph.users.by_user_id(BOB).calendar_view.delta.with_url(bogus).get()
    assert (err.value.response_status_code, err.value.error.code) == (404, "syncStateNotFound")
    # A token is bound to its mailbox.
    c = await graph.users.by_user_id(BOB).calendar_view.delta.get(request_configuration=delta_cfg())
    stolen = c.odata_delta_link.replace(BOB, ALICE).replace(
        "b0b00000-0000-4000-8000-000000000002", "a11ce000-0000-4000-8000-000000000001"
    )
    with pytest.raises(ODataError) as err:
        await graph.users.by_user_id(ALICE).calendar_view.delta.with_url(stolen).get()
    assert err.value.error.code == "syncStateNotFound"


async def test_delta_rejects_select(emu, graph):
    q = DeltaRequestBuilder.DeltaRequestBuilderGetQueryParameters(
        start_date_time="2026-11-20T00:00:00Z", end_date_time="2026-12-01T00:00:00Z", select=["subject"]
    )
    with pytest.raises(ODataError) as err:
        await graph.users.by_user_id(BOB).calendar_view.delta.get(
            request_configuration=RequestConfiguration(query_parameters=q)
        )
    assert err.value.response_status_code == 400


async def sdk_batch(graph, requests: list[dict[str, Any]]) -> dict[str, Any]:
    """POST /$batch with the GraphServiceClient's own adapter (auth, headers, error mapping).

    msgraph-core's BatchRequestContent imports the 'deprecated' package, which is not installed,
    so the batch body is built here and sent through the same pipeline the SDK uses.
    """
    ri = RequestInformation(Method.POST, "{+baseurl}/$batch", {})
    ri.headers.try_add("Accept", "application/json")
    ri.set_stream_content(json.dumps({"requests": requests}).encode(), "application/json")
    raw = await graph.request_adapter.send_primitive_async(ri, "bytes", {"XXX": ODataError})
    result: dict[str, Any] = json.loads(raw)
    return result


async def test_batch_depends_on_and_per_item_throttling_via_sdk_adapter(graph, emu):
    emu.reset_request_counts()
    chain: list[dict[str, Any]] = [
        {
            "id": "create",
            "method": "POST",
            "url": f"/users/{ALICE}/events",
            "headers": {"Content-Type": "application/json"},
            "body": meeting_json(room=None, transactionId="batch-1"),
        },
        {
            "id": "again",
            "method": "POST",
            "url": f"/users/{ALICE}/events",
            "headers": {"Content-Type": "application/json"},
            "body": meeting_json(room=None, transactionId="batch-1"),
            "dependsOn": ["create"],
        },
        {"id": "list", "method": "GET", "url": f"/users/{ALICE}/events", "dependsOn": ["again"]},
        {"id": "rooms", "method": "GET", "url": "/places/microsoft.graph.room?$top=2"},
    ]
    out = {r["id"]: r for r in (await sdk_batch(graph, chain))["responses"]}
    assert out["create"]["status"] == 201
    assert out["again"]["body"]["id"] == out["create"]["body"]["id"]  # transactionId dedupe inside a batch
    assert [e["id"] for e in out["list"]["body"]["value"]] == [out["create"]["body"]["id"]]
    assert len(out["rooms"]["body"]["value"]) == 2
    assert emu.request_counts(ALICE)["byEndpoint"] == {
        "POST /users/{id}/events": 2,
        "GET /users/{id}/events": 1,
    }
    # Each item is throttled on its own: 2 left in the window, 3 independent items on one mailbox.
    emu.set_config(throttleLimit=5)
    items = [{"id": str(i), "method": "GET", "url": f"/users/{ALICE}/events"} for i in range(3)]
    items.append({"id": "b", "method": "GET", "url": f"/users/{BOB}/events"})
    res = {r["id"]: r for r in (await sdk_batch(graph, items))["responses"]}
    assert sorted(res[str(i)]["status"] for i in range(3)) == [200, 200, 429]
    assert res["b"]["status"] == 200
    throttled = next(r for r in res.values() if r["status"] == 429)
    assert float(throttled["headers"]["Retry-After"]) > 0
    assert throttled["body"]["error"]["code"] == "TooManyRequests"


async def test_batch_malformed_is_400_via_sdk_adapter(graph, emu):
    cases: list[list[dict[str, Any]]] = [
        [{"id": str(i), "method": "GET", "url": f"/users/{ALICE}/events"} for i in range(21)],
        [{"id": "1", "method": "POST", "url": f"/users/{ALICE}/events", "body": meeting_json(room=None)}],
        [{"id": "1", "method": "GET", "url": "/users", "dependsOn": ["9"]}],
    ]
    for requests in cases:
        with pytest.raises(ODataError) as err:
            await sdk_batch(graph, requests)
        assert err.value.response_status_code == 400
        assert err.value.error.code == "BadRequest"
    assert (await sdk_batch(graph, cases[0][:20]))["responses"][0]["status"] == 200


async def test_control_plane_loads_yaml_and_json_tenants(graph, emu):
    tenant = {
        "tenantId": emu.tenant_id,
        "domain": "fabrikam.example",
        "apps": [{"clientId": emu.client_id, "clientSecret": emu.client_secret}],
        "users": [
            {
                "id": "0000aaaa-0000-4000-8000-000000000001",
                "address": "zoe@fabrikam.example",
                "displayName": "Zoe",
            }
        ],
        "rooms": [{"address": "orion@fabrikam.example", "displayName": "Orion", "capacity": 3}],
    }
    with httpx.Client(base_url=emu.control_url) as c:
        assert c.post(
            "/tenant", content=json.dumps(tenant), headers={"Content-Type": "application/json"}
        ).is_success
        assert [r.email_address for r in (await graph.places.graph_room.get()).value] == [
            "orion@fabrikam.example"
        ]
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump(tenant | {"rooms": []}, f)
        try:
            assert c.post("/tenant", json={"path": f.name}).is_success
            assert (await graph.places.graph_room.get()).value == []
        finally:
            os.unlink(f.name)
        assert c.post("/tenant", json={"path": str(DEMO_TENANT_PATH)}).is_success
        assert len((await graph.places.graph_room.get()).value) == 6
        ev = emu.act_create_meeting(
            ALICE, meeting_json(start="2026-11-23T09:00:00", end="2026-11-23T10:00:00")
        )
        assert emu.mailbox_events(ALICE)[0]["id"] == ev["id"]
        assert c.post("/reset", json={}).is_success
        assert emu.mailbox_events(ALICE) == []


async def test_clock_drives_booking_window(graph, emu):
    far = await graph.users.by_user_id(ALICE).events.post(
        meeting(start="2027-05-24T09:00:00", end="2027-05-24T10:00:00")
    )
    org = await graph.users.by_user_id(ALICE).events.by_event_id(far.id).get()
    assert org.attendees[0].status.response.value == "declined"  # more than 180 days ahead
    emu.advance_clock(30 * 86400)
    later = await graph.users.by_user_id(ALICE).events.post(
        meeting(subject="later", start="2027-05-24T09:00:00", end="2027-05-24T10:00:00")
    )
    org = await graph.users.by_user_id(ALICE).events.by_event_id(later.id).get()
    assert org.attendees[0].status.response.value == "accepted"
    assert emu.now().startswith("2026-12-20T08:0")
    assert (await graph.users.by_user_id(AURORA).events.get()).value[0].created_date_time.month == 12


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_standalone_module_with_tenant_file(tmp_path):
    """`python -m emulators.graph --port N --tenant FILE` serves the SDK end to end."""
    port, token_port = _free_port(), _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "emulators.graph",
            "--port",
            str(port),
            "--token-port",
            str(token_port),
            "--tenant",
            str(DEMO_TENANT_PATH),
            "--cert-dir",
            str(tmp_path),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/_emulator/health", timeout=1).is_success:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            assert time.monotonic() < deadline
            time.sleep(0.1)
        s = GraphClientSettings(
            base_url=f"http://127.0.0.1:{port}/v1.0",
            authority=f"https://localhost:{token_port}",
            tenant_id="7f1c2d3e-0000-4000-8000-000000000001",
            client_id="5a1b2c3d-0000-4000-8000-0000000000aa",
            client_secret="local-dev-secret-not-for-production",
            ca_bundle_path=str(tmp_path / "graph-emulator-ca.pem"),
            max_retries=0,
        )
        cred = build_credential(s)
        try:
            rooms = await build_graph_client(s, cred).places.graph_room.get()
        finally:
            await cred.close()
        assert rooms.value is not None
        assert len(rooms.value) == 6
        assert httpx.get(f"http://127.0.0.1:{port}/v1.0/users").status_code == 401
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout:
            banner = proc.stdout.read().decode()
            assert f"http://127.0.0.1:{port}/v1.0" in banner
            proc.stdout.close()
