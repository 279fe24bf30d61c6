"""Liveness and storage reachability, for load balancers and `make run`."""

from __future__ import annotations

import asyncio

import azure.functions as func

from functions.http_responses import json_response
from shared.wiring import services

bp = func.Blueprint()  # type: ignore[no-untyped-call]


@bp.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
async def health(req: func.HttpRequest) -> func.HttpResponse:
    try:
        await asyncio.wait_for(services().storage.queue_service.get_service_properties(), timeout=3)
    except Exception:
        return json_response(503, {"status": "unhealthy", "storage": "unreachable"})
    return json_response(200, {"status": "ok", "storage": "ok"})
