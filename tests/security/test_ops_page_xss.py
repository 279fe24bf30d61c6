"""Stored XSS on the ops page (GET /api/ops): hostile text planted in Table Storage, through the project's
own stores and table names, in every string field the page shows, must come out as text and never run.

One dev host (no Graph, no IBSS: no timer rewrites the planted rows) on the ops suite's private Azurite, one
Debian chromium (headless, Playwright) with two contexts: one as a browser sees the page (its CSP enforced;
no violation may be reported), and one with the CSP bypassed, so the page's own rendering (text, never
markup) is what is proven, not only the CSP behind it. Times are relative to the test's own clock reading;
the page reads today's and yesterday's partitions (UTC), so a run across midnight still finds the rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from playwright.async_api import BrowserContext, Dialog, async_playwright, expect

from scripts.stack import ROOT, Azurite, stop_process
from shared.ibss.feed import ChangeDetection, FeedState
from shared.ibss.sweep import SweepReport
from shared.rooms.models import BuildingConfig, OnboardingIssue, RoomRow
from shared.rooms.store import BuildingStore, OnboardingReport, RoomStore
from shared.state import ibss_feed
from shared.state.ibss_feed import TableSweepReports
from shared.state.mailboxless import TableMailboxlessOwners
from shared.state.sync_events import SyncEvent, SyncEventState, event_key
from shared.storage.account import StorageAccount
from shared.storage.names import TableName
from tests.admin.conftest import ops_azurite, ops_storage
from tests.admin.test_ops_page_browser import LAUNCH_ARGS, _chromium
from tests.stack_fixtures import RunningHost, start_host

__all__ = ["ops_azurite", "ops_storage"]  # the ops suite's private Azurite, reused (fixtures)

NODE = 4242
LONG_LIMIT = 500  # FeedState.last_error and SweepReport.error hold at most 500 characters

# Each sets window.__xss to its own number, or opens a dialog, if it ever runs; each holds markup or
# entities, so a field put into the DOM as HTML changes its text even where nothing would run.
PAYLOADS: list[str] = [
    '<img src=x onerror="window.__xss=1">',
    "<script>window.__xss=2</script>",
    '"><svg onload=window.__xss=3>',
    "javascript:/*</title></textarea></style><svg/onload=window.__xss=4>*/",
    '</td><iframe srcdoc="<script>parent.__xss=5</script>"></iframe>',
    "{{constructor.constructor('window.__xss=6')()}}<input autofocus onfocus=window.__xss=6>",
    "'><details open ontoggle=alert(7)>x</details>",
    "</script><script>window.__xss=8</script>",
    "&lt;img src=x onerror=window.__xss=9&gt; &amp;amp; &#60;b&#62;bold&#60;/b&#62;",
    "\u202e<b onmouseover=window.__xss=10>txet LTR</b>\u202c \u200b\u200d\u2028\u2029"
    " \ufdfd \U0001f469\u200d\U0001f4bb",
    "<math><mtext><table><mglyph><style><img src=x onerror=window.__xss=11></style></mglyph></table>",
    '<a href="javascript:window.__xss=12">open</a>'
    '<form action="javascript:window.__xss=12"><button>go</button></form>',
    '${window.__xss=13}`<object data="data:text/html,<script>parent.__xss=13</script>"></object>`',
    "<style>@import url(//evil.example/a.css)</style><link rel=stylesheet href=//evil.example/b.css>"
    "<base href=//evil.example/>",
    '<meta http-equiv="refresh" content="0;url=javascript:window.__xss=15"><template><img src=x></template>',
    "A" * 3000 + "<img src=x onerror=alert(16)>" + "Z" * 1000,
]

# Every string field the page shows, in the order the payloads are dealt out (each payload lands in at
# least one field; the long one in a field without a length limit).
FIELDS: list[str] = [
    "building.name",
    "feed.last_error",
    "room.building",
    "room.display_name",
    "room.mailbox",
    "room.space_id",
    "room.subscription_error",
    "room.last_error",
    "failed_event.kind",
    "failed_event.booking_id",
    "failed_event.space_id",
    "failed_event.error",
    "done_event.kind",
    "done_event.booking_id",
    "done_event.space_id",
    "done_event.outcome",
    "conflict.field",
    "conflict.winner",
    "conflict.ibss_value",
    "conflict.outlook_value",
    "conflict.reason",
    "conflict.link_id",
    "issue.mailbox",
    "issue.space_id",
    "issue.detail",
    "mailboxless.address",
]
VALUE: dict[str, str] = {name: PAYLOADS[i % len(PAYLOADS)] for i, name in enumerate(FIELDS)}

# Stored, but the page shows them differently or not at all: they must not run either.
EVENT_RK = '"><img src=x onerror=window.__xss=21>'  # the failed event's RowKey: only a data-rk attribute
HIDDEN_OUTCOME = "<img src=x onerror=window.__xss=22>"  # a failed event shows its error, not its outcome
FEED_MODE = "<script>window.__xss=23</script>"  # normalised to a known mode or none: shown as "—"
RECORDED_AT = "<svg onload=window.__xss=24>"  # through new Date(): shown as "Invalid Date"
SWEEP_ERROR = "<iframe srcdoc='<script>parent.__xss=25</script>'>"  # in the overview JSON, not on the page
# IBSS_HOOK_SECRET of the host: refused (not whsec_…); the page names the setting, never shows the value.
HOOK_SECRET = '<img src=x onerror="window.__xss=26">never-shown-secret'

# Elements the page itself never puts in <body>: any of them there comes from data. (Its one <script>, in
# <body>, is counted instead.)
FOREIGN = (
    "body :is(iframe, frame, frameset, object, embed, svg, math, img, image, picture, video, audio, source, "
    "track, a, area, form, base, link, meta, style, details, dialog, template, marquee, noscript, "
    "input[type=image])"
)
PAGE_SCRIPTS = 1

INSPECT = """(foreign) => {
  const tables = {};
  for (const table of document.querySelectorAll("table[id]")) {
    tables[table.id] = {
      heads: [...table.querySelectorAll("thead th")].map((th) => th.textContent.trim()),
      rows: [...table.tBodies[0].rows].map((tr) => ({
        data: { ...tr.dataset },
        cells: [...tr.cells].map((td) => td.textContent),
        tags: [...tr.querySelectorAll("*")].map((el) => el.tagName.toLowerCase()),
      })),
    };
  }
  const handlers = [...document.querySelectorAll("*")].flatMap((el) =>
    [...el.attributes].filter((a) => /^on/i.test(a.name)).map((a) => el.tagName + "[" + a.name + "]"));
  const tagsUnder = (sel) => [...document.querySelectorAll(sel + " *")].map((el) => el.tagName.toLowerCase());
  const problems = [...document.querySelectorAll("#setting-problems li")].map((li) => li.textContent);
  return {
    xss: window.__xss === undefined ? null : String(window.__xss),
    violations: window.__cspViolations || [],
    handlers,
    foreign: [...document.querySelectorAll(foreign)].map((el) => el.outerHTML.slice(0, 120)),
    scripts: document.scripts.length,
    cardTags: tagsUnder("#counts"),
    problemTags: tagsUnder("#setting-problems ul"),
    problems,
    problemsHidden: document.getElementById("setting-problems").hidden,
    onboardingRun: document.getElementById("onboarding-run").textContent,
    text: document.body.textContent,
    tables,
  };
}"""

# Runs before the page's own script (Playwright's init scripts are not subject to the page's CSP).
WATCH_CSP = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(e.violatedDirective + " " + (e.blockedURI || "") + " " + (e.sample || ""));
});
"""


