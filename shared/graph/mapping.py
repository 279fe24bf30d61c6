"""Pure mapping between msgraph ``Event`` models and the sync core's snapshots and actions.

Reads: ``to_room_snapshot`` / ``to_organizer_snapshot`` turn an event read with ``EVENT_SELECT`` (and
the marker ``$expand``) into the core's frozen snapshots, with every time in aware UTC.
Writes: ``create_body`` / ``patch_body`` build the ``Event`` bodies for ``CreateMeeting`` and
``MeetingChanges``. Bodies, body previews and attachments are never requested, mapped or written.

The booking id marker is ONE single-value extended property, ``BOOKING_ID_PROPERTY_ID``
(``String {8d0e6a4c-3f1b-4e7a-9c52-1b7f0a6e2d94} Name IbssBookingId``): a MAPI named string property
in a GUID namespace that belongs to this service. It must never change (existing meetings would no
longer be recognised as ours), and no other named properties are created (each name costs a slot of
the mailbox's finite named-property quota). Its value is the IBSS booking id.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from msgraph.generated.models.attendee import Attendee as GraphAttendee
from msgraph.generated.models.attendee_type import AttendeeType as GraphAttendeeType
from msgraph.generated.models.date_time_time_zone import DateTimeTimeZone
from msgraph.generated.models.email_address import EmailAddress
from msgraph.generated.models.event import Event
from msgraph.generated.models.location import Location
from msgraph.generated.models.location_type import LocationType
from msgraph.generated.models.online_meeting_provider_type import OnlineMeetingProviderType
from msgraph.generated.models.single_value_legacy_extended_property import SingleValueLegacyExtendedProperty
from tzlocal.windows_tz import win_tz

from shared.sync.model import (
    Attendee,
    AttendeeType,
    OrganizerEventSnapshot,
    Response,
    RoomEventSnapshot,
    Sensitivity,
)
from shared.sync.normalize import normalize_email
from shared.sync.plan import CreateMeeting, MeetingChanges

BOOKING_ID_PROPERTY_GUID = "8d0e6a4c-3f1b-4e7a-9c52-1b7f0a6e2d94"
BOOKING_ID_PROPERTY_ID = f"String {{{BOOKING_ID_PROPERTY_GUID}}} Name IbssBookingId"

# Everything the sync reads, and nothing else (no body, bodyPreview, attachments).
EVENT_SELECT: tuple[str, ...] = (
    "id",
    "iCalUId",
    "subject",
    "start",
    "end",
    "organizer",
    "attendees",
    "location",
    "locations",
    "sensitivity",
    "isCancelled",
    "isOrganizer",
    "changeKey",
    "lastModifiedDateTime",
    "responseStatus",
    "showAs",
    "type",
    "seriesMasterId",
    "originalStart",
    "isOnlineMeeting",
    "onlineMeetingProvider",
)
MARKER_EXPAND = f"singleValueExtendedProperties($filter=id eq '{BOOKING_ID_PROPERTY_ID}')"
PREFER_UTC = 'outlook.timezone="UTC"'

_GRAPH_DATETIME = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)?$")


class MappingError(ValueError):
    """A Graph event lacks what the sync needs (id, iCalUId, times, organizer, change key)."""


# --------------------------------------------------------------------------- primitives


def odata_literal(value: str) -> str:
    """An OData string literal (single quotes doubled)."""
    return "'" + value.replace("'", "''") + "'"


def marker_filter(booking_id: str) -> str:
    return (
        "singleValueExtendedProperties/Any(ep: ep/id eq "
        f"{odata_literal(BOOKING_ID_PROPERTY_ID)} and ep/value eq {odata_literal(booking_id)})"
    )


def _zone(name: str) -> ZoneInfo:
    text = name.strip()
    if text.upper() in ("UTC", "Z", "ETC/UTC", "GMT"):
        return ZoneInfo("UTC")
    try:
        return ZoneInfo(win_tz.get(text, text))
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise MappingError(f"unknown time zone {name!r}") from exc


def parse_graph_time(value: DateTimeTimeZone | None) -> datetime:
    """``dateTimeTimeZone`` (7-digit fractions, Windows or IANA zone, UTC by default) -> aware UTC."""
    if value is None or not value.date_time:
        raise MappingError("event time is missing")
    m = _GRAPH_DATETIME.match(value.date_time.strip())
    if not m:
        raise MappingError(f"unparsable Graph date-time {value.date_time!r}")
    base, fraction, offset = m.group(1), m.group(2) or "", m.group(3)
    micro = (fraction[:6]).ljust(6, "0")
    local = datetime.fromisoformat(f"{base}.{micro}")
    if offset:
        aware = datetime.fromisoformat(f"{base}.{micro}{'+00:00' if offset == 'Z' else offset}")
    else:
        aware = local.replace(tzinfo=_zone(value.time_zone or "UTC"))
    return aware.astimezone(UTC)


def graph_time(value: datetime) -> DateTimeTimeZone:
    """An aware datetime as Graph's ``dateTimeTimeZone`` in UTC (7 fractional digits)."""
    if value.tzinfo is None:
        raise ValueError("datetime must be timezone-aware")
    utc = value.astimezone(UTC)
    return DateTimeTimeZone(date_time=utc.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0", time_zone="UTC")


def etag_of(event: Event) -> str | None:
    """The event's ``@odata.etag`` (``W/"<changeKey>"``) for If-Match, built from changeKey if absent."""
    etag = event.additional_data.get("@odata.etag") if event.additional_data else None
    if isinstance(etag, str) and etag:
        return etag
    return f'W/"{event.change_key}"' if event.change_key else None


def marker_of(event: Event) -> str | None:
    """Our booking id marker, when the event was read with ``MARKER_EXPAND``."""
    for prop in event.single_value_extended_properties or ():
        if (prop.id or "").lower() == BOOKING_ID_PROPERTY_ID.lower() and prop.value:
            return prop.value
    return None


def _enum_value(value: object) -> str | None:
    if value is None:
        return None
    raw = getattr(value, "value", value)
    return str(raw)


def _response(value: object) -> Response:
    raw = _enum_value(value)
    try:
        return Response(raw) if raw else Response.NONE
    except ValueError:
        return Response.NONE


def _address(email: EmailAddress | None) -> str | None:
    if email is None or not email.address or "@" not in email.address:
        return None
    return normalize_email(email.address)


def attendees_of(event: Event) -> tuple[Attendee, ...]:
    out: list[Attendee] = []
    seen: set[str] = set()
    for a in event.attendees or ():
        address = _address(a.email_address)
        if address is None or address in seen:
            continue
        seen.add(address)
        kind = _enum_value(a.type) or "required"
        out.append(
            Attendee(
                email=address,
                type=AttendeeType(kind) if kind in AttendeeType._value2member_map_ else AttendeeType.REQUIRED,
                response=_response(a.status.response if a.status else None),
            )
        )
    return tuple(out)


def location_emails_of(event: Event) -> frozenset[str]:
    """Mailbox addresses named as locations (``locationEmailAddress``) in location and locations."""
    found: set[str] = set()
    for loc in [event.location, *(event.locations or ())]:
        if loc is not None and loc.location_email_address and "@" in loc.location_email_address:
            found.add(normalize_email(loc.location_email_address))
    return frozenset(found)


def _sensitivity(event: Event) -> Sensitivity:
    raw = _enum_value(event.sensitivity)
    try:
        return Sensitivity(raw) if raw else Sensitivity.NORMAL
    except ValueError:
        return Sensitivity.NORMAL


def _common(event: Event) -> dict[str, object]:
    if not event.id or not event.i_cal_u_id:
        raise MappingError("event id or iCalUId is missing")
    if not event.change_key:
        raise MappingError("event changeKey is missing")
    if event.last_modified_date_time is None:
        raise MappingError("event lastModifiedDateTime is missing")
    organizer = _address(event.organizer.email_address if event.organizer else None)
    if organizer is None:
        raise MappingError("event organizer is missing")
    modified = event.last_modified_date_time
    if modified.tzinfo is None:
        modified = modified.replace(tzinfo=UTC)
    return {
        "event_id": event.id,
        "ical_uid": event.i_cal_u_id,
        "start": parse_graph_time(event.start),
        "end": parse_graph_time(event.end),
        "subject": event.subject or "",
        "organizer_email": organizer,
        "organizer_name": (event.organizer.email_address.name or "")
        if event.organizer and event.organizer.email_address
        else "",
        "attendees": attendees_of(event),
        "is_cancelled": bool(event.is_cancelled),
        "sensitivity": _sensitivity(event),
        "change_key": event.change_key,
        "last_modified": modified.astimezone(UTC),
        "booking_id_marker": marker_of(event),
    }


def to_room_snapshot(event: Event, room_mailbox: str) -> RoomEventSnapshot:
    """The room mailbox's copy, or the room-organized meeting itself (organizer == room)."""
    room = normalize_email(room_mailbox)
    data = _common(event)
    return RoomEventSnapshot.model_validate(
        {
            **data,
            "room_mailbox": room,
            "room_response": _response(event.response_status.response if event.response_status else None),
            "is_organizer_room": data["organizer_email"] == room,
        }
    )


def to_organizer_snapshot(event: Event, mailbox: str) -> OrganizerEventSnapshot:
    """The copy in ``mailbox`` (the organizer's) with its rooms from location(s)."""
    return OrganizerEventSnapshot.model_validate(
        {**_common(event), "mailbox": normalize_email(mailbox), "location_emails": location_emails_of(event)}
    )


@dataclass(frozen=True, slots=True)
class SeriesInfo:
    """Recurrence facts the snapshots do not carry (each occurrence is its own link in the core)."""

    type: str  # singleInstance | occurrence | exception | seriesMaster
    series_master_id: str | None
    original_start: datetime | None


def series_info(event: Event) -> SeriesInfo:
    original = event.original_start
    if original is not None and original.tzinfo is None:
        original = original.replace(tzinfo=UTC)
    return SeriesInfo(
        type=_enum_value(event.type) or "singleInstance",
        series_master_id=event.series_master_id,
        original_start=original.astimezone(UTC) if original else None,
    )


# --------------------------------------------------------------------------- writes


def _display_name(mailbox: str) -> str:
    return mailbox.split("@", 1)[0].replace(".", " ").title()


def room_location(room_mailbox: str, display_name: str | None = None) -> Location:
    return Location(
        display_name=display_name or _display_name(room_mailbox),
        location_email_address=normalize_email(room_mailbox),
        location_type=LocationType.ConferenceRoom,
    )


def person(email: str, kind: GraphAttendeeType = GraphAttendeeType.Required) -> GraphAttendee:
    return GraphAttendee(type=kind, email_address=EmailAddress(address=normalize_email(email)))


def room_attendee(room_mailbox: str, display_name: str | None = None) -> GraphAttendee:
    return GraphAttendee(
        type=GraphAttendeeType.Resource,
        email_address=EmailAddress(
            address=normalize_email(room_mailbox), name=display_name or _display_name(room_mailbox)
        ),
    )


def marker_property(booking_id: str) -> SingleValueLegacyExtendedProperty:
    return SingleValueLegacyExtendedProperty(id=BOOKING_ID_PROPERTY_ID, value=booking_id)


def create_body(action: CreateMeeting, room_display_name: str | None = None) -> Event:
    """The POST body for ``CreateMeeting`` (``transactionId`` included).

    Owner mode (``organizer_is_room`` false): posted to the owner's mailbox; people as required
    attendees, the room as a ``resource`` attendee and as ``location``/``locations``.
    Room mode: posted to the room's mailbox (the room organizes); people as required attendees and the
    room as ``location``/``locations`` only (a mailbox does not invite itself).
    """
    room = normalize_email(action.room_mailbox)
    people = [a for a in dict.fromkeys(normalize_email(x) for x in action.attendees) if a != room]
    attendees = [person(a) for a in people]
    if not action.organizer_is_room:
        target = normalize_email(action.target_mailbox)
        attendees = [a for a in attendees if _address(a.email_address) != target]
        attendees.append(room_attendee(room, room_display_name))
    loc = room_location(room, room_display_name)
    event = Event(
        subject=action.subject,
        start=graph_time(action.start),
        end=graph_time(action.end),
        attendees=attendees,
        location=loc,
        locations=[room_location(room, room_display_name)],
        transaction_id=action.transaction_id,
        single_value_extended_properties=[marker_property(action.booking_id_marker)],
    )
    if action.online_meeting:
        event.is_online_meeting = True
        event.online_meeting_provider = OnlineMeetingProviderType.TeamsForBusiness
    return event


def _copy_attendee(a: GraphAttendee) -> GraphAttendee:
    email = a.email_address
    return GraphAttendee(
        type=a.type or GraphAttendeeType.Required,
        email_address=EmailAddress(
            address=email.address if email else None, name=email.name if email else None
        ),
    )


def _copy_location(loc: Location) -> Location:
    return Location(
        display_name=loc.display_name,
        location_email_address=loc.location_email_address,
        location_type=loc.location_type,
    )


def needs_current(changes: MeetingChanges) -> bool:
    """Attendee and room changes rewrite whole lists, so they need the event's current lists."""
    return bool(changes.attendees_add or changes.attendees_remove or changes.room is not None)


def patch_body(
    changes: MeetingChanges,
    current: Event | None = None,
    *,
    organizer_mailbox: str | None = None,
    room_display_name: str | None = None,
) -> Event:
    """The PATCH body for ``MeetingChanges`` (only changed properties are sent).

    Attendees are a full-list property in Graph: the new list is the current one (types and names kept)
    minus ``attendees_remove``, plus ``attendees_add`` as required attendees. A room move replaces the
    old room's resource attendee and location entry with the new room's (``new=None`` releases the
    room: both are dropped). Other locations (free text) are kept.
    """
    patch = Event()
    if changes.start is not None:
        patch.start = graph_time(changes.start)
    if changes.end is not None:
        patch.end = graph_time(changes.end)
    if changes.subject is not None:
        patch.subject = changes.subject
    if not needs_current(changes):
        return patch
    if current is None:
        raise ValueError("attendee or room changes need the current event")
    move = changes.room
    old_room = normalize_email(move.old) if move and move.old else None
    new_room = normalize_email(move.new) if move and move.new else None
    removed = {normalize_email(x) for x in changes.attendees_remove}
    if old_room and move is not None:
        removed.add(old_room)
    organizer = normalize_email(organizer_mailbox) if organizer_mailbox else None
    attendees: list[GraphAttendee] = []
    seen: set[str] = set()
    for a in current.attendees or ():
        address = _address(a.email_address)
        if address is None or address in removed or address in seen:
            continue
        seen.add(address)
        attendees.append(_copy_attendee(a))
    for email in changes.attendees_add:
        address = normalize_email(email)
        if address in seen or address == organizer or address in removed:
            continue
        seen.add(address)
        attendees.append(person(address))
    if move is not None and new_room and new_room not in seen and new_room != organizer:
        attendees.append(room_attendee(new_room, room_display_name))
    patch.attendees = attendees
    if move is not None:
        kept = [
            _copy_location(loc)
            for loc in _current_locations(current)
            if not loc.location_email_address or normalize_email(loc.location_email_address) != old_room
        ]
        kept = [
            loc
            for loc in kept
            if not (loc.location_email_address and normalize_email(loc.location_email_address) == new_room)
        ]
        if new_room:
            kept.insert(0, room_location(new_room, room_display_name))
        patch.locations = kept
        patch.location = (
            _copy_location(kept[0]) if len(kept) == 1 else (Location(display_name="") if not kept else None)
        )
    return patch


def _current_locations(event: Event) -> Sequence[Location]:
    locs = [loc for loc in event.locations or () if loc.display_name or loc.location_email_address]
    if locs:
        return locs
    if event.location is not None and (event.location.display_name or event.location.location_email_address):
        return [event.location]
    return []


def emails(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted({normalize_email(v) for v in values}))
