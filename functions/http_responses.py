"""Small helpers for HTTP trigger responses (JSON errors in Graph's shape)."""

from __future__ import annotations

import json
from typing import Any

import azure.functions as func


def json_response(status: int, body: dict[str, Any]) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps(body),
        status_code=status,
        mimetype="application/json",
        headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"},
    )


def json_error(status: int, code: str, message: str) -> func.HttpResponse:
    return json_response(status, {"error": {"code": code, "message": message}})
