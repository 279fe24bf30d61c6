"""The ops page in Debian's chromium (headless, Playwright) on the local stack: a booking made in IBSS fails
to sync (IBSS answers 500), the page shows the failed item with its reason, an operator re-processes it
once IBSS is back, and the page shows it done (and the meeting is in Outlook)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from playwright.async_api import async_playwright, expect

from emulators.graph.testing import GraphEmulator
from emulators.ibss.testing import IbssEmulator
from tests.slots import business_slot
from tests.stack_fixtures import RunningHost

CHROMIUM = Path("/usr/bin/chromium")
ALICE = "alice@contoso.example"
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _chromium() -> Path:
    """Debian's chromium; installed when missing and possible (root with apt), else the test is skipped."""
    if CHROMIUM.exists():
        return CHROMIUM
    if os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(
            "apt-get update -qq && apt-get install -y -qq chromium", shell=True, check=False, timeout=600
        )
    if not CHROMIUM.exists():
        pytest.skip("/usr/bin/chromium is missing and could not be installed (run `make test` as root)")
    return CHROMIUM


async def test_failed_item_is_shown_with_its_reason_and_reprocessed(
    ops_stack: tuple[RunningHost, GraphEmulator, IbssEmulator],
) -> None:
    host, graph, ibss = ops_stack
    chromium = _chromium()
    # IBSS fails reads of single bookings until the fault is cleared: the booking job fails with that reason.
    ibss.inject_fault(
        status=500,
        method="GET",
        path_regex=r"^/v2/\d+/bookings/[^/]+$",
        times=None,
        message="IBSS maintenance",
    )
    start, end = business_slot(3, 9)
    booking_id = str(ibss.act_book(ALICE, "HQ-1-AURORA", start, end, name="Ops check")["Booking_Id"])

    shot = Path(tempfile.gettempdir()) / f"ops-page-{booking_id}.png"
    with tempfile.TemporaryDirectory(prefix="ops-chromium-") as profile:
        async with async_playwright() as pw:
            context = await pw.chromium.launch_persistent_context(
                profile, executable_path=str(chromium), args=LAUNCH_ARGS, headless=True
            )
            try:
                page = await context.new_page()
                await page.goto(host.url("ops"))
                row = page.locator(f'#events tr[data-booking-id="{booking_id}"]')
                await expect(row.locator(".state")).to_have_text("error", timeout=30_000)
                await expect(row.locator(".reason")).to_contain_text(
                    "IBSS 500 [InjectedFault]: IBSS maintenance"
                )
                await page.screenshot(path=str(shot), full_page=True)

                ibss.clear_faults()
                await row.get_by_role("button", name="Re-process").click()
                await expect(page.locator("#status")).to_contain_text(f"Re-queued booking {booking_id}")
                await expect(row.locator(".state")).to_have_text("done", timeout=30_000)
                await expect(row.get_by_role("button", name="Re-process")).to_have_count(0)
                await expect(row.locator(".reason")).to_contain_text("write(s)")
                await page.screenshot(path=str(shot.with_name(shot.stem + "-done.png")), full_page=True)
            finally:
                await context.close()

    meetings = [e for e in graph.mailbox_events(ALICE) if "Ops check" in (e.get("subject") or "")]
    assert len(meetings) == 1  # synced once, after the re-process
