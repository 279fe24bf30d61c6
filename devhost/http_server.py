"""HTTP triggers served by Starlette under /api/<route>, with Functions auth levels and real HttpRequests."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Sequence

import azure.functions as func
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from devhost.invoke import invoke
from devhost.loader import HttpFunction

log = logging.getLogger("devhost.http")


class HttpDispatcher:
    def __init__(
        self, functions: Sequence[HttpFunction], function_keys: Sequence[str], master_key: str
    ) -> None:
        self.functions = list(functions)
        self.function_keys = [k for k in function_keys if k]
        self.master_key = master_key

    def _authorized(self, fn: HttpFunction, request: Request) -> bool:
        if fn.auth_level == "anonymous":
            return True
        supplied = request.headers.get("x-functions-key") or request.query_params.get("code") or ""
        allowed = [self.master_key] if fn.auth_level == "admin" else [*self.function_keys, self.master_key]
        # Compare against every key so timing does not reveal which one nearly matched.
        results = [hmac.compare_digest(supplied.encode(), key.encode()) for key in allowed if key]
        return any(results)

    async def handle(self, request: Request) -> Response:
        path = request.path_params.get("path", "").strip("/")
        matched_path = False
        for fn in self.functions:
            m = fn.pattern.match(path)
            if not m:
                continue
            matched_path = True
            if request.method.upper() not in fn.methods:
                continue
            if not self._authorized(fn, request):
                return Response(status_code=401)
            route_params = {k: v for k, v in m.groupdict().items() if v is not None}
            return await self._run(fn, request, route_params)
        return Response(status_code=405 if matched_path else 404)

    async def _run(self, fn: HttpFunction, request: Request, route_params: dict[str, str]) -> Response:
        body = await request.body()
        req = func.HttpRequest(
            method=request.method.upper(),
            url=str(request.url),
            headers=dict(request.headers),
            params=dict(request.query_params),
            route_params=route_params,
            body=body,
        )
        try:
            result = await invoke(fn.user_function, fn.arg_name, req)
        except Exception:
            # The real host answers 500 without details; the trace goes to the log.
            log.exception("function %s failed", fn.name)
            return Response(status_code=500)
        if result is None:
            return Response(status_code=204)
        if not isinstance(result, func.HttpResponse):
            log.error("function %s returned %s, not HttpResponse", fn.name, type(result).__name__)
            return Response(status_code=500)
        headers = dict(result.headers)
        media_type = result.mimetype
        if media_type and result.charset and media_type.startswith("text/"):
            media_type = f"{media_type}; charset={result.charset}"
        headers.pop("content-type", None)
        headers.pop("Content-Type", None)
        return Response(
            content=result.get_body(), status_code=result.status_code, headers=headers, media_type=media_type
        )


def functions_index(functions: Sequence[HttpFunction]) -> JSONResponse:
    return JSONResponse(
        [{"name": f.name, "route": f"/api/{f.route}", "methods": sorted(f.methods)} for f in functions]
    )
