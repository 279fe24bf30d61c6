"""Delta rounds, token invalidation, throttling, $batch and request accounting."""

# The emulator and the webhook receiver run in their own threads, so blocking waits and
# control-plane calls here cannot starve them; model imports stay next to their use.
# ruff: noqa: PLC0415

from __future__ import annotations

import asyncio

import httpx
import pytest
from kiota_abstractions.base_request_configuration import RequestConfiguration
from kiota_abstractions.headers_collection import HeadersCollection
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.users.item.calendar_view.delta.delta_request_builder import DeltaRequestBuilder

from .helpers import ALICE, AURORA, BOB, meeting, meeting_json, raw


def delta_cfg(page: int | None = None) -> RequestConfiguration:
    hc = HeadersCollection()
    if page:
        hc.add("Prefer", f"odata.maxpagesize={page}")
    q = DeltaRequestBuilder.DeltaRequestBuilderGetQueryParameters(
        start_date_time="2026-11-20T00:00:00Z", end_date_time="2026-12-01T00:00:00Z"
    )
    return RequestConfiguration(headers=hc, query_parameters=q)


async def full_round(graph, first):
    pages, resp = [first], first
    while resp.odata_next_link:
        resp = await graph.users.by_user_id(BOB).calendar_view.delta.with_url(resp.odata_next_link).get()
        pages.append(resp)
    return pages


async def test_delta_rounds_paging_and_removed(graph, emu):
    ids = [
        emu.act_create_meeting(
            BOB,
            meeting_json(
                room=None, subject=f"m{d}", start=f"2026-11-2{d}T09:00:00", end=f"2026-11-2{d}T10:00:00"
            ),
        )["id"]
        for d in range(3, 8)
    ]
    first = await graph.users.by_user_id(BOB).calendar_view.delta.get(request_configuration=delta_cfg(page=2))
    pages = await full_round(graph, first)
    assert [len(p.value) for p in pages] == [2, 2, 1]
    assert all(p.odata_delta_link is None for p in pages[:-1])
    assert pages[-1].odata_delta_link
    assert "$skiptoken=" in pages[0].odata_next_link
    assert "$deltatoken=" in pages[-1].odata_delta_link
    delta_link = pages[-1].odata_delta_link
    # Nothing changed: an empty round.
    empty = await graph.users.by_user_id(BOB).calendar_view.delta.with_url(delta_link).get()
    assert empty.value == []
    emu.act_update_meeting(BOB, ids[0], {"subject": "changed"})
    emu.act_delete_meeting(BOB, ids[1])
    out = emu.act_create_meeting(
        BOB, meeting_json(room=None, subject="far", start="2027-01-10T09:00:00", end="2027-01-10T10:00:00")
    )
    with raw(emu) as c:
        body = c.get(delta_link.replace(emu.base_url, "")).json()
    changed = {v["id"]: v for v in body["value"]}
    assert changed[ids[0]]["subject"] == "changed"
    assert changed[ids[1]]["@removed"] == {"reason": "deleted"}
    assert changed[out["id"]]["@removed"] == {"reason": "deleted"}  # out-of-window change, as Graph does
    replay = await graph.users.by_user_id(BOB).calendar_view.delta.with_url(delta_link).get()
    assert {v.id for v in replay.value} == set(changed)  # tokens can be replayed


async def test_delta_token_invalidation(graph, emu):
    first = await graph.users.by_user_id(BOB).calendar_view.delta.get(request_configuration=delta_cfg())
    link = first.odata_delta_link
    emu.invalidate_delta_tokens("resyncRequired")
    with raw(emu) as c:
        r = c.get(link.replace(emu.base_url, ""))
        assert r.status_code == 410
        assert r.json()["error"]["code"] == "resyncRequired"
        assert "$deltatoken=" in r.headers["Location"]
        assert r.headers["Location"].endswith("$deltatoken=")
        fresh = c.get(r.headers["Location"].replace(emu.base_url, ""))
        assert fresh.status_code == 200
        assert "@odata.deltaLink" in fresh.json()
    second = await graph.users.by_user_id(BOB).calendar_view.delta.get(request_configuration=delta_cfg())
    emu.invalidate_delta_tokens("syncStateNotFound", mailbox=BOB)
    with pytest.raises(ODataError) as err:
        await graph.users.by_user_id(BOB).calendar_view.delta.with_url(second.odata_delta_link).get()
    assert err.value.error.code == "syncStateNotFound"


