"""What IBSS knows about a room that Outlook does not: check-out and no-shows (issue #8).

Pure: plain values in, a decision out; no I/O, no clock. IBSS's status is the truth, never the service's
clock: a booking is a no-show when IBSS says ``Auto Cancelled``, and checked out when IBSS says
``Completed`` with ``Booking_Completed_Time`` (``BookingSnapshot.checked_out_at``) before the scheduled end.

No-show (``Meta_Auto_Cancel_Thld_Min`` passed without a check-in): the room is freed and nothing else
changes. The room declines its copy with ``sendResponse`` and a comment, so the organizer is told why and
keeps the meeting; a meeting the room organizes itself (room mode, made in IBSS) is cancelled, which is the
only way to free a room from its own meeting. ``reconcile`` holds that row; the comment is below.

Early check-out. The room's copy of the meeting is shortened to the check-out time; the organizer's
calendar is not changed.

* The room holds an attendee copy (owner mode; meetings made in Outlook in either mode): the service
  PATCHes ``end`` on the room mailbox's own copy (``PATCH /users/{room}/events/{id}``). Exchange keeps an
  attendee's copy editable by its own mailbox; no meeting message is sent, so the organizer's and the
  other attendees' copies keep their times, and the room's free/busy shows the rest of the slot free.
  The organizer's next update of the meeting overwrites the room's copy (Exchange re-sends the meeting);
  after a check-out that normally no longer happens, and the link is closed anyway.
* The room organizes the meeting (room mode, made in IBSS): its copy *is* the organizer's meeting, and
  Graph sends every change of an organizer's start or end to all attendees (there is no option to
  suppress the update). Shortening it would change the owner's and the parties' calendars and mail them
  in the middle of the meeting. The service does not do that: the link is closed and the room copy keeps
  its time (IBSS already shows the space free, so Flex and Roamer users can book it).
* Checked out before the room's copy even starts (an early check-in, then a check-out before the start):
  nothing of the meeting used the room, so the room is released like a no-show.

No ping-pong: the plan closes the link (``LinkState.COMPLETED``, terminal: later notifications about the
room copy are never merged), and its base remembers the shortened end and forgets the room's change key,
so the echo of our PATCH is recognised as ours rather than read as a person's reschedule.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from shared.sync.model import BookingSnapshot, BookingStatus, Managed, Response, RoomEventSnapshot
from shared.sync.plan import MeetingChanges, MeetingTarget, UpdateMeeting

CHECKED_OUT_BEFORE_START = "The booking was checked out in IBSS before the meeting started; the room is free."


class CheckOut(BaseModel):
    """What an IBSS check-out means for the room's calendar."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    shorten_to: datetime | None = None  # PATCH the room copy's end to this
    release: bool = False  # free the room entirely (decline / cancel, as for a no-show)
    why: str


def checked_out_early(booking: BookingSnapshot) -> datetime | None:
    """The check-out time of a booking completed before its scheduled end, else None."""
    if booking.status != BookingStatus.COMPLETED or booking.checked_out_at is None:
        return None
    return booking.checked_out_at if booking.checked_out_at < booking.end else None


def plan_check_out(booking: BookingSnapshot, room: RoomEventSnapshot | None, managed: Managed) -> CheckOut:
    """Decide for a completed booking. ``room``: the room's live copy of the meeting, if observed."""
    at = checked_out_early(booking)
    if at is None:
        return CheckOut(why="booking completed: link closed")
    if room is None or room.is_cancelled or room.room_response == Response.DECLINED:
        return CheckOut(why="checked out early, but the room holds no live copy: link closed")
    if at <= room.start:
        return CheckOut(release=True, why="checked out before the meeting started: the room is released")
    if at >= room.end:
        return CheckOut(why="checked out early; the room's copy already ends by then: link closed")
    if managed == Managed.ROOM_ORGANIZED or room.is_organizer_room:
        # Graph sends any time change of an organizer's meeting to every attendee: leave it.
        return CheckOut(
            why="checked out early; the room organizes the meeting, so shortening it would change the "
            "attendees' calendars: the room copy keeps its time, link closed"
        )
    return CheckOut(
        shorten_to=at, why="checked out early: the room's copy is shortened to the check-out time"
    )


def shorten_room_copy(room: RoomEventSnapshot, end: datetime) -> UpdateMeeting:
    """PATCH only ``end`` of the room mailbox's own (attendee) copy: no meeting message is sent."""
    target = MeetingTarget(role="room", mailbox=room.room_mailbox, event_id=room.event_id)
    return UpdateMeeting(target=target, changes=MeetingChanges(end=end))
