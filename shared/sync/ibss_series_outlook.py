"""Outlook edits of a recurring meeting we made from an IBSS series -> IBSS writes (pure, no I/O).

Owner mode: the booking's owner organizes the recurring meeting in their own calendar and can edit it
there like any meeting of theirs. ``outlook_series_edits(base, outlook, bookings, now)`` compares the
organizer's series as Outlook holds it now with the series base (what we last wrote) and the bookings:

==================================================  ==============================================
Outlook now (vs the base)                           IBSS
==================================================  ==============================================
series cancelled or deleted by the organizer        every booking not started yet cancelled; terminal
room removed from the series                        the same, with "room removed" as the reason
one occurrence cancelled                            that booking cancelled
one occurrence moved (an exception)                 that booking moved
the series' time changed (master start/end)         every future booking moved to its new occurrence
the series renamed                                  every future booking renamed
==================================================  ==============================================

A series time change makes Exchange bring back dates that were cancelled; their bookings stay cancelled,
so those dates are cancelled in Outlook again (the one Outlook write this path makes).

A slot is only Outlook's to change while its booking still equals the base: when IBSS changed the same
booking too, IBSS wins and ``decide_series`` writes it back to Outlook (as for a single meeting, a
booking changed in Flex is never overwritten by an older Outlook state). The new base records what
Outlook now holds, so the hooks of our own IBSS writes find nothing to do. Past occurrences are history.
Dates a series-level Outlook change adds (say weekly -> daily) are not booked: IBSS has no call that
adds bookings to a series; they stay Outlook-only and the worker logs them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict

from shared.recurrence import PatternedRecurrence, zone
from shared.recurrence.expand import local_to_utc
from shared.sync.ibss_series import (
    CancelOccurrence,
    IbssSeriesBase,
    SeriesAction,
    SeriesMode,
    SeriesPlan,
    SeriesSlot,
)
from shared.sync.model import BookingSnapshot, BookingStatus, UtcDateTime
from shared.sync.normalize import normalize_subject
from shared.sync.plan import BookingChanges, CancelBooking, UpdateBooking
from shared.sync.reconcile import CANCELLED_IN_OUTLOOK, ROOM_REMOVED

OCCURRENCE_CANCELLED_IN_OUTLOOK = "This occurrence was cancelled in Outlook."


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class OutlookOccurrence(_Frozen):
    original_start: UtcDateTime  # Graph's originalStart: the slot the pattern defines
    start: UtcDateTime
    end: UtcDateTime


class OutlookSeries(_Frozen):
    """The organizer's recurring meeting now: the master, and its instances inside a window."""

    gone: bool = False  # cancelled or deleted by the organizer
    room_invited: bool = True
    subject: str | None = None  # None: private, or not to be taken over
    start: UtcDateTime | None = None  # the master's (first occurrence's) start and end
    end: UtcDateTime | None = None
    recurrence: PatternedRecurrence | None = None
    window_start: UtcDateTime  # instances were read for [window_start, window_end)
    window_end: UtcDateTime
    occurrences: tuple[OutlookOccurrence, ...] = ()  # cancelled occurrences are not listed (as Graph)


def _wall(instant: datetime, tz: ZoneInfo) -> datetime:
    return instant.astimezone(tz).replace(tzinfo=None)


