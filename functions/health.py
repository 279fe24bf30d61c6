"""Liveness and storage reachability, for load balancers and `make run`; refused secret settings too."""

from __future__ import annotations

import asyncio

import azure.functions as func

from functions.http_responses import json_response
from shared.wiring import services

bp = func.Blueprint()  # type: ignore[no-untyped-call]


@bp.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
async def health(req: func.HttpRequest) -> func.HttpResponse:
    svc = services()
    try:
        await asyncio.wait_for(svc.storage.queue_service.get_service_properties(), timeout=3)
    except Exception:
        return json_response(503, {"status": "unhealthy", "storage": "unreachable"})
    if svc.secret_problems:
        # Still 200: the instance is alive and takes Graph's notifications; restarting it would not help.
        # Names only (anonymous route); the reasons are in the log and on the ops page.
        refused = sorted(p.setting for p in svc.secret_problems)
        return json_response(200, {"status": "degraded", "storage": "ok", "settings_refused": refused})
    return json_response(200, {"status": "ok", "storage": "ok"})
