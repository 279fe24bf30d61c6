"""PolicyGate: the space's IBSS policy (read through the real client from the emulator, cached) applied
to an Outlook-made meeting's CreateBooking in each building mode."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from emulators.ibss.testing import IbssEmulator
from shared.ibss import IbssClient
from shared.ibss.models import BookableHours, BookingPolicy, Weekday
from shared.rooms.models import BuildingConfig
from shared.sync import SpaceRef
from shared.sync.plan import AcceptRoomEvent, CreateBooking, DeclineRoomEvent, SyncPlan
from shared.sync.policy import PolicyMode
from shared.worker.policy import PolicyGate, space_policy

NOW = datetime(2030, 1, 7, 6, 0, tzinfo=UTC)  # the emulator's clock: Monday 07:00 Berlin
AURORA = SpaceRef(node_id=1001, space_id="HQ-1-AURORA", room_mailbox="aurora@contoso.example")


class Modes:
    def __init__(self, modes: dict[int, PolicyMode] | None = None) -> None:
        self.modes = modes or {}
        self.asked = 0

    async def mode_for(self, node_id: int) -> PolicyMode | None:
        self.asked += 1
        return self.modes.get(node_id)


def plan_for(start: datetime, space: SpaceRef = AURORA) -> tuple[SyncPlan, CreateBooking]:
    action = CreateBooking(
        space=space,
        start=start,
        end=start + timedelta(hours=1),
        name="Review",
        owner_email="bob@contoso.example",
        origin_ical_uid="uid-1",
        room_event_id="ev-1",
    )
    return SyncPlan(actions=(action,)), action


EVENING = datetime(2030, 1, 8, 19, 30, tzinfo=UTC)  # Tuesday 20:30 Berlin: after 20:00
MORNING = datetime(2030, 1, 8, 8, 0, tzinfo=UTC)


async def test_each_mode(client: IbssClient) -> None:
    plan, _ = plan_for(EVENING)
    enforced = await PolicyGate(client, Modes()).review(plan, NOW)
    (decline,) = enforced.actions
    assert isinstance(decline, DeclineRoomEvent)
    assert "Aurora can be booked Mon-Fri 07:00-20:00 (Europe/Berlin); this meeting starts at 20:30." in (
        decline.comment
    )

    warned = await PolicyGate(client, Modes({1001: PolicyMode.WARN})).review(plan, NOW)
    assert isinstance(warned.actions[-1], AcceptRoomEvent)
    ignored = await PolicyGate(client, Modes({1001: PolicyMode.IGNORE})).review(plan, NOW)
    assert ignored == plan
    # The default applies to buildings without a mode, and a building's mode beats an `ignore` default.
    assert await PolicyGate(client, Modes(), default_mode=PolicyMode.IGNORE).review(plan, NOW) == plan
    overridden = PolicyGate(client, Modes({1001: PolicyMode.ENFORCE}), default_mode=PolicyMode.IGNORE)
    assert isinstance((await overridden.review(plan, NOW)).actions[0], DeclineRoomEvent)


async def test_a_fitting_meeting_costs_no_table_read_and_the_policy_is_cached(
    client: IbssClient, emu: IbssEmulator
) -> None:
    modes = Modes()
    gate = PolicyGate(client, modes)
    plan, _ = plan_for(MORNING)
    emu.clear_request_counts()
    assert await gate.review(plan, NOW) == plan
    first = emu.request_counts()["total"]
    assert first > 0
    assert (
        await gate.review(plan_for(MORNING + timedelta(hours=2))[0], NOW)
        == plan_for(MORNING + timedelta(hours=2))[0]
    )
    assert emu.request_counts()["total"] == first  # cached
    assert modes.asked == 0


async def test_cache_expires(client: IbssClient, emu: IbssEmulator) -> None:
    ticks = [0.0]
    gate = PolicyGate(client, Modes(), ttl_seconds=60, clock=lambda: ticks[0])
    await gate.policy_of(AURORA)
    emu.clear_request_counts()
    ticks[0] = 61.0
    await gate.policy_of(AURORA)
    assert emu.request_counts()["total"] > 0


async def test_unknown_space_and_plans_without_creates_pass(client: IbssClient) -> None:
    ghost = SpaceRef(node_id=1001, space_id="NOPE", room_mailbox="nope@contoso.example")
    plan, _ = plan_for(EVENING, ghost)
    gate = PolicyGate(client, Modes())
    assert await gate.review(plan, NOW) == plan
    assert await gate.review(SyncPlan(), NOW) == SyncPlan()


def test_space_policy_from_the_ibss_model() -> None:
    wire = BookingPolicy(
        id="p",
        node_id=1001,
        bookable_hours=[
            BookableHours(day=Weekday.SATURDAY, start=time(20, 0), end=time.max),
            BookableHours(day=Weekday.MONDAY, start=time(7, 30), end=time(19, 45)),
        ],
        max_duration_min=90,
        window_days=14,
    )
    converted = space_policy(wire, "Aurora", "Europe/Berlin")
    assert [(h.weekday, h.start_minute, h.end_minute) for h in converted.hours] == [
        (5, 1200, 1440),
        (0, 450, 1185),
    ]
    assert (converted.max_duration_min, converted.window_days) == (90, 14)


def test_building_config_policy_mode_is_tolerant() -> None:
    row = {"PartitionKey": "building", "RowKey": "1001", "node_id": 1001}
    assert BuildingConfig.from_entity(row).policy_mode is None
    assert BuildingConfig.from_entity({**row, "policy_mode": " Warn "}).policy_mode is PolicyMode.WARN
    assert BuildingConfig.from_entity({**row, "policy_mode": "enforse"}).policy_mode is None
    assert BuildingConfig(node_id=1, policy_mode=PolicyMode.IGNORE).to_entity()["policy_mode"] == "ignore"
