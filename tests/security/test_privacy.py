"""End-to-end privacy probe on the local stack: Azurite, both emulators, a dev host running function_app.py.

One stack (owner mode) syncs a private Outlook meeting with a distinctive subject and HTML body, and a Flex
booking with a distinctive description. Once both have synced and the service is quiet, the dev host's log,
every table of the app's storage account and the IBSS booking of the private meeting are searched for
what must never be there (README, "Security of the endpoints"; shared/logs.py; shared/sync/README.md).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import TableServiceClient
from azure.storage.queue import QueueServiceClient

from emulators.graph.testing import GraphEmulator
from emulators.ibss.testing import IbssEmulator
from shared.storage.names import QueueName, TableName
from tests.e2e.conftest import SyncStack, eventually, onboarded_stack
from tests.slots import business_slot
from tests.stack_fixtures import FUNCTION_KEY, HOOK_SECRET, MASTER_KEY, AzuritePool, what_the_service_did

BOB, CAROL, ALICE = "bob@contoso.example", "carol@contoso.example", "alice@contoso.example"
AURORA, BOREALIS = "aurora@contoso.example", "borealis@contoso.example"
AURORA_SPACE, BOREALIS_SPACE = "HQ-1-AURORA", "HQ-1-BOREALIS"

PRIVATE_SUBJECT = "Quokkafield severance talk Q7X9"
BODY_MARKER = "BODYMARK-ZK41-tarantula"
FLEX_NAME = "Privacy probe flex"
DESCRIPTION_MARKER = "DESCMARK-PV22-narwhal"
PRIVATE_NAME = "Private booking"  # SyncConfig.private_booking_name (shared/sync/model.py)

# The needles of subject and body: the whole strings and their distinctive words, case-insensitively (a
# truncated or re-cased subject is still a leak).
SUBJECT_NEEDLES = (PRIVATE_SUBJECT, "Quokkafield", "Q7X9")
BODY_NEEDLES = (BODY_MARKER, "ZK41-tarantula")
DESCRIPTION_NEEDLES = (DESCRIPTION_MARKER, "PV22-narwhal")

# An address, plain or percent-encoded, with a top-level domain (shared.logs.ADDRESS without the TLD rule
# would also match the "{address}" placeholder's neighbours and version pins).
ADDRESS = re.compile(r"[A-Za-z0-9._%+\-']+(?:@|%40)[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}")
JWT = re.compile(r"eyJ[A-Za-z0-9_\-]{8,}")


def _time(value: datetime) -> dict[str, str]:
    return {"dateTime": value.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"}


@dataclass
class Probe:
    """The synced stack and what the probe made on it."""

    stack: SyncStack
    storage: str
    private_booking: dict[str, Any]
    flex_booking: dict[str, Any]
    log_lines: list[str] = field(default_factory=list)


def _synced_bookings(ibss: IbssEmulator, space_id: str) -> list[dict[str, Any]]:
    """Live bookings of a space the sync made from Outlook (they carry the meeting's iCalUId)."""
    return [
        b
        for b in ibss.state()["bookings"]
        if b["Space_Id"] == space_id
        and b["Booking_Ext_Ref"]
        and b["Booking_Status"] not in ("Cancelled", "Auto Cancelled")
    ]


def _live_meetings(graph: GraphEmulator, mailbox: str, subject: str) -> list[dict[str, Any]]:
    return [
        e for e in graph.mailbox_events(mailbox) if not e.get("isCancelled") and e.get("subject") == subject
    ]


# Safety-net rounds wait out a random delay of up to minutes (shared/rooms/service.py): a sync-rooms job
# that is not due for this long is not work of the probe's changes.
SOON = timedelta(seconds=5)


def _queued(storage: str) -> dict[str, int]:
    """Messages in the app's queues but sync-rooms, invisible (being worked on, delayed) ones included;
    the room rounds are judged by the rooms table (``_rounds_busy``)."""
    counts: dict[str, int] = {}
    with QueueServiceClient.from_connection_string(storage) as service:
        for name in QueueName:
            if name is QueueName.SYNC_ROOMS:
                continue
            try:
                props = service.get_queue_client(name.value).get_queue_properties()
            except ResourceNotFoundError:
                continue
            if props.approximate_message_count:
                counts[name.value] = props.approximate_message_count
    return counts


def _when(value: Any) -> datetime | None:
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")) if value else None


def _rounds_busy(storage: str) -> list[str]:
    """Rooms with a delta round running (a live lease) or requested and due soon (shared/rooms/delta.py)."""
    now = datetime.now(UTC)
    busy: list[str] = []
    with TableServiceClient.from_connection_string(storage) as service:
        rows = service.get_table_client(TableName.ROOMS).query_entities("RowKey eq 'room'")
        for row in rows:
            lease_until = _when(row.get("lease_until"))
            due = _when(row.get("pending_due_at") or row.get("pending_at"))
            if row.get("lease_id") and lease_until and lease_until > now:
                busy.append(f"{row['PartitionKey']}: round running")
            elif row.get("pending_round") and due and due <= now + SOON:
                busy.append(f"{row['PartitionKey']}: round due")
    return busy


def _quiet(stack: SyncStack, storage: str, settle: float = 1.0, timeout: float = 20.0) -> None:
    """Wait until no hook is pending, the queues are empty and no room round runs or is due, for ``settle``
    seconds: the echoes of the service's own writes (hooks, notifications, the room reply check) are done."""
    stack.ibss.wait_hooks_settled(timeout=timeout)
    deadline = time.monotonic() + timeout
    quiet_since: float | None = None
    while time.monotonic() < deadline:
        if not _queued(storage) and not _rounds_busy(storage):
            quiet_since = quiet_since or time.monotonic()
            if time.monotonic() - quiet_since >= settle:
                return
        else:
            quiet_since = None
        time.sleep(0.1)
    raise AssertionError(
        f"the service did not become quiet within {timeout}s: queued {_queued(storage)}, rooms "
        f"{_rounds_busy(storage)}, hooks {[d.get('status') for d in stack.ibss.hook_deliveries()]}\n"
        f"{what_the_service_did()}"
    )


def _entities(storage: str) -> dict[str, list[dict[str, Any]]]:
    """Every entity of every table of the account, as plain dicts (keys included)."""
    dump: dict[str, list[dict[str, Any]]] = {}
    with TableServiceClient.from_connection_string(storage) as service:
        for table in service.list_tables():
            client = service.get_table_client(table.name)
            dump[table.name] = [dict(entity) for entity in client.list_entities()]
    return dump


def _hits(text: str, needles: tuple[str, ...]) -> list[str]:
    low = text.casefold()
    return [n for n in needles if n.casefold() in low]


def _app_line(line: str) -> dict[str, Any] | None:
    """A JSON log line of the app (shared/logs.JsonFormatter: ts, level, logger, msg, ...), else None."""
    try:
        entry = json.loads(line)
    except ValueError:
        return None
    return entry if isinstance(entry, dict) and {"ts", "level", "logger", "msg"} <= entry.keys() else None


@pytest.fixture(scope="module")
def probe(
    graph_emulator: GraphEmulator, ibss_emulator: IbssEmulator, azurite_pool: AzuritePool
) -> Iterator[Probe]:
    graph_emulator.reset()
    ibss_emulator.reset()
    with onboarded_stack(azurite_pool, graph_emulator, ibss_emulator, "owner") as (stack, storage):
        # (a) A private meeting made in Outlook by Bob in Aurora, with an HTML body.
        start, end = business_slot(1, 10)
        body = f"<html><body><p>Agenda: {BODY_MARKER}</p><p>Only for {CAROL}</p></body></html>"
        event = {
            "subject": PRIVATE_SUBJECT,
            "start": _time(start),
            "end": _time(end),
            "sensitivity": "private",
            "body": {"contentType": "html", "content": body},
            "attendees": [
                {"emailAddress": {"address": CAROL}, "type": "required"},
                {"emailAddress": {"address": AURORA}, "type": "resource"},
            ],
        }
        created = graph_emulator.act_create_meeting(BOB, event)
        # (b) A Flex booking of Alice in Borealis, given a description right away.
        fstart, fend = business_slot(1, 14)
        flex = ibss_emulator.act_book(ALICE, BOREALIS_SPACE, fstart, fend, name=FLEX_NAME, parties=[CAROL])
        ibss_emulator.act_edit(ALICE, str(flex["Booking_Id"]), description=DESCRIPTION_MARKER)

        private_booking = eventually(
            lambda: _synced_bookings(ibss_emulator, AURORA_SPACE),
            what="IBSS booking of the private meeting",
            about=[created["id"], created.get("iCalUId", "")],
        )[0]
        eventually(
            lambda: _live_meetings(graph_emulator, ALICE, FLEX_NAME),
            what="Outlook meeting of the Flex booking",
            about=[str(flex["Booking_Id"])],
        )
        _quiet(stack, storage)
        with stack.host.log.lock:
            assert stack.host.log.total == len(stack.host.log.lines), "the host log dropped lines"
            lines = list(stack.host.log.lines)
        # The probe's input really carries what is searched for.
        flex_now = next(b for b in ibss_emulator.state()["bookings"] if b["Booking_Id"] == flex["Booking_Id"])
        assert flex_now.get("Booking_Description") == DESCRIPTION_MARKER
        organizer = next(e for e in graph_emulator.mailbox_events(BOB) if e["id"] == created["id"])
        assert organizer["sensitivity"] == "private"
        assert organizer["subject"] == PRIVATE_SUBJECT
        assert BODY_MARKER in organizer["body"]["content"]
        yield Probe(
            stack=stack,
            storage=storage,
            private_booking=private_booking,
            flex_booking=flex_now,
            log_lines=lines,
        )


def _secrets(p: Probe) -> dict[str, str]:
    with TableServiceClient.from_connection_string(p.storage) as service:
        subs = list(service.get_table_client(TableName.SUBSCRIPTIONS).list_entities())
    states = {f"clientState of {s['PartitionKey']}": str(s["client_state"]) for s in subs}
    assert len(states) >= 4, "every synced room has a subscription with a clientState"
    return {
        **states,
        "IBSS API key": p.stack.ibss.api_key,
        "Graph client secret": p.stack.graph.client_secret,
        "hook secret": HOOK_SECRET,
        "hook secret (key part)": HOOK_SECRET.removeprefix("whsec_"),
        "function key": FUNCTION_KEY,
        "master key": MASTER_KEY,
    }


def test_the_host_log_holds_no_subject_body_address_or_secret(probe: Probe) -> None:
    lines = probe.log_lines
    # The log covers both syncs: the plan that booked the private meeting, the Flex booking's job.
    plans = [e for e in map(_app_line, lines) if e and e["msg"] == "plan"]
    assert any("create_booking" in e.get("actions", []) for e in plans), (
        "the private meeting's plan is logged"
    )
    assert any(str(probe.flex_booking["Booking_Id"]) in ln for ln in lines), (
        "the Flex booking's job is logged"
    )
    text = "\n".join(lines)
    assert _hits(text, SUBJECT_NEEDLES) == [], "the private subject is in the host log"
    assert _hits(text, BODY_NEEDLES) == [], "the body marker is in the host log"
    assert _hits(text, DESCRIPTION_NEEDLES) == [], "the booking description is in the host log"
    secrets = _secrets(probe)
    assert all(len(v) >= 8 for v in secrets.values()), "every secret is long enough to be searched for"
    leaked = sorted(name for name, value in secrets.items() if value in text)
    assert leaked == [], f"secrets in the host log: {leaked}"
    tokens = [ln for ln in lines if JWT.search(ln)]
    assert tokens == [], f"bearer tokens in the host log: {tokens[:3]}"
    addresses = [ln for ln in lines if ADDRESS.search(ln)]
    assert addresses == [], f"addresses in the host log: {addresses[:5]}"


def test_no_table_stores_the_private_subject_the_body_or_the_description(probe: Probe) -> None:
    dump = _entities(probe.storage)
    assert TableName.LINKS in dump, "the sync stored its links"
    found: dict[str, list[str]] = {}
    holders: dict[str, list[str]] = {}
    for table, rows in dump.items():
        text = json.dumps(rows, default=str)
        hits = _hits(text, SUBJECT_NEEDLES + BODY_NEEDLES + DESCRIPTION_NEEDLES)
        if hits:
            found[table] = hits
        columns = {
            f"{k}: {' '.join(sorted(set(ADDRESS.findall(json.dumps(v, default=str)))))}"
            for row in rows
            for k, v in row.items()
            if ADDRESS.search(json.dumps(v, default=str))
        }
        if columns:
            holders[table] = sorted(columns)
    # Information, not a rule: which tables keep addresses (mailboxes, owners, attendees), where.
    print(f"\ntables holding addresses (columns): {holders}; all tables: {sorted(dump)}")
    assert found == {}, f"private content in storage: {found}"
    # The clientStates live only in the subscriptions table (README, security of the endpoints).
    states = [str(row["client_state"]) for row in dump[TableName.SUBSCRIPTIONS]]
    elsewhere = sorted(
        table
        for table, rows in dump.items()
        if table != TableName.SUBSCRIPTIONS and any(s in json.dumps(rows, default=str) for s in states)
    )
    assert elsewhere == [], f"clientStates stored outside the subscriptions table: {elsewhere}"
    # The Flex booking's name is not private: the link keeps it (a sanity check that the dump is complete).
    assert _hits(json.dumps(dump[TableName.LINKS], default=str), (FLEX_NAME,)) == [FLEX_NAME]


def test_the_ibss_booking_of_the_private_meeting_is_masked(probe: Probe) -> None:
    booking = probe.private_booking
    assert booking["Booking_Owner_Email"] == BOB
    assert booking["Booking_Name"] == PRIVATE_NAME
    wire = json.dumps(booking)
    assert _hits(wire, SUBJECT_NEEDLES) == [], f"the private subject reached IBSS: {booking}"
    assert _hits(wire, BODY_NEEDLES) == [], f"the private body reached IBSS: {booking}"
    # No other booking of the building carries them either (a second write, a series, a desk).
    everything = json.dumps(probe.stack.ibss.state()["bookings"])
    assert _hits(everything, SUBJECT_NEEDLES + BODY_NEEDLES) == []
