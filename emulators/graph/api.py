"""Graph v1.0 request handling: routing, auth, throttling, accounting and the resource handlers."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from emulators.graph import attendant, messages
from emulators.graph import events as evmod
from emulators.graph import query as q
from emulators.graph.auth import verify_bearer
from emulators.graph.batch import run_batch
from emulators.graph.delivery import Delivery
from emulators.graph.delta import DeltaStore
from emulators.graph.errors import GraphError, bad_request
from emulators.graph.state import EmulatorState, Mailbox, StoredEvent
from emulators.graph.subscriptions import Subscriptions
from emulators.graph.throttle import Throttle
from emulators.graph.timezones import TimeZoneError, parse_query_datetime, resolve_tz
from emulators.graph.wire import ApiRequest, ApiResponse

JSON_TYPE = (
    "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"
)
READ_ROLES = {"Calendars.Read", "Calendars.ReadWrite", "Calendars.ReadBasic"}
WRITE_ROLES = {"Calendars.ReadWrite"}


Handler = Callable[["Api", ApiRequest, dict[str, str]], Awaitable[ApiResponse]]
_U = r"/users/(?P<user>[^/]+)"
_E = _U + r"/(?:calendar/)?events/(?P<event>[^/]+)"


@dataclass
class Route:
    methods: tuple[str, ...]
    pattern: re.Pattern[str]
    endpoint: str
    handler: Handler


def prefer(req: ApiRequest) -> tuple[str | None, int | None]:
    header = req.headers.get("prefer", "")
    tz = re.search(r'outlook\.timezone\s*=\s*"([^"]+)"', header, re.IGNORECASE)
    size = re.search(r"odata\.maxpagesize\s*=\s*(\d+)", header, re.IGNORECASE)
    return (tz.group(1) if tz else None), (int(size.group(1)) if size else None)


class Api:
    def __init__(self, state: EmulatorState) -> None:
        self.state = state
        self.delivery = Delivery(state)
        self.subscriptions = Subscriptions(state, self.delivery)
        self.delta = DeltaStore(state)
        self.throttle = Throttle(state)
        self.counts: Counter[tuple[str, str, str, int]] = Counter()
        self.api_latency_seconds = 0.0
        self.routes: list[Route] = []
        r = self._route
        r(("GET",), r"/users", "/users", Api.list_users)
        r(("GET",), _U, "/users/{id}", Api.get_user)
        r(("GET", "POST"), _U + r"/(?:calendar/)?events", "/users/{id}/events", Api.events_collection)
        r(("GET",), _E + r"/instances", "/users/{id}/events/{id}/instances", Api.instances)
        r(
            ("POST",),
            _E + r"/(?P<action>cancel|accept|decline|tentativelyAccept)",
            "/users/{id}/events/{id}/{action}",
            Api.event_action,
        )
        r(("GET", "PATCH", "DELETE"), _E, "/users/{id}/events/{id}", Api.event_item)
        r(
            ("GET",),
            _U + r"/(?:calendar/)?calendarView/delta(?:\(\))?",
            "/users/{id}/calendarView/delta",
            Api.delta_view,
        )
        r(("GET",), _U + r"/(?:calendar/)?calendarView", "/users/{id}/calendarView", Api.calendar_view)
        r(("GET",), r"/places/(?:microsoft\.)?graph\.room", "/places/microsoft.graph.room", Api.rooms)
        r(("GET", "POST"), r"/subscriptions", "/subscriptions", Api.subscriptions_collection)
        r(
            ("POST",),
            r"/subscriptions/(?P<sub>[^/]+)/reauthorize",
            "/subscriptions/{id}/reauthorize",
            Api.reauthorize,
        )
        r(
            ("GET", "PATCH", "DELETE"),
            r"/subscriptions/(?P<sub>[^/]+)",
            "/subscriptions/{id}",
            Api.subscription_item,
        )

    def _route(self, methods: tuple[str, ...], pattern: str, endpoint: str, handler: Handler) -> None:
        self.routes.append(Route(methods, re.compile(f"^{pattern}/?$", re.IGNORECASE), endpoint, handler))

    def reset(self) -> None:
        self.delivery.clear()
        self.subscriptions.clear()
        self.delta.clear()
        self.throttle.clear()
        self.counts.clear()
        self.api_latency_seconds = 0.0

    # ------------------------------------------------------------ plumbing

    def error(self, req: ApiRequest, exc: GraphError) -> ApiResponse:
        body = {
            "error": {
                "code": exc.code,
                "message": exc.message,
                "innerError": {
                    "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
                    "request-id": str(uuid.uuid4()),
                    "client-request-id": req.headers.get("client-request-id", str(uuid.uuid4())),
                },
            }
        }
        return ApiResponse(exc.status, body, dict(exc.headers))

    def _mailbox_key(self, req: ApiRequest, match: dict[str, str]) -> Mailbox | None:
        if "user" in match:
            return self.state.mailbox(match["user"])
        if "sub" in match:
            sub = self.subscriptions.items.get(match["sub"])
            return self.state.mailboxes.get(sub.mailbox_id) if sub else None
        if req.path.lower().rstrip("/") == "/subscriptions" and req.method == "POST":
            try:
                return self.subscriptions.resolve_resource(str(req.json().get("resource") or ""))
            except GraphError:
                return None
        return None

    async def dispatch(self, req: ApiRequest) -> ApiResponse:
        try:
            if req.caller is None:
                req.caller = verify_bearer(self.state, req.headers.get("authorization"))
        except GraphError as exc:
            return self.error(req, exc)
        path = req.path.rstrip("/") or "/"
        if path.lower() == "/$batch" and req.method == "POST" and not req.in_batch:
            return await run_batch(self, req)
        if re.match(r"^/me(/|$)", path, re.IGNORECASE):
            return self.error(
                req,
                bad_request("/me request is only valid with delegated authentication flow.", "BadRequest"),
            )
        for route in self.routes:
            m = route.pattern.match(path)
            if not m:
                continue
            if req.method not in route.methods:
                return self.error(
                    req, GraphError(405, "Request_BadRequest", "The requested method is not allowed.")
                )
            groups = {k: v for k, v in m.groupdict().items() if v is not None}
            endpoint = f"{req.method} {route.endpoint}".replace("{action}", groups.get("action", ""))
            mb = self._mailbox_key(req, groups)
            resp = await self._admit(req, groups, route, mb, path)
            self.counts[(mb.address if mb else "-", endpoint, req.caller.app_id, resp.status)] += 1
            return resp
        return self.error(
            req,
            GraphError(
                400, "BadRequest", f"Resource not found for the segment '{path.strip('/').split('/')[0]}'."
            ),
        )

    async def _admit(
        self, req: ApiRequest, groups: dict[str, str], route: Route, mb: Mailbox | None, path: str
    ) -> ApiResponse:
        assert req.caller is not None
        forced = self.throttle.forced(mb.id if mb else None, path, req.method)
        if forced is not None:
            headers = {"Retry-After": f"{forced.retry_after:g}"} if forced.retry_after is not None else {}
            code = (
                "TooManyRequests"
                if forced.status == 429
                else ("serviceNotAvailable" if forced.status == 503 else "generalException")
            )
            return self.error(req, GraphError(forced.status, code, "Injected fault.", headers))
        key = (req.caller.app_id, mb.id if mb else "-")
        retry = self.throttle.acquire(key)
        if retry is not None:
            return self.error(
                req,
                GraphError(
                    429,
                    "TooManyRequests",
                    "Application is over its MailboxConcurrency limit."
                    if retry == self.state.config.concurrency_retry_after_seconds
                    else "Please retry again later.",
                    {"Retry-After": f"{retry:g}"},
                ),
            )
        try:
            if self.api_latency_seconds:
                await asyncio.sleep(self.api_latency_seconds)
            if mb is not None and req.caller.mailbox_scope is not None:
                allowed = {a.lower() for a in req.caller.mailbox_scope}
                if mb.address.lower() not in allowed and mb.id.lower() not in allowed:
                    raise GraphError(403, "ErrorAccessDenied", "Access to OData is disabled.")
            if "user" in groups and mb is None:
                raise GraphError(
                    404, "ErrorInvalidUser", f"The requested user '{groups['user']}' is invalid."
                )
            return await route.handler(self, req, groups)
        except GraphError as exc:
            return self.error(req, exc)
        finally:
            self.throttle.release(key)

    def _need(self, req: ApiRequest, roles: set[str]) -> None:
        assert req.caller is not None
        if not roles & set(req.caller.roles):
            raise GraphError(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")

    def _mb(self, groups: dict[str, str]) -> Mailbox:
        mb = self.state.mailbox(groups["user"])
        assert mb is not None
        return mb

    def _tz(self, req: ApiRequest) -> tuple[str | None, dict[str, str]]:
        tz, _ = prefer(req)
        if tz is None:
            return None, {}
        try:
            resolve_tz(tz)
        except TimeZoneError as exc:
            raise GraphError(400, "TimeZoneNotSupportedException", str(exc)) from exc
        return tz, {"Preference-Applied": f'outlook.timezone="{tz}"'}

    def _page(
        self, req: ApiRequest, mb: Mailbox, items: list[evmod.Instance], context: str, default_size: int
    ) -> ApiResponse:
        tz, headers = self._tz(req)
        select = q.parse_select(req.query.get("$select"))
        expand = q.parse_expand(req.query.get("$expand"))
        wires: list[tuple[evmod.Instance, dict[str, Any]]] = [(i, evmod.to_wire(mb, i, tz)) for i in items]
        if "$filter" in req.query:
            preds = q.parse_filter(req.query["$filter"])
            wires = [(i, w) for i, w in wires if all(p(i, w) for p in preds)]
        order = q.sort_key(req.query.get("$orderby"))
        if order is not None:
            wires.sort(key=lambda iw: order[0](iw[0]), reverse=order[1])
        _, maxpage = prefer(req)
        skip = int(req.query.get("$skip", "0") or 0)
        top = int(req.query.get("$top", "0") or 0) or maxpage or default_size
        page = wires[skip : skip + top]
        body: dict[str, Any] = {"@odata.context": context}
        value = [evmod.to_wire(mb, i, tz, select, expand) for i, _ in page]
        if skip + top < len(wires):
            params = {k: v for k, v in req.query.items() if k != "$skip"}
            params["$skip"] = str(skip + top)
            if "$top" not in params:
                params["$top"] = str(top)
            body["@odata.nextLink"] = f"{req.base}{req.path}?{urlencode(params)}"
        body["value"] = value
        return ApiResponse(200, body, headers)

    # ------------------------------------------------------------ users and places

    async def list_users(self, req: ApiRequest, groups: dict[str, str]) -> ApiResponse:
        self._need(req, {"User.Read.All", "User.ReadBasic.All", "Directory.Read.All"})
        users = [self._user_wire(mb) for mb in self.state.mailboxes.values()]
        return ApiResponse(
            200, {"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users", "value": users}
        )

    async def get_user(self, req: ApiRequest, groups: dict[str, str]) -> ApiResponse:
        self._need(req, {"User.Read.All", "User.ReadBasic.All", "Directory.Read.All"})
        return ApiResponse(
            200,
            {
                "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users/$entity",
                **self._user_wire(self._mb(groups)),
            },
        )

    @staticmethod
    def _user_wire(mb: Mailbox) -> dict[str, Any]:
        return {
            "id": mb.id,
            "displayName": mb.display_name,
            "mail": mb.address,
            "userPrincipalName": mb.address,
        }

    async def rooms(self, req: ApiRequest, groups: dict[str, str]) -> ApiResponse:
        self._need(req, {"Place.Read.All"})
        rooms = [mb for mb in self.state.mailboxes.values() if mb.kind == "room"]
        wires: list[dict[str, Any]] = [
            {
                "@odata.type": "#microsoft.graph.room",
                "id": mb.id,
                "emailAddress": mb.address,
                "displayName": mb.display_name,
                "capacity": mb.capacity,
                "building": mb.building,
                "floorNumber": mb.floor_number,
                "floorLabel": mb.floor_label,
                "bookingType": "standard",
                "isWheelChairAccessible": False,
                "tags": [],
                "nickname": mb.display_name,
                "label": None,
                "phone": None,
                "audioDeviceName": None,
                "videoDeviceName": None,
                "displayDeviceName": None,
            }
            for mb in rooms
        ]
        select = q.parse_select(req.query.get("$select"))
        if select:
            wires = [{k: v for k, v in w.items() if k in select | {"id", "@odata.type"}} for w in wires]
        skip = int(req.query.get("$skip", "0") or 0)
        top = int(req.query.get("$top", "0") or 0) or self.state.config.places_page_size
        body: dict[str, Any] = {
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#places/microsoft.graph.room"
        }
        if req.query.get("$count", "").lower() == "true":
            body["@odata.count"] = len(wires)
        if skip + top < len(wires):
            params = {k: v for k, v in req.query.items() if k != "$skip"} | {
                "$skip": str(skip + top),
                "$top": str(top),
            }
            body["@odata.nextLink"] = f"{req.base}/places/microsoft.graph.room?{urlencode(params)}"
        body["value"] = wires[skip : skip + top]
        return ApiResponse(200, body)

    # ------------------------------------------------------------ events

    def _context(self, req: ApiRequest, mb: Mailbox, suffix: str) -> str:
        return f"https://graph.microsoft.com/v1.0/$metadata#users('{mb.address}')/{suffix}"

    async def events_collection(self, req: ApiRequest, groups: dict[str, str]) -> ApiResponse:
        mb = self._mb(groups)
        if req.method == "GET":
            self._need(req, READ_ROLES)
            items = [
                evmod.Instance(e) for e in mb.events.values() if e.type in ("singleInstance", "seriesMaster")
            ]
            return self._page(
                req, mb, items, self._context(req, mb, "events"), self.state.config.default_page_size
            )
        self._need(req, WRITE_ROLES)
        ev, created = evmod.create(self.state, mb, req.json())
        tz, headers = self._tz(req)
        # The response shows the item as written; the attendants' replies land afterwards.
        body = {
            "@odata.context": self._context(req, mb, "events/$entity"),
            **evmod.to_wire(mb, evmod.Instance(ev), tz),
        }
        if created:
            attendant.propagate(self.state, mb, ev)
        headers["Location"] = f"{req.base}/users/{mb.id}/events/{ev.id}"
        return ApiResponse(201, body, headers)

    def _select_expand(self, req: ApiRequest) -> tuple[set[str] | None, str | None]:
        return q.parse_select(req.query.get("$select")), q.parse_expand(req.query.get("$expand"))

    def _series_root(self, mb: Mailbox, ev: StoredEvent) -> StoredEvent:
        if ev.type == "exception" and ev.series_master_id in mb.events:
            return mb.events[ev.series_master_id]
        return ev

    async def event_item(self, req: ApiRequest, groups: dict[str, str]) -> ApiResponse:
        mb = self._mb(groups)
        inst = evmod.find(mb, groups["event"])
        tz, headers = self._tz(req)
        if req.method == "GET":
            self._need(req, READ_ROLES)
            select, expand = self._select_expand(req)
            body = {
                "@odata.context": self._context(req, mb, "events/$entity"),
                **evmod.to_wire(mb, inst, tz, select, expand),
            }
            return ApiResponse(200, body, headers)
        self._need(req, WRITE_ROLES)
        if_match = req.headers.get("if-match")
        if req.method == "PATCH":
            ev = evmod.update(self.state, mb, inst, req.json(), if_match)
            attendant.propagate(self.state, mb, self._series_root(mb, ev))
            fresh = mb.events[ev.id]
            body = {
                "@odata.context": self._context(req, mb, "events/$entity"),
                **evmod.to_wire(mb, evmod.Instance(fresh), tz),
            }
            return ApiResponse(200, body, headers)
        was_series_part = inst.occurrence is not None or inst.event.type == "exception"
        root = evmod.delete(self.state, mb, inst, if_match)
        attendant.propagate(self.state, mb, root, cancelled=not was_series_part)
        return ApiResponse(204)

    async def event_action(self, req: ApiRequest, groups: dict[str, str]) -> ApiResponse:
        self._need(req, WRITE_ROLES)
        mb = self._mb(groups)
        inst = evmod.find(mb, groups["event"])
        action = groups["action"]
        # Action parameters are case-insensitive in Graph; msgraph-sdk sends "Comment", "SendResponse".
        body = {k.lower(): v for k, v in req.json().items()}
        if action == "cancel":
            if not inst.event.is_organizer:
                raise bad_request(
                    "Your request can't be completed. You need to be an organizer to cancel a meeting."
                )
            was_series_part = inst.occurrence is not None or inst.event.type == "exception"
            root = evmod.delete(self.state, mb, inst, None)
            attendant.propagate(self.state, mb, root, cancelled=not was_series_part)
            messages.record_cancellation(self.state, mb, root, str(body.get("comment") or ""))
            return ApiResponse(202)
        response = {"accept": "accepted", "decline": "declined", "tentativelyAccept": "tentativelyAccepted"}[
            action
        ]
        ev = evmod.respond(self.state, mb, inst, response)
        if body.get("sendresponse", True):
            attendant.record_response(self.state, mb, ev, response)
            messages.record_response(self.state, mb, ev, response, str(body.get("comment") or ""))
        return ApiResponse(202)

    def _window(self, req: ApiRequest) -> tuple[datetime, datetime]:
        s, e = req.query.get("startDateTime"), req.query.get("endDateTime")
        if not s or not e:
            raise bad_request(
                "This request requires a time window specified by the query "
                "string parameters StartDateTime and EndDateTime.",
                "ErrorInvalidParameter",
            )
        try:
            return parse_query_datetime(s), parse_query_datetime(e)
        except ValueError as exc:
            raise bad_request(str(exc), "ErrorInvalidParameter") from exc

    async def calendar_view(self, req: ApiRequest, groups: dict[str, str]) -> ApiResponse:
        self._need(req, READ_ROLES)
        mb = self._mb(groups)
        ws, we = self._window(req)
        return self._page(
            req,
            mb,
            evmod.instances(mb, ws, we),
            self._context(req, mb, "calendarView"),
            self.state.config.default_page_size,
        )

    async def instances(self, req: ApiRequest, groups: dict[str, str]) -> ApiResponse:
        self._need(req, READ_ROLES)
        mb = self._mb(groups)
        inst = evmod.find(mb, groups["event"])
        ws, we = self._window(req)
        items = (
            evmod.series_instances(mb, inst.event, ws, we)
            if inst.event.type == "seriesMaster" and not inst.occurrence
            else []
        )
        items.sort(key=lambda i: (i.start, i.id))
        return self._page(
            req,
            mb,
            items,
            self._context(req, mb, f"events('{inst.id}')/instances"),
            self.state.config.default_page_size,
        )

    async def delta_view(self, req: ApiRequest, groups: dict[str, str]) -> ApiResponse:
        self._need(req, READ_ROLES)
        mb = self._mb(groups)
        tz, headers = self._tz(req)
        _, maxpage = prefer(req)
        size = maxpage or self.state.config.delta_page_size
        if maxpage:
            headers["Preference-Applied"] = ", ".join(
                filter(None, [headers.get("Preference-Applied"), f"odata.maxpagesize={maxpage}"])
            )
        link = f"{req.base}/users/{mb.id}/calendarView/delta"
        if req.query.get("$skiptoken"):
            skip = self.delta.take_skip(req.query["$skiptoken"])
        elif req.query.get("$deltatoken"):
            skip = self.delta.resume(mb, req.query["$deltatoken"], req.base, tz, size)
        else:
            if (
                "$select" in req.query
                or "$filter" in req.query
                or "$expand" in req.query
                or "$orderby" in req.query
            ):
                raise bad_request(
                    "calendarView delta does not support $select, $filter, $expand or $orderby.",
                    "ErrorInvalidUrlQuery",
                )
            ws, we = self._window(req)
            skip = self.delta.begin(
                mb, ws, we, req.query["startDateTime"], req.query["endDateTime"], tz, size
            )
        return ApiResponse(200, self.delta.page(skip, link), headers)

    # ------------------------------------------------------------ subscriptions

    def _check_scope(self, req: ApiRequest) -> Callable[[Mailbox], None]:
        def check(mb: Mailbox) -> None:
            assert req.caller is not None
            scope = req.caller.mailbox_scope
            if (
                scope is not None
                and mb.address.lower() not in {a.lower() for a in scope}
                and mb.id not in scope
            ):
                raise GraphError(403, "ErrorAccessDenied", "Access to OData is disabled.")

        return check

    async def subscriptions_collection(self, req: ApiRequest, groups: dict[str, str]) -> ApiResponse:
        self._need(req, READ_ROLES)
        assert req.caller is not None
        if req.method == "GET":
            subs = [s.to_wire() for s in self.subscriptions.list(req.caller.app_id)]
            for s in subs:
                s.pop("@odata.context")
            return ApiResponse(
                200,
                {"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#subscriptions", "value": subs},
            )
        sub = await self.subscriptions.create(
            req.json(), req.caller.app_id, req.caller.service_principal_id, self._check_scope(req)
        )
        return ApiResponse(201, sub.to_wire())

    async def subscription_item(self, req: ApiRequest, groups: dict[str, str]) -> ApiResponse:
        self._need(req, READ_ROLES)
        assert req.caller is not None
        sub = self.subscriptions.get(groups["sub"], req.caller.app_id)
        if req.method == "GET":
            return ApiResponse(200, sub.to_wire())
        if req.method == "PATCH":
            return ApiResponse(200, (await self.subscriptions.update(sub, req.json())).to_wire())
        self.subscriptions.delete(sub)
        return ApiResponse(204)

    async def reauthorize(self, req: ApiRequest, groups: dict[str, str]) -> ApiResponse:
        self._need(req, READ_ROLES)
        assert req.caller is not None
        sub = self.subscriptions.get(groups["sub"], req.caller.app_id)
        sub.needs_reauth = False
        return ApiResponse(204)
