"""JSON batching: up to 20 requests, dependsOn, per-item throttling, any response order."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from emulators.graph.errors import GraphError, bad_request
from emulators.graph.wire import ApiRequest, ApiResponse

if TYPE_CHECKING:
    from emulators.graph.api import Api

MAX_REQUESTS = 20


def _validate(body: dict[str, Any]) -> list[dict[str, Any]]:
    requests = body.get("requests")
    if not isinstance(requests, list) or not requests:
        raise bad_request("Invalid batch payload format.", "BadRequest")
    if len(requests) > MAX_REQUESTS:
        raise bad_request(
            f"The number of batch requests ({len(requests)}) exceeds the maximum of {MAX_REQUESTS}.",
            "BadRequest",
        )
    seen: set[str] = set()
    for item in requests:
        if not isinstance(item, dict) or not item.get("id") or not item.get("method") or not item.get("url"):
            raise bad_request("Each batch request needs id, method and url.", "BadRequest")
        key = str(item["id"]).lower()
        if key in seen:
            raise bad_request(f"Batch request id '{item['id']}' is not unique.", "BadRequest")
        seen.add(key)
        if item.get("body") is not None:
            headers = {k.lower(): v for k, v in (item.get("headers") or {}).items()}
            if "content-type" not in headers:
                raise bad_request(
                    "Content-Type header is required when a batch request has a body.", "BadRequest"
                )
    for item in requests:
        for dep in item.get("dependsOn") or []:
            if str(dep).lower() not in seen:
                raise bad_request(f"dependsOn refers to unknown request id '{dep}'.", "BadRequest")
    return requests


async def run_batch(api: Api, req: ApiRequest) -> ApiResponse:
    try:
        items = _validate(req.json())
    except GraphError as exc:
        return api.error(req, exc)
    api.counts[("-", "POST /$batch", req.caller.app_id if req.caller else "-", 200)] += 1
    sem = asyncio.Semaphore(api.state.config.batch_parallelism)
    done: dict[str, asyncio.Future[int]] = {
        str(i["id"]).lower(): asyncio.get_running_loop().create_future() for i in items
    }
    responses: list[dict[str, Any]] = []

    async def run(item: dict[str, Any]) -> None:
        key = str(item["id"]).lower()
        statuses = [await done[str(d).lower()] for d in item.get("dependsOn") or []]
        if any(s >= 400 for s in statuses):
            resp = ApiResponse(
                424, {"error": {"code": "FailedDependency", "message": "Dependent request failed."}}
            )
        else:
            url = str(item["url"])
            parts = urlsplit(url if url.startswith("/") else "/" + url)
            path = parts.path[len("/v1.0") :] if parts.path.lower().startswith("/v1.0/") else parts.path
            headers = {k.lower(): str(v) for k, v in (item.get("headers") or {}).items()}
            body = item.get("body")
            raw = (
                b""
                if body is None
                else (json.dumps(body).encode() if not isinstance(body, str) else body.encode())
            )
            sub = ApiRequest(
                method=str(item["method"]).upper(),
                path=path,
                query=dict(parse_qsl(parts.query, keep_blank_values=True)),
                headers={**headers, "authorization": req.headers.get("authorization", "")},
                body=raw,
                base=req.base,
                caller=req.caller,
                in_batch=True,
            )
            async with sem:
                resp = await api.dispatch(sub)
        out: dict[str, Any] = {"id": item["id"], "status": resp.status, "headers": dict(resp.headers)}
        if resp.body is not None:
            out["headers"].setdefault("Content-Type", "application/json")
            out["body"] = resp.body
        responses.append(out)
        done[key].set_result(resp.status)

    await asyncio.gather(*(run(i) for i in items))
    return ApiResponse(200, {"responses": responses})
