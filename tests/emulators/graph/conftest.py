"""Fixtures for the Graph emulator suite: emulator, SDK client, webhook receiver."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import uvicorn
from msgraph.graph_service_client import GraphServiceClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from emulators.graph.server import bind
from emulators.graph.testing import GraphEmulator
from shared.graph.client import GraphClientSettings, build_credential, build_graph_client


def settings_for(g: GraphEmulator, **overrides: Any) -> GraphClientSettings:
    values: dict[str, Any] = {
        "base_url": g.base_url,
        "authority": g.authority,
        "tenant_id": g.tenant_id,
        "client_id": g.client_id,
        "client_secret": g.client_secret,
        "ca_bundle_path": g.ca_pem_path,
        "max_retries": 0,
    }
    values.update(overrides)
    return GraphClientSettings(**values)


@pytest.fixture
def emu(graph_emulator_reset: GraphEmulator) -> GraphEmulator:
    g = graph_emulator_reset
    g.set_clock("2026-11-20T08:00:00Z")
    return g


@pytest.fixture(scope="session")
async def _shared_client(graph_emulator: GraphEmulator) -> AsyncIterator[GraphServiceClient]:
    s = settings_for(graph_emulator)
    cred = build_credential(s)
    yield build_graph_client(s, cred)
    await cred.close()


@pytest.fixture
def graph(emu: GraphEmulator, _shared_client: GraphServiceClient) -> GraphServiceClient:
    """The production client factory pointed at the emulator (retries off so wire codes show)."""
    return _shared_client


@dataclass
class Receiver:
    """A webhook endpoint that answers validation and records notification batches."""

    url: str = ""
    batches: list[dict[str, Any]] = field(default_factory=list)
    validations: list[str] = field(default_factory=list)
    fail_next: int = 0
    fail_validation: bool = False
    echo_encoded: bool = False
    delay: float = 0.0
    validation_delay: float = 0.0
    slow_next: int = 0
    slow_seconds: float = 0.0

    def items(self) -> list[dict[str, Any]]:
        return [item for b in self.batches for item in b["value"]]

    def wait_for(self, predicate: Any, timeout: float = 5.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [i for i in self.items() if predicate(i)]
            if found:
                return found
            time.sleep(0.02)
        return []

    def clear(self) -> None:
        self.batches.clear()
        self.validations.clear()
        self.fail_next = 0
        self.fail_validation = False
        self.echo_encoded = False
        self.delay = 0.0
        self.validation_delay = 0.0
        self.slow_next = 0
        self.slow_seconds = 0.0


@pytest.fixture(scope="session")
def _receiver() -> Iterator[Receiver]:
    rec = Receiver()

    async def hook(request: Request) -> Response:
        token = request.query_params.get("validationToken")
        if token is not None:
            rec.validations.append(token)
            if rec.validation_delay:
                await asyncio.sleep(rec.validation_delay)
            if rec.fail_validation:
                return PlainTextResponse("nope", status_code=500)
            raw = request.url.query.split("validationToken=", 1)[1]
            return PlainTextResponse(raw if rec.echo_encoded else token)
        if rec.delay:
            await asyncio.sleep(rec.delay)
        if rec.slow_next > 0:
            rec.slow_next -= 1
            await asyncio.sleep(rec.slow_seconds)
            return Response(status_code=202)
        if rec.fail_next > 0:
            rec.fail_next -= 1
            return JSONResponse({}, status_code=503)
        rec.batches.append(await request.json())
        return Response(status_code=202)

    app = Starlette(
        routes=[Route("/hook", hook, methods=["POST"]), Route("/lifecycle", hook, methods=["POST"])]
    )
    sock = bind("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    rec.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    yield rec
    server.should_exit = True
    thread.join(timeout=5)


@pytest.fixture
def receiver(_receiver: Receiver) -> Receiver:
    _receiver.clear()
    return _receiver
