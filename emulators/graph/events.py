"""Event model: parsing Graph bodies, instances, serialisation and mailbox writes."""

from __future__ import annotations

import copy
import html
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from emulators.graph import recurrence as rec
from emulators.graph.errors import GraphError, bad_request, not_found
from emulators.graph.state import (
    EmulatorState,
    Mailbox,
    StoredEvent,
    key_to_datetime,
    new_change_key,
    new_ical_uid,
    new_id,
    occurrence_ical_uid,
    occurrence_id,
    occurrence_key,
    parse_occurrence_id,
)
from emulators.graph.timezones import (
    TimeZoneError,
    format_graph_datetime,
    format_utc_z,
    local_to_utc,
    parse_graph_datetime,
    utc_to_local,
)

NO_TIME = "0001-01-01T00:00:00Z"
SIMPLE_PROPS = {
    "subject": "",
    "importance": "normal",
    "sensitivity": "normal",
    "showAs": "busy",
    "categories": [],
    "isReminderOn": True,
    "reminderMinutesBeforeStart": 15,
    "isOnlineMeeting": False,
    "onlineMeetingProvider": "unknown",
    "allowNewTimeProposals": True,
    "responseRequested": True,
    "hideAttendees": False,
    "isDraft": False,
}
WRITABLE = {
    *SIMPLE_PROPS,
    "body",
    "start",
    "end",
    "isAllDay",
    "location",
    "locations",
    "attendees",
    "recurrence",
    "transactionId",
    "singleValueExtendedProperties",
    "organizer",
}
# Read-only properties a client may echo back; Graph ignores them.
IGNORED = {
    "id",
    "@odata.etag",
    "@odata.type",
    "@odata.context",
    "changeKey",
    "createdDateTime",
    "lastModifiedDateTime",
    "iCalUId",
    "type",
    "seriesMasterId",
    "isCancelled",
    "isOrganizer",
    "responseStatus",
    "webLink",
    "bodyPreview",
    "hasAttachments",
    "originalStartTimeZone",
    "originalEndTimeZone",
    "originalStart",
    "onlineMeeting",
    "onlineMeetingUrl",
}
ENUMS = {
    "importance": {"low", "normal", "high"},
    "sensitivity": {"normal", "personal", "private", "confidential"},
    "showAs": {"free", "tentative", "busy", "oof", "workingElsewhere", "unknown"},
}


@dataclass
class Instance:
    """One calendar item as calendarView sees it: a stored event or a derived occurrence."""

    event: StoredEvent  # the stored event, or the series master for an occurrence
    occurrence: rec.Occurrence | None = None

    @property
    def id(self) -> str:
        if self.occurrence is None:
            return self.event.id
        return occurrence_id(self.event.id, occurrence_key(self.occurrence.start))

    @property
    def start(self) -> datetime:
        return self.occurrence.start if self.occurrence else self.event.start

    @property
    def end(self) -> datetime:
        return self.occurrence.end if self.occurrence else self.event.end

    @property
    def change_key(self) -> str:
        return self.event.change_key


# ---------------------------------------------------------------- parsing


def parse_time(obj: Any, name: str) -> tuple[datetime, str]:
    if not isinstance(obj, dict) or "dateTime" not in obj:
        raise bad_request(f"{name} is required and must have dateTime and timeZone.")
    tz = str(obj.get("timeZone") or "UTC")
    try:
        local, had_offset = parse_graph_datetime(str(obj["dateTime"]))
        instant = local.replace(tzinfo=UTC) if had_offset else local_to_utc(local, tz)
    except TimeZoneError as exc:
        raise GraphError(400, "TimeZoneNotSupportedException", str(exc)) from exc
    except ValueError as exc:
        raise bad_request(str(exc), "UnableToDeserializePostBody") from exc
    return instant, tz


def _email(obj: Any) -> dict[str, str]:
    if not isinstance(obj, dict):
        return {"name": "", "address": ""}
    return {
        "name": str(obj.get("name") or obj.get("address") or ""),
        "address": str(obj.get("address") or ""),
    }