@pytest.fixture(scope="module")
def xss_host(ops_azurite: Azurite) -> Iterator[RunningHost]:
    """function_app.py without Graph and IBSS: its timers find nothing to do, so the planted rows stay."""
    with pytest.MonkeyPatch.context() as env:
        for name in (
            "GRAPH_TENANT_ID",
            "GRAPH_CLIENT_ID",
            "GRAPH_CLIENT_SECRET",
            "GRAPH_CLIENT_CERTIFICATE",
            "IBSS_BASE_URL",
            "IBSS_API_KEY",
        ):
            env.delenv(name, raising=False)
        host = start_host(
            ROOT / "function_app.py", ops_azurite.connection_string, {"IBSS_HOOK_SECRET": HOOK_SECRET}
        )
    try:
        yield host
    finally:
        stop_process(host.proc)


async def _plant(account: StorageAccount, now: datetime) -> None:
    v = VALUE
    await BuildingStore(account).put(BuildingConfig(node_id=NODE, name=v["building.name"]))
    await RoomStore(account).create(
        RoomRow(
            mailbox=v["room.mailbox"],
            user_id="xss-room-user",
            display_name=v["room.display_name"],
            node_id=NODE,
            building=v["room.building"],
            space_id=v["room.space_id"],
            last_round_at=now - timedelta(seconds=90),
            last_error=v["room.last_error"],
            subscription_id="xss-subscription",
            subscription_expiration=now + timedelta(days=2),
            subscription_error=v["room.subscription_error"],
        )
    )

    feed = FeedState(
        node_id=NODE,
        watermark=now - timedelta(minutes=5),
        next_poll_at=now + timedelta(minutes=1),
        mode=ChangeDetection.POLL,
        last_poll_at=now - timedelta(minutes=1),
        last_success_at=now - timedelta(hours=1),
        last_error=v["feed.last_error"],
        failures=4,
        created_at=now - timedelta(days=1),
        interval_seconds=60,
    )
    entity = ibss_feed.to_entity(feed)
    entity["mode"] = FEED_MODE  # as a hand-edited row would hold it
    await (await account.ready_table(TableName.IBSS_FEED)).create_entity(entity)
    await TableSweepReports(account).save(
        SweepReport(
            node_id=NODE,
            started_at=now - timedelta(hours=2),
            finished_at=now - timedelta(hours=2) + timedelta(seconds=3),
            window_start=now - timedelta(hours=2),
            window_end=now + timedelta(days=30),
            error=SWEEP_ERROR,
        )
    )

    events = await account.ready_table(TableName.SYNC_EVENTS)
    pk, done_rk = event_key("xss", "done", now)
    failed = SyncEvent(
        pk=pk,
        rk=EVENT_RK,
        kind=v["failed_event.kind"],
        queue="sync-bookings",
        state=SyncEventState.ERROR,
        attempts=3,
        booking_id=v["failed_event.booking_id"],
        node_id=NODE,
        space_id=v["failed_event.space_id"],
        error=v["failed_event.error"],
        outcome=HIDDEN_OUTCOME,
        created_at=now - timedelta(seconds=30),
        updated_at=now,
        finished_at=now,
    )
    done = SyncEvent(
        pk=pk,
        rk=done_rk,
        kind=v["done_event.kind"],
        queue="sync-bookings",
        state=SyncEventState.DONE,
        attempts=1,
        booking_id=v["done_event.booking_id"],
        node_id=NODE,
        space_id=v["done_event.space_id"],
        outcome=v["done_event.outcome"],
        lag_ms=1234.0,
        created_at=now - timedelta(seconds=20),
        updated_at=now,
        finished_at=now,
    )
    for event in (failed, done):
        await events.create_entity(event.to_entity())

    # The row TableConflictLog.record writes, with every column hostile (winner too: a tampered row).
    conflicts = await account.ready_table(TableName.CONFLICTS)
    await conflicts.create_entity(
        {
            "PartitionKey": now.strftime("%Y%m%d"),
            "RowKey": f"{now.strftime('%H%M%S%f')}-0000beef",
            "link_id": v["conflict.link_id"],
            "field": v["conflict.field"],
            "winner": v["conflict.winner"],
            "ibss_value": v["conflict.ibss_value"],
            "outlook_value": v["conflict.outlook_value"],
            "reason": v["conflict.reason"],
            "recorded_at": RECORDED_AT,
        }
    )

    report = OnboardingReport(account)
    await report.replace_issues(
        [
            OnboardingIssue(
                kind="space_mailbox_missing",
                mailbox=v["issue.mailbox"],
                space_id=v["issue.space_id"],
                node_id=NODE,
                detail=v["issue.detail"],
            )
        ]
    )
    await report.record_run(now - timedelta(minutes=10), {"issues": 1})
    # remember() lowercases: the planted payload is stored (and shown) as it comes back.
    await TableMailboxlessOwners(account).remember(v["mailboxless.address"], now - timedelta(minutes=3))


