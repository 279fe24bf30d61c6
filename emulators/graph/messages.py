"""Meeting messages Exchange would mail: responses to the organizer and cancellations to attendees.

Graph documents that ``accept``/``decline``/``tentativelyAccept`` with ``sendResponse: true`` (the
default) send a response to the organizer carrying ``comment``, and that ``cancel`` sends the
cancellation with ``comment`` to all attendees. The emulator keeps no mail folders; it records those
messages here so tests can see what a person would be told (``GET /_emulator/messages``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from emulators.graph.state import EmulatorState, Mailbox, StoredEvent
from emulators.graph.timezones import format_utc_z


@dataclass(frozen=True)
class MeetingMessage:
    at: datetime
    kind: str  # accepted | declined | tentativelyAccepted | cancelled
    sender: str
    recipients: tuple[str, ...]
    ical_uid: str
    comment: str

    def to_wire(self) -> dict[str, Any]:
        return {
            "at": format_utc_z(self.at),
            "kind": self.kind,
            "from": self.sender,
            "to": list(self.recipients),
            "iCalUId": self.ical_uid,
            "comment": self.comment,
        }


def log(state: EmulatorState) -> list[MeetingMessage]:
    """The state's message log (emptied with the tenant on reset)."""
    messages: list[MeetingMessage] = state.meeting_messages
    return messages


def record_response(
    state: EmulatorState, attendee: Mailbox, ev: StoredEvent, response: str, comment: str
) -> None:
    """The attendee's reply reaches the organizer (only called when ``sendResponse`` is true)."""
    organizer = str(ev.organizer.get("emailAddress", {}).get("address", ""))
    log(state).append(
        MeetingMessage(state.now(), response, attendee.address, (organizer,), ev.ical_uid, comment)
    )


def record_cancellation(state: EmulatorState, organizer: Mailbox, ev: StoredEvent, comment: str) -> None:
    """The organizer's cancellation reaches every attendee (rooms included)."""
    to = tuple(
        str(a["emailAddress"]["address"])
        for a in ev.attendees
        if str(a["emailAddress"]["address"]).lower() != organizer.address.lower()
    )
    log(state).append(MeetingMessage(state.now(), "cancelled", organizer.address, to, ev.ical_uid, comment))
