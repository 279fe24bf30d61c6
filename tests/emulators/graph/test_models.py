"""Every event, subscription and notification JSON the emulator emits fits msgraph-sdk's models."""

from __future__ import annotations

import importlib
import json
import time
from typing import Any

from kiota_abstractions.serialization import Parsable
from kiota_serialization_json.json_parse_node import JsonParseNode
from msgraph.generated.models.event import Event
from msgraph.generated.models.subscription import Subscription

from . import notification_models
from .helpers import ALICE, AURORA, BOB, BOREALIS, meeting_json, raw

# OData instance annotations are part of the wire format, never model properties.
ANNOTATIONS = {"@odata.etag", "@odata.context", "@removed"}
# resourceData is an open type: its documented members are dynamic by design.
RESOURCE_DATA_MEMBERS = {"@odata.id", "@odata.etag", "id"}


def notification_collection_type() -> type:
    try:
        module = importlib.import_module("msgraph.generated.models.change_notification_collection")
        return module.ChangeNotificationCollection  # type: ignore[no-any-return]
    except ImportError:
        return notification_models.ChangeNotificationCollection


def leftovers(obj: Any, path: str = "$") -> list[str]:
    found: list[str] = []
    if isinstance(obj, list):
        for i, item in enumerate(obj):
            found += leftovers(item, f"{path}[{i}]")
        return found
    if not isinstance(obj, Parsable):
        return found
    allowed = ANNOTATIONS if path == "$" else set()
    if type(obj).__name__ == "ResourceData":
        allowed = RESOURCE_DATA_MEMBERS
    extra = set(getattr(obj, "additional_data", {}) or {}) - allowed
    found += [f"{path}.{k}" for k in sorted(extra)]
    for name, value in vars(obj).items():
        if name != "additional_data" and isinstance(value, (Parsable, list)):
            found += leftovers(value, f"{path}.{name}")
    return found


def parse(payload: dict[str, Any], model: type) -> Any:
    node = JsonParseNode(json.loads(json.dumps(payload)))
    return node.get_object_value(model)  # type: ignore[arg-type]


