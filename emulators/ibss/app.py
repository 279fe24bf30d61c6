"""The emulated IBSS v2 REST API (Starlette) and the :class:`Emulator` that owns all state.

Every path and JSON field name comes from :mod:`shared.ibss.fields`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import functools
import heapq
import json
import logging
import re
from collections import Counter, deque
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

import yaml
from pydantic import BaseModel, ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from emulators.ibss.clock import Clock
from emulators.ibss.hooks import HookDispatcher
from emulators.ibss.rules import ApiError
from emulators.ibss.state import EmulatorState
from shared.ibss import fields
from shared.ibss.hooks import IbssHookType
from shared.ibss.models import (
    Booking,
    BookingCreate,
    BookingPartyRow,
    BookingPolicy,
    BookingSeriesCreate,
    BookingSeriesUpdate,
    BookingUpdate,
    Building,
    IbssModel,
    Space,
    UserPreferences,
    Visit,
    VisitCreate,
    VisitUpdate,
    format_utc,
)
from shared.ibss.odata import FilterSyntaxError, parse_filter

logger = logging.getLogger(__name__)

DEMO_DATA = Path(__file__).parent / "data" / "demo.yaml"
DEFAULT_API_KEY = "local-dev-ibss-api-key"

T = TypeVar("T")
Mdl = TypeVar("Mdl", bound=BaseModel)


@dataclass
class EmulatorConfig:
    api_key: str = DEFAULT_API_KEY
    data: Path | dict[str, Any] | None = DEMO_DATA
    hook_url: str | None = None
    hook_secret: str | None = None
    hook_max_attempts: int = 5
    hook_backoff_s: float = 1.0
    hook_timeout_s: float = 5.0
    tick_interval_s: float = 5.0
    """Background evaluation of time-driven rules (auto-cancel) in real time; 0 disables it."""
    hooks_enabled: bool = True
    """False: IBSS sends no hooks at all (no hook endpoint configured); changes show only in the API."""
    hook_drop_share: float = 0.0
    """Share of hooks (0-1) dropped at random (seeded): hooks that never arrive."""


def load_data(source: Path | dict[str, Any] | None) -> dict[str, Any]:
    if source is None:
        return {}
    if isinstance(source, dict):
        return source
    loaded = yaml.safe_load(Path(source).read_text(encoding="utf-8"))
    if not isinstance(loaded, dict):
        raise ValueError(f"{source}: expected a mapping at the top level")
    return loaded


@dataclass
class ApiFault:
    """An injected API fault: matching requests get ``status`` (with ``Retry-After``) and/or latency."""

    method: str | None = None
    path_regex: str | None = None
    status: int | None = None
    retry_after: str | None = None
    latency_ms: int = 0
    times: int | None = 1
    message: str = "injected fault"
    _compiled: re.Pattern[str] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self._compiled = re.compile(self.path_regex) if self.path_regex else None

    def matches(self, method: str, path: str) -> bool:
        if self.method and self.method.upper() != method.upper():
            return False
        return self._compiled is None or self._compiled.search(path) is not None

    def describe(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "path_regex": self.path_regex,
            "status": self.status,
            "retry_after": self.retry_after,
            "latency_ms": self.latency_ms,
            "times": self.times,
            "message": self.message,
        }


class RequestLog:
    """Accounting of API requests (control-plane requests are not counted). The counters are complete;
    ``log`` keeps only the latest 2,000 requests (count from the counters, read the log for details)."""

    def __init__(self) -> None:
        self.by_route: Counter[str] = Counter()
        self.by_status: Counter[int] = Counter()
        self.by_route_status: Counter[str] = Counter()
        self.entries: deque[dict[str, Any]] = deque(maxlen=2000)

    def record(self, method: str, route: str, path: str, query: str, status: int) -> None:
        self.by_route[f"{method} {route}"] += 1
        self.by_status[status] += 1
        self.by_route_status[f"{method} {route} {status}"] += 1
        self.entries.append(
            {"method": method, "route": route, "path": path, "query": query, "status": status}
        )

    def clear(self) -> None:
        self.by_route.clear()
        self.by_status.clear()
        self.by_route_status.clear()
        self.entries.clear()

    def describe(self) -> dict[str, Any]:
        return {
            "total": sum(self.by_route.values()),
            "by_route": dict(self.by_route),
            "by_status": {str(k): v for k, v in self.by_status.items()},
            "by_route_status": dict(self.by_route_status),
            "log": list(self.entries),
        }


class Emulator:
    """Everything the emulator holds: clock, platform state, hooks, faults, request accounting."""

    def __init__(self, config: EmulatorConfig | None = None) -> None:
        self.config = config or EmulatorConfig()
        self.clock = Clock()
        self.hooks = HookDispatcher(
            self.config.hook_url,
            self.config.hook_secret,
            max_attempts=self.config.hook_max_attempts,
            backoff_s=self.config.hook_backoff_s,
            timeout_s=self.config.hook_timeout_s,
            enabled=self.config.hooks_enabled,
            drop_share=self.config.hook_drop_share,
        )
        self.state = EmulatorState(self.clock, self._emit)
        self.faults: list[ApiFault] = []
        self.requests = RequestLog()
        self.initial_data = load_data(self.config.data)
        self.load(self.initial_data, replace=True)

    def _emit(self, hook_type: IbssHookType, booking: Booking) -> None:
        self.hooks.emit(hook_type, booking, self.clock.now())

    def load(self, data: dict[str, Any], *, replace: bool) -> None:
        if replace:
            self.state.clear()
            self.state.api_keys = {self.config.api_key: None}
        self.state.load(data)

    async def reset(
        self, *, clock: datetime | None = None, frozen: bool = True, data: dict[str, Any] | None = None
    ) -> None:
        await self.hooks.reset()
        self.faults.clear()
        self.requests.clear()
        self.clock.reset()
        if clock is not None:
            self.clock.set(clock, frozen=frozen)
        self.load(data if data is not None else self.initial_data, replace=True)

    def take_fault(self, method: str, path: str) -> ApiFault | None:
        for fault in self.faults:
            if fault.matches(method, path):
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times <= 0:
                        self.faults.remove(fault)
                return fault
        return None


# ----------------------------------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------------------------------
def error_response(exc: ApiError) -> JSONResponse:
    body: dict[str, Any] = {
        fields.ERROR_CODE: exc.status,
        fields.ERROR_REASON: exc.reason,
        fields.ERROR_MESSAGE: exc.message,
    }
    if exc.details is not None:
        body[fields.ERROR_DETAILS] = exc.details
    return JSONResponse(body, status_code=exc.status, headers=exc.headers)


def emu_of(request: Request) -> Emulator:
    emu: Emulator = request.app.state.emulator
    return emu


async def json_body(request: Request) -> Any:
    raw = await request.body()
    if not raw:
        return {}
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise ApiError(400, "InvalidJson", "request body is not valid JSON") from exc


def validate(model: type[Mdl], data: Any) -> Mdl:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        details = [{"Field": ".".join(str(p) for p in e["loc"]), "Error": e["msg"]} for e in exc.errors()]
        raise ApiError(400, "ValidationError", f"invalid {model.__name__}", details=details) from exc


def wire(obj: IbssModel) -> dict[str, Any]:
    return obj.to_wire()


def booking_response(b: Booking, status: int = 200) -> JSONResponse:
    headers = {fields.ETAG_HEADER: b.etag} if b.etag else {}
    return JSONResponse(wire(b), status_code=status, headers=headers)


def _encode_token(key: Sequence[str]) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode().rstrip("=")


def _decode_token(token: str) -> list[str]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (ValueError, binascii.Error) as exc:
        raise ApiError(400, "InvalidSkipToken", "invalid $skiptoken") from exc
    if not isinstance(data, list) or not all(isinstance(x, str) for x in data):
        raise ApiError(400, "InvalidSkipToken", "invalid $skiptoken")
    return data


def _compare(actual: Any, op: str, value: Any, field_name: str) -> bool:
    if value is None or actual is None:
        if op == "eq":
            return actual is value
        if op == "ne":
            return actual is not value
        return False
    if isinstance(actual, datetime) != isinstance(value, datetime) or (
        isinstance(actual, str) and not isinstance(value, str)
    ):
        raise ApiError(400, "InvalidFilter", f"$filter value for {field_name} has the wrong type")
    if isinstance(actual, str):
        actual, value = actual.lower(), value.lower()
    if op == "eq":
        return bool(actual == value)
    if op == "ne":
        return bool(actual != value)
    if op == "lt":
        return bool(actual < value)
    if op == "le":
        return bool(actual <= value)
    if op == "gt":
        return bool(actual > value)
    return bool(actual >= value)


def apply_filter(request: Request, items: list[T], getters: dict[str, Callable[[T], Any]]) -> list[T]:
    text = request.query_params.get(fields.ODATA_FILTER)
    if not text:
        return items
    try:
        clauses = parse_filter(text)
    except FilterSyntaxError as exc:
        raise ApiError(400, "InvalidFilter", str(exc)) from exc
    for c in clauses:
        if c.field not in getters:
            raise ApiError(
                400,
                "UnsupportedFilter",
                f"cannot filter on {c.field!r}; supported: {', '.join(sorted(getters))}",
            )
    return [i for i in items if all(_compare(getters[c.field](i), c.op, c.value, c.field) for c in clauses)]


def paged(
    request: Request, items: list[T], key: Callable[[T], list[str]], to_wire: Callable[[T], Any]
) -> JSONResponse:
    raw_top = request.query_params.get(fields.ODATA_TOP)
    top = fields.DEFAULT_PAGE_SIZE
    if raw_top is not None:
        try:
            top = int(raw_top)
        except ValueError as exc:
            raise ApiError(400, "InvalidTop", f"{fields.ODATA_TOP} must be an integer") from exc
        if not 1 <= top <= fields.MAX_PAGE_SIZE:
            raise ApiError(
                400, "InvalidTop", f"{fields.ODATA_TOP} must be between 1 and {fields.MAX_PAGE_SIZE}"
            )
    # Each item's key once, and only the page's share ordered: a building of 35,000 bookings is read
    # page by page, and sorting all of them for every page made each page cost most of a second.
    keyed = [(key(item), n, item) for n, item in enumerate(items)]
    token = request.query_params.get(fields.ODATA_SKIPTOKEN)
    if token:
        after = _decode_token(token)
        keyed = [k for k in keyed if k[0] > after]
    first = heapq.nsmallest(top + 1, keyed, key=lambda k: (k[0], k[1]))
    page = first[:top]
    body: dict[str, Any] = {fields.ODATA_VALUE: [to_wire(item) for _, _, item in page]}
    if len(first) > top:
        params = [(k, v) for k, v in request.query_params.multi_items() if k != fields.ODATA_SKIPTOKEN]
        params.append((fields.ODATA_SKIPTOKEN, _encode_token(page[-1][0])))
        query = urlencode(params, quote_via=quote, safe="$',:")
        body[fields.ODATA_NEXT_LINK] = str(request.url.replace(query=query))
    return JSONResponse(body)


def _api_key_of(request: Request) -> str:
    key: str = request.scope.get("state", {}).get("ibss_api_key", "")
    return key


def _policies_apply(request: Request) -> bool:
    return _api_key_of(request) not in emu_of(request).state.policy_exempt_keys


def node_of(request: Request) -> int:
    emu = emu_of(request)
    raw = request.path_params["node_id"]
    try:
        node_id = int(raw)
    except ValueError as exc:
        raise ApiError(404, "NodeNotFound", f"node {raw!r} not found") from exc
    emu.state.building(node_id)
    allowed = emu.state.api_keys.get(_api_key_of(request))
    if allowed is not None and node_id not in allowed:
        raise ApiError(403, "Forbidden", f"the application user may not access node {node_id}")
    return node_id


@functools.lru_cache(maxsize=1 << 16)
def _iso_key(value: datetime) -> str:
    return format_utc(value)


# ----------------------------------------------------------------------------------------------
# API endpoints
# ----------------------------------------------------------------------------------------------
BOOKING_FILTERS: dict[str, Callable[[Booking], Any]] = {
    fields.BOOKING_ID: lambda b: b.id,
    fields.BOOKING_SPACE_ID: lambda b: b.space_id,
    fields.BOOKING_START: lambda b: b.start,
    fields.BOOKING_END: lambda b: b.end,
    fields.BOOKING_STATUS: lambda b: str(b.status),
    fields.BOOKING_SERIES_ID: lambda b: b.series_id,
    fields.BOOKING_OWNER_EMAIL: lambda b: b.owner_email,
    fields.BOOKING_MODIFIED: lambda b: b.modified,
    fields.BOOKING_EXT_REF: lambda b: b.ext_ref,
}
SPACE_FILTERS: dict[str, Callable[[Space], Any]] = {
    fields.SPACE_ID: lambda s: s.id,
    fields.SPACE_TYPE: lambda s: s.type,
    fields.SPACE_FLOOR_NODE_ID: lambda s: s.floor_node_id,
    fields.SPACE_EXT_BOOKING_SYSTEM: lambda s: int(s.ext_booking_system),
    fields.SPACE_EXT_BOOKING_SPACE_ID: lambda s: s.ext_booking_space_id,
}
POLICY_FILTERS: dict[str, Callable[[BookingPolicy], Any]] = {fields.POLICY_ID: lambda p: p.id}
PARTY_FILTERS: dict[str, Callable[[tuple[Booking, int, BookingPartyRow]], Any]] = {
    fields.BOOKING_ID: lambda r: r[2].booking_id,
    fields.PARTY_EMAIL: lambda r: r[2].email,
}
VISIT_FILTERS: dict[str, Callable[[Visit], Any]] = {
    fields.VISIT_BOOKING_ID: lambda v: v.booking_id,
    fields.VISITOR_EMAIL: lambda v: v.email,
    fields.VISIT_START: lambda v: v.start,
    fields.VISIT_END: lambda v: v.end,
}


async def list_buildings(request: Request) -> Response:
    emu = emu_of(request)
    allowed = emu.state.api_keys.get(_api_key_of(request))
    items = [b for b in emu.state.buildings.values() if allowed is None or b.node_id in allowed]
    return paged(request, items, lambda b: [f"{b.node_id:012d}"], wire)


async def get_building(request: Request) -> Response:
    node_id = node_of(request)
    building: Building = emu_of(request).state.building(node_id)
    return JSONResponse(wire(building))


async def list_spaces(request: Request) -> Response:
    node_id = node_of(request)
    items = apply_filter(request, emu_of(request).state.node_spaces(node_id), SPACE_FILTERS)
    return paged(request, items, lambda s: [s.id], wire)


async def get_space(request: Request) -> Response:
    node_id = node_of(request)
    return JSONResponse(wire(emu_of(request).state.space(node_id, request.path_params["space_id"])))


async def list_policies(request: Request) -> Response:
    node_id = node_of(request)
    items = apply_filter(request, emu_of(request).state.node_policies(node_id), POLICY_FILTERS)
    return paged(request, items, lambda p: [p.id], wire)


async def list_bookings(request: Request) -> Response:
    node_id = node_of(request)
    items = apply_filter(request, emu_of(request).state.node_bookings(node_id), BOOKING_FILTERS)
    return paged(request, items, lambda b: [_iso_key(b.start), b.id], wire)


async def create_booking(request: Request) -> Response:
    node_id = node_of(request)
    req = validate(BookingCreate, await json_body(request))
    booking = emu_of(request).state.create_booking(node_id, req, apply_policies=_policies_apply(request))
    resp = booking_response(booking, 201)
    resp.headers["Location"] = fields.PATH_BOOKING.format(node_id=node_id, booking_id=booking.id)
    return resp


async def get_booking(request: Request) -> Response:
    node_id = node_of(request)
    return booking_response(emu_of(request).state.booking(node_id, request.path_params["booking_id"]))


async def update_booking(request: Request) -> Response:
    node_id = node_of(request)
    req = validate(BookingUpdate, await json_body(request))
    booking = emu_of(request).state.update_booking(
        node_id,
        request.path_params["booking_id"],
        req,
        request.headers.get(fields.IF_MATCH_HEADER),
        apply_policies=_policies_apply(request),
    )
    return booking_response(booking)


async def cancel_booking(request: Request) -> Response:
    node_id = node_of(request)
    booking = emu_of(request).state.cancel_booking(
        node_id,
        request.path_params["booking_id"],
        request.headers.get(fields.IF_MATCH_HEADER),
        request.query_params.get(fields.BOOKING_CANCEL_REASON),
    )
    return booking_response(booking)


async def check_in(request: Request) -> Response:
    node_id = node_of(request)
    return booking_response(emu_of(request).state.check_in(node_id, request.path_params["booking_id"]))


async def check_out(request: Request) -> Response:
    node_id = node_of(request)
    return booking_response(emu_of(request).state.check_out(node_id, request.path_params["booking_id"]))


def series_response(series_id: str, bookings: list[Booking], status: int = 200) -> JSONResponse:
    return JSONResponse(
        {fields.BOOKING_SERIES_ID: series_id, fields.ODATA_VALUE: [wire(b) for b in bookings]},
        status_code=status,
    )


async def create_series(request: Request) -> Response:
    node_id = node_of(request)
    req = validate(BookingSeriesCreate, await json_body(request))
    series_id, bookings = emu_of(request).state.create_series(node_id, req)
    return series_response(series_id, bookings, 201)


async def update_series(request: Request) -> Response:
    node_id = node_of(request)
    req = validate(BookingSeriesUpdate, await json_body(request))
    series_id = request.path_params["series_id"]
    return series_response(series_id, emu_of(request).state.update_series(node_id, series_id, req))


async def cancel_series(request: Request) -> Response:
    node_id = node_of(request)
    series_id = request.path_params["series_id"]
    return series_response(series_id, emu_of(request).state.cancel_series(node_id, series_id))


async def list_booking_parties(request: Request) -> Response:
    node_id = node_of(request)
    rows: list[tuple[Booking, int, BookingPartyRow]] = []
    for b in emu_of(request).state.node_bookings(node_id):
        for i, p in enumerate(b.parties):
            row = BookingPartyRow.model_validate({**p.model_dump(), "booking_id": b.id, "node_id": node_id})
            rows.append((b, i, row))
    rows = apply_filter(request, rows, PARTY_FILTERS)
    return paged(
        request, rows, lambda r: [_iso_key(r[0].start), r[0].id, f"{r[1]:06d}"], lambda r: wire(r[2])
    )


async def list_visits(request: Request) -> Response:
    node_id = node_of(request)
    items = apply_filter(request, emu_of(request).state.node_visits(node_id), VISIT_FILTERS)
    return paged(request, items, lambda v: [_iso_key(v.start), v.id], wire)


async def create_visit(request: Request) -> Response:
    node_id = node_of(request)
    req = validate(VisitCreate, await json_body(request))
    return JSONResponse(wire(emu_of(request).state.create_visit(node_id, req)), status_code=201)


async def get_visit(request: Request) -> Response:
    node_id = node_of(request)
    return JSONResponse(wire(emu_of(request).state.visit(node_id, request.path_params["visit_id"])))


async def update_visit(request: Request) -> Response:
    node_id = node_of(request)
    req = validate(VisitUpdate, await json_body(request))
    visit = emu_of(request).state.update_visit(node_id, request.path_params["visit_id"], req)
    return JSONResponse(wire(visit))


async def get_user_preferences(request: Request) -> Response:
    person = emu_of(request).state.person(request.path_params["email"])
    prefs = UserPreferences(email=person.email, calendar_sync=person.calendar_sync)
    return JSONResponse(wire(prefs))


def api_routes() -> list[BaseRoute]:
    return [
        Route(fields.PATH_BUILDINGS, list_buildings, methods=["GET"]),
        Route(fields.PATH_BUILDING, get_building, methods=["GET"]),
        Route(fields.PATH_SPACES, list_spaces, methods=["GET"]),
        Route(fields.PATH_SPACE, get_space, methods=["GET"]),
        Route(fields.PATH_BOOKING_POLICIES, list_policies, methods=["GET"]),
        Route(fields.PATH_SERIES, create_series, methods=["POST"]),
        Route(fields.PATH_SERIES_ITEM, update_series, methods=["PATCH"]),
        Route(fields.PATH_SERIES_ITEM, cancel_series, methods=["DELETE"]),
        Route(fields.PATH_BOOKINGS, list_bookings, methods=["GET"]),
        Route(fields.PATH_BOOKINGS, create_booking, methods=["POST"]),
        Route(fields.PATH_BOOKING_CHECKIN, check_in, methods=["PUT"]),
        Route(fields.PATH_BOOKING_CHECKOUT, check_out, methods=["PUT"]),
        Route(fields.PATH_BOOKING, get_booking, methods=["GET"]),
        Route(fields.PATH_BOOKING, update_booking, methods=["PATCH"]),
        Route(fields.PATH_BOOKING, cancel_booking, methods=["DELETE"]),
        Route(fields.PATH_BOOKING_PARTIES, list_booking_parties, methods=["GET"]),
        Route(fields.PATH_VISITS, list_visits, methods=["GET"]),
        Route(fields.PATH_VISITS, create_visit, methods=["POST"]),
        Route(fields.PATH_VISIT, get_visit, methods=["GET"]),
        Route(fields.PATH_VISIT, update_visit, methods=["PATCH"]),
        Route(fields.PATH_USER_PREFERENCES, get_user_preferences, methods=["GET"]),
    ]


# ----------------------------------------------------------------------------------------------
# Middleware: faults, authentication, time-driven rules, accounting
# ----------------------------------------------------------------------------------------------
class ApiMiddleware:
    def __init__(self, app: ASGIApp, emulator: Emulator) -> None:
        self.app = app
        self.emu = emulator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v2/"):
            await self.app(scope, receive, send)
            return
        method: str = scope["method"]
        path: str = scope["path"]
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            fault = self.emu.take_fault(method, path)
            if fault is not None:
                if fault.latency_ms:
                    await asyncio.sleep(fault.latency_ms / 1000)
                if fault.status is not None:
                    headers = (
                        {fields.RETRY_AFTER_HEADER: fault.retry_after}
                        if fault.retry_after is not None
                        else None
                    )
                    reason = "Throttled" if fault.status == 429 else "InjectedFault"
                    resp = error_response(ApiError(fault.status, reason, fault.message, headers=headers))
                    await resp(scope, receive, send_wrapper)
                    return
            key = self._api_key(scope)
            if key is None:
                resp = error_response(ApiError(401, "Unauthorized", "missing or invalid API key"))
                resp.headers["WWW-Authenticate"] = fields.AUTH_SCHEME
                await resp(scope, receive, send_wrapper)
                return
            scope.setdefault("state", {})["ibss_api_key"] = key
            self.emu.state.tick()
            await self.app(scope, receive, send_wrapper)
        finally:
            template = self._template(scope)
            self.emu.requests.record(
                method, template, path, scope.get("query_string", b"").decode("latin-1"), status
            )

    @staticmethod
    def _template(scope: Scope) -> str:
        route = scope.get("route")
        if route is None and isinstance(scope.get("app"), Starlette):
            for candidate in scope["app"].router.routes:
                match, _ = candidate.matches(scope)
                if match is not Match.NONE:
                    route = candidate
                    break
        return str(getattr(route, "path", scope["path"]))

    def _api_key(self, scope: Scope) -> str | None:
        for name, value in scope.get("headers", []):
            if name.decode("latin-1").lower() == fields.AUTH_HEADER.lower():
                text: str = value.decode("latin-1")
                scheme, _, key = text.strip().partition(" ")
                key = key.strip()
                if scheme.lower() == fields.AUTH_SCHEME.lower() and key in self.emu.state.api_keys:
                    return key
                return None
        return None


async def _api_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc)


async def _unexpected_handler(request: Request, exc: Exception) -> Response:
    logger.exception("emulator error on %s %s", request.method, request.url.path)
    return error_response(ApiError(500, "InternalError", f"emulator error: {type(exc).__name__}"))


def create_app(config: EmulatorConfig | None = None, emulator: Emulator | None = None) -> Starlette:
    from emulators.ibss.control import control_routes  # noqa: PLC0415 (control imports this module)

    emu = emulator or Emulator(config)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        ticker: asyncio.Task[None] | None = None
        if emu.config.tick_interval_s > 0:

            async def tick_forever() -> None:
                while True:
                    await asyncio.sleep(emu.config.tick_interval_s)
                    try:
                        emu.state.tick()
                    except Exception:
                        logger.exception("tick failed")

            ticker = asyncio.create_task(tick_forever())
        try:
            yield
        finally:
            if ticker is not None:
                ticker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await ticker
            await emu.hooks.aclose()

    app = Starlette(
        routes=[*api_routes(), *control_routes()],
        exception_handlers={ApiError: _api_error_handler, Exception: _unexpected_handler},
        lifespan=lifespan,
    )
    app.state.emulator = emu
    app.add_middleware(ApiMiddleware, emulator=emu)
    return app


__all__ = [
    "DEFAULT_API_KEY",
    "DEMO_DATA",
    "ApiFault",
    "Emulator",
    "EmulatorConfig",
    "create_app",
    "load_data",
]
