"""``GraphEmulator``: the emulator in a background thread, with control-plane helpers."""

from __future__ import annotations

import asyncio
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from emulators.graph.app import Emulator
from emulators.graph.auth import make_tls_cert
from emulators.graph.server import bind, make_servers, serve
from emulators.graph.tenant import DEMO_TENANT_PATH

# How long a stopping server may wait for its connections to finish before it drops them.
_SHUTDOWN_GRACE_SECONDS = 1.0


class GraphEmulator:
    """Context manager: ``with GraphEmulator() as g: g.base_url, g.authority, ...``."""

    def __init__(self, tenant_path: str | Path = DEMO_TENANT_PATH, host: str = "127.0.0.1") -> None:
        self.emulator = Emulator(tenant_path)
        self.host = host
        self._dir = tempfile.TemporaryDirectory(prefix="graph-emulator-")
        cert, key = make_tls_cert(Path(self._dir.name))
        self.ca_pem_path = str(cert)
        self._http_sock, self._tls_sock = bind(host, 0), bind(host, 0)
        self.port = self._http_sock.getsockname()[1]
        self.token_port = self._tls_sock.getsockname()[1]
        self.base_url = f"http://{host}:{self.port}/v1.0"
        self.control_url = f"http://{host}:{self.port}/_emulator"
        self.authority = f"https://localhost:{self.token_port}"
        tenant = self.emulator.state.tenant
        self.tenant_id = tenant.tenant_id
        self.client_id = tenant.apps[0].client_id
        self.client_secret = tenant.apps[0].client_secret or ""
        self._servers = make_servers(self.emulator, cert, key)
        self._thread: threading.Thread | None = None
        self._client = httpx.Client(base_url=self.control_url, timeout=30)

    # ------------------------------------------------------------ lifecycle

    def start(self) -> GraphEmulator:
        http, tls = self._servers

        def run() -> None:
            asyncio.run(serve(http, tls, self._http_sock, self._tls_sock))

        self._thread = threading.Thread(target=run, name="graph-emulator", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 15
        while not (http.started and tls.started):
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("Graph emulator did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        for s in self._servers:
            s.should_exit = True
        if self._thread is not None:
            # A client that never closed (a test's event loop ended first) leaves a connection uvicorn's
            # graceful shutdown would wait for until the join gave up; after a short grace it is dropped.
            self._thread.join(timeout=_SHUTDOWN_GRACE_SECONDS)
            for s in self._servers:
                s.force_exit = True
            self._thread.join(timeout=10)
        self._client.close()
        self._dir.cleanup()

    def __enter__(self) -> GraphEmulator:
        return self.start()

    def __exit__(
        self, t: type[BaseException] | None, v: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # ------------------------------------------------------------ control-plane helpers

    def _call(self, method: str, path: str, json: Any = None, params: dict[str, str] | None = None) -> Any:
        resp = self._client.request(method, path, json=json, params=params)
        if resp.status_code >= 400:
            raise RuntimeError(f"{method} {path} -> {resp.status_code}: {resp.text}")
        return resp.json() if resp.content else None

    def reset(self, tenant: dict[str, Any] | None = None) -> None:
        self._call("POST", "/reset", {"tenant": tenant} if tenant else {})

    def set_config(self, **values: Any) -> dict[str, Any]:
        result: dict[str, Any] = self._call("PATCH", "/config", values)
        return result

    def set_clock(self, instant: str, frozen: bool = False) -> str:
        return str(self._call("POST", "/clock", {"set": instant, "frozen": frozen})["now"])

    def advance_clock(self, seconds: float) -> str:
        return str(self._call("POST", "/clock", {"advanceSeconds": seconds})["now"])

    def now(self) -> str:
        return str(self._call("GET", "/clock")["now"])

    def act_create_meeting(self, mailbox: str, event: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", f"/act/{mailbox}/events", event)
        return result

    def act_update_meeting(self, mailbox: str, event_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self._call("PATCH", f"/act/{mailbox}/events/{event_id}", changes)
        return result

    def act_delete_meeting(self, mailbox: str, event_id: str) -> None:
        self._call("DELETE", f"/act/{mailbox}/events/{event_id}")

    def act_cancel_meeting(self, mailbox: str, event_id: str, comment: str = "") -> None:
        self._call("POST", f"/act/{mailbox}/events/{event_id}/cancel", {"comment": comment})

    def act_forward(self, mailbox: str, event_id: str, addresses: list[str]) -> None:
        self._call(
            "POST",
            f"/act/{mailbox}/events/{event_id}/forward",
            {"toRecipients": [{"emailAddress": {"address": a}} for a in addresses]},
        )

    def act_respond(self, mailbox: str, event_id: str, action: str, comment: str = "") -> None:
        self._call("POST", f"/act/{mailbox}/events/{event_id}/{action}", {"comment": comment})

    def mailbox_events(self, mailbox: str) -> list[dict[str, Any]]:
        return list(self._call("GET", f"/mailboxes/{mailbox}/events")["value"])

    def room_processing(self, room: str, **changes: Any) -> dict[str, Any]:
        result: dict[str, Any] = self._call(
            "PATCH" if changes else "GET", f"/rooms/{room}/calendarProcessing", changes or None
        )
        return result

    def inject_fault(self, kind: str, **options: Any) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", "/faults", {"kind": kind, **options})
        return result

    def clear_faults(self) -> None:
        self._call("DELETE", "/faults")

    def invalidate_delta_tokens(self, mode: str = "resyncRequired", mailbox: str | None = None) -> int:
        return int(self._call("POST", "/delta/invalidate", {"mode": mode, "mailbox": mailbox})["invalidated"])

    def send_lifecycle(self, subscription_id: str, event: str) -> bool:
        return bool(
            self._call("POST", f"/subscriptions/{subscription_id}/lifecycle", {"lifecycleEvent": event})[
                "sent"
            ]
        )

    def remove_subscription(self, subscription_id: str) -> None:
        self._call("POST", f"/subscriptions/{subscription_id}/remove")

    def subscriptions(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/subscriptions")["value"])

    def request_counts(self, mailbox: str | None = None) -> dict[str, Any]:
        result: dict[str, Any] = self._call(
            "GET", "/requests", params={"mailbox": mailbox} if mailbox else None
        )
        return result

    def reset_request_counts(self) -> None:
        self._call("DELETE", "/requests")

    def deliveries(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/deliveries")["value"])

    def attendant_log(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/attendant-log")["value"])

    def messages(self) -> list[dict[str, Any]]:
        """Meeting responses and cancellations people would be mailed (with their comments)."""
        return list(self._call("GET", "/messages")["value"])

    def issue_token(
        self, roles: list[str] | None = None, lifetime_seconds: int = 3599, client_id: str | None = None
    ) -> str:
        body: dict[str, Any] = {"clientId": client_id or self.client_id, "lifetimeSeconds": lifetime_seconds}
        if roles is not None:
            body["roles"] = roles
        return str(self._call("POST", "/tokens", body)["access_token"])
