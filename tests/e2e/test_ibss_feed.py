"""Flex edits reach Outlook with no IBSS hooks at all: the change feed polls (``SYNC_IBSS_CHANGE_DETECTION
=poll``), in both organizer modes. The Flex-made scenarios of ``test_ibss_made.py`` run here unchanged, on a
stack whose IBSS emulator sends no hooks.

Not here yet: ``test_room_already_taken_in_outlook_cancels_the_ibss_booking``. With the Flex booking reaching
the service up to a poll interval later, the Outlook meeting's own round can reach IBSS first, find the space
taken by the Flex booking and decline the meeting that the room had accepted first (a race the hook path only
makes unlikely); the room-calendar-as-arbiter rule has to hold on the Outlook path too before it runs here."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from emulators.graph.testing import GraphEmulator
from emulators.ibss.app import DEMO_DATA, load_data
from emulators.ibss.testing import IbssEmulator
from scripts.stack import ROOT, azurite_running, free_port, stop_process
from tests.e2e import test_ibss_made as flex
from tests.e2e.conftest import SyncStack
from tests.stack_fixtures import emulator_env, start_host

# The demo building without its seed bookings: the feed would (rightly) sync those too, as bookings made
# in IBSS just now, and the scenarios expect an otherwise empty building (hooks never announce seeds).
NO_SEEDS = {k: v for k, v in load_data(DEMO_DATA).items() if k != "bookings"}
POLL_ENV = {
    "SYNC_IBSS_CHANGE_DETECTION": "poll",
    "SYNC_IBSS_POLL_SECONDS": "1",
    "SYNC_IBSS_FEED_SCHEDULE": "*/1 * * * * *",
}


@pytest.fixture(scope="module", params=["owner", "room"])
def poll_stack_session(
    request: pytest.FixtureRequest, graph_emulator: GraphEmulator, ibss_emulator: IbssEmulator
) -> Iterator[SyncStack]:
    with azurite_running() as azurite:
        port = free_port()
        env = {**emulator_env(graph_emulator, ibss_emulator, port, request.param), **POLL_ENV}
        host = start_host(ROOT / "function_app.py", azurite.connection_string, env, port=port)
        try:
            yield SyncStack(host=host, graph=graph_emulator, ibss=ibss_emulator, host_mode=request.param)
        finally:
            stop_process(host.proc)
            ibss_emulator.set_hooks(enabled=True)


@pytest.fixture
def sync_stack(poll_stack_session: SyncStack) -> Iterator[SyncStack]:
    """As the package's ``sync_stack``, but IBSS sends no hooks: every change comes through the feed."""
    stack = poll_stack_session
    stack.graph.reset()
    stack.ibss.reset(clock=datetime.now(UTC), frozen=False, data=NO_SEEDS)
    stack.ibss.set_hooks(enabled=False)
    yield stack
    # The premise of every test here: IBSS announced nothing, so what reached Outlook came by the feed.
    deliveries = stack.ibss.hook_deliveries()
    assert deliveries
    assert {d["status"] for d in deliveries} == {"off"}


test_book_reschedule_rename_cancel = flex.test_book_reschedule_rename_cancel
test_move_to_another_space_releases_the_old_room = flex.test_move_to_another_space_releases_the_old_room
test_parties_become_attendees = flex.test_parties_become_attendees
