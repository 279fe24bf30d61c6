"""Operations API and page (function key): rooms and subscriptions, sync events with re-process,
conflicts, onboarding mismatches; and a timer publishing the subscriptions_near_expiry gauge.

Routes live under /api/ops, not /api/admin: the Functions host reserves routes (and function names)
starting with "admin" for its own admin API and refuses to load such functions.
"""

from __future__ import annotations

import logging
import re

import azure.functions as func
from pydantic import BaseModel

from functions.http_responses import json_error, json_response
from shared.admin.page import render_page
from shared.admin.service import AdminService
from shared.state.sync_events import NotReprocessable, SyncEventState
from shared.wiring import services

log = logging.getLogger(__name__)

bp = func.Blueprint()  # type: ignore[no-untyped-call]

_PK = re.compile(r"^\d{8}$")
_RK = re.compile(r"^\d{13}-[0-9a-f]{12}$")
_HEADERS = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"}


def _service() -> AdminService:
    svc = services()
    return AdminService(svc.storage, svc.queues, setting_problems=svc.secret_problems)


def _model_response(model: BaseModel, status: int = 200) -> func.HttpResponse:
    return func.HttpResponse(
        model.model_dump_json(), status_code=status, mimetype="application/json", headers=_HEADERS
    )


def _int_param(req: func.HttpRequest, name: str, default: int) -> int:
    raw = req.params.get(name)
    if raw is None or raw == "":
        return default
    # ASCII only: str.isdigit() also takes other scripts' digits (and superscripts, which int() refuses).
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 6:
        raise ValueError(f"{name} must be a positive integer")
    return int(raw)


def _unavailable(exc: Exception) -> func.HttpResponse:
    log.error("ops api failed", extra={"error": type(exc).__name__})
    return json_error(503, "Unavailable", "state storage is not reachable")


@bp.route(route="ops", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
async def ops_page(req: func.HttpRequest) -> func.HttpResponse:
    html, headers = render_page()
    return func.HttpResponse(html, status_code=200, mimetype="text/html", charset="utf-8", headers=headers)


@bp.route(route="ops/overview", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
async def ops_overview(req: func.HttpRequest) -> func.HttpResponse:
    try:
        days = _int_param(req, "days", 2)
    except ValueError as exc:
        return json_error(400, "BadRequest", str(exc))
    try:
        return _model_response(await _service().overview(days))
    except Exception as exc:
        return _unavailable(exc)


@bp.route(route="ops/events", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
async def ops_events(req: func.HttpRequest) -> func.HttpResponse:
    try:
        days = _int_param(req, "days", 2)
        limit = _int_param(req, "limit", 100)
        raw_state = req.params.get("state") or None
        state = SyncEventState(raw_state) if raw_state else None
    except ValueError:
        return json_error(
            400, "BadRequest", "state must be new, processing, done or error; days, limit integers"
        )
    try:
        return _model_response(await _service().sync_events(state, days, limit))
    except Exception as exc:
        return _unavailable(exc)


@bp.route(route="ops/events/{pk}/{rk}/reprocess", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
async def ops_reprocess(req: func.HttpRequest) -> func.HttpResponse:
    pk = req.route_params.get("pk", "")
    rk = req.route_params.get("rk", "")
    if not _PK.match(pk) or not _RK.match(rk):
        return json_error(400, "BadRequest", "not a sync event key")
    try:
        result = await _service().reprocess(pk, rk)
    except NotReprocessable as exc:
        return json_error(409, "NotReprocessable", str(exc))
    except Exception as exc:
        return _unavailable(exc)
    log.info("sync event re-processed", extra={"pk": pk, "rk": rk, "queue": result.enqueued_to})
    return _model_response(result, status=202)


@bp.route(route="ops/conflicts", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
async def ops_conflicts(req: func.HttpRequest) -> func.HttpResponse:
    try:
        days = _int_param(req, "days", 7)
        limit = _int_param(req, "limit", 200)
    except ValueError as exc:
        return json_error(400, "BadRequest", str(exc))
    try:
        return _model_response(await _service().conflicts(days, limit))
    except Exception as exc:
        return _unavailable(exc)


@bp.route(route="ops/onboarding", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
async def ops_onboarding(req: func.HttpRequest) -> func.HttpResponse:
    try:
        return _model_response(await _service().onboarding())
    except Exception as exc:
        return _unavailable(exc)


@bp.timer_trigger(arg_name="timer", schedule="0 */5 * * * *", run_on_startup=False)
async def ops_metrics(timer: func.TimerRequest) -> None:
    """Publishes subscriptions_near_expiry and ibss_feeds_stale (the alerts and workbook read them)."""
    count = await _service().publish_subscriptions_near_expiry()
    if count:
        log.warning("subscriptions near expiry", extra={"count": count})
    stale = await _service().publish_ibss_feeds_stale()
    if stale:
        log.warning("ibss change feed stale", extra={"buildings": stale})


@bp.route(route="ops/ibss/sweep", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
async def ops_ibss_sweep(req: func.HttpRequest) -> func.HttpResponse:
    """Queue a reconciliation sweep of every building (or ``?node_id=``); the overview shows the reports."""
    try:
        node_id = _int_param(req, "node_id", 0) or None
    except ValueError as exc:
        return json_error(400, "BadRequest", str(exc))
    sweep = services().ibss_sweep
    if sweep is None:
        return json_error(409, "NotConfigured", "IBSS is not configured (IBSS_BASE_URL, IBSS_API_KEY)")
    try:
        nodes = await sweep.request_all("ops", node_id=node_id)
    except Exception as exc:
        log.error("ops sweep request failed", extra={"error": type(exc).__name__})
        return json_error(503, "Unavailable", "IBSS or the queue is not reachable")
    if node_id is not None and not nodes:
        return json_error(404, "UnknownBuilding", f"building {node_id} is not part of the sync")
    log.info("ibss sweeps queued", extra={"buildings": len(nodes), "requested_by": "ops"})
    return json_response(202, {"queued": nodes})