def normalize_location(state: EmulatorState, loc: Any) -> dict[str, Any]:
    if not isinstance(loc, dict):
        return {}
    out: dict[str, Any] = {"displayName": str(loc.get("displayName") or "")}
    address = loc.get("locationEmailAddress")
    room = state.mailbox(address) if address else None
    if room is not None and room.kind == "room":
        out["displayName"] = out["displayName"] or room.display_name
        out["locationType"] = "conferenceRoom"
        out["uniqueId"] = room.address
        out["uniqueIdType"] = "directory"
        out["locationEmailAddress"] = room.address
    else:
        out["locationType"] = str(loc.get("locationType") or "default")
        if address:
            out["locationEmailAddress"] = str(address)
        if out["displayName"]:
            out["uniqueId"] = str(loc.get("uniqueId") or out["displayName"])
            out["uniqueIdType"] = "private"
    for extra in ("address", "coordinates", "locationUri"):
        if loc.get(extra):
            out[extra] = loc[extra]
    return out


def normalize_attendee(a: Any, organizer_view: bool) -> dict[str, Any]:
    if not isinstance(a, dict):
        raise bad_request("Invalid attendee.")
    status = a.get("status") if isinstance(a.get("status"), dict) else None
    return {
        "type": a.get("type") if a.get("type") in ("required", "optional", "resource") else "required",
        "status": {
            "response": status.get("response", "none") if status and not organizer_view else "none",
            "time": status.get("time", NO_TIME) if status and not organizer_view else NO_TIME,
        },
        "emailAddress": _email(a.get("emailAddress")),
    }


def _set_locations(state: EmulatorState, ev: StoredEvent, body: dict[str, Any]) -> None:
    # location and locations always correspond (Graph docs): the last one written wins.
    if "locations" in body and body["locations"] is not None:
        locs = [normalize_location(state, x) for x in body["locations"]]
        ev.locations = [x for x in locs if x.get("displayName")]
        if len(ev.locations) == 1:
            ev.location = dict(ev.locations[0])
        elif ev.locations:
            ev.location = {
                "displayName": "; ".join(x["displayName"] for x in ev.locations),
                "locationType": "default",
                "uniqueIdType": "unknown",
            }
        else:
            ev.location = {}
    elif "location" in body:
        loc = normalize_location(state, body["location"])
        ev.location = loc if loc.get("displayName") else {}
        ev.locations = [dict(loc)] if loc.get("displayName") else []


def _apply_simple(ev: StoredEvent, body: dict[str, Any]) -> None:
    for name in SIMPLE_PROPS:
        if name in body and body[name] is not None:
            value = body[name]
            if name in ENUMS and value not in ENUMS[name]:
                raise bad_request(
                    f"Invalid value '{value}' for property '{name}'.", "UnableToDeserializePostBody"
                )
            ev.props[name] = value
    if "body" in body and isinstance(body["body"], dict):
        ctype = str(body["body"].get("contentType") or "text").lower()
        ev.props["body"] = {
            "contentType": "html" if ctype == "html" else "text",
            "content": str(body["body"].get("content") or ""),
        }
    if body.get("isOnlineMeeting") and ev.props.get("onlineMeetingProvider", "unknown") == "unknown":
        ev.props["onlineMeetingProvider"] = "teamsForBusiness"


def _check_props(body: dict[str, Any]) -> None:
    for name in body:
        if name not in WRITABLE and name not in IGNORED and "@odata" not in name:
            raise bad_request(
                f"The property '{name}' does not exist on type 'microsoft.graph.event'. "
                "Make sure to only use property names that are defined by the type.",
                "RequestBodyRead",
            )


