"""Repeated no-shows in a series (issue #8), end to end: recurring meetings made in Outlook, and booking
series made in IBSS (one recurring meeting).

A weekly series in Aurora is booked in IBSS (one booking per occurrence). The tests drive both emulators'
clocks to each occurrence (just before it, then past ``Meta_Auto_Cancel_Thld_Min``), so IBSS auto-cancels
it as nobody checked in; nothing sleeps for real minutes. The dev host keeps the real clock: the series lies
ahead of real time, and the service decides from IBSS's status alone.

With the building's ``no_show_release_after`` = 2, the second no-show in a row releases the room from the
rest of the series: the room declines the series (its calendar no longer holds the remaining occurrences,
the organizer is told why) and the remaining IBSS bookings are cancelled with a reason. With the setting
off, each no-show only frees its own occurrence. An IBSS-made series is released the same way; there the
room declines its copy (owner mode) or cancels its own meeting (room mode), and the owner is told.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from emulators.graph.testing import GraphEmulator
from emulators.ibss.testing import IbssEmulator
from shared.config import AppSettings
from shared.rooms.models import BuildingConfig
from shared.rooms.store import BuildingStore
from shared.storage.account import StorageAccount
from tests.e2e.conftest import SyncStack, eventually, onboarded_stack
from tests.e2e.test_series_outlook_made import AURORA, BOB, _local, _monday, expect, series, series_bookings
from tests.stack_fixtures import AzuritePool

NODE = 1001
THRESHOLD_MIN = 15  # Meta_Auto_Cancel_Thld_Min of the demo building's rooms
LEAD = timedelta(minutes=10)  # the driven clocks start this long before an occurrence
HOUR = 10  # 10:00-11:00 Berlin, inside the rooms' bookable hours


@dataclass
class NoShowStack:
    stack: SyncStack
    storage: str  # the host's Azurite: the building row is written there

    def release_after(self, count: int | None) -> None:
        async def put() -> None:
            account = StorageAccount.from_settings(AppSettings(AzureWebJobsStorage=self.storage))
            try:
                store = BuildingStore(account)
                current = (await store.list_all()).get(NODE) or BuildingConfig(
                    node_id=NODE, name="Contoso HQ", time_zone="Europe/Berlin"
                )
                await store.put(current.model_copy(update={"no_show_release_after": count}))
            finally:
                await account.close()

        asyncio.run(put())


@pytest.fixture(params=["owner", "room"])
def no_show_stack(
    request: pytest.FixtureRequest,
    graph_emulator: GraphEmulator,
    ibss_emulator: IbssEmulator,
    azurite_pool: AzuritePool,
) -> Iterator[NoShowStack]:
    """As ``ready_stack`` (own storage account and dev host, rooms subscribed), plus the storage address."""
    graph_emulator.reset()
    ibss_emulator.reset()
    try:
        with onboarded_stack(azurite_pool, graph_emulator, ibss_emulator, request.param) as (stack, storage):
            yield NoShowStack(stack=stack, storage=storage)
    finally:
        # The emulators are shared with later suites: give them back on real time.
        now = datetime.now(UTC)
        ibss_emulator.set_clock(now, frozen=False)
        graph_emulator.set_clock(_iso(now))


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _no_show(stack: SyncStack, booking: dict[str, Any]) -> None:
    """Both clocks to just before the occurrence, then past the threshold: nobody checks in."""
    start = datetime.fromisoformat(str(booking["Booking_Start"]).replace("Z", "+00:00"))
    stack.ibss.set_clock(start - LEAD, frozen=False)
    stack.graph.set_clock(_iso(start - LEAD))
    minutes = LEAD.total_seconds() / 60 + THRESHOLD_MIN + 1
    stack.ibss.advance_clock(minutes=minutes)  # IBSS auto-cancels at once and sends its hook
    stack.graph.advance_clock(minutes * 60)
    eventually(
        lambda: _status(stack, booking["Booking_Id"]) == "Auto Cancelled" or None, what="auto-cancelled"
    )


def _status(stack: SyncStack, booking_id: str) -> str:
    (row,) = [b for b in stack.ibss.state()["bookings"] if b["Booking_Id"] == booking_id]
    return str(row["Booking_Status"])


def _room_occurrences(stack: SyncStack, ical_uid: str) -> list[str]:
    """Start times (UTC) of the series' occurrences the room's calendar holds (its calendarView)."""
    masters = [
        e["id"]
        for e in stack.graph.mailbox_events(AURORA)
        if e.get("type") == "seriesMaster" and e["iCalUId"] == ical_uid and not e.get("isCancelled")
    ]
    if not masters:
        return []  # the room no longer holds the series at all
    start = datetime.now(UTC) - timedelta(days=1)
    params = {"startDateTime": _iso(start), "endDateTime": _iso(start + timedelta(days=60)), "$top": "500"}
    token = stack.graph.issue_token()
    found = httpx.get(
        f"{stack.graph.base_url}/users/{AURORA}/calendarView",
        params=params,
        headers={"Authorization": f"Bearer {token}", "Prefer": 'outlook.timezone="UTC"'},
        timeout=30,
    )
    found.raise_for_status()
    return sorted(
        str(e["start"]["dateTime"])[:16]
        for e in found.json()["value"]
        if e.get("seriesMasterId") in masters and not e.get("isCancelled")
    )


def _told(stack: SyncStack, needle: str) -> list[dict[str, Any]]:
    return [
        m
        for m in stack.graph.messages()
        if m["kind"] == "declined" and m["from"] == AURORA and BOB in m["to"] and needle in m["comment"]
    ]


def _book_series(stack: SyncStack) -> tuple[str, list[dict[str, Any]]]:
    first = _monday(1)
    created = stack.graph.act_create_meeting(BOB, series(first, HOUR, 4, subject="Team sync"))
    rows = expect(stack, [_local(first + timedelta(weeks=i), HOUR) for i in range(4)], "series booked")
    return str(created["iCalUId"]), rows


def test_series_released_after_two_no_shows_in_a_row(no_show_stack: NoShowStack) -> None:
    stack = no_show_stack.stack
    no_show_stack.release_after(2)
    ical_uid, rows = _book_series(stack)
    eventually(lambda: len(_room_occurrences(stack, ical_uid)) == 4 or None, what="room holds 4 occurrences")

    # First no-show: only that occurrence leaves the room's calendar; the organizer is told why.
    _no_show(stack, rows[0])
    eventually(lambda: len(_room_occurrences(stack, ical_uid)) == 3 or None, what="first occurrence freed")
    eventually(lambda: _told(stack, "auto-cancelled"), what="organizer told about the no-show")
    assert [b["Booking_Id"] for b in series_bookings(stack)] == [b["Booking_Id"] for b in rows[1:]]

    # Second no-show in a row: the room leaves the rest of the series, the bookings are cancelled.
    _no_show(stack, rows[1])
    eventually(lambda: not _room_occurrences(stack, ical_uid) or None, what="room released from the series")
    eventually(lambda: not series_bookings(stack) or None, what="remaining bookings cancelled")
    for b in rows[2:]:
        (row,) = [r for r in stack.ibss.state()["bookings"] if r["Booking_Id"] == b["Booking_Id"]]
        assert row["Booking_Status"] == "Cancelled"
        assert "no check-in" in str(row.get("Booking_Cancel_Reason") or "")
    (told,) = eventually(lambda: _told(stack, "rest of the series"), what="organizer told about the release")
    assert "last 2 occurrences" in told["comment"]
    # The organizer keeps the meeting; nothing is booked again.
    time.sleep(2.0)
    assert not series_bookings(stack)


def test_with_the_setting_off_each_no_show_frees_only_its_occurrence(no_show_stack: NoShowStack) -> None:
    stack = no_show_stack.stack
    no_show_stack.release_after(None)
    ical_uid, rows = _book_series(stack)
    eventually(lambda: len(_room_occurrences(stack, ical_uid)) == 4 or None, what="room holds 4 occurrences")

    _no_show(stack, rows[0])
    eventually(lambda: len(_room_occurrences(stack, ical_uid)) == 3 or None, what="first occurrence freed")
    _no_show(stack, rows[1])
    eventually(lambda: len(_room_occurrences(stack, ical_uid)) == 2 or None, what="second occurrence freed")
    time.sleep(3.0)  # give a (wrong) release time to happen
    assert len(_room_occurrences(stack, ical_uid)) == 2
    assert [b["Booking_Id"] for b in series_bookings(stack)] == [b["Booking_Id"] for b in rows[2:]]
    assert len(_told(stack, "auto-cancelled")) == 2
    assert not _told(stack, "rest of the series")


# ------------------------------------------------------------------ series made in IBSS (Flex)

ALICE = "alice@contoso.example"


def _room_view(stack: SyncStack) -> list[dict[str, Any]]:
    """Every item the room's calendar shows in the next 60 days (calendarView: occurrences expanded)."""
    start = datetime.now(UTC) - timedelta(days=1)
    params = {"startDateTime": _iso(start), "endDateTime": _iso(start + timedelta(days=60)), "$top": "500"}
    found = httpx.get(
        f"{stack.graph.base_url}/users/{AURORA}/calendarView",
        params=params,
        headers={"Authorization": f"Bearer {stack.graph.issue_token()}"},
        timeout=30,
    )
    found.raise_for_status()
    return [e for e in found.json()["value"] if not e.get("isCancelled")]


