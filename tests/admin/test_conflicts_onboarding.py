"""The conflicts list and the onboarding mismatches, written by their producers (the reconciler's conflict
log, the onboarding report) and read back through the ops API of the dev host (function key)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import httpx

from shared.rooms.models import OnboardingIssue
from shared.rooms.store import OnboardingReport
from shared.state.conflicts import TableConflictLog
from shared.storage.account import StorageAccount
from shared.sync.model import Side
from shared.sync.plan import RecordConflict
from tests.stack_fixtures import RunningHost


async def _get(host: RunningHost, route: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=20) as client:
        return await client.get(host.url(route))


async def test_conflicts_list_shows_field_winner_values_and_reason(
    ops_host: RunningHost, ops_storage: StorageAccount
) -> None:
    link_id = f"link-{uuid.uuid4().hex[:12]}"
    await TableConflictLog(ops_storage).record(
        link_id,
        RecordConflict(
            field="start",
            winner=Side.IBSS,
            ibss_value="2030-01-07T09:00:00Z",
            outlook_value="2030-01-07T10:00:00Z",
            reason="both sides moved the meeting; IBSS holds the room",
        ),
    )
    resp = await _get(ops_host, "ops/conflicts?days=2")
    assert resp.status_code == 200, resp.text
    (mine,) = [c for c in resp.json()["items"] if c["link_id"] == link_id]
    assert mine["field"] == "start"
    assert mine["winner"] == "ibss"
    assert (mine["ibss_value"], mine["outlook_value"]) == ("2030-01-07T09:00:00Z", "2030-01-07T10:00:00Z")
    assert mine["reason"].startswith("both sides moved")
    overview = (await _get(ops_host, "ops/overview?days=2")).json()
    assert overview["counts"]["conflicts"] >= 1


async def test_onboarding_mismatches_are_listed_with_the_last_run(
    ops_host: RunningHost, ops_storage: StorageAccount
) -> None:
    tag = uuid.uuid4().hex[:8]
    report = OnboardingReport(ops_storage)
    issues = [
        OnboardingIssue(
            kind="space_mailbox_missing",
            mailbox=f"gone-{tag}@contoso.example",
            space_id=f"HQ-9-{tag}",
            node_id=1001,
            detail="no Microsoft 365 room has this address",
        ),
        OnboardingIssue(
            kind="room_without_space",
            mailbox=f"lonely-{tag}@contoso.example",
            detail="no IBSS space points to room 'Lonely'",
        ),
    ]
    ran_at = datetime.now(UTC).replace(microsecond=0)
    await report.replace_issues(issues)
    await report.record_run(ran_at, {"issues": len(issues)})

    resp = await _get(ops_host, "ops/onboarding")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert datetime.fromisoformat(body["last_run"]) == ran_at
    mine = {i["kind"]: i for i in body["items"] if tag in (i["mailbox"] or "")}
    assert set(mine) == {"space_mailbox_missing", "room_without_space"}
    assert mine["space_mailbox_missing"]["space_id"] == f"HQ-9-{tag}"
    assert mine["space_mailbox_missing"]["node_id"] == 1001
    assert mine["room_without_space"]["detail"] == "no IBSS space points to room 'Lonely'"
    overview = (await _get(ops_host, "ops/overview?days=2")).json()
    assert overview["counts"]["onboarding_issues"] >= 2
