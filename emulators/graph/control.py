"""Control plane under /_emulator/: tenant, clock, Outlook user actions, faults, accounting."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from emulators.graph import attendant, messages
from emulators.graph import events as evmod
from emulators.graph.api import Api
from emulators.graph.auth import issue_token
from emulators.graph.delivery import DeliveryFault
from emulators.graph.errors import GraphError, bad_request, not_found
from emulators.graph.state import EmulatorConfig, Mailbox, StoredEvent
from emulators.graph.tenant import CalendarProcessing, TenantSpec, load_tenant, parse_tenant
from emulators.graph.throttle import HttpFault
from emulators.graph.timezones import format_utc_z, parse_any_instant


class ClockBody(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="forbid")
    set: str | None = None
    frozen: bool = False
    advance_seconds: float | None = Field(None, alias="advanceSeconds")
    reset: bool = False


class TokenBody(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="forbid")
    client_id: str = Field(alias="clientId")
    roles: list[str] | None = None
    lifetime_seconds: int = Field(3599, alias="lifetimeSeconds")


class InvalidateBody(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="forbid")
    mode: str = "resyncRequired"
    mailbox: str | None = None


class LifecycleBody(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="forbid")
    lifecycle_event: str = Field(alias="lifecycleEvent")


class ConfigBody(EmulatorConfig):
    api_latency_seconds: float | None = Field(None, alias="apiLatencySeconds")


Endpoint = Callable[[Request], Awaitable[Response]]


def _json(data: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(data, status_code=status)


def build_control(api: Api, initial_tenant: Callable[[], TenantSpec]) -> list[Route]:
    state = api.state

    def guarded(fn: Endpoint) -> Endpoint:
        async def wrapper(request: Request) -> Response:
            try:
                return await fn(request)
            except GraphError as exc:
                return _json({"error": {"code": exc.code, "message": exc.message}}, exc.status)
            except ValidationError as exc:
                return _json({"error": {"code": "BadRequest", "message": str(exc)}}, 400)

        return wrapper

    async def body(request: Request) -> dict[str, Any]:
        raw = await request.body()
        if not raw:
            return {}
        data = json.loads(raw)
        if not isinstance(data, dict):
            raise bad_request("A JSON object is expected.")
        return data

    def mailbox(request: Request) -> Mailbox:
        mb = state.mailbox(request.path_params["mailbox"])
        if mb is None:
            raise GraphError(404, "ErrorInvalidUser", f"Unknown mailbox '{request.path_params['mailbox']}'.")
        return mb

    def reset_all(tenant: TenantSpec) -> None:
        state.clock.reset()
        state.config = EmulatorConfig()
        state.load_tenant(tenant)
        api.reset()

    async def health(request: Request) -> Response:
        return _json({"status": "ok", "now": format_utc_z(state.now())})

    async def reset(request: Request) -> Response:
        data = await body(request)
        tenant = initial_tenant()
        if "tenant" in data:
            tenant = parse_tenant(data["tenant"])
        elif "tenantPath" in data:
            tenant = load_tenant(data["tenantPath"])
        reset_all(tenant)
        return _json({"status": "reset", "tenantId": tenant.tenant_id})

    async def tenant(request: Request) -> Response:
        if request.method == "GET":
            return _json(state.tenant.model_dump(mode="json", by_alias=True))
        raw = await request.body()
        data = yaml.safe_load(raw) if raw else {}
        spec = (
            load_tenant(data["path"])
            if isinstance(data, dict) and set(data) == {"path"}
            else parse_tenant(data)
        )
        reset_all(spec)
        return _json({"status": "loaded", "tenantId": spec.tenant_id})

    async def config(request: Request) -> Response:
        if request.method == "PATCH":
            data = await body(request)
            latency = data.pop("apiLatencySeconds", None)
            merged = state.config.model_dump(by_alias=True) | data
            state.config = EmulatorConfig.model_validate(merged)
            if latency is not None:
                api.api_latency_seconds = float(latency)
        return _json(state.config.model_dump(by_alias=True) | {"apiLatencySeconds": api.api_latency_seconds})

    async def clock(request: Request) -> Response:
        if request.method == "POST":
            b = ClockBody.model_validate(await body(request))
            if b.reset:
                state.clock.reset()
            if b.set:
                state.clock.set(parse_any_instant(b.set), frozen=b.frozen)
            if b.advance_seconds:
                state.clock.advance(b.advance_seconds)
        return _json({"now": format_utc_z(state.now()), "frozen": state.clock.frozen})

    async def processing(request: Request) -> Response:
        mb = mailbox(request)
        if mb.processing is None:
            raise bad_request(f"{mb.address} is not a room mailbox.")
        if request.method == "PATCH":
            merged = mb.processing.model_dump(by_alias=True) | await body(request)
            mb.processing = CalendarProcessing.model_validate(merged)
        return _json(mb.processing.model_dump(by_alias=True))

    def event_json(mb: Mailbox, ev: StoredEvent) -> dict[str, Any]:
        return evmod.to_wire(mb, evmod.Instance(ev), None, None, "")

    async def act_create(request: Request) -> Response:
        mb = mailbox(request)
        ev, created = evmod.create(state, mb, await body(request))
        if created:
            attendant.propagate(state, mb, ev)
        return _json(event_json(mb, ev), 201)

    async def act_item(request: Request) -> Response:
        mb = mailbox(request)
        inst = evmod.find(mb, request.path_params["event"])
        if request.method == "GET":
            return _json(evmod.to_wire(mb, inst, None, None, ""))
        if request.method == "PATCH":
            ev = evmod.update(state, mb, inst, await body(request), None)
            root = mb.events[ev.series_master_id] if ev.type == "exception" and ev.series_master_id else ev
            attendant.propagate(state, mb, root)
            return _json(event_json(mb, mb.events[ev.id]))
        part = inst.occurrence is not None or inst.event.type == "exception"
        root = evmod.delete(state, mb, inst, None)
        attendant.propagate(state, mb, root, cancelled=not part)
        return Response(status_code=204)

    async def act_action(request: Request) -> Response:
        mb = mailbox(request)
        inst = evmod.find(mb, request.path_params["event"])
        action = request.path_params["action"]
        data = await body(request)
        if action == "cancel":
            if not inst.event.is_organizer:
                raise bad_request("You need to be an organizer to cancel a meeting.")
            part = inst.occurrence is not None or inst.event.type == "exception"
            root = evmod.delete(state, mb, inst, None)
            attendant.propagate(state, mb, root, cancelled=not part)
            messages.record_cancellation(state, mb, root, str(data.get("comment") or ""))
        elif action == "forward":
            recipients = [r.get("emailAddress", r) for r in data.get("toRecipients", [])]
            attendant.forward(state, mb, inst.event, recipients)
        elif action in ("accept", "decline", "tentativelyAccept"):
            response = {
                "accept": "accepted",
                "decline": "declined",
                "tentativelyAccept": "tentativelyAccepted",
            }[action]
            ev = evmod.respond(state, mb, inst, response)
            if data.get("sendResponse", True):
                attendant.record_response(state, mb, ev, response)
                messages.record_response(state, mb, ev, response, str(data.get("comment") or ""))
        else:
            raise not_found(f"Unknown action '{action}'.")
        return Response(status_code=202)

    async def mailbox_events(request: Request) -> Response:
        mb = mailbox(request)
        return _json({"value": [event_json(mb, ev) for ev in mb.events.values()]})

    async def faults(request: Request) -> Response:
        if request.method == "POST":
            data = await body(request)
            if data.get("kind", "http") in ("http", "status"):
                api.throttle.faults.append(HttpFault.model_validate({**data, "kind": "http"}))
            elif data["kind"] in ("drop", "delay", "duplicate", "reorder"):
                api.delivery.faults.append(DeliveryFault.model_validate(data))
            else:
                raise bad_request(f"Unknown fault kind '{data['kind']}'.")
        elif request.method == "DELETE":
            api.throttle.faults.clear()
            api.delivery.clear_faults()
        return _json(
            {
                "http": [f.model_dump(by_alias=True) for f in api.throttle.faults],
                "delivery": [f.model_dump(by_alias=True) for f in api.delivery.faults],
            }
        )

    async def invalidate(request: Request) -> Response:
        b = InvalidateBody.model_validate(await body(request))
        if b.mode not in ("resyncRequired", "syncStateNotFound"):
            raise bad_request("mode must be resyncRequired or syncStateNotFound.")
        mb_id = None
        if b.mailbox:
            mb = state.mailbox(b.mailbox)
            if mb is None:
                raise not_found("Unknown mailbox.")
            mb_id = mb.id
        return _json({"invalidated": api.delta.invalidate(b.mode, mb_id)})

    async def subscriptions(request: Request) -> Response:
        return _json(
            {
                "value": [
                    s.to_wire() | {"needsReauthorization": s.needs_reauth} for s in api.subscriptions.list()
                ]
            }
        )

    async def lifecycle(request: Request) -> Response:
        sub = api.subscriptions.get(request.path_params["sub"])
        b = LifecycleBody.model_validate(await body(request))
        sent = api.subscriptions.lifecycle(sub, b.lifecycle_event)
        return _json({"sent": sent})

    async def remove_subscription(request: Request) -> Response:
        sub = api.subscriptions.get(request.path_params["sub"])
        sent = api.subscriptions.lifecycle(sub, "subscriptionRemoved")
        return _json({"removed": True, "sent": sent})

    async def requests(request: Request) -> Response:
        if request.method == "DELETE":
            api.counts.clear()
            return _json({"total": 0})
        want_mb = request.query_params.get("mailbox")
        want_mb_addr = None
        if want_mb:
            mb = state.mailbox(want_mb)
            want_mb_addr = mb.address if mb else want_mb
        by_mailbox: dict[str, int] = {}
        by_endpoint: dict[str, int] = {}
        entries = []
        total = 0
        for (mbx, endpoint, app, status), n in sorted(api.counts.items()):
            if want_mb_addr and mbx.lower() != want_mb_addr.lower():
                continue
            total += n
            by_mailbox[mbx] = by_mailbox.get(mbx, 0) + n
            by_endpoint[endpoint] = by_endpoint.get(endpoint, 0) + n
            entries.append({"mailbox": mbx, "endpoint": endpoint, "appId": app, "status": status, "count": n})
        return _json({"total": total, "byMailbox": by_mailbox, "byEndpoint": by_endpoint, "entries": entries})

    async def deliveries(request: Request) -> Response:
        if request.method == "DELETE":
            api.delivery.log.clear()
        return _json({"value": api.delivery.log})

    async def attendant_log(request: Request) -> Response:
        return _json(
            {
                "value": [
                    {
                        "at": format_utc_z(r.at),
                        "room": r.room,
                        "iCalUId": r.ical_uid,
                        "subject": r.subject,
                        "decision": r.decision,
                        "reason": r.reason,
                    }
                    for r in state.attendant_log
                ]
            }
        )

    async def meeting_messages(request: Request) -> Response:
        return _json({"value": [m.to_wire() for m in messages.log(state)]})

    async def tokens(request: Request) -> Response:
        b = TokenBody.model_validate(await body(request))
        app = state.app(b.client_id)
        roles = b.roles if b.roles is not None else (list(app.roles) if app else [])
        return _json({"access_token": issue_token(state, b.client_id, roles, b.lifetime_seconds)})

    p = "/_emulator"
    routes = [
        Route(f"{p}/health", guarded(health), methods=["GET"]),
        Route(f"{p}/reset", guarded(reset), methods=["POST"]),
        Route(f"{p}/tenant", guarded(tenant), methods=["GET", "POST"]),
        Route(f"{p}/config", guarded(config), methods=["GET", "PATCH"]),
        Route(f"{p}/clock", guarded(clock), methods=["GET", "POST"]),
        Route(f"{p}/rooms/{{mailbox}}/calendarProcessing", guarded(processing), methods=["GET", "PATCH"]),
        Route(f"{p}/act/{{mailbox}}/events", guarded(act_create), methods=["POST"]),
        Route(f"{p}/act/{{mailbox}}/events/{{event}}", guarded(act_item), methods=["GET", "PATCH", "DELETE"]),
        Route(f"{p}/act/{{mailbox}}/events/{{event}}/{{action}}", guarded(act_action), methods=["POST"]),
        Route(f"{p}/mailboxes/{{mailbox}}/events", guarded(mailbox_events), methods=["GET"]),
        Route(f"{p}/faults", guarded(faults), methods=["GET", "POST", "DELETE"]),
        Route(f"{p}/delta/invalidate", guarded(invalidate), methods=["POST"]),
        Route(f"{p}/subscriptions", guarded(subscriptions), methods=["GET"]),
        Route(f"{p}/subscriptions/{{sub}}/lifecycle", guarded(lifecycle), methods=["POST"]),
        Route(f"{p}/subscriptions/{{sub}}/remove", guarded(remove_subscription), methods=["POST"]),
        Route(f"{p}/requests", guarded(requests), methods=["GET", "DELETE"]),
        Route(f"{p}/deliveries", guarded(deliveries), methods=["GET", "DELETE"]),
        Route(f"{p}/attendant-log", guarded(attendant_log), methods=["GET"]),
        Route(f"{p}/messages", guarded(meeting_messages), methods=["GET"]),
        Route(f"{p}/tokens", guarded(tokens), methods=["POST"]),
    ]
    _ = Path  # tenant files are read by load_tenant
    return routes
