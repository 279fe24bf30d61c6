"""Control plane of the IBSS emulator, under ``/_emulator/`` (no authentication: loopback tool).

* ``GET  /_emulator/health``
* ``POST /_emulator/reset``            ``{"clock": iso|null, "frozen": true, "data": {...}|null}``
* ``POST /_emulator/load``             ``{"data": {...}, "replace": false}`` (JSON) or a YAML document
* ``GET  /_emulator/state``            every building, space, policy, person, booking and visit
* ``GET  /_emulator/clock``; ``POST /_emulator/clock`` ``{"now": iso, "frozen": true}``;
  ``POST /_emulator/clock/advance`` ``{"days", "hours", "minutes", "seconds"}``;
  ``POST /_emulator/clock/freeze``; ``POST /_emulator/clock/unfreeze``
* ``GET/POST/DELETE /_emulator/faults``: API faults ``{"target": "api", "method", "path_regex",
  "status", "retry_after", "latency_ms", "times", "message"}``; hook faults ``{"target": "hooks",
  "action": "drop"|"delay", "delay_ms", "times", "types": [...]}``
* ``GET/DELETE /_emulator/requests``: request accounting
* ``GET /_emulator/hooks`` (config and deliveries); ``PUT /_emulator/hooks``
  ``{"url", "secret", "max_attempts", "backoff_s", "timeout_s"}`` sets the target; ``{"enabled": false}``
  switches hooks off, ``{"drop_share": 0.3}`` drops that share at random (either keeps the target)
* ``POST /_emulator/api-keys`` ``{"key", "nodes": [1001]|null, "policy_exempt": false}``
* ``POST /_emulator/flex/{book,move,edit,cancel,checkin,checkout}``: act as a person in Flex.
* ``POST /_emulator/flex/preferences`` ``{"person", "calendar_sync": true}``: the person's Roamer/Flex
  "Synchronise Calendar" preference (no hook: IBSS sends booking hooks only).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import yaml
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from emulators.ibss.app import ApiFault, booking_response, emu_of, json_body, series_response, validate, wire
from emulators.ibss.hooks import HookFault
from emulators.ibss.rules import ApiError
from emulators.ibss.state import EmulatorState
from shared.ibss.hooks import IbssHookType
from shared.ibss.models import (
    Booking,
    BookingCreate,
    BookingParty,
    BookingSeriesCreate,
    BookingUpdate,
    Occurrence,
    UserPreferences,
)

PREFIX = "/_emulator"


def _dt(value: Any, name: str) -> datetime:
    if not isinstance(value, str):
        raise ApiError(400, "InvalidControlRequest", f"{name} must be an ISO 8601 datetime")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ApiError(400, "InvalidControlRequest", f"{name} is not an ISO 8601 datetime") from exc
    if parsed.tzinfo is None:
        raise ApiError(400, "InvalidControlRequest", f"{name} must include a time zone (e.g. Z)")
    return parsed


async def _obj_body(request: Request) -> dict[str, Any]:
    body = await json_body(request)
    if not isinstance(body, dict):
        raise ApiError(400, "InvalidControlRequest", "expected a JSON object")
    return body


async def health(request: Request) -> Response:
    return JSONResponse({"ok": True, "clock": emu_of(request).clock.describe()})


async def reset(request: Request) -> Response:
    body = await _obj_body(request)
    emu = emu_of(request)
    clock = _dt(body["clock"], "clock") if body.get("clock") else None
    data = body.get("data")
    await emu.reset(
        clock=clock, frozen=bool(body.get("frozen", True)), data=data if isinstance(data, dict) else None
    )
    return JSONResponse({"ok": True, "clock": emu.clock.describe()})


async def load(request: Request) -> Response:
    emu = emu_of(request)
    ctype = request.headers.get("content-type", "")
    if "yaml" in ctype:
        try:
            data = yaml.safe_load(await request.body())
        except yaml.YAMLError as exc:
            raise ApiError(400, "InvalidData", f"invalid YAML: {exc}") from exc
        replace = request.query_params.get("replace", "false").lower() == "true"
    else:
        body = await _obj_body(request)
        data = body.get("data")
        replace = bool(body.get("replace", False))
    if not isinstance(data, dict):
        raise ApiError(400, "InvalidData", "expected a mapping with buildings/people/bookings")
    emu.load(data, replace=replace)
    return JSONResponse({"ok": True, "buildings": len(emu.state.buildings), "spaces": len(emu.state.spaces)})


async def dump_state(request: Request) -> Response:
    st = emu_of(request).state
    st.tick()
    return JSONResponse(
        {
            "buildings": [wire(b) for b in st.buildings.values()],
            "spaces": [wire(s) for s in st.spaces.values()],
            "policies": [wire(p) for p in st.policies.values()],
            "people": [vars(p) for p in st.people.values()],
            "bookings": [wire(b) for b in sorted(st.bookings.values(), key=lambda b: (b.start, b.id))],
            "visits": [wire(v) for v in st.visits.values()],
        }
    )


async def get_clock(request: Request) -> Response:
    return JSONResponse(emu_of(request).clock.describe())


async def set_clock(request: Request) -> Response:
    body = await _obj_body(request)
    emu = emu_of(request)
    emu.clock.set(_dt(body.get("now"), "now"), frozen=bool(body.get("frozen", True)))
    emu.state.tick()
    return JSONResponse(emu.clock.describe())


async def advance_clock(request: Request) -> Response:
    body = await _obj_body(request)
    emu = emu_of(request)
    try:
        delta = timedelta(
            days=float(body.get("days", 0)),
            hours=float(body.get("hours", 0)),
            minutes=float(body.get("minutes", 0)),
            seconds=float(body.get("seconds", 0)),
        )
    except (TypeError, ValueError) as exc:
        raise ApiError(400, "InvalidControlRequest", "days/hours/minutes/seconds must be numbers") from exc
    if delta < timedelta(0):
        raise ApiError(400, "InvalidControlRequest", "the clock only moves forward")
    emu.clock.advance(delta)
    emu.state.tick()
    return JSONResponse(emu.clock.describe())


async def freeze_clock(request: Request) -> Response:
    emu = emu_of(request)
    emu.clock.freeze()
    return JSONResponse(emu.clock.describe())


async def unfreeze_clock(request: Request) -> Response:
    emu = emu_of(request)
    emu.clock.unfreeze()
    return JSONResponse(emu.clock.describe())


async def get_faults(request: Request) -> Response:
    emu = emu_of(request)
    return JSONResponse(
        {"api": [f.describe() for f in emu.faults], "hooks": [f.describe() for f in emu.hooks.faults]}
    )


async def add_fault(request: Request) -> Response:
    body = await _obj_body(request)
    emu = emu_of(request)
    target = body.get("target", "api")
    times = body.get("times", 1)
    try:
        if target == "api":
            retry_after = body.get("retry_after")
            fault = ApiFault(
                method=body.get("method"),
                path_regex=body.get("path_regex"),
                status=int(body["status"]) if body.get("status") is not None else None,
                retry_after=str(retry_after) if retry_after is not None else None,
                latency_ms=int(body.get("latency_ms", 0)),
                times=int(times) if times is not None else None,
                message=str(body.get("message", "injected fault")),
            )
            emu.faults.append(fault)
            return JSONResponse(fault.describe(), status_code=201)
        if target == "hooks":
            action = body.get("action")
            if action not in ("drop", "delay"):
                raise ApiError(400, "InvalidControlRequest", "hook fault action must be 'drop' or 'delay'")
            types = set(body.get("types") or [])
            unknown = types - {t.value for t in IbssHookType}
            if unknown:
                raise ApiError(400, "InvalidControlRequest", f"unknown hook types {sorted(unknown)}")
            hook_fault = HookFault(
                action=action,
                times=int(times) if times is not None else None,
                delay_ms=int(body.get("delay_ms", 0)),
                types=types,
            )
            emu.hooks.faults.append(hook_fault)
            return JSONResponse(hook_fault.describe(), status_code=201)
    except (TypeError, ValueError) as exc:
        raise ApiError(400, "InvalidControlRequest", f"invalid fault: {exc}") from exc
    raise ApiError(400, "InvalidControlRequest", "target must be 'api' or 'hooks'")


async def clear_faults(request: Request) -> Response:
    emu = emu_of(request)
    emu.faults.clear()
    emu.hooks.faults.clear()
    return JSONResponse({"ok": True})


async def get_requests(request: Request) -> Response:
    return JSONResponse(emu_of(request).requests.describe())


async def clear_requests(request: Request) -> Response:
    emu_of(request).requests.clear()
    return JSONResponse({"ok": True})


async def get_hooks(request: Request) -> Response:
    hooks = emu_of(request).hooks
    return JSONResponse({**hooks.describe(), "deliveries": [d.describe() for d in hooks.deliveries]})


async def set_hooks(request: Request) -> Response:
    body = await _obj_body(request)
    hooks = emu_of(request).hooks
    try:
        if "url" in body or "secret" in body:
            hooks.configure(
                url=body.get("url"),
                secret=body.get("secret"),
                max_attempts=body.get("max_attempts"),
                backoff_s=body.get("backoff_s"),
                timeout_s=body.get("timeout_s"),
            )
        enabled, drop_share = body.get("enabled"), body.get("drop_share")
        if enabled is not None and not isinstance(enabled, bool):
            raise ValueError("enabled must be true or false")
        if drop_share is not None and (
            isinstance(drop_share, bool) or not isinstance(drop_share, int | float)
        ):
            raise ValueError("drop_share must be a number between 0 and 1")
        hooks.switch(enabled=enabled, drop_share=drop_share)
    except Exception as exc:
        raise ApiError(400, "InvalidControlRequest", f"invalid hook target: {exc}") from exc
    return JSONResponse(hooks.describe())


async def add_api_key(request: Request) -> Response:
    body = await _obj_body(request)
    key = body.get("key")
    if not isinstance(key, str) or not key:
        raise ApiError(400, "InvalidControlRequest", "key is required")
    nodes = body.get("nodes")
    state = emu_of(request).state
    state.api_keys[key] = frozenset(int(n) for n in nodes) if nodes is not None else None
    if body.get("policy_exempt"):
        state.policy_exempt_keys.add(key)
    else:
        state.policy_exempt_keys.discard(key)
    return JSONResponse({"ok": True}, status_code=201)


# ----------------------------------------------------------------------------------------------
# Flex: act as a person
# ----------------------------------------------------------------------------------------------
def _find_booking(st: EmulatorState, body: dict[str, Any]) -> Booking:
    booking_id = body.get("booking_id")
    if not isinstance(booking_id, str):
        raise ApiError(400, "InvalidControlRequest", "booking_id is required")
    b = st.bookings.get(booking_id)
    if b is None:
        raise ApiError(404, "BookingNotFound", f"booking {booking_id!r} not found")
    return b


def _actor(st: EmulatorState, body: dict[str, Any], booking: Booking | None = None) -> str:
    email = body.get("person")
    if not isinstance(email, str):
        raise ApiError(400, "InvalidControlRequest", "person (email) is required")
    person = st.person(email)
    if booking is not None and (booking.owner_email or "").lower() != person.email:
        raise ApiError(403, "NotOwner", f"{person.email} does not own booking {booking.id!r}")
    return person.email


def _parties(raw: Any) -> list[BookingParty]:
    parties = []
    for item in raw or []:
        if isinstance(item, str):
            parties.append(BookingParty(email=item))
        else:
            parties.append(validate(BookingParty, item))
    return parties


async def purge_booking(request: Request) -> Response:
    """Hard-delete a booking (gone from the API, not cancelled, no hook): what only a sweep can notice."""
    st = emu_of(request).state
    b = st.purge_booking(request.path_params["booking_id"])
    return JSONResponse({"purged": b.id})


async def flex(request: Request) -> Response:
    action = request.path_params["action"]
    body = await _obj_body(request)
    emu = emu_of(request)
    st = emu.state
    st.tick()
    if action == "book":
        # A kiosk (IBSS Unity/Inspire, a service account) books for nobody: the booking has no owner.
        owner = "" if body.get("kiosk") is True else _actor(st, body)
        node_id = int(body.get("node_id", next(iter(st.buildings), 0)))
        common: dict[str, Any] = {
            "space_id": body.get("space_id"),
            "name": body.get("name", "Flex booking"),
            "owner_email": owner,
            "parties": _parties(body.get("parties")),
            "online_meeting": bool(body.get("online_meeting", False)),
        }
        if body.get("occurrences"):
            occurrences = [
                Occurrence(start=_dt(o.get("start"), "start"), end=_dt(o.get("end"), "end"))
                for o in body["occurrences"]
            ]
            series_req = validate(BookingSeriesCreate, {**common, "occurrences": occurrences})
            series_id, created = st.create_series(node_id, series_req)
            return series_response(series_id, created, 201)
        timed = {**common, "start": _dt(body.get("start"), "start"), "end": _dt(body.get("end"), "end")}
        if not owner:  # the API's create requires an owner; the kiosk's booking is made inside IBSS
            req = validate(BookingCreate, {**timed, "owner_email": "kiosk@invalid"}).model_copy(
                update={"owner_email": ""}
            )
        else:
            req = validate(BookingCreate, timed)
        return booking_response(st.create_booking(node_id, req), 201)
    if action == "preferences":
        person = st.person(_actor(st, body))
        if "calendar_sync" in body:
            person.calendar_sync = bool(body["calendar_sync"])
        return JSONResponse(wire(UserPreferences(email=person.email, calendar_sync=person.calendar_sync)))
    booking = _find_booking(st, body)
    _actor(st, body, booking)
    if action == "move":
        changes: dict[str, Any] = {"space_id": body.get("space_id")}
        if body.get("start"):
            changes["start"] = _dt(body["start"], "start")
        if body.get("end"):
            changes["end"] = _dt(body["end"], "end")
        upd = validate(BookingUpdate, changes)
        return booking_response(st.update_booking(booking.node_id, booking.id, upd, None))
    if action == "edit":
        changes = {}
        for key in ("start", "end"):
            if body.get(key):
                changes[key] = _dt(body[key], key)
        for key in ("name", "description", "online_meeting", "space_id"):
            if key in body:
                changes[key] = body[key]
        if "parties" in body:
            changes["parties"] = _parties(body["parties"])
        upd = validate(BookingUpdate, changes)
        return booking_response(st.update_booking(booking.node_id, booking.id, upd, None))
    if action == "cancel":
        return booking_response(st.cancel_booking(booking.node_id, booking.id, None))
    if action == "checkin":
        return booking_response(st.check_in(booking.node_id, booking.id))
    if action == "checkout":
        return booking_response(st.check_out(booking.node_id, booking.id))
    raise ApiError(404, "UnknownAction", f"unknown Flex action {action!r}")


def control_routes() -> list[BaseRoute]:
    return [
        Route(f"{PREFIX}/health", health, methods=["GET"]),
        Route(f"{PREFIX}/reset", reset, methods=["POST"]),
        Route(f"{PREFIX}/load", load, methods=["POST"]),
        Route(f"{PREFIX}/state", dump_state, methods=["GET"]),
        Route(f"{PREFIX}/clock", get_clock, methods=["GET"]),
        Route(f"{PREFIX}/clock", set_clock, methods=["POST"]),
        Route(f"{PREFIX}/clock/advance", advance_clock, methods=["POST"]),
        Route(f"{PREFIX}/clock/freeze", freeze_clock, methods=["POST"]),
        Route(f"{PREFIX}/clock/unfreeze", unfreeze_clock, methods=["POST"]),
        Route(f"{PREFIX}/faults", get_faults, methods=["GET"]),
        Route(f"{PREFIX}/faults", add_fault, methods=["POST"]),
        Route(f"{PREFIX}/faults", clear_faults, methods=["DELETE"]),
        Route(f"{PREFIX}/requests", get_requests, methods=["GET"]),
        Route(f"{PREFIX}/requests", clear_requests, methods=["DELETE"]),
        Route(f"{PREFIX}/hooks", get_hooks, methods=["GET"]),
        Route(f"{PREFIX}/hooks", set_hooks, methods=["PUT"]),
        Route(f"{PREFIX}/api-keys", add_api_key, methods=["POST"]),
        Route(f"{PREFIX}/flex/{{action}}", flex, methods=["POST"]),
        Route(f"{PREFIX}/bookings/{{booking_id}}", purge_booking, methods=["DELETE"]),
    ]
