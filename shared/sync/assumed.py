"""Outlook as the base last saw it, so an IBSS change can be decided without reading Outlook first.

A booking changed in IBSS usually meets an Outlook side nobody touched since the last convergence.
Reading both copies to confirm that costs two Graph requests per change; instead the decision assumes
the copies still look like the base, and the write it leads to is conditional: an ``UpdateMeeting``
carries ``If-Match`` with the change key the base holds. If the meeting changed meanwhile, Graph
answers 412 and the worker reads both copies and decides again, so nothing is ever overwritten blind.

Pure: no I/O. ``outlook_as_in_base`` builds the snapshots; ``fits_conditional_write`` says whether a
plan decided on them may be carried out as is (only conditional updates of a copy whose key we hold).
"""

from __future__ import annotations

from datetime import UTC, datetime

from shared.sync.model import (
    Attendee,
    AttendeeType,
    Managed,
    OrganizerEventSnapshot,
    Response,
    RoomEventSnapshot,
    Sensitivity,
    SyncBase,
)
from shared.sync.plan import LinkOnly, SyncPlan, UpdateMeeting

# Older than any real edit: were the assumed copies ever compared by time, the real side would win.
_LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)


def outlook_as_in_base(base: SyncBase) -> tuple[RoomEventSnapshot, OrganizerEventSnapshot | None] | None:
    """Room copy and organizer copy exactly as the base describes them, or None when the base does not
    hold the ids and change key a conditional write needs (then the worker reads Outlook)."""
    if base.terminal or base.room_mailbox is None or base.ical_uid is None or base.room_event_id is None:
        return None
    sensitivity = Sensitivity.PRIVATE if base.private else Sensitivity.NORMAL
    people = tuple(Attendee(email=a, type=AttendeeType.REQUIRED) for a in base.attendees)
    room_attendee = Attendee(email=base.room_mailbox, type=AttendeeType.RESOURCE, response=Response.ACCEPTED)
    if base.managed == Managed.ROOM_ORGANIZED:
        if not base.room_change_key:
            return None
        owner = Attendee(email=base.owner_email, type=AttendeeType.REQUIRED, response=Response.ACCEPTED)
        room = RoomEventSnapshot(
            event_id=base.room_event_id,
            ical_uid=base.ical_uid,
            start=base.start,
            end=base.end,
            subject=base.subject or base.booking_name,
            organizer_email=base.room_mailbox,
            attendees=(*people, owner)
            if base.owner_email and base.owner_email not in base.attendees
            else people,
            sensitivity=sensitivity,
            change_key=base.room_change_key,
            last_modified=_LONG_AGO,
            booking_id_marker=base.booking_id,
            room_mailbox=base.room_mailbox,
            room_response=Response.ORGANIZER,
            is_organizer_room=True,
        )
        return room, None
    if not (base.organizer_change_key and base.organizer_event_id and base.organizer_mailbox):
        return None
    organizer = OrganizerEventSnapshot(
        event_id=base.organizer_event_id,
        ical_uid=base.ical_uid,
        start=base.start,
        end=base.end,
        subject=base.subject or "",
        organizer_email=base.organizer_mailbox,
        attendees=(*people, room_attendee),
        sensitivity=sensitivity,
        change_key=base.organizer_change_key,
        last_modified=_LONG_AGO,
        booking_id_marker=base.booking_id if base.managed == Managed.OWNER_ORGANIZED else None,
        mailbox=base.organizer_mailbox,
        location_emails=frozenset({base.room_mailbox}),
    )
    room = RoomEventSnapshot(
        event_id=base.room_event_id,
        ical_uid=base.ical_uid,
        start=base.start,
        end=base.end,
        subject="",
        organizer_email=base.organizer_mailbox,
        attendees=(
            Attendee(email=base.organizer_mailbox, response=Response.ORGANIZER),
            *people,
            room_attendee,
        ),
        sensitivity=sensitivity,
        change_key=base.room_change_key or "",
        last_modified=_LONG_AGO,
        room_mailbox=base.room_mailbox,
        room_response=Response.ACCEPTED,
    )
    return room, organizer


def fits_conditional_write(plan: SyncPlan, base: SyncBase) -> bool:
    """True when every action of a plan decided on assumed copies is a conditional meeting update (or
    bookkeeping): anything else (a cancel, a create, an IBSS write, a conflict) is decided on real reads."""
    keys = {"organizer": base.organizer_change_key, "room": base.room_change_key}
    updates = [a for a in plan.actions if isinstance(a, UpdateMeeting)]
    if not updates or plan.new_base is None:
        return False
    for action in plan.actions:
        if isinstance(action, LinkOnly):
            continue
        if not isinstance(action, UpdateMeeting) or not keys.get(action.target.role):
            return False
        if action.changes.room is not None:
            return False  # a room move cancels one room's copy and invites another: decide on real reads
    return True


__all__ = ["fits_conditional_write", "outlook_as_in_base"]
