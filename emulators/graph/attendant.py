"""Meeting delivery to attendee mailboxes and Exchange's resource booking attendant for rooms."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta
from typing import Any

from emulators.graph import events as evmod
from emulators.graph import recurrence as rec
from emulators.graph.state import (
    AttendantRecord,
    EmulatorState,
    Mailbox,
    StoredEvent,
    new_change_key,
    new_id,
    occurrence_id,
    occurrence_key,
)
from emulators.graph.timezones import format_utc_z, local_to_utc, utc_to_local

MIRRORED = ("start", "end", "start_tz", "end_tz", "is_all_day", "location", "locations", "recurrence")


def find_copy(mb: Mailbox, ical_uid: str) -> StoredEvent | None:
    for ev in mb.events.values():
        if ev.ical_uid == ical_uid and ev.type != "exception":
            return ev
    return None


def invited(state: EmulatorState, org_mb: Mailbox, ev: StoredEvent) -> dict[str, Mailbox]:
    """Tenant mailboxes invited by attendees or by a room location address."""
    out: dict[str, Mailbox] = {}
    for a in ev.attendees:
        mb = state.mailbox(a["emailAddress"]["address"])
        if mb is not None and mb.id != org_mb.id:
            out[mb.id] = mb
    return out


def add_location_rooms(state: EmulatorState, ev: StoredEvent) -> None:
    """A room named only as a location is invited as a resource attendee (as Outlook does)."""
    known = {a["emailAddress"]["address"].lower() for a in ev.attendees}
    for loc in ev.locations:
        address = loc.get("locationEmailAddress")
        room = state.mailbox(address) if address else None
        if room is not None and room.kind == "room" and room.address.lower() not in known:
            ev.attendees.append(
                {
                    "type": "resource",
                    "status": {"response": "none", "time": evmod.NO_TIME},
                    "emailAddress": room.email,
                }
            )
            known.add(room.address.lower())


def _set_status(state: EmulatorState, ev: StoredEvent, address: str, response: str) -> bool:
    changed = False
    for a in ev.attendees:
        if a["emailAddress"]["address"].lower() == address.lower() and a["status"]["response"] != response:
            a["status"] = {"response": response, "time": format_utc_z(state.now())}
            changed = True
    return changed


def _fingerprint(src: StoredEvent, room: Mailbox | None) -> str:
    parts: list[Any] = [getattr(src, f) for f in MIRRORED]
    parts += [src.props, [(a["type"], a["emailAddress"]) for a in src.attendees], sorted(src.cancelled_keys)]
    parts += [room.processing.model_dump() if room and room.processing else None]
    return repr(parts)


def _mirror(dst: StoredEvent, src: StoredEvent, org_mb: Mailbox, room: Mailbox | None) -> None:
    for f in MIRRORED:
        setattr(dst, f, copy.deepcopy(getattr(src, f)))
    dst.props = copy.deepcopy(src.props)
    dst.props["_fp"] = _fingerprint(src, room)
    dst.attendees = copy.deepcopy(src.attendees)
    dst.organizer = {"emailAddress": org_mb.email}
    dst.is_organizer = False
    dst.is_cancelled = False
    if room is not None and room.processing is not None:
        p = room.processing
        subject = "" if p.delete_subject else str(src.props.get("subject", ""))
        if p.add_organizer_to_subject:
            subject = f"{org_mb.display_name} {subject}".strip()
        dst.props["subject"] = subject
        if p.delete_comments:
            dst.props["body"] = {"contentType": dst.props["body"]["contentType"], "content": ""}
        if p.remove_private_property and dst.props.get("sensitivity") == "private":
            dst.props["sensitivity"] = "normal"


def _upsert_copy(  # noqa: PLR0917 - internal helper, called positionally
    state: EmulatorState,
    org_mb: Mailbox,
    ev: StoredEvent,
    mb: Mailbox,
    existing: StoredEvent | None,
    response: str,
    declined_keys: set[str],
) -> None:
    room = mb if mb.kind == "room" else None
    now = state.now()
    if existing is None:
        cp = StoredEvent(
            id=new_id(),
            mailbox_id=mb.id,
            ical_uid=ev.ical_uid,
            type=ev.type,
            start=ev.start,
            end=ev.end,
            start_tz=ev.start_tz,
            end_tz=ev.end_tz,
            created=now,
            last_modified=now,
            change_key=new_change_key(),
            organizer={"emailAddress": org_mb.email},
            is_organizer=False,
            response=response,
            response_time=now if response != "notResponded" else None,
        )
        _mirror(cp, ev, org_mb, room)
        if response == "notResponded":
            cp.props["showAs"] = "tentative"
        cp.cancelled_keys = set(ev.cancelled_keys) | declined_keys
        _mirror_exceptions(state, org_mb, ev, mb, cp, room, declined_keys, notify=False)
        evmod.store_new(state, mb, cp)
        return
    cp = existing
    fp = _fingerprint(ev, room)
    was_cancelled = cp.is_cancelled
    if cp.props.get("_fp") != fp or was_cancelled or cp.type != ev.type:
        show_as = cp.props.get("showAs")
        _mirror(cp, ev, org_mb, room)
        cp.type = ev.type
        if room is None and cp.response in ("notResponded", "tentativelyAccepted"):
            cp.props["showAs"] = show_as or "tentative"
        if room is not None:
            cp.response, cp.response_time = response, now
        cp.cancelled_keys = set(ev.cancelled_keys) | declined_keys
        _mirror_exceptions(state, org_mb, ev, mb, cp, room, declined_keys, notify=True)
        state.touch(cp)
        state.record_change(mb, cp.id, "updated", cp.etag)
    else:
        # An occurrence edit changes only the organizer's exceptions: they still reach the copy.
        _mirror_exceptions(state, org_mb, ev, mb, cp, room, declined_keys, notify=True)


def _mirror_exceptions(  # noqa: PLR0917 - internal helper
    state: EmulatorState,
    org_mb: Mailbox,
    ev: StoredEvent,
    mb: Mailbox,
    cp: StoredEvent,
    room: Mailbox | None,
    declined_keys: set[str],
    notify: bool,
) -> None:
    wanted = {k: v for k, v in ev.exception_keys.items() if k not in declined_keys}
    for key, exc_id in list(cp.exception_keys.items()):
        if key not in wanted:
            mb.events.pop(exc_id, None)
            del cp.exception_keys[key]
            if notify:
                state.record_change(mb, exc_id, "deleted", None)
    for key, org_exc_id in wanted.items():
        src = org_mb.events.get(org_exc_id)
        if src is None:
            continue
        cid = occurrence_id(cp.id, key)
        dst = mb.events.get(cid)
        if dst is not None and dst.props.get("_fp") == _fingerprint(src, room):
            continue
        if dst is None:
            dst = copy.deepcopy(src)
            dst.id = cid
            dst.mailbox_id = mb.id
            dst.series_master_id = cp.id
            dst.created = state.now()
            dst.response, dst.response_time = cp.response, cp.response_time
            dst.sv_props = []
            dst.transaction_id = None
        _mirror(dst, src, org_mb, room)
        dst.type = "exception"
        dst.ical_uid = src.ical_uid
        dst.original_start = src.original_start
        state.touch(dst)
        mb.events[cid] = dst
        cp.exception_keys[key] = cid
        if notify:
            state.record_change(mb, cid, "updated", dst.etag)


def _cancel_copy(state: EmulatorState, mb: Mailbox, cp: StoredEvent) -> None:
    if mb.kind == "room" and mb.processing is not None and mb.processing.remove_canceled_meetings:
        evmod.remove(state, mb, cp)
        return
    if cp.is_cancelled:
        return
    cp.is_cancelled = True
    subject = str(cp.props.get("subject", ""))
    if not subject.startswith("Canceled: "):
        cp.props["subject"] = f"Canceled: {subject}"
    state.touch(cp)
    state.record_change(mb, cp.id, "updated", cp.etag)


def _busy(
    state: EmulatorState, room: Mailbox, uid: str, lo: datetime, hi: datetime
) -> list[tuple[datetime, datetime]]:
    out = []
    for inst in evmod.instances(room, lo, hi):
        ev = inst.event
        if evmod.series_uid(room, ev) == uid or ev.is_cancelled or ev.props.get("showAs") == "free":
            continue
        out.append((inst.start, inst.end))
    return out


def _conflicts(busy: list[tuple[datetime, datetime]], start: datetime, end: datetime) -> bool:
    return any(s < end and e > start for s, e in busy)


def _last_start(ev: StoredEvent) -> datetime | None:
    assert ev.recurrence is not None
    pattern, rng = ev.recurrence
    if rng.type == "noEnd":
        return None
    dates = rec.all_dates(pattern, rng)
    if not dates:
        return ev.start
    local = datetime.combine(dates[-1], utc_to_local(ev.start, ev.start_tz).time())
    return local_to_utc(local, rng.time_zone or ev.start_tz)


def evaluate(
    state: EmulatorState, org_mb: Mailbox, ev: StoredEvent, room: Mailbox
) -> tuple[str, str, set[str]]:
    """Resource Booking Attendant decision: (accept|decline, reason, declined occurrence keys)."""
    p = room.processing
    assert p is not None
    now = state.now()
    horizon = now + timedelta(days=p.booking_window_in_days)
    if ev.end - ev.start > timedelta(minutes=p.maximum_duration_in_minutes):
        return (
            "decline",
            f"The meeting is longer than the maximum of {p.maximum_duration_in_minutes} minutes.",
            set(),
        )
    if ev.type == "singleInstance":
        if state.config.decline_past_meetings and ev.end <= now:
            return "decline", "The meeting is in the past.", set()
        if ev.start > horizon:
            return (
                "decline",
                f"The meeting is outside the booking window of {p.booking_window_in_days} days.",
                set(),
            )
        if not p.allow_conflicts and _conflicts(
            _busy(state, room, ev.ical_uid, ev.start, ev.end), ev.start, ev.end
        ):
            return "decline", "The resource is already booked for this time.", set()
        return "accept", "", set()
    if not p.allow_recurring_meetings:
        return "decline", "Recurring meetings are not allowed.", set()
    last = _last_start(ev)
    if p.enforce_scheduling_horizon and (last is None or last > horizon):
        return (
            "decline",
            f"The recurring meeting extends beyond the booking window of {p.booking_window_in_days} days.",
            set(),
        )
    lo = now if state.config.decline_past_meetings else ev.start
    series = evmod.series_instances(org_mb, ev, lo, horizon)
    if not series and state.config.decline_past_meetings and (last or now) <= now:
        return "decline", "The meeting is in the past.", set()
    if p.allow_conflicts:
        return "accept", "", set()
    busy = _busy(state, room, ev.ical_uid, lo, horizon)
    declined: set[str] = set()
    for inst in series:
        if not _conflicts(busy, inst.start, inst.end):
            continue
        if inst.occurrence is not None:
            return "decline", "The resource is already booked for one or more occurrences.", set()
        declined.add(occurrence_key(inst.event.original_start or inst.event.start))
    return "accept", "", declined


def propagate(state: EmulatorState, org_mb: Mailbox, ev: StoredEvent, cancelled: bool = False) -> None:
    """Send the organizer's current meeting (or its cancellation) to every invited mailbox."""
    if not ev.is_organizer:
        return
    if not cancelled:
        add_location_rooms(state, ev)
    targets = {} if cancelled else invited(state, org_mb, ev)
    status_changed = False
    for mb in state.mailboxes.values():
        if mb.id == org_mb.id:
            continue
        existing = find_copy(mb, ev.ical_uid)
        if mb.id not in targets:
            if existing is not None:
                _cancel_copy(state, mb, existing)
            continue
        if mb.kind == "room":
            status_changed |= _process_room(state, org_mb, ev, mb, existing)
        else:
            _upsert_copy(
                state, org_mb, ev, mb, existing, existing.response if existing else "notResponded", set()
            )
    if status_changed and org_mb.events.get(ev.id) is ev:
        state.touch(ev)
        state.record_change(org_mb, ev.id, "updated", ev.etag)


