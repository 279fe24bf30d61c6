"""ASGI assembly: the Graph API (+ control plane) app and the HTTPS token app."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from emulators.graph.api import JSON_TYPE, Api
from emulators.graph.auth import token_app
from emulators.graph.control import build_control
from emulators.graph.state import EmulatorState
from emulators.graph.tenant import DEMO_TENANT_PATH, TenantSpec, load_tenant
from emulators.graph.wire import ApiRequest


class Emulator:
    """State plus the two ASGI apps that serve it."""

    def __init__(self, tenant_path: str | Path = DEMO_TENANT_PATH) -> None:
        self.tenant_path = Path(tenant_path)
        self.state = EmulatorState(self.initial_tenant())
        self.api = Api(self.state)
        self.http_app = self._build_http()
        self.token_app = token_app(lambda: self.state)

    def initial_tenant(self) -> TenantSpec:
        return load_tenant(self.tenant_path)

    def _build_http(self) -> Starlette:
        api = self.api

        async def graph(request: Request) -> Response:
            base = f"{request.url.scheme}://{request.headers.get('host', request.url.netloc)}/v1.0"
            req = ApiRequest(
                method=request.method,
                path="/" + request.path_params["path"],
                query=dict(request.query_params),
                headers={k.lower(): v for k, v in request.headers.items()},
                body=await request.body(),
                base=base,
            )
            resp = await api.dispatch(req)
            headers = {
                "request-id": str(uuid.uuid4()),
                "client-request-id": req.headers.get("client-request-id", str(uuid.uuid4())),
                "OData-Version": "4.0",
                **resp.headers,
            }
            if resp.body is None or resp.status in (202, 204):
                return Response(status_code=resp.status, headers=headers)
            headers["Content-Type"] = JSON_TYPE
            return Response(json.dumps(resp.body), status_code=resp.status, headers=headers)

        @asynccontextmanager
        async def lifespan(app: Starlette) -> AsyncIterator[None]:
            await api.delivery.start()
            try:
                yield
            finally:
                await api.delivery.stop()

        methods = ["GET", "POST", "PATCH", "PUT", "DELETE"]
        routes = [
            Route("/v1.0/{path:path}", graph, methods=methods),
            *build_control(api, self.initial_tenant),
        ]
        return Starlette(routes=routes, lifespan=lifespan)