def test_ibss_series_released_after_two_no_shows_in_a_row(no_show_stack: NoShowStack) -> None:
    stack = no_show_stack.stack
    no_show_stack.release_after(2)
    first = _monday(1)
    dates = [
        (_local(first + timedelta(weeks=i), HOUR), _local(first + timedelta(weeks=i), HOUR + 1))
        for i in range(4)
    ]
    made = stack.ibss.act_book(ALICE, "HQ-1-AURORA", name="Flex weekly", parties=[BOB], occurrences=dates)
    series_id = made["Booking_Series_Id"]

    def bookings() -> list[dict[str, Any]]:
        return sorted(
            (b for b in stack.ibss.state()["bookings"] if b.get("Booking_Series_Id") == series_id),
            key=lambda b: b["Booking_Start"],
        )

    eventually(lambda: len(_room_view(stack)) == 4 or None, what="the room holds the 4 occurrences")
    rows = bookings()
    _no_show(stack, rows[0])
    eventually(lambda: len(_room_view(stack)) == 3 or None, what="first occurrence freed")
    _no_show(stack, rows[1])
    eventually(lambda: not _room_view(stack) or None, what="room released from the series")

    def cancelled_with_reason() -> bool:
        rest = bookings()[2:]
        return all(
            b["Booking_Status"] == "Cancelled" and "no check-in" in str(b.get("Booking_Cancel_Reason") or "")
            for b in rest
        )

    eventually(lambda: cancelled_with_reason() or None, what="remaining bookings cancelled with a reason")
    kind = "declined" if stack.host_mode == "owner" else "cancelled"

    def told() -> list[dict[str, Any]]:
        return [
            m
            for m in stack.graph.messages()
            if m["kind"] == kind
            and m["from"] == AURORA
            and ALICE in m["to"]
            and "rest of the series" in m["comment"]
        ]

    eventually(told, what="owner told about the release")


