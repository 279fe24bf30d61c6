"""Acknowledgement latency of the Graph notification endpoint under load.

Starts its own Azurite and dev host, registers a subscription, then sends N change notifications
(one per POST, as Graph usually does) with C requests in flight, and reports p50/p99/max latency of the
202 acknowledgements. It then waits until the queue function has consumed every accepted notification
(one row per notification in the `notifications` table) to show that none was lost.

    .venv/bin/python -m bench.notify_ack [--count 5000] [--concurrency 200] [--batch 1]
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx

from bench.stats import percentile, summary_ms
from scripts.stack import ROOT, azurite_running, stop_process
from shared.config import AppSettings
from shared.state.subscriptions import RoomSubscription, TableSubscriptionStore
from shared.storage.account import StorageAccount
from shared.storage.names import TableName
from tests.stack_fixtures import start_host

USER = "9a1c0f7e-0000-4000-8000-00000000a412"


def notification(sub: RoomSubscription, event_id: str) -> dict[str, object]:
    return {
        "subscriptionId": sub.subscription_id,
        "subscriptionExpirationDateTime": sub.expiration.isoformat(),
        "changeType": "updated",
        "resource": f"Users/{USER}/Events/{event_id}",
        "resourceData": {
            "@odata.type": "#Microsoft.Graph.Event",
            "@odata.id": f"Users/{USER}/Events/{event_id}",
            "@odata.etag": 'W/"DwAAABYAAAC2mY0x"',
            "id": event_id,
        },
        "clientState": sub.client_state,
        "tenantId": "7f1c2d3e-0000-4000-8000-000000000001",
    }


async def run(count: int, concurrency: int, batch: int, storage_conn: str, url: str) -> int:
    account = StorageAccount.from_settings(AppSettings(AzureWebJobsStorage=storage_conn))
    sub = RoomSubscription(
        subscription_id=str(uuid.uuid4()),
        room_mailbox="aurora@contoso.example",
        resource="/users/aurora@contoso.example/events",
        client_state=secrets.token_urlsafe(48),
        expiration=datetime.now(UTC) + timedelta(days=3),
        created_at=datetime.now(UTC),
    )
    await TableSubscriptionStore(account).create(sub)
    event_ids = [f"bench-{i}-{uuid.uuid4().hex[:8]}" for i in range(count)]
    bodies = [
        {"value": [notification(sub, e) for e in event_ids[i : i + batch]]} for i in range(0, count, batch)
    ]
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    accepted = 0
    sem = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        # Warm up connections and caches so the figures describe the steady state.
        await client.post(url, json={"value": []})

        async def send(body: dict[str, list[dict[str, object]]]) -> None:
            nonlocal accepted
            async with sem:
                t0 = time.perf_counter()
                try:
                    r = await client.post(url, json=body)
                except httpx.HTTPError as exc:
                    latencies.append(time.perf_counter() - t0)
                    statuses[-1] = statuses.get(-1, 0) + 1
                    print(f"request failed: {type(exc).__name__}")
                    return
                latencies.append(time.perf_counter() - t0)
                statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
                if r.status_code == 202:
                    accepted += int(r.json()["accepted"])

        started = time.perf_counter()
        await asyncio.gather(*(send(b) for b in bodies))
        elapsed = time.perf_counter() - started

    print(f"sent {count} notifications in {len(bodies)} POSTs ({batch} per POST), {concurrency} in flight")
    print(f"elapsed {elapsed:.2f} s, {len(bodies) / elapsed:.0f} requests/s; statuses {statuses}")
    print(f"ack latency: {summary_ms(latencies)}")
    slow = sum(1 for s in latencies if s > 2.9)
    print(f"slower than Graph's 2.9 s threshold: {slow} ({100 * slow / len(latencies):.2f}%)")
    print(f"enqueued (accepted): {accepted}")

    table = await account.ready_table(TableName.NOTIFICATIONS)
    wanted = set(event_ids)
    deadline = time.monotonic() + 300
    seen: set[str] = set()
    while time.monotonic() < deadline:
        seen = {
            str(e["event_id"])
            async for e in table.query_entities("kind eq 'graph.change'", select=["event_id"])
        }
        if wanted <= seen:
            break
        await asyncio.sleep(1)
    consumed = len(wanted & seen)
    print(f"consumed by the queue function: {consumed}; lost: {count - consumed}")
    print(f"goal p99 < 50 ms: {'met' if percentile(latencies, 99) < 0.05 else 'NOT met'}")
    await account.close()
    return 0 if consumed == count else 1


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--batch", type=int, default=1, help="notifications per POST")
    args = parser.parse_args()
    with azurite_running() as azurite:
        host = start_host(ROOT / "function_app.py", azurite.connection_string)
        try:
            return asyncio.run(
                run(
                    args.count,
                    args.concurrency,
                    args.batch,
                    azurite.connection_string,
                    host.url("graph/notifications"),
                )
            )
        finally:
            stop_process(host.proc)


if __name__ == "__main__":
    raise SystemExit(main())
