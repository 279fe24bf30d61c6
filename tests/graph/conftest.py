"""Fixtures for the Graph adapter tests: the real msgraph-sdk client against the Graph emulator."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import unquote

import httpx
import pytest
from msgraph.graph_service_client import GraphServiceClient

from emulators.graph.testing import GraphEmulator
from shared.graph.calendar import GraphCalendar, worker_client_settings
from shared.graph.client import GraphClientSettings, build_credential, build_graph_client
from shared.graph.outlook_writer import OutlookWriter

NOW = "2026-11-20T08:00:00Z"


def settings_for(g: GraphEmulator, **overrides: Any) -> GraphClientSettings:
    values: dict[str, Any] = {
        "base_url": g.base_url,
        "authority": g.authority,
        "tenant_id": g.tenant_id,
        "client_id": g.client_id,
        "client_secret": g.client_secret,
        "ca_bundle_path": g.ca_pem_path,
    }
    values.update(overrides)
    return worker_client_settings(GraphClientSettings(**values))


@dataclass
class UrlLog:
    """The URLs the SDK sent (one per logical call; middleware retries are not seen here)."""

    urls: list[str] = field(default_factory=list)

    async def hook(self, request: httpx.Request) -> None:
        self.urls.append(f"{request.method} {unquote(str(request.url))}")


@dataclass
class Graph:
    client: GraphServiceClient
    calendar: GraphCalendar
    writer: OutlookWriter
    log: UrlLog


@pytest.fixture(scope="session")
async def _graph(graph_emulator: GraphEmulator) -> AsyncIterator[Graph]:
    s = settings_for(graph_emulator)
    cred = build_credential(s)
    client = build_graph_client(s, cred)
    log = UrlLog()
    cast(Any, client.request_adapter)._http_client.event_hooks["request"].append(log.hook)
    calendar = GraphCalendar(client)
    yield Graph(client, calendar, OutlookWriter(calendar), log)
    await cred.close()


@pytest.fixture
def emu(graph_emulator_reset: GraphEmulator) -> GraphEmulator:
    g = graph_emulator_reset
    g.set_clock(NOW)
    return g


@pytest.fixture
def graph(emu: GraphEmulator, _graph: Graph) -> Graph:
    _graph.log.urls.clear()
    return _graph


def requests_by_endpoint(g: GraphEmulator) -> dict[str, int]:
    """Graph API requests the emulator counted since the last reset, by endpoint."""
    return dict(g.request_counts()["byEndpoint"])
