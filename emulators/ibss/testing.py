"""Run the IBSS emulator (and a hook receiver) in a background thread, for tests and tools.

``IbssEmulator`` starts uvicorn on a free loopback port and drives the control plane over HTTP, so it
works the same against a standalone emulator (``IbssEmulator.connect(base_url, api_key)``).
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from emulators.ibss.app import DEFAULT_API_KEY, DEMO_DATA, Emulator, EmulatorConfig, create_app, load_data
from shared.ibss import fields
from shared.ibss.models import format_utc

# How long a stopping server may wait for its connections to finish before it drops them.
_SHUTDOWN_GRACE_SECONDS = 1.0


class ServerThread:
    """uvicorn serving an ASGI app on 127.0.0.1 in a daemon thread."""

    def __init__(self, app: ASGIApp, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        self.host = host
        self.port = port
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> None:
        # proto=IPPROTO_TCP so that asyncio sets TCP_NODELAY on accepted connections (no 40 ms stalls).
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self.app, log_level="warning", lifespan="on", access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, daemon=True, name=f"uvicorn-{self.port}"
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("server did not start")
            time.sleep(0.01)

    def stop(self, timeout: float = 10.0) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            # As for the Graph emulator: a connection an unclosed client left open would hold the
            # graceful shutdown until the join gave up; after a short grace it is dropped.
            self._thread.join(min(timeout, _SHUTDOWN_GRACE_SECONDS))
            if self._server is not None:
                self._server.force_exit = True
            self._thread.join(timeout)
        self._server = None
        self._thread = None


class EmulatorControlError(Exception):
    """The control plane answered with an error (e.g. a Flex action broke a platform rule)."""

    def __init__(self, status: int, body: Any) -> None:
        self.status = status
        self.body = body
        self.reason = body.get(fields.ERROR_REASON) if isinstance(body, dict) else None
        super().__init__(f"HTTP {status}: {body}")


def demo_data(*, seeds: bool = True, sync_echo: bool = False) -> dict[str, Any]:
    """The demo building's data; ``seeds=False`` leaves its seed bookings out (an otherwise empty building),
    ``sync_echo`` puts Echo in the sync too (five synced rooms instead of four)."""
    data = load_data(DEMO_DATA)
    if not seeds:
        data = {k: v for k, v in data.items() if k != "bookings"}
    if sync_echo:
        for building in data["buildings"]:
            for space in building["spaces"]:
                if space["space_id"] == "HQ-3-ECHO":
                    space["ext_booking_system"] = 1
    return data


def _iso(value: datetime | str) -> str:
    return value if isinstance(value, str) else format_utc(value)


class IbssEmulator:
    """The IBSS emulator on a free loopback port (context manager).

    Control helpers call ``/_emulator/...`` over HTTP. Flex helpers return the booking's wire dict.
    """

    def __init__(
        self,
        *,
        data: Path | dict[str, Any] | None = DEMO_DATA,
        api_key: str = DEFAULT_API_KEY,
        hook_url: str | None = None,
        hook_secret: str | None = None,
        hook_max_attempts: int = 5,
        hook_backoff_s: float = 1.0,
        hook_timeout_s: float = 5.0,
        tick_interval_s: float = 0.0,
        node_id: int = 1001,
        hooks: bool = True,
        hook_drop_share: float = 0.0,
    ) -> None:
        self.api_key = api_key
        self.node_id = node_id
        self.config = EmulatorConfig(
            api_key=api_key,
            data=data,
            hook_url=hook_url,
            hook_secret=hook_secret,
            hook_max_attempts=hook_max_attempts,
            hook_backoff_s=hook_backoff_s,
            hook_timeout_s=hook_timeout_s,
            tick_interval_s=tick_interval_s,
            hooks_enabled=hooks,
            hook_drop_share=hook_drop_share,
        )
        self.emulator: Emulator | None = None
        self._server: ServerThread | None = None
        self._http: httpx.Client | None = None
        self.base_url = ""

    @classmethod
    def connect(cls, base_url: str, api_key: str = DEFAULT_API_KEY) -> IbssEmulator:
        """Control helpers for an emulator that is already running (e.g. ``make run``)."""
        emu = cls(api_key=api_key)
        emu.base_url = base_url.rstrip("/")
        emu._http = httpx.Client(base_url=emu.base_url, timeout=10.0)
        return emu

    def __enter__(self) -> Self:
        self.emulator = Emulator(self.config)
        self._server = ServerThread(create_app(emulator=self.emulator))
        self._server.start()
        self.base_url = self._server.base_url
        self._http = httpx.Client(base_url=self.base_url, timeout=10.0)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None
        if self._server is not None:
            self._server.stop()
            self._server = None

    # ------------------------------------------------------------------------------------------
    def _ctl(self, method: str, path: str, body: Any = None) -> Any:
        if self._http is None:
            raise RuntimeError("emulator is not running")
        resp = self._http.request(method, f"/_emulator{path}", json=body)
        try:
            data = resp.json()
        except ValueError:
            data = resp.text
        if resp.status_code >= 400:
            raise EmulatorControlError(resp.status_code, data)
        return data

    def reset(
        self, *, clock: datetime | None = None, frozen: bool = True, data: dict[str, Any] | None = None
    ) -> None:
        """Back to the initial data; clears bookings, faults, request counts and hook history.

        ``clock=None``: the emulator follows real time exactly, as the Graph emulator does. A clock set to
        the caller's ``now`` runs behind by the call's latency, and the service compares IBSS timestamps
        with Graph's (which of a Flex booking and an Outlook meeting came first)."""
        self._ctl("POST", "/reset", {"clock": _iso(clock) if clock else None, "frozen": frozen, "data": data})

    def load(self, data: dict[str, Any], *, replace: bool = False) -> None:
        self._ctl("POST", "/load", {"data": data, "replace": replace})

    def state(self) -> dict[str, Any]:
        result: dict[str, Any] = self._ctl("GET", "/state")
        return result

    # Clock
    def now(self) -> datetime:
        return datetime.fromisoformat(self._ctl("GET", "/clock")["now"].replace("Z", "+00:00"))

    def set_clock(self, when: datetime | str, *, frozen: bool = True) -> None:
        self._ctl("POST", "/clock", {"now": _iso(when), "frozen": frozen})

    def advance_clock(
        self, *, days: float = 0, hours: float = 0, minutes: float = 0, seconds: float = 0
    ) -> None:
        self._ctl(
            "POST", "/clock/advance", {"days": days, "hours": hours, "minutes": minutes, "seconds": seconds}
        )

    # Faults and accounting
    def inject_fault(
        self,
        *,
        status: int | None = None,
        path_regex: str | None = None,
        method: str | None = None,
        retry_after: str | float | None = None,
        latency_ms: int = 0,
        times: int | None = 1,
        message: str = "injected fault",
    ) -> None:
        self._ctl(
            "POST",
            "/faults",
            {
                "target": "api",
                "status": status,
                "path_regex": path_regex,
                "method": method,
                "retry_after": retry_after,
                "latency_ms": latency_ms,
                "times": times,
                "message": message,
            },
        )

    def inject_hook_fault(
        self, action: str, *, times: int | None = 1, delay_ms: int = 0, types: list[str] | None = None
    ) -> None:
        """``action``: ``drop`` (the event is never sent) or ``delay`` (sent after ``delay_ms``)."""
        body = {
            "target": "hooks",
            "action": action,
            "times": times,
            "delay_ms": delay_ms,
            "types": types or [],
        }
        self._ctl("POST", "/faults", body)

    def clear_faults(self) -> None:
        self._ctl("DELETE", "/faults")

    def request_counts(self) -> dict[str, Any]:
        """``{"total", "by_route": {"GET /v2/{node_id}/bookings": n}, "by_status", "by_route_status":
        {"POST /v2/{node_id}/bookings 201": n}, "log"}`` (``log``: the latest 2,000 requests only)."""
        result: dict[str, Any] = self._ctl("GET", "/requests")
        return result

    def clear_request_counts(self) -> None:
        self._ctl("DELETE", "/requests")

    def add_api_key(self, key: str, nodes: list[int] | None = None, *, policy_exempt: bool = False) -> None:
        """Add (or redefine) an application user; ``policy_exempt`` lets its bookings skip booking
        policies (API create/update only; Flex users are always checked)."""
        self._ctl("POST", "/api-keys", {"key": key, "nodes": nodes, "policy_exempt": policy_exempt})

    # Hooks
    def set_hook_target(
        self,
        url: str | None,
        secret: str | None,
        *,
        max_attempts: int | None = None,
        backoff_s: float | None = None,
        timeout_s: float | None = None,
    ) -> None:
        body = {
            "url": url,
            "secret": secret,
            "max_attempts": max_attempts,
            "backoff_s": backoff_s,
            "timeout_s": timeout_s,
        }
        self._ctl("PUT", "/hooks", body)

    def set_hooks(self, *, enabled: bool | None = None, drop_share: float | None = None) -> None:
        """Hooks on or off (an IBSS without a hook endpoint), or a share of them dropped at random. The
        target is kept; ``reset`` restores the emulator's start-up settings."""
        self._ctl("PUT", "/hooks", {"enabled": enabled, "drop_share": drop_share})

    def hook_deliveries(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._ctl("GET", "/hooks")["deliveries"]
        return result

    def wait_hooks_settled(self, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Wait until no delivery is pending; returns every delivery."""
        deadline = time.monotonic() + timeout
        while True:
            deliveries = self.hook_deliveries()
            if all(d["status"] != "pending" for d in deliveries) or time.monotonic() > deadline:
                return deliveries
            time.sleep(0.02)

    def purge_booking(self, booking_id: str) -> None:
        """Hard-delete a booking, as a database clean-up would: gone from the API, no hook sent."""
        self._ctl("DELETE", f"/bookings/{booking_id}")

    # Flex (act as a person)
    def _flex(self, action: str, body: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self._ctl(
            "POST", f"/flex/{action}", {k: v for k, v in body.items() if v is not None}
        )
        return result

    def act_book(
        self,
        person: str,
        space_id: str,
        start: datetime | str | None = None,
        end: datetime | str | None = None,
        *,
        name: str = "Flex booking",
        node_id: int | None = None,
        parties: list[str | dict[str, Any]] | None = None,
        online_meeting: bool = False,
        occurrences: list[tuple[datetime, datetime]] | None = None,
    ) -> dict[str, Any]:
        """Book as ``person`` in Flex.

        With ``occurrences`` it books a series and returns ``{Booking_Series_Id, value}``.
        """
        return self._flex(
            "book",
            {
                "person": person,
                "node_id": node_id or self.node_id,
                "space_id": space_id,
                "start": _iso(start) if start else None,
                "end": _iso(end) if end else None,
                "name": name,
                "parties": parties,
                "online_meeting": online_meeting,
                "occurrences": [{"start": _iso(s), "end": _iso(e)} for s, e in occurrences]
                if occurrences
                else None,
            },
        )

    def act_book_at_kiosk(
        self, space_id: str, start: datetime, end: datetime, name: str = "Kiosk booking"
    ) -> dict[str, Any]:
        """Book at a kiosk (IBSS Unity/Inspire): a booking without an owner."""
        return self._flex(
            "book",
            {
                "kiosk": True,
                "node_id": self.node_id,
                "space_id": space_id,
                "start": _iso(start),
                "end": _iso(end),
                "name": name,
            },
        )

    def act_move(
        self,
        person: str,
        booking_id: str,
        space_id: str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> dict[str, Any]:
        body = {"person": person, "booking_id": booking_id, "space_id": space_id}
        if start:
            body["start"] = _iso(start)
        if end:
            body["end"] = _iso(end)
        return self._flex("move", body)

    def act_edit(self, person: str, booking_id: str, **changes: Any) -> dict[str, Any]:
        """Edit as the owner: ``start``, ``end`` (datetimes), ``name``, ``description``, ``online_meeting``,
        ``parties``."""
        body: dict[str, Any] = {"person": person, "booking_id": booking_id}
        for key, value in changes.items():
            body[key] = _iso(value) if isinstance(value, datetime) else value
        return self._flex("edit", body)

    def act_cancel(self, person: str, booking_id: str) -> dict[str, Any]:
        return self._flex("cancel", {"person": person, "booking_id": booking_id})

    def act_check_in(self, person: str, booking_id: str) -> dict[str, Any]:
        return self._flex("checkin", {"person": person, "booking_id": booking_id})

    def act_check_out(self, person: str, booking_id: str) -> dict[str, Any]:
        return self._flex("checkout", {"person": person, "booking_id": booking_id})

    def act_set_calendar_sync(self, person: str, enabled: bool) -> dict[str, Any]:
        """Roamer/Flex "User Preferences > Synchronise Calendar" of ``person``."""
        return self._flex("preferences", {"person": person, "calendar_sync": enabled})


@dataclass
class ReceivedHook:
    headers: dict[str, str]
    body: bytes
    received_at: float = field(default_factory=time.time)


class HookReceiver:
    """A tiny real HTTP server that records hook deliveries (context manager).

    ``fail_first`` deliveries are answered with ``fail_status`` (to exercise retries).
    """

    def __init__(self, *, fail_first: int = 0, fail_status: int = 500, path: str = "/hooks") -> None:
        self.fail_first = fail_first
        self.fail_status = fail_status
        self.path = path
        self.received: list[ReceivedHook] = []
        self.rejected: list[ReceivedHook] = []
        self._lock = threading.Lock()
        self._server = ServerThread(Starlette(routes=[Route(path, self._handle, methods=["POST"])]))

    async def _handle(self, request: Request) -> Response:
        hook = ReceivedHook(headers=dict(request.headers), body=await request.body())
        with self._lock:
            if self.fail_first > 0:
                self.fail_first -= 1
                self.rejected.append(hook)
                return JSONResponse({"ok": False}, status_code=self.fail_status)
            self.received.append(hook)
        return JSONResponse({"ok": True})

    @property
    def url(self) -> str:
        return f"{self._server.base_url}{self.path}"

    def wait_for(self, count: int, timeout: float = 10.0) -> list[ReceivedHook]:
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                if len(self.received) >= count:
                    return list(self.received)
            if time.monotonic() > deadline:
                raise TimeoutError(f"expected {count} hook deliveries, got {len(self.received)}")
            time.sleep(0.01)

    def clear(self) -> None:
        with self._lock:
            self.received.clear()
            self.rejected.clear()

    def __enter__(self) -> Self:
        self._server.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.stop()


__all__ = ["EmulatorControlError", "HookReceiver", "IbssEmulator", "ReceivedHook", "ServerThread"]