def test_everything_emitted_parses_without_leftovers(emu, receiver):
    emu.set_config(deliveryBatchWindowSeconds=0.01)
    payloads: list[tuple[str, dict[str, Any]]] = []
    with raw(emu) as c:
        sub = c.post(
            "/subscriptions",
            json={
                "changeType": "created,updated,deleted",
                "notificationUrl": f"{receiver.url}/hook",
                "lifecycleNotificationUrl": f"{receiver.url}/lifecycle",
                "resource": f"/users/{AURORA}/events",
                "expirationDateTime": "2026-11-22T08:00:00Z",
                "clientState": "c",
            },
        ).json()
        payloads.append(("subscription", sub))
        payloads.append(("subscription", c.get(f"/subscriptions/{sub['id']}").json()))
        payloads += [("subscription", s) for s in c.get("/subscriptions").json()["value"]]
        single = meeting_json(
            sensitivity="private",
            isOnlineMeeting=True,
            transactionId="t-1",
            body={"contentType": "html", "content": "<p>Hi</p>"},
            singleValueExtendedProperties=[
                {"id": "String {66f5a359-4659-4830-9070-00047ec6ac6e} Name BookingId", "value": "BK-1"}
            ],
        )
        single["attendees"].append({"type": "required", "emailAddress": {"address": BOB, "name": "Bob"}})
        created = c.post(f"/users/{ALICE}/events", json=single).json()
        payloads.append(("event", created))
        series = meeting_json(
            subject="series",
            start="2026-11-30T09:00:00",
            end="2026-11-30T10:00:00",
            recurrence={
                "pattern": {
                    "type": "relativeMonthly",
                    "interval": 1,
                    "daysOfWeek": ["monday"],
                    "index": "last",
                },
                "range": {"type": "numbered", "startDate": "2026-11-30", "numberOfOccurrences": 3},
            },
        )
        master = c.post(f"/users/{ALICE}/events", json=series).json()
        inst = c.get(
            f"/users/{ALICE}/events/{master['id']}/instances?startDateTime=2026-11-01T00:00:00Z&endDateTime=2027-03-01T00:00:00Z"
        ).json()["value"]
        c.patch(f"/users/{ALICE}/events/{inst[0]['id']}", json={"subject": "exception"})
        c.delete(f"/users/{ALICE}/events/{inst[1]['id']}")
        c.post(
            f"/users/{BOB}/events/{c.get(f'/users/{BOB}/events').json()['value'][0]['id']}/tentativelyAccept",
            json={"comment": "maybe"},
        )
        for mb in (ALICE, BOB, AURORA):
            payloads += [
                ("event", e)
                for e in c.get(f"/users/{mb}/events?$expand=singleValueExtendedProperties").json()["value"]
            ]
            view = c.get(
                f"/users/{mb}/calendarView?startDateTime=2026-11-01T00:00:00Z&endDateTime=2027-03-01T00:00:00Z&$top=50",
                headers={"Prefer": 'outlook.timezone="W. Europe Standard Time"'},
            ).json()
            payloads += [("event", e) for e in view["value"]]
            payloads += [
                ("event", e) for e in c.get(f"/users/{mb}/events?$select=subject,start").json()["value"]
            ]
        first = c.get(
            f"/users/{AURORA}/calendarView/delta?startDateTime=2026-11-01T00:00:00Z&endDateTime=2027-03-01T00:00:00Z"
        ).json()
        while "@odata.nextLink" in first:
            payloads += [("event", e) for e in first["value"]]
            first = c.get(first["@odata.nextLink"].replace(emu.base_url, "")).json()
        payloads += [("event", e) for e in first["value"]]
        c.post(f"/users/{ALICE}/events/{created['id']}/cancel", json={"comment": "off"})
        direct = c.post(f"/users/{AURORA}/events", json=meeting_json(room=None, subject="direct")).json()
        c.delete(f"/users/{AURORA}/events/{direct['id']}")
        payloads += [
            ("event", e) for e in c.get(first["@odata.deltaLink"].replace(emu.base_url, "")).json()["value"]
        ]
    emu.send_lifecycle(sub["id"], "reauthorizationRequired")
    emu.send_lifecycle(sub["id"], "missed")
    assert receiver.wait_for(lambda i: i.get("lifecycleEvent") == "missed")
    time.sleep(0.2)
    payloads += [("notifications", b) for b in receiver.batches]
    kinds = {"event": Event, "subscription": Subscription, "notifications": notification_collection_type()}
    change_types = {
        i.get("changeType") or i.get("lifecycleEvent") for b in receiver.batches for i in b["value"]
    }
    assert {"created", "updated", "deleted", "reauthorizationRequired", "missed"} <= change_types
    assert any(p.get("type") == "exception" for k, p in payloads if k == "event")
    assert any("@removed" in p for k, p in payloads if k == "event")
    problems = []
    for kind, payload in payloads:
        model = parse(payload, kinds[kind])
        problems += [f"{kind}: {x}" for x in leftovers(model)]
    assert problems == []
    assert len(payloads) > 25


