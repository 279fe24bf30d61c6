"""Fixtures that put real parts under the tests: Azurite and the dev host running function_app.py."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
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


# Routine lines a failure report leaves out: they say nothing about one booking or meeting.
_ROUTINE = frozenset({"rooms maintenance done"})


@dataclass
class HostLog:
    """The dev host's JSON log lines, kept (bounded) so a failing test can say what the service did."""

    lines: deque[str] = field(default_factory=lambda: deque(maxlen=50_000))
    total: int = 0  # lines ever read; ``since`` marks count in these
    lock: threading.Lock = field(default_factory=threading.Lock)

    def append(self, line: str) -> None:
        with self.lock:
            self.lines.append(line)
            self.total += 1

    def since(self, mark: int) -> list[str]:
        with self.lock:
            kept = len(self.lines)
            first = max(0, kept - (self.total - mark))
            return list(self.lines)[first:]


def _pump(stream: Iterable[bytes], log: HostLog, echo_fd: int) -> None:
    """Keep each line and pass it on to the stderr the host was started with (as if it had inherited it)."""
    with contextlib.suppress(OSError, ValueError):
        for raw in stream:
            log.append(raw.decode("utf-8", "replace").rstrip("\n"))
            with contextlib.suppress(OSError):
                os.write(echo_fd, raw)
    with contextlib.suppress(OSError):
        os.close(echo_fd)


@dataclass
class RunningHost:
    base_url: str
    proc: subprocess.Popen[bytes]
    function_key: str = FUNCTION_KEY
    master_key: str = MASTER_KEY
    log: HostLog = field(default_factory=HostLog)

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
        "SYNC_IBSS_FEED_SCHEDULE": "*/1 * * * * *",
        # Hooks carry IBSS changes in tests; the feed's safety net stays out of the way of other stacks
        # sharing the emulators (its poll would sync bookings this host was not meant to see).
        "SYNC_IBSS_SAFETY_POLL_SECONDS": "3600",
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
        stderr=subprocess.PIPE,
    )
    log = HostLog()
    assert proc.stderr is not None
    threading.Thread(target=_pump, args=(proc.stderr, log, os.dup(2)), daemon=True).start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"dev host exited with {proc.returncode}")
        try:
            if httpx.get(f"{base}/admin/functions", timeout=1).status_code == 200:
                host = RunningHost(base_url=base, proc=proc, log=log)
                RUNNING_HOSTS.append(host)
                return host
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    stop_process(proc)
    raise TimeoutError("dev host did not start")


# Hosts this test process started and has not seen exit: what a failure report reads.
RUNNING_HOSTS: list[RunningHost] = []
_test_marks: dict[int, int] = {}


def mark_test_start() -> None:
    """Remember where each host's log stands: a failure report shows what was logged after this."""
    RUNNING_HOSTS[:] = [h for h in RUNNING_HOSTS if h.proc.poll() is None]
    _test_marks.clear()
    _test_marks.update({id(h): h.log.total for h in RUNNING_HOSTS})


def _compact(line: str) -> str | None:
    try:
        entry = json.loads(line)
    except ValueError:
        return line  # a traceback or a print: always worth showing
    if not isinstance(entry, dict) or entry.get("msg") in _ROUTINE:
        return None
    if entry.get("msg") == "delta round" and not entry.get("changed") and not entry.get("removed"):
        return None
    head = f"{str(entry.get('ts', ''))[11:23]} {entry.get('level', '')} {entry.get('logger', '')}: "
    rest = " ".join(
        f"{k}={v}" for k, v in entry.items() if k not in ("ts", "level", "logger", "msg", "correlation_id")
    )
    return f"{head}{entry.get('msg', '')} {rest}".rstrip()


def what_the_service_did(
    about: Iterable[str] = (), limit: int = 40, hosts: Iterable[RunningHost] | None = None
) -> str:
    """The hosts' log lines of the current test, for an assertion message: those mentioning any of
    ``about`` (ids of a booking or meeting) with every line of the same correlation ids, else all of them;
    routine lines left out, the last ``limit`` kept."""
    wanted = [a for a in about if a]
    parts: list[str] = []
    for number, host in enumerate(RUNNING_HOSTS if hosts is None else hosts, start=1):
        lines = host.log.since(_test_marks.get(id(host), 0))
        if wanted:
            hits = [ln for ln in lines if any(a in ln for a in wanted)]
            chains = {c for ln in hits for c in _correlation_ids(ln)}
            lines = [ln for ln in lines if ln in hits or chains & set(_correlation_ids(ln))]
        shown = [c for c in map(_compact, lines) if c]
        if shown:
            cut = f" (last {limit} of {len(shown)})" if len(shown) > limit else ""
            parts.append(f"host {number} ({host.base_url}) logged{cut}:\n  " + "\n  ".join(shown[-limit:]))
    return "\n".join(parts) if parts else "the hosts logged nothing for this test"


def _correlation_ids(line: str) -> list[str]:
    try:
        entry = json.loads(line)
    except ValueError:
        return []
    cid = entry.get("correlation_id") if isinstance(entry, dict) else None
    return [cid] if isinstance(cid, str) else []


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
    "RUNNING_HOSTS",
    "Azurite",
    "AzuritePool",
    "HostLog",
    "RunningHost",
    "azurite_pool",
    "devhost",
    "mark_test_start",
    "start_host",
    "storage_connection",
    "what_the_service_did",
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


# After inviting a room the worker checks the room's reply this much later (a delayed booking job).
ROOM_REPLY_CHECK_SECONDS = 2


def emulator_env(graph: Any, ibss: Any, port: int, mode: str = "owner") -> dict[str, str]:
    """App settings that wire a dev host on `port` to the Graph and IBSS emulators, with the rooms onboarded
    once at start and subscribed (Graph validates and delivers to the host's real intake)."""
    return {
        "SYNC_ORGANIZER_MODE": mode,
        "SYNC_TIMER_SCHEDULE": "*/1 * * * * *",
        "SYNC_ONBOARDING_INTERVAL_SECONDS": "3600",
        "SYNC_SAFETY_NET_SECONDS": "3600",
        "SYNC_IBSS_CHANGE_DETECTION": "hooks+poll",
        "SYNC_ROOM_REPLY_CHECK_SECONDS": str(ROOM_REPLY_CHECK_SECONDS),
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