def _process_room(
    state: EmulatorState, org_mb: Mailbox, ev: StoredEvent, room: Mailbox, existing: StoredEvent | None
) -> bool:
    p = room.processing
    if p is None or p.automate_processing == "None":
        return False
    unchanged_times = (
        existing is not None
        and all(getattr(existing, f) == getattr(ev, f) for f in MIRRORED)
        and (existing.cancelled_keys >= ev.cancelled_keys)
        and set(existing.exception_keys) == set(ev.exception_keys)
    )
    if unchanged_times and existing is not None and not existing.is_cancelled:
        decision, reason, declined = "accept", "", set(existing.cancelled_keys) - set(ev.cancelled_keys)
    else:
        decision, reason, declined = evaluate(state, org_mb, ev, room)
    state.attendant_log.append(
        AttendantRecord(
            state.now(), room.address, ev.ical_uid, str(ev.props.get("subject", "")), decision, reason
        )
    )
    changed = False
    if decision == "decline":
        if existing is not None:
            evmod.remove(state, room, existing)
        changed |= _set_status(state, ev, room.address, "declined")
        return changed
    tentative = p.automate_processing == "AutoUpdate"
    _upsert_copy(state, org_mb, ev, room, existing, "notResponded" if tentative else "accepted", declined)
    changed |= _set_status(state, ev, room.address, "none" if tentative else "accepted")
    for key, exc_id in ev.exception_keys.items():
        exc = org_mb.events.get(exc_id)
        if exc is not None and _set_status(
            state, exc, room.address, "declined" if key in declined else "accepted"
        ):
            state.touch(exc)
            state.record_change(org_mb, exc.id, "updated", exc.etag)
    return changed


