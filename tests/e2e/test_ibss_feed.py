"""Flex edits reach Outlook with no IBSS hooks at all: the change feed polls (``SYNC_IBSS_CHANGE_DETECTION
=poll``), in both organizer modes. The Flex-made scenarios of ``test_ibss_made.py`` run here unchanged, on a
stack whose IBSS emulator sends no hooks.

Beyond those: a booking hard-deleted in IBSS is cancelled in Outlook by the reconciliation sweep.

The room calendar is the arbiter also when the feed sees a Flex booking late: an Outlook meeting the room
accepted before the Flex booking was made, whose booking IBSS refuses because the Flex booking holds the
space, cancels the Flex booking (``test_room_already_taken_in_outlook_cancels_the_ibss_booking``), whichever
change the service sees first."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from emulators.graph.testing import GraphEmulator
from emulators.ibss.testing import IbssEmulator, demo_data
from scripts.stack import ROOT, azurite_running, free_port, stop_process
from tests.e2e import test_ibss_made as flex
from tests.e2e.conftest import SyncStack, eventually
from tests.slots import business_slot
from tests.stack_fixtures import ROOM_REPLY_CHECK_SECONDS, emulator_env, start_host

# The demo building without its seed bookings: the feed would (rightly) sync those too, as bookings made
# in IBSS just now, and the scenarios expect an otherwise empty building (hooks never announce seeds).
NO_SEEDS = demo_data(seeds=False)
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
    stack.ibss.reset(data=NO_SEEDS)
    stack.ibss.set_hooks(enabled=False)
    yield stack
    # The premise of every test here: IBSS announced nothing, so what reached Outlook came by the feed.
    deliveries = stack.ibss.hook_deliveries()
    assert deliveries
    assert {d["status"] for d in deliveries} == {"off"}


test_book_reschedule_rename_cancel = flex.test_book_reschedule_rename_cancel
test_move_to_another_space_releases_the_old_room = flex.test_move_to_another_space_releases_the_old_room
test_parties_become_attendees = flex.test_parties_become_attendees
test_room_already_taken_in_outlook_cancels_the_ibss_booking = (
    flex.test_room_already_taken_in_outlook_cancels_the_ibss_booking
)


def _until_idle(stack: SyncStack, quiet: float = 1.5, limit: float = 20.0) -> None:
    """Wait until the host has logged no work (beyond its once-a-second maintenance) for ``quiet`` s."""
    log = stack.host.log
    mark, calm_since = log.total, time.monotonic()
    deadline = calm_since + limit
    while time.monotonic() < deadline:
        time.sleep(0.25)
        lines = log.since(mark)
        mark += len(lines)
        busy = [line for line in lines if "rooms maintenance done" not in line]
        if busy:
            calm_since = time.monotonic()
        elif time.monotonic() - calm_since >= quiet:
            return
    raise AssertionError(f"the service did not fall idle within {limit}s")


def test_a_booking_hard_deleted_in_ibss_cancels_its_meeting_by_the_sweep(sync_stack: SyncStack) -> None:
    """Gone from the API, not cancelled: no hook and no Booking_Modified can tell. The reconciliation sweep
    (here on demand from the ops API; nightly by its timer) compares the building with the links."""
    stack = sync_stack
    start, end = business_slot(4, 9)
    booking = stack.ibss.act_book(flex.ALICE, "HQ-1-AURORA", start, end, name="Purged")
    holder = flex._meeting_holder(stack)
    eventually(lambda: flex._live(stack, holder, "Purged"), what="meeting in Outlook")
    eventually(lambda: flex._live(stack, flex.AURORA), what="room calendar entry")

    # The rounds our own meeting set off (its echo, a full resync after the reset) and the room-reply check
    # its create scheduled read the booking too: a purge seen by one of them is not seen by the sweep this
    # test is about. The check runs ROOM_REPLY_CHECK_SECONDS after the create, so quiet lasts longer.
    _until_idle(stack, quiet=ROOM_REPLY_CHECK_SECONDS + 2.0)
    stack.ibss.purge_booking(str(booking["Booking_Id"]))
    queued = httpx.post(stack.host.url("ops/ibss/sweep?node_id=1001"), timeout=20)
    assert queued.status_code == 202, queued.text
    assert queued.json() == {"queued": [1001]}

    eventually(lambda: not flex._live(stack, holder, "Purged"), what="meeting cancelled by the sweep")
    eventually(lambda: not flex._live(stack, flex.AURORA), what="room released")

    def report() -> dict | None:
        body = httpx.get(stack.host.url("ops/overview?days=1"), timeout=20).json()
        found = [r for r in body["ibss_sweeps"] if r["node_id"] == 1001 and r["gone"] >= 1]
        return found[0] if found else None

    swept = eventually(report, what="sweep report in the overview")
    assert swept["error"] is None
    assert swept["links_compared"] >= 1

    # A building outside the sync, or no number at all: refused with a reason, nothing queued.
    unknown = httpx.post(stack.host.url("ops/ibss/sweep?node_id=424242"), timeout=20)
    assert unknown.status_code == 404, unknown.text
    assert httpx.post(stack.host.url("ops/ibss/sweep?node_id=abc"), timeout=20).status_code == 400