@dataclass
class Table:
    heads: list[str]
    rows: list[dict[str, Any]]

    def column(self, head: str) -> int:
        assert head in self.heads, f"no column {head!r} in {self.heads}"
        return self.heads.index(head)

    def row(self, **data: str) -> dict[str, Any]:
        found = [r for r in self.rows if all(r["data"].get(k) == want for k, want in data.items())]
        assert len(found) == 1, f"rows with {data}: {len(found)} of {[r['data'] for r in self.rows]}"
        return found[0]

    def cell(self, head: str, row: dict[str, Any] | None = None) -> str:
        if row is None:
            assert len(self.rows) == 1, f"expected one row, got {[r['cells'] for r in self.rows]}"
            row = self.rows[0]
        return str(row["cells"][self.column(head)])


def _check_rendered_as_text(seen: dict[str, Any]) -> None:
    """Every planted string is in its cell, character for character, and nothing became markup."""
    t = {name: Table(heads=raw["heads"], rows=raw["rows"]) for name, raw in seen["tables"].items()}
    v = VALUE

    for name, table in t.items():
        for row in table.rows:
            # One cell per column (a "</td>" in data split no row), no element in a cell but the button.
            assert len(row["cells"]) == len(table.heads), (name, row["cells"])
            assert set(row["tags"]) <= {"td", "button"}, (name, row["tags"])
    assert set(seen["cardTags"]) <= {"div", "b", "span"}, seen["cardTags"]
    assert set(seen["problemTags"]) <= {"li", "b"}, seen["problemTags"]

    shown: dict[str, str] = {
        "building.name": t["buildings"].cell("Building"),
        "feed.last_error": t["feeds"].cell("Last error"),
        "room.building": t["rooms"].cell("Building"),
        "room.space_id": t["rooms"].cell("Space"),
        "room.last_error": t["rooms"].cell("Last error"),
        "conflict.field": t["conflicts"].cell("Field"),
        "conflict.winner": t["conflicts"].cell("Winner"),
        "conflict.ibss_value": t["conflicts"].cell("IBSS value"),
        "conflict.outlook_value": t["conflicts"].cell("Outlook value"),
        "conflict.reason": t["conflicts"].cell("Reason"),
        "conflict.link_id": t["conflicts"].cell("Link"),
        "issue.mailbox": t["onboarding"].cell("Mailbox"),
        "issue.space_id": t["onboarding"].cell("Space"),
        "issue.detail": t["onboarding"].cell("Detail"),
    }
    events = t["events"]
    for label, state in (("failed_event", "error"), ("done_event", "done")):
        row = events.row(state=state)
        shown[f"{label}.kind"] = events.cell("Kind", row)
        shown[f"{label}.booking_id"] = events.cell("Booking", row)
        shown[f"{label}.space_id"] = events.cell("Space", row)
        shown[f"{label}.{'error' if state == 'error' else 'outcome'}"] = events.cell("Reason / outcome", row)
        assert row["data"]["bookingId"] == v[f"{label}.booking_id"]  # a data-* attribute, as given
    for name, cell in shown.items():
        assert cell == v[name], f"{name}: shown {cell[:200]!r}, stored {v[name][:200]!r}"

    # Remembered owners are stored lowercased (an address): the payload comes back so, as text.
    assert t["mailboxless"].cell("Owner") == v["mailboxless.address"].lower()

    # Composite cells: "display name · mailbox" and "expiry (n h) — subscription error".
    rooms = t["rooms"]
    assert rooms.cell("Room") == f"{v['room.display_name']} · {v['room.mailbox']}"
    assert rooms.rows[0]["data"]["mailbox"] == v["room.mailbox"]
    expiry = rooms.cell("Subscription expires")
    assert expiry.endswith(" — " + v["room.subscription_error"]), expiry

    failed = events.row(state="error")
    assert failed["data"]["rk"] == EVENT_RK  # an attribute value, not markup
    assert HIDDEN_OUTCOME not in seen["text"]  # a failed event shows its error
    assert t["feeds"].cell("Mode") == "—"  # an unknown mode is no mode
    assert t["conflicts"].cell("Recorded") == "Invalid Date"
    assert SWEEP_ERROR not in seen["text"]  # sweep reports are in the JSON, not on the page
    assert seen["onboardingRun"].startswith("Last onboarding run: ")

    # The refused hook secret is named, its value never shown.
    assert seen["problemsHidden"] is False
    assert any(p.startswith("IBSS_HOOK_SECRET: ") for p in seen["problems"]), seen["problems"]
    assert "never-shown-secret" not in seen["text"]

    # Each hostile string is on the page as text.
    for payload in PAYLOADS:
        assert payload in seen["text"], payload[:80]