def _apply_times(ev: StoredEvent, body: dict[str, Any]) -> None:
    if "start" in body:
        ev.start, ev.start_tz = parse_time(body["start"], "start")
    if "end" in body:
        ev.end, ev.end_tz = parse_time(body["end"], "end")
    if "isAllDay" in body and body["isAllDay"] is not None:
        ev.is_all_day = bool(body["isAllDay"])
    if ev.end < ev.start:
        raise bad_request(
            "The end time of the event must be later than or equal to its start time.", "ErrorInvalidRequest"
        )
    if ev.is_all_day:
        ls, le = utc_to_local(ev.start, ev.start_tz), utc_to_local(ev.end, ev.end_tz)
        if ls.time() != datetime.min.time() or le.time() != datetime.min.time() or le <= ls:
            raise bad_request(
                "All-day events must start and end at midnight.", "ErrorPropertyValidationFailure"
            )


def _apply_recurrence(ev: StoredEvent, body: dict[str, Any]) -> None:
    if "recurrence" not in body:
        return
    if body["recurrence"] is None:
        if ev.type == "seriesMaster":
            ev.recurrence = None
            ev.type = "singleInstance"
        return
    if ev.type == "exception":
        raise bad_request("An occurrence cannot have a recurrence.", "ErrorInvalidRecurrence")
    try:
        ev.recurrence = rec.parse(body["recurrence"])
    except rec.RecurrenceError as exc:
        raise bad_request(str(exc), "ErrorInvalidRecurrence") from exc
    ev.type = "seriesMaster"


def _apply_svep(ev: StoredEvent, body: dict[str, Any]) -> None:
    items = body.get("singleValueExtendedProperties")
    if items is None:
        return
    for item in items:
        pid, value = str(item.get("id", "")), item.get("value")
        if not pid:
            raise bad_request("Extended property id is required.")
        existing = next((p for p in ev.sv_props if p["id"].lower() == pid.lower()), None)
        if existing is not None:
            existing["value"] = str(value)
        else:
            ev.sv_props.append({"id": pid, "value": str(value)})


def build_event(state: EmulatorState, mb: Mailbox, body: dict[str, Any]) -> StoredEvent:
    _check_props(body)
    now = state.now()
    start, start_tz = parse_time(body.get("start"), "start")
    end, end_tz = parse_time(body.get("end"), "end")
    ev = StoredEvent(
        id=new_id(),
        mailbox_id=mb.id,
        ical_uid=new_ical_uid(now),
        type="singleInstance",
        start=start,
        end=end,
        start_tz=start_tz,
        end_tz=end_tz,
        created=now,
        last_modified=now,
        change_key=new_change_key(),
        organizer={"emailAddress": mb.email},
        is_organizer=True,
        props={k: copy.deepcopy(v) for k, v in SIMPLE_PROPS.items()},
    )
    ev.props["body"] = {"contentType": "text", "content": ""}
    _apply_simple(ev, body)
    _apply_times(ev, body)
    _set_locations(state, ev, body)
    ev.attendees = [normalize_attendee(a, True) for a in body.get("attendees") or []]
    if len(ev.attendees) > 500:
        raise bad_request("An event can have at most 500 attendees.")
    _apply_recurrence(ev, body)
    _apply_svep(ev, body)
    if body.get("transactionId"):
        ev.transaction_id = str(body["transactionId"])
    return ev


# ---------------------------------------------------------------- instances


def series_uid(mb: Mailbox, ev: StoredEvent) -> str:
    if ev.type == "exception" and ev.series_master_id in mb.events:
        return mb.events[ev.series_master_id].ical_uid
    return ev.ical_uid


def occurrences(ev: StoredEvent, ws: datetime, we: datetime) -> list[rec.Occurrence]:
    assert ev.recurrence is not None
    pattern, rng = ev.recurrence
    local_start = utc_to_local(ev.start, ev.start_tz)
    return rec.expand(pattern, rng, local_start.time(), ev.end - ev.start, ev.start_tz, ws, we)


def series_instances(mb: Mailbox, master: StoredEvent, ws: datetime, we: datetime) -> list[Instance]:
    out: list[Instance] = []
    for occ in occurrences(master, ws, we):
        key = occurrence_key(occ.start)
        if key in master.cancelled_keys or key in master.exception_keys:
            continue
        out.append(Instance(master, occ))
    for exc_id in master.exception_keys.values():
        exc = mb.events.get(exc_id)
        if exc is not None and exc.start < we and exc.end > ws:
            out.append(Instance(exc))
    return out


