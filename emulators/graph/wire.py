"""Internal request/response values shared by the API and $batch."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from emulators.graph.auth import Caller
from emulators.graph.errors import bad_request


@dataclass
class ApiRequest:
    method: str
    path: str  # after /v1.0, decoded
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes
    base: str  # http://host:port/v1.0
    caller: Caller | None = None
    in_batch: bool = False

    def json(self) -> dict[str, Any]:
        if not self.body:
            return {}
        try:
            data = json.loads(self.body)
        except json.JSONDecodeError as exc:
            raise bad_request("Empty Payload. JSON content expected.", "BadRequest") from exc
        if not isinstance(data, dict):
            raise bad_request("A JSON object is expected.", "BadRequest")
        return data


@dataclass
class ApiResponse:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