async def _load_and_inspect(context: BrowserContext, url: str, *, csp: bool) -> dict[str, Any]:
    dialogs: list[str] = []

    async def on_dialog(dialog: Dialog) -> None:
        dialogs.append(f"{dialog.type}: {dialog.message}")
        await dialog.dismiss()

    await context.add_init_script(WATCH_CSP)
    page = await context.new_page()
    page.on("dialog", on_dialog)
    response = await page.goto(url)
    assert response is not None
    assert response.status == 200
    headers = await response.all_headers()
    policy = headers.get("content-security-policy", "")
    if csp:
        assert "script-src 'nonce-" in policy, headers
        for part in ("default-src 'none'", "img-src 'none'", "frame-ancestors 'none'", "base-uri 'none'"):
            assert part in policy, policy
        for unsafe in ("unsafe-inline", "unsafe-eval", "*"):
            assert unsafe not in policy, policy
        assert headers.get("x-content-type-options") == "nosniff"
    await expect(page.locator("body")).to_have_attribute("data-loaded", "true", timeout=20_000)
    await expect(page.locator("#events tbody tr[data-pk]")).to_have_count(2)
    await expect(page.locator("#status")).to_have_text("")  # loaded, no error
    # Whatever data could have started (an image's error, a frame's load, a focus or toggle) has had its
    # turn; then a second render (the 5 s auto-refresh is not waited for: Refresh renders all again).
    await page.wait_for_load_state("networkidle")
    await page.locator("#refresh").click()
    await page.wait_for_load_state("networkidle")
    await page.wait_for_timeout(300)
    seen: dict[str, Any] = await page.evaluate(INSPECT, FOREIGN)
    seen["dialogs"] = dialogs
    await page.close()
    return seen