def instances(mb: Mailbox, ws: datetime, we: datetime) -> list[Instance]:
    """calendarView: single instances, occurrences and exceptions overlapping the window."""
    out: list[Instance] = []
    for ev in mb.events.values():
        if ev.type == "singleInstance":
            if (ev.start < we and ev.end > ws) or (ev.start == ev.end and ws <= ev.start < we):
                out.append(Instance(ev))
        elif ev.type == "seriesMaster":
            out.extend(series_instances(mb, ev, ws, we))
    out.sort(key=lambda i: (i.start, i.id))
    return out


def find(mb: Mailbox, event_id: str) -> Instance:
    ev = mb.events.get(event_id)
    if ev is not None:
        return Instance(ev)
    parsed = parse_occurrence_id(event_id)
    if parsed is not None:
        master_id, key = parsed
        master = mb.events.get(master_id)
        if master is not None and master.type == "seriesMaster" and key not in master.cancelled_keys:
            at = key_to_datetime(key)
            for occ in occurrences(master, at, at + timedelta(seconds=1)):
                if occurrence_key(occ.start) == key:
                    return Instance(master, occ)
    raise not_found()


# ---------------------------------------------------------------- serialisation


def _time_wire(instant: datetime, tz: str | None) -> dict[str, str]:
    zone = tz or "UTC"
    return {"dateTime": format_graph_datetime(utc_to_local(instant, zone)), "timeZone": zone}


def _preview(body: dict[str, Any]) -> str:
    text = body.get("content", "")
    if body.get("contentType") == "html":
        text = html.unescape(re.sub(r"<[^>]+>", " ", text))
    return " ".join(text.split())[:255]


def to_wire(
    mb: Mailbox,
    inst: Instance,
    tz: str | None = None,
    select: set[str] | None = None,
    expand_svep: str | None = None,
) -> dict[str, Any]:
    ev = inst.event
    occ = inst.occurrence
    etype = "occurrence" if occ else ev.type
    ical = ev.ical_uid
    if occ is not None:
        ical = occurrence_ical_uid(ev.ical_uid, occ.local_start)
    start, end = inst.start, inst.end
    all_day_tz = ev.start_tz if ev.is_all_day else tz  # all-day events keep their zone [OBS]
    body = ev.props.get("body", {"contentType": "text", "content": ""})
    response_time = format_utc_z(ev.response_time) if ev.response_time else NO_TIME
    out: dict[str, Any] = {
        "@odata.etag": ev.etag,
        "id": inst.id,
        "createdDateTime": format_utc_z(ev.created),
        "lastModifiedDateTime": format_utc_z(ev.last_modified),
        "changeKey": ev.change_key,
        "categories": list(ev.props.get("categories", [])),
        "originalStartTimeZone": ev.start_tz,
        "originalEndTimeZone": ev.end_tz,
        "iCalUId": ical,
        "reminderMinutesBeforeStart": ev.props["reminderMinutesBeforeStart"],
        "isReminderOn": ev.props["isReminderOn"],
        "hasAttachments": False,
        "subject": ev.props.get("subject", ""),
        "bodyPreview": _preview(body),
        "importance": ev.props["importance"],
        "sensitivity": ev.props["sensitivity"],
        "isAllDay": ev.is_all_day,
        "isCancelled": ev.is_cancelled,
        "isOrganizer": ev.is_organizer,
        "responseRequested": ev.props["responseRequested"],
        "seriesMasterId": ev.id if occ else ev.series_master_id,
        "showAs": ev.props["showAs"],
        "type": etype,
        "webLink": f"https://outlook.office365.com/owa/?itemid={inst.id}&exvsurl=1&path=/calendar/item",
        "onlineMeetingUrl": None,
        "isOnlineMeeting": ev.props["isOnlineMeeting"],
        "onlineMeetingProvider": ev.props["onlineMeetingProvider"],
        "allowNewTimeProposals": ev.props["allowNewTimeProposals"],
        "isDraft": ev.props["isDraft"],
        "hideAttendees": ev.props["hideAttendees"],
        "responseStatus": {"response": ev.response, "time": response_time},
        "body": dict(body),
        "start": _time_wire(start, all_day_tz),
        "end": _time_wire(end, all_day_tz if not ev.is_all_day else ev.end_tz),
        "location": dict(ev.location)
        if ev.location
        else {"displayName": "", "locationType": "default", "uniqueIdType": "unknown"},
        "locations": [dict(x) for x in ev.locations],
        "recurrence": rec.to_wire(*ev.recurrence, ev.start_tz) if (ev.recurrence and not occ) else None,
        "attendees": copy.deepcopy(ev.attendees),
        "organizer": copy.deepcopy(ev.organizer),
        "onlineMeeting": (
            {
                "joinUrl": f"https://teams.microsoft.com/l/meetup-join/19%3ameeting_{ev.ical_uid[-24:]}%40thread.v2/0"
            }
            if ev.props["isOnlineMeeting"]
            else None
        ),
    }
    if ev.transaction_id and not occ:
        out["transactionId"] = ev.transaction_id
    if occ is not None or ev.type == "exception":
        original = occ.start if occ else (ev.original_start or ev.start)
        out["originalStart"] = format_utc_z(original)
    if ev.type == "seriesMaster" and not occ:
        out["cancelledOccurrences"] = [
            f"OID.{ev.id}.{key_to_datetime(k).strftime('%Y-%m-%d')}" for k in sorted(ev.cancelled_keys)
        ]
    if expand_svep is not None:
        out["singleValueExtendedProperties"] = [
            dict(p) for p in ev.sv_props if not expand_svep or p["id"].lower() == expand_svep.lower()
        ]
    if select:
        keep = {"@odata.etag", "id"} | select
        if expand_svep is not None:
            keep.add("singleValueExtendedProperties")
        out = {k: v for k, v in out.items() if k in keep}
    return out


