"""Builders shared by the Graph adapter tests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from shared.sync.plan import CreateMeeting

ALICE = "alice@contoso.example"
BOB = "bob@contoso.example"
CAROL = "carol@contoso.example"
DAVE = "dave@contoso.example"
AURORA = "aurora@contoso.example"
BOREALIS = "borealis@contoso.example"
CIRRUS = "cirrus@contoso.example"
TZ = "W. Europe Standard Time"


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def outlook_meeting(
    subject: str = "Quarterly numbers",
    start: str = "2026-11-23T09:00:00",
    end: str = "2026-11-23T10:00:00",
    room: str | None = AURORA,
    people: tuple[str, ...] = (BOB,),
    **extra: Any,
) -> dict[str, Any]:
    """Graph event JSON as a person creates it in Outlook (Berlin wall-clock times, body included)."""
    body: dict[str, Any] = {
        "subject": subject,
        "body": {"contentType": "text", "content": "Agenda: confidential numbers"},
        "start": {"dateTime": start, "timeZone": TZ},
        "end": {"dateTime": end, "timeZone": TZ},
        "attendees": [{"type": "required", "emailAddress": {"address": p}} for p in people],
    }
    if room:
        body["attendees"].append({"type": "resource", "emailAddress": {"address": room, "name": room}})
        body["location"] = {"displayName": room.split("@")[0].title(), "locationEmailAddress": room}
    body.update(extra)
    return body


def create_action(
    *,
    room_mode: bool = False,
    owner: str = ALICE,
    room: str = AURORA,
    booking_id: str = "BK-1001",
    start: str = "2026-11-23T08:00:00",
    end: str = "2026-11-23T09:00:00",
    attendees: tuple[str, ...] = (BOB, CAROL),
    online: bool = False,
    require_room_free: bool | None = None,
    transaction_id: str | None = None,
) -> CreateMeeting:
    return CreateMeeting(
        target_mailbox=room if room_mode else owner,
        organizer_is_room=room_mode,
        subject="Budget review",
        start=utc(start),
        end=utc(end),
        attendees=(owner, *attendees) if room_mode else attendees,
        room_mailbox=room,
        booking_id_marker=booking_id,
        transaction_id=transaction_id or f"txn-{booking_id}-{room}",
        online_meeting=online,
        require_room_free=room_mode if require_room_free is None else require_room_free,
    )
