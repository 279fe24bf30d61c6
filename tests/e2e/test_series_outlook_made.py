"""Recurring meetings made in Outlook -> IBSS, end to end: delta rounds route occurrences to the
`sync-series` worker, which books one IBSS booking per occurrence, grouped as an IBSS series."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

from emulators.graph.state import occurrence_id, occurrence_key
from tests.e2e.conftest import SyncStack, eventually
from tests.slots import at, monday

BOB = "bob@contoso.example"
CAROL = "carol@contoso.example"
AURORA = "aurora@contoso.example"
SPACE = "HQ-1-AURORA"


def _monday(n: int = 1) -> date:
    """The n-th Monday from which tests may book (after the demo seeds' days)."""
    return monday(n)


def _local(day: date, hour: int) -> datetime:
    return at(day, hour)


def _time(value: datetime) -> dict[str, str]:
    return {"dateTime": value.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "Europe/Berlin"}


def weekly(first: date, count: int, interval: int = 1) -> dict[str, Any]:
    return {
        "pattern": {
            "type": "weekly",
            "interval": interval,
            "daysOfWeek": ["monday"],
            "firstDayOfWeek": "monday",
        },
        "range": {"type": "numbered", "startDate": first.isoformat(), "numberOfOccurrences": count},
    }


def series(first: date, hour: int, count: int, subject: str = "Weekly sync") -> dict[str, Any]:
    return {
        "subject": subject,
        "start": _time(_local(first, hour)),
        "end": _time(_local(first, hour + 1)),
        "attendees": [
            {"emailAddress": {"address": CAROL}, "type": "required"},
            {"emailAddress": {"address": AURORA}, "type": "resource"},
        ],
        "recurrence": weekly(first, count),
    }


def series_bookings(stack: SyncStack, *, active: bool = True) -> list[dict[str, Any]]:
    rows = [
        b
        for b in stack.ibss.state()["bookings"]
        if b["Space_Id"] == SPACE and str(b.get("Booking_Ext_Ref") or "").startswith("m365s:")
    ]
    if active:
        rows = [b for b in rows if b["Booking_Status"] not in ("Cancelled", "Auto Cancelled")]
    return sorted(rows, key=lambda b: b["Booking_Start"])


def starts(rows: list[dict[str, Any]]) -> list[str]:
    return [b["Booking_Start"][:16] for b in rows]


def utc_text(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M")


def expect(stack: SyncStack, wanted: list[datetime], what: str) -> list[dict[str, Any]]:
    texts = [utc_text(w) for w in wanted]

    def probe() -> list[dict[str, Any]] | None:
        rows = series_bookings(stack)
        return rows if rows and starts(rows) == texts else None

    return eventually(probe, what=what)


def single_links(stack: SyncStack) -> list[dict[str, Any]]:
    """Bookings of the room that the single-link path made (it must not book occurrences)."""
    return [
        b
        for b in stack.ibss.state()["bookings"]
        if b["Space_Id"] == SPACE
        and b.get("Booking_Ext_Ref")
        and not str(b["Booking_Ext_Ref"]).startswith("m365s:")
    ]


def test_book_cancel_move_edit_pattern_and_cancel_a_series(ready_stack: SyncStack) -> None:
    stack = ready_stack
    first = _monday(1)
    created = stack.graph.act_create_meeting(BOB, series(first, 11, 6))
    master_id = created["id"]
    days = [first + timedelta(weeks=i) for i in range(6)]

    # Book: one booking per occurrence, all in one IBSS series, owner = organizer.
    rows = expect(stack, [_local(d, 11) for d in days], "series booked")
    assert len({b["Booking_Series_Id"] for b in rows}) == 1
    assert rows[0]["Booking_Series_Id"]
    assert all(b["Booking_Owner_Email"] == BOB for b in rows)
    assert not single_links(stack)

    # Cancel one occurrence in Outlook: only that booking is cancelled.
    third = occurrence_id(master_id, occurrence_key(_local(days[2], 11)))
    stack.graph.act_delete_meeting(BOB, third)
    kept = [d for i, d in enumerate(days) if i != 2]
    expect(stack, [_local(d, 11) for d in kept], "occurrence cancelled")
    assert len(series_bookings(stack, active=False)) == 6  # cancelled, never recreated or duplicated

    # Move one occurrence (an exception): only that booking moves.
    second = occurrence_id(master_id, occurrence_key(_local(days[1], 11)))
    stack.graph.act_update_meeting(
        BOB, second, {"start": _time(_local(days[1], 15)), "end": _time(_local(days[1], 16))}
    )
    moved = [_local(days[0], 11), _local(days[1], 15), *[_local(d, 11) for d in days[3:]]]
    expect(stack, moved, "occurrence moved")

    # Edit the whole series (master time): every future booking follows (Graph drops the exceptions
    # and cancelled occurrences on a master time change, so all six are back).
    stack.graph.act_update_meeting(
        BOB, master_id, {"start": _time(_local(first, 13)), "end": _time(_local(first, 14))}
    )
    expect(stack, [_local(d, 13) for d in days], "series time changed")

    # Weekly -> fortnightly: bookings of the dropped weeks are cancelled, the rest stay.
    stack.graph.act_update_meeting(BOB, master_id, {"recurrence": {**weekly(first, 3, interval=2)}})
    expect(stack, [_local(d, 13) for d in days[::2]], "pattern changed to fortnightly")

    # Cancel the whole series: everything is cancelled, nothing comes back.
    stack.graph.act_cancel_meeting(BOB, master_id, "no longer needed")
    eventually(lambda: not series_bookings(stack), what="series cancelled")
    assert not single_links(stack)


def test_dates_taken_in_ibss_are_declined_and_the_organizer_told(ready_stack: SyncStack) -> None:
    stack = ready_stack
    first = _monday(1)
    taken = first + timedelta(weeks=1)
    # A Flex booking IBSS already holds (seeded: no hook, so Outlook has not heard of it yet).
    stack.ibss.load(
        {
            "bookings": [
                {
                    "node_id": 1001,
                    "space_id": SPACE,
                    "name": "Flex booking",
                    "owner": "alice@contoso.example",
                    "start": _local(taken, 10).astimezone(UTC).isoformat(),
                    "end": _local(taken, 12).astimezone(UTC).isoformat(),
                }
            ]
        }
    )
    stack.graph.act_create_meeting(BOB, series(first, 11, 4))
    wanted = [_local(first + timedelta(weeks=i), 11) for i in range(4) if i != 1]
    rows = expect(stack, wanted, "free dates booked")
    assert len({b["Booking_Series_Id"] for b in rows}) == 1

    def told() -> list[dict[str, Any]]:
        return [
            m
            for m in stack.graph.messages()
            if "declin" in str(m).lower() and _local(taken, 11).strftime("%d %b %Y") in str(m)
        ]

    message = eventually(told, what="organizer told which date failed")[0]
    assert BOB in str(message)
    assert len(series_bookings(stack, active=False)) == 3  # the refused date was never booked


def test_flex_cancels_one_booking_and_the_room_frees_that_date(ready_stack: SyncStack) -> None:
    """A booking of an Outlook series cancelled in Flex: the room declines that occurrence with the reason
    (the organizer keeps the meeting, as for a single meeting); the date is never booked again."""
    stack = ready_stack
    first = _monday(2)
    stack.graph.act_create_meeting(BOB, series(first, 9, 3, subject="Standup"))
    days = [first + timedelta(weeks=i) for i in range(3)]
    rows = expect(stack, [_local(d, 9) for d in days], "series booked")

    stack.ibss.act_cancel(BOB, str(rows[1]["Booking_Id"]))

    def told() -> list[dict[str, Any]]:
        return [m for m in stack.graph.messages() if "cancelled in IBSS" in str(m) and BOB in str(m)]

    (message,) = eventually(told, what="the room declined that date and told the organizer")
    assert "declin" in str(message).lower()
    time.sleep(2.0)  # the decline's echo: the date is not booked again, nothing else changes
    assert starts(series_bookings(stack)) == [utc_text(_local(d, 9)) for d in (days[0], days[2])]
    assert len(told()) == 1
