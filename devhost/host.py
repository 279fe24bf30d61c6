"""One ASGI app serving the HTTP triggers, with queue listeners and timers running in its lifespan."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from azure.storage.queue.aio import QueueServiceClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from devhost.config import (
    QueueHostSettings,
    apply_local_settings,
    load_host_json,
    load_local_settings,
)
from devhost.http_server import HttpDispatcher, functions_index
from devhost.loader import LoadedApp, load_app
from devhost.queue_listener import QueueListener, queue_service_for
from devhost.timer_scheduler import TimerScheduler

log = logging.getLogger("devhost")


@dataclass
class DevHost:
    app: LoadedApp
    queue_settings: QueueHostSettings
    function_keys: list[str]
    master_key: str

    @classmethod
    def load(cls, app_path: Path, settings_path: Path | None = None) -> DevHost:
        apply_local_settings(load_local_settings(settings_path))
        host_json = load_host_json(app_path.parent / "host.json")
        loaded = load_app(app_path)
        # Validate timer schedules and connections at start, as the host does, not at first use.
        for timer in loaded.timers:
            TimerScheduler(timer)
        return cls(
            app=loaded,
            queue_settings=QueueHostSettings.from_host_json(host_json),
            function_keys=[os.environ.get("DEVHOST_FUNCTION_KEY", "")],
            master_key=os.environ.get("DEVHOST_MASTER_KEY", ""),
        )

    def asgi(self, run_triggers: bool = True) -> Starlette:
        dispatcher = HttpDispatcher(self.app.http, self.function_keys, self.master_key)

        async def index(_: Request) -> Response:
            return functions_index(self.app.http)

        @asynccontextmanager
        async def lifespan(_: Starlette) -> AsyncIterator[None]:
            stop = asyncio.Event()
            tasks: list[asyncio.Task[None]] = []
            listeners: list[QueueListener] = []
            if run_triggers:
                services: dict[str, QueueServiceClient] = {}
                for fn in self.app.queues:
                    service = services.get(fn.connection) or queue_service_for(fn.connection)
                    services[fn.connection] = service
                    listener = QueueListener(fn, service, self.queue_settings)
                    listeners.append(listener)
                    tasks.append(asyncio.create_task(listener.run(stop), name=f"queue:{fn.name}"))
                for timer in self.app.timers:
                    tasks.append(
                        asyncio.create_task(TimerScheduler(timer).run(stop), name=f"timer:{timer.name}")
                    )
            try:
                yield
            finally:
                stop.set()
                await asyncio.gather(*tasks, return_exceptions=True)
                for listener in listeners:
                    await listener.drain()
                    await listener.close()

        return Starlette(
            routes=[
                Route("/admin/functions", index, methods=["GET"]),
                Route(
                    "/api/{path:path}",
                    dispatcher.handle,
                    methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"],
                ),
            ],
            lifespan=lifespan,
        )
