"""Deciding an IBSS change on Outlook as the base last saw it gives the plan real reads would give."""

from __future__ import annotations

from typing import Any

import pytest

from shared.sync import UNREAD, BookingStatus, CancelMeeting, OrganizerMode, Present, UpdateMeeting, reconcile
from shared.sync.assumed import fits_conditional_write, outlook_as_in_base
from tests.sync.factories import (
    BOB,
    BOREALIS,
    GUEST,
    NOW,
    START,
    H,
    Link,
    ibss_made,
    outlook_made,
    parties,
    person,
)

OWNER, ROOM = OrganizerMode.OWNER, OrganizerMode.ROOM


def _links() -> list[tuple[str, Link]]:
    return [
        ("ibss-owner", ibss_made(OWNER, parties=parties(BOB))),
        ("ibss-room", ibss_made(ROOM, parties=parties(BOB))),
        ("outlook-owner", outlook_made(OWNER, attendees=(person(BOB),))),
    ]


CHANGES: list[dict[str, Any]] = [
    {"start": START + H, "end": START + 2 * H},
    {"name": "Budget review"},
    {"parties": parties(BOB, GUEST)},
    {"start": START + 3 * H, "end": START + 4 * H, "name": "Moved and renamed"},
]


@pytest.mark.parametrize("change", CHANGES, ids=["move", "rename", "parties", "move+rename"])
@pytest.mark.parametrize(("kind", "link"), _links(), ids=lambda v: v if isinstance(v, str) else "")
def test_assumed_copies_give_the_plan_real_reads_give(kind: str, link: Link, change: dict[str, Any]) -> None:
    changed = link.booking.model_copy(update={**change, "version": "b9", "modified": NOW})
    real = link.run(booking=changed)
    assumed = outlook_as_in_base(link.base)
    assert assumed is not None, kind
    room, organizer = assumed
    on_base = reconcile(
        Present(changed), Present(room), Present(organizer) if organizer else UNREAD, link.base, link.cfg
    )
    if not real.outlook_writes:
        # A change the meeting cannot take (e.g. parties of an adopted meeting in room mode) is decided
        # on real reads: the assumed plan must then not pass as a conditional write.
        assert not fits_conditional_write(on_base, link.base) or on_base.actions == real.actions
        return
    assert on_base.actions == real.actions
    assert on_base.new_base == real.new_base
    assert fits_conditional_write(on_base, link.base)


def test_cancel_and_room_moves_are_decided_on_real_reads() -> None:
    link = ibss_made(OWNER)
    room, organizer = outlook_as_in_base(link.base) or (None, None)
    assert room is not None
    cancelled = link.booking.model_copy(update={"status": BookingStatus.CANCELLED, "version": "b9"})
    plan = reconcile(
        Present(cancelled), Present(room), Present(organizer) if organizer else UNREAD, link.base, link.cfg
    )
    assert any(isinstance(a, CancelMeeting) for a in plan.actions)
    assert not fits_conditional_write(plan, link.base)
    moved = link.booking.model_copy(update={"room_mailbox": BOREALIS, "version": "b9"})
    plan = reconcile(
        Present(moved), Present(room), Present(organizer) if organizer else UNREAD, link.base, link.cfg
    )
    assert not fits_conditional_write(plan, link.base)


def test_no_assumption_without_the_key_a_conditional_write_needs() -> None:
    link = ibss_made(OWNER)
    assert outlook_as_in_base(link.base.model_copy(update={"organizer_change_key": None})) is None
    room_link = ibss_made(ROOM)
    assert outlook_as_in_base(room_link.base.model_copy(update={"room_change_key": None})) is None
    assert outlook_as_in_base(link.base.model_copy(update={"room_event_id": None})) is None


def test_updates_carry_the_role_whose_key_the_base_holds() -> None:
    link = ibss_made(OWNER)
    changed = link.booking.model_copy(update={"start": START + H, "end": START + 2 * H, "version": "b9"})
    room, organizer = outlook_as_in_base(link.base) or (None, None)
    assert room is not None
    assert organizer is not None
    plan = reconcile(Present(changed), Present(room), Present(organizer), link.base, link.cfg)
    (update,) = plan.actions
    assert isinstance(update, UpdateMeeting)
    assert update.target.role == "organizer"
    assert update.target.event_id == link.base.organizer_event_id
