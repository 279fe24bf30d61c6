"""Fixtures of the rooms suite: a private Azurite (so no other dev host consumes our queues), the rooms
service in-process against the Graph emulator with an in-memory job queue, and helpers that compare the
sink's table with the emulator's truth."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import uvicorn
from azure.core.exceptions import ResourceNotFoundError
from pydantic import BaseModel
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from emulators.graph.server import bind
from emulators.graph.testing import GraphEmulator
from emulators.ibss.testing import IbssEmulator
from scripts.stack import Azurite, azurite_running
from shared.config import AppSettings
from shared.graph.client import GraphClientSettings, build_credential, build_graph_client
from shared.rooms.delta import RoundResult
from shared.rooms.graph_rooms import GraphRooms, MailboxLimiter
from shared.rooms.models import RoomDeltaJob, room_key
from shared.rooms.onboarding import IbssSpaces
from shared.rooms.runtime import build_rooms_service
from shared.rooms.service import RoomsService
from shared.rooms.sink import RecordingChangeSink
from shared.storage.account import StorageAccount
from shared.storage.names import QueueName, TableName

SYNCED_ROOMS = [
    "aurora@contoso.example",
    "borealis@contoso.example",
    "cirrus@contoso.example",
    "delta@contoso.example",
]
ALICE = "alice@contoso.example"


@pytest.fixture(scope="session")
def rooms_azurite() -> Iterator[Azurite]:
    with azurite_running() as azurite:
        yield azurite


async def wipe(account: StorageAccount) -> None:
    """Drop every table and queue: each test starts from empty storage."""
    async for table in account.table_service.list_tables():
        with contextlib.suppress(ResourceNotFoundError):
            await account.table_service.delete_table(table.name)
    async for queue in account.queue_service.list_queues():
        with contextlib.suppress(ResourceNotFoundError):
            await account.queue_service.delete_queue(queue.name)


@pytest.fixture
async def storage(rooms_azurite: Azurite) -> AsyncIterator[StorageAccount]:
    account = StorageAccount.from_settings(AppSettings(AzureWebJobsStorage=rooms_azurite.connection_string))
    await wipe(account)
    yield account
    await account.close()


class EmulatorClock:
    """The service's clock following the Graph emulator's (call ``sync`` after moving it)."""

    def __init__(self, g: GraphEmulator) -> None:
        self.g = g
        self.offset = timedelta()
        self.sync()

    def sync(self) -> None:
        self.offset = datetime.fromisoformat(self.g.now().replace("Z", "+00:00")) - datetime.now(UTC)

    def advance(self, seconds: float) -> None:
        self.g.advance_clock(seconds)
        self.sync()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


@dataclass
class FakeQueue:
    """In-memory JobQueue: records what would be enqueued, with its visibility delay."""

    sent: list[tuple[str, BaseModel, int | None]] = field(default_factory=list)

    async def send(self, queue: str, message: BaseModel, delay_seconds: int | None = None) -> None:
        self.sent.append((queue, message, delay_seconds))

    def jobs(self) -> list[RoomDeltaJob]:
        return [m for q, m, _ in self.sent if q == QueueName.SYNC_ROOMS and isinstance(m, RoomDeltaJob)]

    def take_jobs(self) -> list[RoomDeltaJob]:
        jobs = self.jobs()
        self.sent = [s for s in self.sent if s[0] != QueueName.SYNC_ROOMS]
        return jobs


@dataclass
class Receiver:
    """Answers Graph's validation handshakes; counts what it receives."""

    url: str = ""
    validations: int = 0
    items: list[dict[str, Any]] = field(default_factory=list)


