"""Graph webhook endpoints: subscription handshake, change notifications, lifecycle notifications.

Anonymous on purpose: Graph cannot send headers, and a function key in notificationUrl would sit in
URLs and logs. Each item's clientState, compared in constant time, is what proves Graph sent it.
"""

from __future__ import annotations

import logging

import azure.functions as func

from functions.http_responses import json_error, json_response
from shared.graph.notifications import IntakeResult, MalformedNotification, safe_validation_token
from shared.logs import correlation
from shared.wiring import services

bp = func.Blueprint()  # type: ignore[no-untyped-call]
log = logging.getLogger(__name__)


def _handshake(token: str) -> func.HttpResponse:
    safe = safe_validation_token(token)
    if safe is None:
        log.warning("validation token refused")  # never log or echo the token itself
        return func.HttpResponse(
            "invalid validationToken",
            status_code=400,
            mimetype="text/plain",
            headers={"X-Content-Type-Options": "nosniff"},
        )
    return func.HttpResponse(
        safe, status_code=200, mimetype="text/plain", headers={"X-Content-Type-Options": "nosniff"}
    )


def _accepted(result: IntakeResult) -> func.HttpResponse:
    return json_response(202, result.summary())


@bp.route(route="graph/notifications", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
async def graph_notifications(req: func.HttpRequest) -> func.HttpResponse:
    token = req.params.get("validationToken")
    if token is not None:
        return _handshake(token)
    with correlation(None):
        try:
            result = await services().intake.accept_changes(req.get_body())
        except MalformedNotification as exc:
            return json_error(400, "BadRequest", str(exc))
        return _accepted(result)


@bp.route(route="graph/lifecycle", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
async def graph_lifecycle(req: func.HttpRequest) -> func.HttpResponse:
    token = req.params.get("validationToken")
    if token is not None:
        return _handshake(token)
    with correlation(None):
        try:
            result = await services().intake.accept_lifecycle(req.get_body())
        except MalformedNotification as exc:
            return json_error(400, "BadRequest", str(exc))
        return _accepted(result)