def test_ibss_series_with_the_setting_off_keeps_the_rest(no_show_stack: NoShowStack) -> None:
    stack = no_show_stack.stack
    no_show_stack.release_after(None)
    first = _monday(1)
    dates = [
        (_local(first + timedelta(weeks=i), HOUR), _local(first + timedelta(weeks=i), HOUR + 1))
        for i in range(4)
    ]
    made = stack.ibss.act_book(ALICE, "HQ-1-AURORA", name="Flex weekly", parties=[BOB], occurrences=dates)
    series_id = made["Booking_Series_Id"]
    eventually(lambda: len(_room_view(stack)) == 4 or None, what="the room holds the 4 occurrences")
    rows = sorted(
        (b for b in stack.ibss.state()["bookings"] if b.get("Booking_Series_Id") == series_id),
        key=lambda b: b["Booking_Start"],
    )
    _no_show(stack, rows[0])
    eventually(lambda: len(_room_view(stack)) == 3 or None, what="first occurrence freed")
    _no_show(stack, rows[1])
    eventually(lambda: len(_room_view(stack)) == 2 or None, what="second occurrence freed")
    time.sleep(3.0)  # give a (wrong) release time to happen
    assert len(_room_view(stack)) == 2
    assert all(_status(stack, b["Booking_Id"]) not in ("Cancelled", "Auto Cancelled") for b in rows[2:])
    assert not [m for m in stack.graph.messages() if "rest of the series" in m["comment"]]
