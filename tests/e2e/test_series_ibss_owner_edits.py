"""An IBSS series' recurring meeting edited by its owner in Outlook (owner mode), end to end. A module of its
own: no idle host of another fixture shares the emulators while this stack works (tests/e2e/conftest.py)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from emulators.graph.state import occurrence_id, occurrence_key
from emulators.graph.testing import GraphEmulator
from emulators.ibss.testing import IbssEmulator
from tests.e2e.conftest import SyncStack, eventually, onboarded_stack
from tests.e2e.test_series_ibss_made import (
    ALICE,
    AURORA,
    _book,
    _bookings,
    _masters,
    _one_master,
    _utc,
    _wire,
)
from tests.slots import at, monday
from tests.stack_fixtures import AzuritePool


def _graph_writes(stack: SyncStack) -> int:
    """Writes the service made to Graph (the person's own edits go through the control plane)."""
    entries = stack.graph.request_counts()["entries"]
    writes = ("POST", "PATCH", "DELETE")
    return sum(e["count"] for e in entries if e["endpoint"].split()[0] in writes and e["status"] < 400)


def _live_starts(stack: SyncStack, series_id: str) -> list[datetime]:
    return [
        _utc(b["Booking_Start"])
        for b in _bookings(stack, series_id)
        if b["Booking_Status"] not in ("Cancelled", "Auto Cancelled")
    ]


@pytest.fixture
def owner_stack(
    graph_emulator: GraphEmulator, ibss_emulator: IbssEmulator, azurite_pool: AzuritePool
) -> Iterator[SyncStack]:
    """Owner mode only (room mode: the room organizes the series, people cannot edit it in Outlook), with
    the rooms subscribed, so the organizer's edits reach the service through Graph notifications."""
    graph_emulator.reset()
    ibss_emulator.reset()
    with onboarded_stack(azurite_pool, graph_emulator, ibss_emulator, "owner") as (stack, _):
        yield stack


def test_owner_edits_the_series_in_outlook_and_ibss_follows(owner_stack: SyncStack) -> None:
    """Owner mode: the booking owner organizes the recurring meeting and edits it in Outlook like any
    meeting of theirs: cancel one date, move one date, move the whole series, rename it, cancel it."""
    stack = owner_stack
    # Real time, not the DST-change clock: the rooms' delta window (90 days) must hold the dates.
    first_monday = monday(2)
    dates = []
    for week in range(5):
        start = at(first_monday + timedelta(weeks=week), 10).astimezone(UTC)
        dates.append((start, start + timedelta(hours=1)))
    series_id = _book(stack, dates)["Booking_Series_Id"]
    master = eventually(lambda: _one_master(stack, ALICE), what="one series master in Outlook")
    eventually(lambda: _one_master(stack, AURORA), what="the room holds the series")
    master_id = master["id"]
    time.sleep(3.0)  # the echo of our create (room delta round -> series check) has come and gone
    service_writes = _graph_writes(stack)

    def occurrence(start: datetime) -> str:
        return occurrence_id(master_id, occurrence_key(start))

    def expect(starts: list[datetime], what: str) -> None:
        eventually(lambda: _live_starts(stack, series_id) == starts, what=what)

    starts = [s for s, _ in dates]
    # One date cancelled in Outlook: that booking only.
    stack.graph.act_cancel_meeting(ALICE, occurrence(starts[1]), "away that week")
    expect([starts[0], *starts[2:]], "the cancelled date's booking cancelled")
    (gone,) = [b for b in _bookings(stack, series_id) if _utc(b["Booking_Start"]) == starts[1]]
    assert gone["Booking_Status"] == "Cancelled"

    # One date moved in Outlook (an exception): that booking moves.
    later = starts[2] + timedelta(hours=4)
    stack.graph.act_update_meeting(
        ALICE, occurrence(starts[2]), {"start": _wire(later), "end": _wire(later + timedelta(hours=1))}
    )
    expect([starts[0], later, *starts[3:]], "the moved date's booking moved")

    # The whole series renamed in Outlook: every future booking renamed.
    stack.graph.act_update_meeting(ALICE, master_id, {"subject": "Weekly planning"})
    eventually(
        lambda: (
            {b["Booking_Name"] for b in _bookings(stack, series_id) if b["Booking_Status"] != "Cancelled"}
            == {"Weekly planning"}
        ),
        what="bookings renamed",
    )

    # The whole series an hour later: Exchange puts every occurrence on the new time (the exception and
    # the cancelled date come back with it); each booking still live follows on Berlin's wall clock.
    first = at(first_monday, 11)
    stack.graph.act_update_meeting(
        ALICE, master_id, {"start": _wire(first), "end": _wire(first + timedelta(hours=1))}
    )
    shifted = [s + timedelta(hours=1) for s in starts]
    expect([shifted[0], *shifted[2:]], "the series' bookings moved an hour")

    # Cancelled in Outlook: every booking not started yet is cancelled, nothing is re-created.
    stack.graph.act_cancel_meeting(ALICE, master_id, "project ended")
    expect([], "the series' bookings cancelled")
    time.sleep(3.0)
    assert not _masters(stack, ALICE)
    # IBSS followed Outlook. The one write back: the cancelled date Exchange restored with the new time.
    assert _graph_writes(stack) == service_writes + 1
