"""Repeated no-shows in a series (issue #8): when is the room released from the rest of a series?

Pure: plain values in, a decision out; no I/O, no clock. IBSS's status is the truth: an occurrence counts
once IBSS has decided it, ``Auto Cancelled`` (nobody checked in within ``Meta_Auto_Cancel_Thld_Min``) is a
no-show, a check-in (``Early/Late CheckIn``, ``In Progress``) or ``Completed`` is attended. Occurrences IBSS
has not decided yet (not started, or inside the threshold) and ones a person cancelled do not count.

"Consecutive": the last ``N`` decided occurrences, in slot order, are all no-shows; an attended occurrence
resets the count. ``N`` is per building (``BuildingConfig.no_show_release_after``); ``None`` (the default)
switches the release off, so only the single no-show release happens.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

MAX_REMEMBERED = 60  # outcomes kept per series: more than any sensible N, and the state row stays small


class Outcome(StrEnum):
    NO_SHOW = "no_show"
    ATTENDED = "attended"


def outcome_of(*, auto_cancelled: bool, checked_in: bool, completed: bool) -> Outcome | None:
    """What IBSS decided about one occurrence's booking, or None while it has not decided."""
    if auto_cancelled:
        return Outcome.NO_SHOW
    if checked_in or completed:
        return Outcome.ATTENDED
    return None


def remember(outcomes: Mapping[str, Outcome], slot: str, outcome: Outcome) -> dict[str, Outcome]:
    """The outcomes with ``slot``'s added; only the latest ``MAX_REMEMBERED`` slots are kept.

    Slots are UTC start stamps (``%Y%m%dT%H%M%SZ``), so their text order is their time order."""
    merged = {**outcomes, slot: outcome}
    return dict(sorted(merged.items())[-MAX_REMEMBERED:])


def no_show_streak(outcomes: Mapping[str, Outcome]) -> int:
    """How many of the latest decided occurrences in a row were no-shows."""
    count = 0
    for _, outcome in sorted(outcomes.items(), reverse=True):
        if outcome is not Outcome.NO_SHOW:
            break
        count += 1
    return count


def release_due(outcomes: Mapping[str, Outcome], release_after: int | None) -> bool:
    """True when the building releases series after ``release_after`` no-shows and that many happened."""
    return release_after is not None and release_after >= 1 and no_show_streak(outcomes) >= release_after


def no_show_comment() -> str:
    """The room's reply when it declines one no-show occurrence (the organizer keeps the meeting)."""
    return (
        "Declined: nobody checked in to this occurrence in IBSS, so the booking was auto-cancelled "
        "(no check-in) and the room was released for this date. The other occurrences stay booked."
    )


def release_comment(streak: int) -> str:
    """The room's reply when it releases the rest of a series after ``streak`` no-shows in a row."""
    return (
        f"Declined: nobody checked in to the last {streak} occurrences of this series in IBSS (no check-in), "
        "so the room has been released from the rest of the series and its bookings were cancelled. "
        "Book the room again if the meeting still needs it."
    )


def release_reason(streak: int) -> str:
    """The cancellation reason the booking's owner sees in IBSS (Flex, Roamer)."""
    return f"Room released: no check-in at {streak} occurrences in a row of this series"