# ---------------------------------------------------------------- writes


def check_if_match(ev: StoredEvent, if_match: str | None) -> None:
    if if_match and if_match.strip() != "*":
        wanted = if_match.strip()
        if wanted not in (ev.etag, ev.change_key, f'"{ev.change_key}"'):
            raise GraphError(
                412,
                "ErrorIrresolvableConflict",
                "The send or update operation could not be performed because the change key "
                "passed in the request does not match the current change key for the item.",
            )


def store_new(state: EmulatorState, mb: Mailbox, ev: StoredEvent, notify_extra: bool = True) -> None:
    mb.events[ev.id] = ev
    if ev.transaction_id:
        mb.transactions[ev.transaction_id] = ev.id
    state.record_change(mb, ev.id, "created", ev.etag)
    if notify_extra:
        # Exchange follows a create with several "updated" notifications for the same item.
        for _ in range(state.config.extra_updates_after_create):
            state.record_change(mb, ev.id, "updated", ev.etag)


def remove(state: EmulatorState, mb: Mailbox, ev: StoredEvent) -> None:
    mb.events.pop(ev.id, None)
    if ev.transaction_id and mb.transactions.get(ev.transaction_id) == ev.id:
        del mb.transactions[ev.transaction_id]
    for exc_id in list(ev.exception_keys.values()):
        mb.events.pop(exc_id, None)
    state.record_change(mb, ev.id, "deleted", None)


def materialize(state: EmulatorState, mb: Mailbox, inst: Instance) -> StoredEvent:
    """Turn an occurrence into an exception (same id) so it can carry its own changes."""
    if inst.occurrence is None:
        return inst.event
    master, occ = inst.event, inst.occurrence
    key = occurrence_key(occ.start)
    exc = copy.deepcopy(master)
    exc.id = inst.id
    exc.type = "exception"
    exc.series_master_id = master.id
    exc.recurrence = None
    exc.cancelled_keys = set()
    exc.exception_keys = {}
    exc.transaction_id = None
    exc.start, exc.end = occ.start, occ.end
    exc.original_start = occ.start
    exc.ical_uid = occurrence_ical_uid(master.ical_uid, occ.local_start)
    exc.created = state.now()
    state.touch(exc)
    mb.events[exc.id] = exc
    master.exception_keys[key] = exc.id
    state.touch(master)
    state.record_change(mb, master.id, "updated", master.etag)
    return exc