def record_response(state: EmulatorState, attendee_mb: Mailbox, ev: StoredEvent, response: str) -> None:
    """An attendee's accept/decline/tentative reaches the organizer's copy."""
    org = state.mailbox(ev.organizer["emailAddress"]["address"])
    if org is None:
        return
    uid = ev.ical_uid
    target = next((e for e in org.events.values() if e.ical_uid == uid), None)
    if target is None:
        return
    if _set_status(state, target, attendee_mb.address, response):
        state.touch(target)
        state.record_change(org, target.id, "updated", target.etag)


def forward(state: EmulatorState, mb: Mailbox, ev: StoredEvent, recipients: list[dict[str, str]]) -> None:
    """Forwarding adds the recipients to the organizer's meeting (Exchange's forward notification)."""
    org = state.mailbox(ev.organizer["emailAddress"]["address"]) if not ev.is_organizer else mb
    if org is None:
        return
    target = ev if ev.is_organizer else find_copy(org, ev.ical_uid)
    if target is None:
        return
    known = {a["emailAddress"]["address"].lower() for a in target.attendees}
    for r in recipients:
        address = r.get("address", "")
        if address.lower() in known:
            continue
        who = state.mailbox(address)
        target.attendees.append(
            {
                "type": "resource" if who is not None and who.kind == "room" else "required",
                "status": {"response": "none", "time": evmod.NO_TIME},
                "emailAddress": {
                    "name": r.get("name") or (who.display_name if who else address),
                    "address": address,
                },
            }
        )
    state.touch(target)
    state.record_change(org, target.id, "updated", target.etag)
    propagate(state, org, target)
