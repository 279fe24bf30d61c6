"""Graph requests per adapter operation (product goal: ≤ 2 Graph requests per synced change)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from emulators.graph.testing import GraphEmulator
from shared.graph.outlook_writer import OutlookWriter
from shared.sync.plan import CancelMeeting, DeclineRoomEvent, MeetingChanges, MeetingTarget, UpdateMeeting

from .conftest import Graph
from .helpers import ALICE, AURORA, BOREALIS, DAVE, create_action, outlook_meeting, utc


async def test_requests_per_operation(graph: Graph, emu: GraphEmulator) -> None:
    counts: dict[str, int] = {}

    async def measure(name: str, op: Callable[[], Awaitable[object]]) -> object:
        emu.reset_request_counts()
        result = await op()
        counts[name] = int(emu.request_counts()["total"])
        return result

    made = emu.act_create_meeting(
        ALICE, outlook_meeting(start="2026-11-24T09:00:00", end="2026-11-24T10:00:00")
    )
    cal, writer = graph.calendar, graph.writer
    await measure("get_event", lambda: cal.get_event(ALICE, made["id"]))
    await measure("find_by_ical_uid", lambda: cal.find_by_ical_uid(AURORA, made["iCalUId"]))
    await measure("find_by_marker", lambda: cal.find_by_marker(AURORA, "BK-x"))
    created = await measure("create (owner mode)", lambda: writer.apply(create_action()))
    await measure(
        "create (owner mode, resolve_room_copy)",
        lambda: OutlookWriter(cal, resolve_room_copy=True).apply(
            create_action(booking_id="BK-2", room=BOREALIS)
        ),
    )
    event_id = created.event_id  # type: ignore[attr-defined]
    target = MeetingTarget(role="organizer", mailbox=ALICE, event_id=event_id)
    times = UpdateMeeting(
        target=target,
        changes=MeetingChanges(start=utc("2026-11-23T13:00:00"), end=utc("2026-11-23T14:00:00")),
    )
    await measure("update times/subject", lambda: writer.apply(times))
    people = UpdateMeeting(target=target, changes=MeetingChanges(attendees_add=(DAVE,)))
    await measure("update attendees (no current given)", lambda: writer.apply(people))
    current = await cal.get_event(ALICE, event_id)
    people2 = UpdateMeeting(target=target, changes=MeetingChanges(attendees_remove=(DAVE,)))
    await measure("update attendees (current given)", lambda: writer.apply(people2, current=current))
    room = await measure(
        "create (room mode, require_room_free)",
        lambda: writer.apply(create_action(room_mode=True, booking_id="BK-3", room="cirrus@contoso.example")),
    )
    room_target = MeetingTarget(role="room", mailbox="cirrus@contoso.example", event_id=room.event_id)  # type: ignore[attr-defined]
    await measure(
        "update (room mode, require_room_free)",
        lambda: writer.apply(
            UpdateMeeting(
                target=room_target,
                changes=MeetingChanges(start=utc("2026-11-23T15:00:00"), end=utc("2026-11-23T16:00:00")),
                require_room_free=True,
            )
        ),
    )
    await measure("cancel", lambda: writer.apply(CancelMeeting(target=target, comment="c")))
    copy = await cal.find_by_ical_uid(AURORA, made["iCalUId"])
    assert copy is not None
    await measure(
        "decline (room)",
        lambda: writer.apply(DeclineRoomEvent(room_mailbox=AURORA, event_id=copy.id or "", comment="d")),
    )
    print("\nGraph requests per operation:")
    for name, n in counts.items():
        print(f"  {name:45s} {n}")
    assert counts == {
        "get_event": 1,
        "find_by_ical_uid": 1,
        "find_by_marker": 1,
        "create (owner mode)": 1,
        "create (owner mode, resolve_room_copy)": 2,
        "update times/subject": 1,
        "update attendees (no current given)": 2,
        "update attendees (current given)": 1,
        "create (room mode, require_room_free)": 2,
        "update (room mode, require_room_free)": 2,
        "cancel": 1,
        "decline (room)": 1,
    }