def outlook_series_edits(
    base: IbssSeriesBase,
    outlook: OutlookSeries,
    bookings: Sequence[BookingSnapshot],
    now: datetime,
) -> SeriesPlan:
    """IBSS writes for what the organizer changed in Outlook (see the module docstring)."""
    if (
        base.mode is not SeriesMode.RECURRING
        or base.organizer_is_room
        or base.start is None
        or base.end is None
    ):
        return SeriesPlan(new_base=base, explanation=("not an owner-organized recurring meeting",))
    by_id = {b.booking_id: b for b in bookings}

    def open_booking(s: SeriesSlot) -> BookingSnapshot | None:
        """The slot's booking when it is still Outlook's to change: live, not started, as we left it."""
        b = by_id.get(s.booking_id)
        if b is None or b.status is not BookingStatus.ACTIVE or b.start <= now or b.checked_in:
            return None
        if b.room_mailbox != base.room_mailbox or (b.start, b.end) != (s.start, s.end):
            return None  # IBSS changed it too: IBSS wins (decide_series writes it back)
        return b

    if outlook.gone or not outlook.room_invited:
        reason = CANCELLED_IN_OUTLOOK if outlook.gone else ROOM_REMOVED
        cancels = [
            CancelBooking(booking_id=s.booking_id, reason=reason)
            for s in base.slots
            if not s.cancelled and not s.detached and open_booking(s) is not None
        ]
        what = "the series was cancelled in Outlook" if outlook.gone else "the room was removed in Outlook"
        return SeriesPlan(
            actions=tuple(cancels),
            new_base=base.model_copy(
                update={
                    "mode": SeriesMode.CANCELLED,
                    "slots": tuple(s.model_copy(update={"cancelled": True}) for s in base.slots),
                }
            ),
            explanation=(f"{what}: its bookings are cancelled",),
        )

    tz = zone(base.time_zone)
    reshaped = (
        outlook.start is not None
        and outlook.end is not None
        and (outlook.start, outlook.end) != (base.start, base.end)
    )
    shift, length = timedelta(0), _wall(base.end, tz) - _wall(base.start, tz)
    if reshaped and outlook.start is not None and outlook.end is not None:
        shift = _wall(outlook.start, tz) - _wall(base.start, tz)
        length = _wall(outlook.end, tz) - _wall(outlook.start, tz)
    subject = normalize_subject(outlook.subject) if outlook.subject else None
    renamed = subject is not None and subject != base.subject
    by_original = {o.original_start: o for o in outlook.occurrences}

    actions: list[SeriesAction] = []
    why: list[str] = []
    new_slots: list[SeriesSlot] = []
    for s in base.slots:
        original = local_to_utc(_wall(s.original_start, tz) + shift, tz) if reshaped else s.original_start
        if s.detached or s.cancelled:
            if reshaped and not s.detached and s.end > now and original in by_original:
                # Exchange brings cancelled dates back with a series time change; their bookings stay
                # cancelled, so the date is cancelled again (as decide_series does after an IBSS shift).
                actions.append(CancelOccurrence(booking_id=s.booking_id, original_start=original))
                why.append("a cancelled date came back with the new series time: cancelled again")
            new_slots.append(s.model_copy(update={"original_start": original}) if not s.detached else s)
            continue
        b = open_booking(s)
        if b is None or not outlook.window_start <= original < outlook.window_end:
            # History, IBSS's to decide, or not read this time: only the slot's key follows the pattern.
            new_slots.append(s.model_copy(update={"original_start": original}))
            continue
        occurrence = by_original.get(original)
        if occurrence is None:
            actions.append(CancelBooking(booking_id=b.booking_id, reason=OCCURRENCE_CANCELLED_IN_OUTLOOK))
            why.append("an occurrence was cancelled in Outlook: its booking is cancelled")
            new_slots.append(s.model_copy(update={"original_start": original, "cancelled": True}))
            continue
        changes = BookingChanges()
        if (occurrence.start, occurrence.end) != (b.start, b.end):
            changes = changes.model_copy(update={"start": occurrence.start, "end": occurrence.end})
            why.append(
                "the series' time changed in Outlook: its bookings move"
                if reshaped
                else "an occurrence was moved in Outlook: its booking moves"
            )
        name = subject if renamed and subject is not None and b.name == base.subject else None
        if name is not None:
            changes = changes.model_copy(update={"name": name})
            why.append("the series was renamed in Outlook: its bookings are renamed")
        if changes != BookingChanges():
            actions.append(
                UpdateBooking(booking_id=b.booking_id, changes=changes, if_match=b.version or None)
            )
        new_slots.append(
            s.model_copy(
                update={
                    "original_start": original,
                    "start": occurrence.start,
                    "end": occurrence.end,
                    "subject": name or s.subject,
                }
            )
        )
    update: dict[str, object] = {"slots": tuple(new_slots)}
    if reshaped and outlook.start is not None:
        update |= {"start": outlook.start, "end": local_to_utc(_wall(outlook.start, tz) + length, tz)}
        if outlook.recurrence is not None:
            update["recurrence"] = outlook.recurrence
    if renamed:
        update["subject"] = subject
    return SeriesPlan(
        actions=tuple(actions),
        new_base=base.model_copy(update=update),
        explanation=tuple(dict.fromkeys(why)) or ("Outlook holds the series as we wrote it",),
    )
