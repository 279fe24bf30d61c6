"""Small builders shared by the Graph emulator tests."""

from __future__ import annotations

from typing import Any

import httpx
from msgraph.generated.models.attendee import Attendee
from msgraph.generated.models.attendee_type import AttendeeType
from msgraph.generated.models.date_time_time_zone import DateTimeTimeZone
from msgraph.generated.models.email_address import EmailAddress
from msgraph.generated.models.event import Event
from msgraph.generated.models.item_body import ItemBody
from msgraph.generated.models.location import Location

from emulators.graph.testing import GraphEmulator

ALICE = "alice@contoso.example"
BOB = "bob@contoso.example"
AURORA = "aurora@contoso.example"
BOREALIS = "borealis@contoso.example"
TZ = "W. Europe Standard Time"


def dt(value: str, tz: str = TZ) -> DateTimeTimeZone:
    return DateTimeTimeZone(date_time=value, time_zone=tz)


def meeting(
    subject: str = "Team sync",
    start: str = "2026-11-23T09:00:00",
    end: str = "2026-11-23T10:00:00",
    room: str | None = AURORA,
    as_location: bool = False,
    **extra: Any,
) -> Event:
    ev = Event(
        subject=subject, start=dt(start), end=dt(end), body=ItemBody(content="Agenda: numbers"), **extra
    )
    if room and as_location:
        ev.location = Location(display_name=room.split("@")[0].title(), location_email_address=room)
    elif room:
        ev.attendees = [
            Attendee(
                type=AttendeeType.Resource,
                email_address=EmailAddress(address=room, name=room.split("@")[0].title()),
            )
        ]
    return ev


def meeting_json(
    subject: str = "Outlook meeting",
    start: str = "2026-11-24T09:00:00",
    end: str = "2026-11-24T10:00:00",
    room: str | None = AURORA,
    **extra: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "subject": subject,
        "start": {"dateTime": start, "timeZone": TZ},
        "end": {"dateTime": end, "timeZone": TZ},
    }
    if room:
        body["attendees"] = [{"type": "resource", "emailAddress": {"address": room, "name": room}}]
        body["location"] = {"displayName": room, "locationEmailAddress": room}
    body.update(extra)
    return body


def raw(g: GraphEmulator, token: str | None = None) -> httpx.Client:
    """Plain HTTP for wire checks the SDK hides (headers, exact status codes)."""
    headers = {"Authorization": f"Bearer {token or g.issue_token()}"}
    return httpx.Client(base_url=g.base_url, headers=headers, timeout=30)
