"""Fixtures that put real parts under the tests: Azurite and the dev host running function_app.py."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from scripts.stack import ROOT, Azurite, azurite_running, free_port, stop_process

FUNCTION_KEY = "test-function-key"
MASTER_KEY = "test-master-key"
HOOK_SECRET = "whsec_" + base64.b64encode(b"test-hook-secret-of-32-bytes!!!!").decode()


@pytest.fixture(scope="session")
def storage_connection() -> Iterator[str]:
    """Azurite's connection string: the one `make test` started, or a private one for a bare `pytest`."""
    given = os.environ.get("AzureWebJobsStorage")
    if given and "UseDevelopmentStorage" not in given:
        yield given
        return
    with azurite_running() as azurite:
        os.environ["AzureWebJobsStorage"] = azurite.connection_string
        yield azurite.connection_string


@dataclass
class RunningHost:
    base_url: str
    proc: subprocess.Popen[bytes]
    function_key: str = FUNCTION_KEY
    master_key: str = MASTER_KEY

    def url(self, route: str, key: bool = True) -> str:
        sep = "&" if "?" in route else "?"
        return f"{self.base_url}/api/{route}" + (f"{sep}code={self.function_key}" if key else "")


def start_host(
    app: Path, storage: str, extra_env: dict[str, str] | None = None, port: int | None = None
) -> RunningHost:
    port = port or free_port()
    env = {
        **os.environ,
        "AzureWebJobsStorage": storage,
        "DEVHOST_FUNCTION_KEY": FUNCTION_KEY,
        "DEVHOST_MASTER_KEY": MASTER_KEY,
        "SYNC_TIMER_SCHEDULE": "*/2 * * * * *",
        "IBSS_HOOK_SECRET": HOOK_SECRET,
        "PYTHONUNBUFFERED": "1",
        **(extra_env or {}),
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "devhost",
            "--app",
            str(app),
            "--port",
            str(port),
            "--settings",
            "/nonexistent",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"dev host exited with {proc.returncode}")
        try:
            if httpx.get(f"{base}/admin/functions", timeout=1).status_code == 200:
                return RunningHost(base_url=base, proc=proc)
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    stop_process(proc)
    raise TimeoutError("dev host did not start")


@pytest.fixture(scope="session")
def devhost(storage_connection: str) -> Iterator[RunningHost]:
    """function_app.py under the dev host, on Azurite."""
    host = start_host(ROOT / "function_app.py", storage_connection)
    try:
        yield host
    finally:
        stop_process(host.proc)


@dataclass
class AzuritePool:
    """One Azurite, many storage accounts: each end-to-end stack takes an account of its own, as isolated
    as a private Azurite (own tables and queues) without starting and stopping one per test."""

    azurite: Azurite
    taken: int = 0

    def take(self) -> str:
        if self.taken >= len(self.azurite.accounts):
            raise RuntimeError(
                f"all {self.taken} Azurite accounts of the pool are taken: raise POOL_ACCOUNTS"
            )
        account = self.azurite.accounts[self.taken]
        self.taken += 1
        return self.azurite.connection_string_for(account)


POOL_ACCOUNTS = 400


@pytest.fixture(scope="session")
def azurite_pool() -> Iterator[AzuritePool]:
    with azurite_running(accounts=tuple(f"stack{i:03d}" for i in range(POOL_ACCOUNTS))) as azurite:
        yield AzuritePool(azurite)


__all__ = [
    "Azurite",
    "AzuritePool",
    "RunningHost",
    "azurite_pool",
    "devhost",
    "start_host",
    "storage_connection",
]


def emulator_settings(graph: Any, ibss: Any, storage: str, mode: str = "owner") -> Any:
    """AppSettings for an in-process worker (reconciler, series worker) wired to both emulators."""
    from shared.config import AppSettings  # noqa: PLC0415 - fixtures stay importable without the app

    return AppSettings(
        AzureWebJobsStorage=storage,
        SYNC_ORGANIZER_MODE=mode,
        GRAPH_BASE_URL=graph.base_url,
        GRAPH_AUTHORITY=graph.authority,
        GRAPH_TENANT_ID=graph.tenant_id,
        GRAPH_CLIENT_ID=graph.client_id,
        GRAPH_CLIENT_SECRET=graph.client_secret,
        GRAPH_CA_BUNDLE=graph.ca_pem_path,
        IBSS_BASE_URL=ibss.base_url,
        IBSS_API_KEY=ibss.api_key,
    )


def emulator_env(graph: Any, ibss: Any, port: int, mode: str = "owner") -> dict[str, str]:
    """App settings that wire a dev host on `port` to the Graph and IBSS emulators, with the rooms onboarded
    once at start and subscribed (Graph validates and delivers to the host's real intake)."""
    return {
        "SYNC_ORGANIZER_MODE": mode,
        "SYNC_TIMER_SCHEDULE": "*/1 * * * * *",
        "SYNC_ONBOARDING_INTERVAL_SECONDS": "3600",
        "SYNC_SAFETY_NET_SECONDS": "3600",
        "SYNC_ROOM_REPLY_CHECK_SECONDS": "2",
        "GRAPH_NOTIFICATION_URL": f"http://127.0.0.1:{port}/api/graph/notifications",
        "GRAPH_LIFECYCLE_URL": f"http://127.0.0.1:{port}/api/graph/lifecycle",
        "GRAPH_BASE_URL": graph.base_url,
        "GRAPH_AUTHORITY": graph.authority,
        "GRAPH_TENANT_ID": graph.tenant_id,
        "GRAPH_CLIENT_ID": graph.client_id,
        "GRAPH_CLIENT_SECRET": graph.client_secret,
        "GRAPH_CA_BUNDLE": graph.ca_pem_path,
        "IBSS_BASE_URL": ibss.base_url,
        "IBSS_API_KEY": ibss.api_key,
    }