def _check_nothing_ran(seen: dict[str, Any], *, csp: bool) -> None:
    assert seen["xss"] is None, f"a planted payload ran: window.__xss = {seen['xss']}"
    assert seen["dialogs"] == [], seen["dialogs"]
    assert seen["handlers"] == [], seen["handlers"]
    assert seen["foreign"] == [], seen["foreign"]
    assert seen["scripts"] == PAGE_SCRIPTS
    if csp:  # nothing even tried to load or run (and was stopped by the CSP)
        assert seen["violations"] == [], seen["violations"]


def _check_api_is_not_html(host: RunningHost) -> None:
    """The JSON routes, opened on their own, are JSON (nosniff): a browser never renders them as HTML."""
    for route in ("ops/overview", "ops/events", "ops/conflicts", "ops/onboarding"):
        resp = httpx.get(host.url(route), timeout=10)
        assert resp.status_code == 200, (route, resp.text[:300])
        assert resp.headers["content-type"].startswith("application/json"), (route, resp.headers)
        assert resp.headers.get("x-content-type-options") == "nosniff", (route, resp.headers)
    overview = httpx.get(host.url("ops/overview"), timeout=10).json()
    assert [s["error"] for s in overview["ibss_sweeps"]] == [SWEEP_ERROR]  # planted, really stored
    assert "never-shown-secret" not in httpx.get(host.url("ops/overview"), timeout=10).text


async def test_stored_hostile_text_is_shown_as_text_and_never_runs(
    xss_host: RunningHost, ops_storage: StorageAccount
) -> None:
    assert len(FIELDS) >= len(PAYLOADS)  # every payload is dealt to a field
    assert len(VALUE["feed.last_error"]) <= LONG_LIMIT
    assert len(SWEEP_ERROR) <= LONG_LIMIT
    chromium = _chromium()
    await _plant(ops_storage, datetime.now(UTC))
    _check_api_is_not_html(xss_host)

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(chromium), args=LAUNCH_ARGS, headless=True)
        try:
            for csp in (True, False):
                context = await browser.new_context(bypass_csp=not csp)
                try:
                    seen = await _load_and_inspect(context, xss_host.url("ops"), csp=csp)
                finally:
                    await context.close()
                _check_nothing_ran(seen, csp=csp)
                _check_rendered_as_text(seen)
        finally:
            await browser.close()
