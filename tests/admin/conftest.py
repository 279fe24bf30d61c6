"""Fixtures of the ops (admin) suite: a private Azurite and private emulators (no other dev host of the
session consumes our queues or syncs our emulators, and ours is gone after this package), the storage
account in-process, and a dev host wired to both emulators whose queues give up after one failure (as the
real host does after maxDequeueCount), so a failed job stays failed until it is re-processed."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from emulators.graph.testing import GraphEmulator
from emulators.ibss.testing import IbssEmulator
from scripts.stack import ROOT, Azurite, azurite_running, stop_process
from shared.config import AppSettings
from shared.storage.account import StorageAccount
from tests.stack_fixtures import HOOK_SECRET, RunningHost, start_host


@pytest.fixture(scope="package")
def ops_azurite() -> Iterator[Azurite]:
    with azurite_running() as azurite:
        yield azurite


@pytest.fixture(scope="package")
def ops_graph() -> Iterator[GraphEmulator]:
    with GraphEmulator() as emulator:
        yield emulator


@pytest.fixture(scope="package")
def ops_ibss() -> Iterator[IbssEmulator]:
    with IbssEmulator(hook_backoff_s=0.05, hook_timeout_s=2.0, hook_max_attempts=4) as emulator:
        yield emulator


@pytest.fixture
async def ops_storage(ops_azurite: Azurite) -> AsyncIterator[StorageAccount]:
    account = StorageAccount.from_settings(AppSettings(AzureWebJobsStorage=ops_azurite.connection_string))
    yield account
    await account.close()


def _app_with_one_try(folder: Path) -> Path:
    """function_app.py behind a host.json whose maxDequeueCount is 1 (the dev host reads the app's folder)."""
    host_json = json.loads((ROOT / "host.json").read_text())
    host_json["extensions"]["queues"]["maxDequeueCount"] = 1
    (folder / "host.json").write_text(json.dumps(host_json))
    app = folder / "ops_function_app.py"
    shim = '"""function_app.py under this folder\'s host.json."""\n\nfrom function_app import app\n'
    app.write_text(shim + '\n__all__ = ["app"]\n')
    return app


@pytest.fixture(scope="package")
def ops_host(
    ops_azurite: Azurite,
    ops_graph: GraphEmulator,
    ops_ibss: IbssEmulator,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[RunningHost]:
    graph_emulator, ibss_emulator = ops_graph, ops_ibss
    app = _app_with_one_try(tmp_path_factory.mktemp("ops-app"))
    host = start_host(
        app,
        ops_azurite.connection_string,
        {
            "SYNC_ORGANIZER_MODE": "owner",
            "GRAPH_BASE_URL": graph_emulator.base_url,
            "GRAPH_AUTHORITY": graph_emulator.authority,
            "GRAPH_TENANT_ID": graph_emulator.tenant_id,
            "GRAPH_CLIENT_ID": graph_emulator.client_id,
            "GRAPH_CLIENT_SECRET": graph_emulator.client_secret,
            "GRAPH_CA_BUNDLE": graph_emulator.ca_pem_path,
            "IBSS_BASE_URL": ibss_emulator.base_url,
            "IBSS_API_KEY": ibss_emulator.api_key,
        },
    )
    try:
        yield host
    finally:
        stop_process(host.proc)


@pytest.fixture
def ops_stack(
    ops_host: RunningHost, ops_graph: GraphEmulator, ops_ibss: IbssEmulator
) -> tuple[RunningHost, GraphEmulator, IbssEmulator]:
    ops_graph.reset()
    ops_ibss.reset()
    ops_ibss.set_hook_target(ops_host.url("ibss/hooks", key=False), HOOK_SECRET)
    return ops_host, ops_graph, ops_ibss