def create(state: EmulatorState, mb: Mailbox, body: dict[str, Any]) -> tuple[StoredEvent, bool]:
    txn = body.get("transactionId")
    if txn and txn in mb.transactions and mb.transactions[txn] in mb.events:
        return mb.events[mb.transactions[txn]], False
    ev = build_event(state, mb, body)
    store_new(state, mb, ev)
    return ev, True


def update(
    state: EmulatorState, mb: Mailbox, inst: Instance, body: dict[str, Any], if_match: str | None
) -> StoredEvent:
    _check_props(body)
    check_if_match(inst.event, if_match)
    if "transactionId" in body and body["transactionId"] != inst.event.transaction_id:
        raise bad_request("transactionId cannot be changed after the event is created.")
    ev = materialize(state, mb, inst)
    reshaped = ev.type == "seriesMaster" and ("start" in body or "end" in body or "recurrence" in body)
    _apply_simple(ev, body)
    _apply_times(ev, body)
    _set_locations(state, ev, body)
    if "attendees" in body and body["attendees"] is not None:
        previous = {a["emailAddress"]["address"].lower(): a["status"] for a in ev.attendees}
        ev.attendees = [normalize_attendee(a, True) for a in body["attendees"]]
        for a in ev.attendees:
            a["status"] = previous.get(a["emailAddress"]["address"].lower(), a["status"])
    _apply_recurrence(ev, body)
    _apply_svep(ev, body)
    if reshaped:
        # Changing a series' time or pattern discards its exceptions, as Outlook does.
        for exc_id in ev.exception_keys.values():
            mb.events.pop(exc_id, None)
            state.record_change(mb, exc_id, "deleted", None)
        ev.exception_keys = {}
        ev.cancelled_keys = set()
    state.touch(ev)
    state.record_change(mb, ev.id, "updated", ev.etag)
    return ev


def delete(state: EmulatorState, mb: Mailbox, inst: Instance, if_match: str | None) -> StoredEvent:
    """Delete an item; returns the event whose series/meeting must be propagated."""
    check_if_match(inst.event, if_match)
    ev = inst.event
    if inst.occurrence is not None or ev.type == "exception":
        master = ev if inst.occurrence is not None else mb.events[ev.series_master_id or ""]
        key = occurrence_key(inst.occurrence.start if inst.occurrence else (ev.original_start or ev.start))
        if ev.type == "exception":
            mb.events.pop(ev.id, None)
            master.exception_keys.pop(key, None)
            state.record_change(mb, ev.id, "deleted", None)
        master.cancelled_keys.add(key)
        state.touch(master)
        state.record_change(mb, master.id, "updated", master.etag)
        return master
    remove(state, mb, ev)
    return ev


def respond(state: EmulatorState, mb: Mailbox, inst: Instance, response: str) -> StoredEvent:
    if inst.event.is_organizer:
        raise bad_request("Your request can't be completed. You can't respond to a meeting you organized.")
    ev = materialize(state, mb, inst) if inst.occurrence else inst.event
    ev.response = response
    ev.response_time = state.now()
    ev.props["showAs"] = (
        "tentative" if response == "tentativelyAccepted" else ("free" if response == "declined" else "busy")
    )
    state.touch(ev)
    if response == "declined":
        # Declining moves the item to Deleted Items: it leaves the calendar.
        if ev.type == "exception":
            master = mb.events[ev.series_master_id or ""]
            key = occurrence_key(ev.original_start or ev.start)
            mb.events.pop(ev.id, None)
            master.exception_keys.pop(key, None)
            master.cancelled_keys.add(key)
            state.touch(master)
            state.record_change(mb, ev.id, "deleted", None)
            state.record_change(mb, master.id, "updated", master.etag)
        else:
            remove(state, mb, ev)
    else:
        state.record_change(mb, ev.id, "updated", ev.etag)
    return ev