async def test_rate_limit_429_with_retry_after(emu):
    emu.set_config(throttleLimit=3)
    with raw(emu) as c:
        codes = [c.get(f"/users/{ALICE}/events").status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        r = c.get(f"/users/{ALICE}/events")
        assert r.json()["error"]["code"] == "TooManyRequests"
        assert float(r.headers["Retry-After"]) > 0
        assert c.get(f"/users/{BOB}/events").status_code == 200  # per mailbox
    emu.advance_clock(601)
    with raw(emu) as c:
        assert c.get(f"/users/{ALICE}/events").status_code == 200


async def test_concurrency_limit(emu):
    emu.set_config(apiLatencySeconds=0.3)
    async with httpx.AsyncClient(
        base_url=emu.base_url, headers={"Authorization": f"Bearer {emu.issue_token()}"}
    ) as c:
        codes = sorted(
            r.status_code for r in await asyncio.gather(*(c.get(f"/users/{ALICE}/events") for _ in range(6)))
        )
    assert codes == [200, 200, 200, 200, 429, 429]


async def test_forced_503_and_sdk_retry_handler(emu, graph):
    from shared.graph.client import build_credential, build_graph_client

    from .conftest import settings_for

    emu.inject_fault("http", status=503, count=1, mailbox=ALICE, retryAfter=0.1)
    with pytest.raises(ODataError) as err:
        await graph.users.by_user_id(ALICE).events.get()
    assert err.value.response_status_code == 503
    # The production factory's RetryHandler honours Retry-After and recovers.
    s = settings_for(emu, max_retries=2, retry_delay_seconds=0)
    cred = build_credential(s)
    client = build_graph_client(s, cred)
    emu.inject_fault("http", status=429, count=1, mailbox=ALICE, retryAfter=0.2)
    assert (await client.users.by_user_id(ALICE).events.get()).value == []
    await cred.close()


async def test_batch_depends_on_and_limits(emu, graph):
    with raw(emu) as c:
        body = {
            "requests": [
                {
                    "id": "1",
                    "method": "POST",
                    "url": f"/users/{ALICE}/events",
                    "headers": {"Content-Type": "application/json"},
                    "body": meeting_json(room=None),
                },
                {"id": "2", "method": "GET", "url": f"/users/{ALICE}/events", "dependsOn": ["1"]},
                {"id": "3", "method": "GET", "url": "/users/nobody@contoso.example/events"},
                {"id": "4", "method": "GET", "url": f"/users/{BOB}/events", "dependsOn": ["3"]},
            ]
        }
        r = c.post("/$batch", json=body)
        assert r.status_code == 200
        by_id = {x["id"]: x for x in r.json()["responses"]}
        assert by_id["1"]["status"] == 201
        assert len(by_id["2"]["body"]["value"]) == 1
        assert by_id["3"]["status"] == 404
        assert by_id["4"]["status"] == 424
        too_many = {
            "requests": [{"id": str(i), "method": "GET", "url": f"/users/{ALICE}/events"} for i in range(21)]
        }
        assert c.post("/$batch", json=too_many).status_code == 400
        dup = {
            "requests": [
                {"id": "a", "method": "GET", "url": "/users"},
                {"id": "A", "method": "GET", "url": "/users"},
            ]
        }
        assert c.post("/$batch", json=dup).status_code == 400
        emu.set_config(throttleLimit=3)
        throttled = c.post(
            "/$batch",
            json={
                "requests": [
                    {
                        "id": str(i),
                        "method": "GET",
                        "url": f"/users/{BOB}/events",
                        "dependsOn": [str(i - 1)] if i else [],
                    }
                    for i in range(5)
                ]
            },
        )
        statuses = sorted(x["status"] for x in throttled.json()["responses"])
        assert statuses.count(429) == 1
        assert statuses.count(424) == 1
        assert any("Retry-After" in x["headers"] for x in throttled.json()["responses"] if x["status"] == 429)


async def test_request_accounting(emu, graph):
    # msgraph-core's batch helpers need the 'deprecated' package, absent here; $batch is tested over raw HTTP.
    emu.reset_request_counts()
    await graph.users.by_user_id(ALICE).events.get()
    await graph.users.by_user_id(AURORA).events.get()
    await graph.users.by_user_id(ALICE).events.post(meeting(room=None))
    counts = emu.request_counts(ALICE)
    assert counts["byEndpoint"] == {"GET /users/{id}/events": 1, "POST /users/{id}/events": 1}
    assert emu.request_counts()["byMailbox"][AURORA] == 1
    with raw(emu) as c:
        c.post(
            "/$batch",
            json={
                "requests": [
                    {
                        "id": "1",
                        "method": "GET",
                        "url": f"/users/{BOB}/calendarView"
                        "?startDateTime=2026-11-20T00:00:00&endDateTime=2026-11-21T00:00:00",
                    }
                ]
            },
        )
    assert emu.request_counts(BOB)["byEndpoint"] == {"GET /users/{id}/calendarView": 1}