def test_responses_of_every_write_and_remaining_notifications_parse_without_leftovers(emu, receiver):
    """PATCH/renew answers, instances, dedupe, forwarded and location-only copies, subscriptionRemoved."""
    emu.set_config(deliveryBatchWindowSeconds=0.01, extraUpdatesAfterCreate=1)
    payloads: list[tuple[str, dict[str, Any]]] = []
    tz = {"Prefer": 'outlook.timezone="Pacific Standard Time"'}
    with raw(emu) as c:
        sub = c.post(
            "/subscriptions",
            json={
                "changeType": "created,updated,deleted",
                "notificationUrl": f"{receiver.url}/hook",
                "lifecycleNotificationUrl": f"{receiver.url}/lifecycle",
                "resource": f"users/{BOREALIS}/calendar/events",
                "expirationDateTime": "2026-11-21T08:00:00Z",
                "clientState": "c",
                "latestSupportedTlsVersion": "v1_3",
            },
        ).json()
        renewed = c.patch(f"/subscriptions/{sub['id']}", json={"expirationDateTime": "2026-11-22T08:00:00Z"})
        payloads.append(("subscription", renewed.json()))
        loc_only = meeting_json(subject="by location", transactionId="tx-9")
        loc_only.pop("attendees")
        loc_only["location"] = {"displayName": "Borealis", "locationEmailAddress": BOREALIS}
        first = c.post(f"/users/{ALICE}/calendar/events", json=loc_only, headers=tz).json()
        payloads += [("event", first), ("event", c.post(f"/users/{ALICE}/events", json=loc_only).json())]
        payloads.append(
            (
                "event",
                c.patch(
                    f"/users/{ALICE}/events/{first['id']}", json={"subject": "renamed"}, headers=tz
                ).json(),
            )
        )
        series = meeting_json(
            subject="yearly",
            room=None,
            start="2026-11-26T09:00:00",
            end="2026-11-26T10:00:00",
            recurrence={
                "pattern": {
                    "type": "relativeYearly",
                    "interval": 1,
                    "daysOfWeek": ["thursday"],
                    "index": "fourth",
                    "month": 11,
                },
                "range": {"type": "endDate", "startDate": "2026-11-26", "endDate": "2028-12-31"},
            },
        )
        master = c.post(f"/users/{ALICE}/events", json=series).json()
        payloads.append(("event", master))
        inst = c.get(
            f"/users/{ALICE}/events/{master['id']}/instances"
            "?startDateTime=2026-11-01T00:00:00Z&endDateTime=2029-01-01T00:00:00Z",
            headers=tz,
        ).json()["value"]
        payloads += [("event", e) for e in inst]
        payloads.append(
            ("event", c.patch(f"/users/{ALICE}/events/{inst[1]['id']}", json={"subject": "moved"}).json())
        )
        payloads.append(
            ("event", c.get(f"/users/{ALICE}/events/{master['id']}?$select=subject,recurrence").json())
        )
    bobs = emu.act_create_meeting(
        BOB, meeting_json(room=None, start="2026-11-25T09:00:00", end="2026-11-25T10:00:00")
    )
    emu.act_forward(BOB, bobs["id"], [BOREALIS])
    with raw(emu) as c:
        for mb in (ALICE, BOREALIS):
            payloads += [("event", e) for e in c.get(f"/users/{mb}/calendar/events").json()["value"]]
            payloads += [
                ("event", c.get(f"/users/{mb}/events/{e['id']}", headers=tz).json())
                for e in c.get(f"/users/{mb}/events").json()["value"]
            ]
        room_copy = c.get(f"/users/{BOREALIS}/events").json()["value"][0]
        c.delete(f"/users/{BOREALIS}/events/{room_copy['id']}")
    assert receiver.wait_for(lambda i: i.get("changeType") == "deleted")
    emu.remove_subscription(sub["id"])
    assert receiver.wait_for(lambda i: i.get("lifecycleEvent") == "subscriptionRemoved")
    time.sleep(0.2)
    payloads += [("notifications", b) for b in receiver.batches]
    kinds = {"event": Event, "subscription": Subscription, "notifications": notification_collection_type()}
    assert {"created", "updated", "deleted", "subscriptionRemoved"} <= {
        i.get("changeType") or i.get("lifecycleEvent") for b in receiver.batches for i in b["value"]
    }
    assert {p.get("type") for k, p in payloads if k == "event"} >= {"seriesMaster", "occurrence", "exception"}
    problems = []
    for kind, payload in payloads:
        problems += [f"{kind}: {x}" for x in leftovers(parse(payload, kinds[kind]))]
    assert problems == []
    assert len(payloads) > 15