@pytest.fixture(scope="session")
def receiver() -> Iterator[Receiver]:
    rec = Receiver()

    async def hook(request: Request) -> Response:
        token = request.query_params.get("validationToken")
        if token is not None:
            rec.validations += 1
            return PlainTextResponse(token)
        rec.items.extend((await request.json()).get("value", []))
        return Response(status_code=202)

    app = Starlette(
        routes=[Route("/hook", hook, methods=["POST"]), Route("/lifecycle", hook, methods=["POST"])]
    )
    sock = bind("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    rec.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    yield rec
    server.should_exit = True
    thread.join(timeout=5)


def graph_settings(g: GraphEmulator) -> GraphClientSettings:
    return GraphClientSettings(
        base_url=g.base_url,
        authority=g.authority,
        tenant_id=g.tenant_id,
        client_id=g.client_id,
        client_secret=g.client_secret,
        ca_bundle_path=g.ca_pem_path,
        max_retries=0,
    )


@pytest.fixture(scope="session")
async def graph_client(graph_emulator: GraphEmulator) -> AsyncIterator[Any]:
    s = graph_settings(graph_emulator)
    cred = build_credential(s)
    yield build_graph_client(s, cred)
    await cred.close()


@dataclass
class InProcess:
    g: GraphEmulator
    ibss: IbssEmulator
    storage: StorageAccount
    queue: FakeQueue
    clock: EmulatorClock
    graph: GraphRooms
    sink: RecordingChangeSink
    service: RoomsService
    receiver: Receiver

    async def drain(self, max_rounds: int = 50) -> list[RoundResult]:
        """Run queued round jobs (ignoring visibility delays) until none is left."""
        results: list[RoundResult] = []
        assert self.service.runner is not None
        for _ in range(max_rounds):
            jobs = self.queue.take_jobs()
            if not jobs:
                return results
            for job in jobs:
                results.append(await self.service.runner.run(job))
        raise AssertionError("rounds did not settle")

    async def onboard(self) -> None:
        assert self.service.onboarding is not None
        await self.service.onboarding.run()
        await self.drain()


def make_in_process(
    g: GraphEmulator,
    ibss: IbssEmulator,
    storage: StorageAccount,
    graph_client: Any,
    receiver: Receiver,
    **settings: Any,
) -> InProcess:
    clock = EmulatorClock(g)
    queue = FakeQueue()
    graph = GraphRooms(graph_client, MailboxLimiter(4))
    sink = RecordingChangeSink(storage)
    app_settings = AppSettings(
        **{
            "AzureWebJobsStorage": "unused",
            "GRAPH_NOTIFICATION_URL": f"{receiver.url}/hook",
            "GRAPH_LIFECYCLE_URL": f"{receiver.url}/lifecycle",
            "SYNC_COALESCE_SECONDS": 1,
            **settings,
        }
    )
    service = build_rooms_service(
        app_settings,
        storage,
        queue,
        clock=clock,
        graph=graph,
        spaces=IbssSpaces(ibss.base_url, ibss.api_key),
        sink=sink,
    )
    return InProcess(g, ibss, storage, queue, clock, graph, sink, service, receiver)


@pytest.fixture
def emu(graph_emulator_reset: GraphEmulator) -> GraphEmulator:
    graph_emulator_reset.set_clock("2026-11-20T08:00:00Z")
    return graph_emulator_reset


@pytest.fixture
def inproc(
    emu: GraphEmulator,
    ibss_emulator_fresh: IbssEmulator,
    storage: StorageAccount,
    graph_client: Any,
    receiver: Receiver,
) -> InProcess:
    return make_in_process(emu, ibss_emulator_fresh, storage, graph_client, receiver)


# ---------------------------------------------------------------------------------------------- truth


def meeting(
    start: datetime, minutes: int = 30, room: str = SYNCED_ROOMS[0], subject: str = "Sync"
) -> dict[str, Any]:
    end = start + timedelta(minutes=minutes)
    return {
        "subject": subject,
        "start": {"dateTime": start.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"},
        "end": {"dateTime": end.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"},
        "attendees": [{"emailAddress": {"address": room}, "type": "resource"}],
        "location": {"displayName": room, "locationEmailAddress": room},
    }


def emulator_now(g: GraphEmulator) -> datetime:
    return datetime.fromisoformat(g.now().replace("Z", "+00:00"))


def slot(g: GraphEmulator, day: int, hour: int) -> datetime:
    """A future slot: ``day`` days after the emulator's today, at ``hour`` UTC."""
    now = emulator_now(g)
    return datetime(now.year, now.month, now.day, hour, tzinfo=UTC) + timedelta(days=day)


def truth(g: GraphEmulator, mailbox: str, start: datetime, end: datetime) -> dict[str, str]:
    """event id -> changeKey of everything the room's calendarView holds in the window."""
    token = g.issue_token()
    out: dict[str, str] = {}
    url: str | None = f"{g.base_url}/users/{mailbox}/calendarView"
    params: dict[str, str] | None = {
        "startDateTime": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "endDateTime": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "$top": "500",
    }
    with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:
        while url:
            resp = client.get(url, params=params)
            for _ in range(10):  # the service may hold the mailbox's concurrent requests: wait as told
                if resp.status_code != 429:
                    break
                time.sleep(float(resp.headers.get("Retry-After", "1")))
                resp = client.get(url, params=params)
            resp.raise_for_status()
            body = resp.json()
            out.update({e["id"]: e["changeKey"] for e in body["value"]})
            url, params = body.get("@odata.nextLink"), None
    return out


async def sink_rows(storage: StorageAccount, mailbox: str) -> list[dict[str, Any]]:
    table = await storage.ready_table(TableName.ROOM_CHANGES)
    pk = room_key(mailbox)
    return [dict(e) async for e in table.query_entities("PartitionKey eq @pk", parameters={"pk": pk})]


def _end_utc(row: dict[str, Any]) -> datetime:
    assert row.get("end_tz") == "UTC"  # delta answers in UTC without Prefer: outlook.timezone
    return datetime.fromisoformat(str(row["end"])[:26]).replace(tzinfo=UTC)


async def in_sync(g: GraphEmulator, storage: StorageAccount, mailbox: str) -> tuple[bool, str]:
    """Every event of the window is in the sink with its latest changeKey, nothing extra, nothing twice."""
    from shared.rooms.store import RoomStore  # noqa: PLC0415

    found = await RoomStore(storage).get(mailbox)
    if found is None or found[0].window_start is None or found[0].window_end is None:
        return False, "room has no window yet"
    start, end = found[0].window_start, found[0].window_end
    expected = truth(g, mailbox, start, end)
    rows = await sink_rows(storage, mailbox)
    # Rows of events that fell out of the window as days passed are history, not part of the window.
    live = [r for r in rows if not r.get("removed") and _end_utc(r) > start]
    ids = [r["event_id"] for r in live]
    if len(ids) != len(set(ids)):
        return False, "an event appears twice"
    uids = [r["ical_uid"] for r in live]
    if len(uids) != len(set(uids)):
        return False, "an iCalUId appears twice"
    got = {r["event_id"]: r["change_key"] for r in live}
    if got != expected:
        missing = set(expected) - set(got)
        extra = set(got) - set(expected)
        stale = {k for k in set(got) & set(expected) if got[k] != expected[k]}
        return False, f"missing {len(missing)}, extra {len(extra)}, stale {len(stale)}"
    return True, f"{len(got)} events"


async def room_row(storage: StorageAccount, mailbox: str) -> Any:
    from shared.rooms.store import RoomStore  # noqa: PLC0415

    found = await RoomStore(storage).get(mailbox)
    assert found is not None
    return found[0]
