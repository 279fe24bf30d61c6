"""The hook intake behind ``POST /api/ibss/hooks`` in process: real Standard Webhooks signatures, the real
replay guard in Table Storage (Azurite), and a sink that counts every job enqueued, so "nothing enqueued"
and "exactly one job" are counted at the source rather than inferred from what the worker later did."""

import asyncio
import base64
import json
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from pydantic import BaseModel
from standardwebhooks.webhooks import Webhook

from emulators.ibss.testing import HookReceiver, IbssEmulator
from shared.config import AppSettings
from shared.ibss.hooks import IbssHookType
from shared.ibss.intake import TOLERANCE_SECONDS, BookingSyncJob, HookClaim, HookIntake, HookRejected
from shared.state.dedup import CLAIM_TIMEOUT, TableHookIds
from shared.storage.account import StorageAccount
from shared.storage.names import QueueName
from tests.ibss.helpers import TUESDAY

SECRET = "whsec_" + base64.b64encode(b"intake-test-secret-of-32-bytes!!").decode()
FORGED = "whsec_" + base64.b64encode(b"forged-secret-forged-secret-1234").decode()


class CountingSink:
    """Records every job the intake enqueues; ``fail`` makes the next sends raise (queue unavailable)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, BaseModel]] = []
        self.fail = 0

    async def send(self, queue: str, message: BaseModel) -> None:
        if self.fail:
            self.fail -= 1
            raise ConnectionError("queue unavailable")
        self.sent.append((queue, message))

    def jobs(self) -> list[BookingSyncJob]:
        return [m for _, m in self.sent if isinstance(m, BookingSyncJob)]


@pytest.fixture
async def storage(storage_connection: str) -> AsyncIterator[StorageAccount]:
    account = StorageAccount.from_settings(AppSettings(AzureWebJobsStorage=storage_connection))
    yield account
    await account.close()


@pytest.fixture
def sink() -> CountingSink:
    return CountingSink()


@pytest.fixture
def intake(storage: StorageAccount, sink: CountingSink) -> HookIntake:
    return HookIntake(secret=SECRET, seen=TableHookIds(storage), sink=sink)


def hook_body(booking_id: str, hook_type: str = "booking.updated", series_id: str | None = None) -> bytes:
    data = {
        "Booking_Id": booking_id,
        "Node_Id": 1001,
        "Space_Id": "HQ-1-AURORA",
        "Booking_Series_Id": series_id,
    }
    return json.dumps({"type": hook_type, "timestamp": "2030-01-08T09:00:00Z", "data": data}).encode()


def signed(
    body: bytes, *, secret: str = SECRET, at: float | None = None, msg_id: str | None = None
) -> dict[str, str]:
    msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
    ts = datetime.fromtimestamp(time.time() if at is None else at, UTC)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(ts.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id, ts, body.decode()),
        "content-type": "application/json",
    }


async def test_a_valid_hook_enqueues_exactly_one_job_for_that_booking(intake: HookIntake, sink: CountingSink):
    booking = f"bk-{uuid.uuid4().hex}"
    body = hook_body(booking, "booking.checked_in", series_id="s-1")
    headers = signed(body)
    job = await intake.accept(body, headers)
    assert sink.sent == [(QueueName.SYNC_BOOKINGS, job)]
    assert (job.booking_id, job.node_id, job.space_id, job.series_id) == (booking, 1001, "HQ-1-AURORA", "s-1")
    assert job.hook_type is IbssHookType.CHECKED_IN
    assert job.hook_id == headers["webhook-id"]
    assert job.reason == "hook"
    # a job is ids only: the worker reads the booking from the API
    assert set(json.loads(job.model_dump_json())) <= set(BookingSyncJob.model_fields)


@pytest.mark.parametrize(
    ("case", "status", "code"),
    [
        ("forged", 401, "BadSignature"),
        ("altered_body", 401, "BadSignature"),
        ("reserialized_body", 401, "BadSignature"),
        ("stale", 401, "StaleTimestamp"),
        ("future", 401, "StaleTimestamp"),
        ("missing_signature", 400, "MissingHeaders"),
        ("garbage_timestamp", 400, "BadHeader"),
        ("valid_signature_bad_body", 400, "BadBody"),
    ],
)
async def test_rejected_hooks_enqueue_nothing(
    intake: HookIntake, sink: CountingSink, case: str, status: int, code: str
):
    body = hook_body(f"bk-{uuid.uuid4().hex}")
    headers = signed(body)
    if case == "forged":
        headers = signed(body, secret=FORGED)
    elif case == "altered_body":
        body = body.replace(b"HQ-1-AURORA", b"HQ-2-DELTA")
    elif case == "reserialized_body":
        body = json.dumps(json.loads(body), separators=(",", ":")).encode()
    elif case == "stale":
        headers = signed(body, at=time.time() - TOLERANCE_SECONDS - 30)
    elif case == "future":
        headers = signed(body, at=time.time() + TOLERANCE_SECONDS + 30)
    elif case == "missing_signature":
        del headers["webhook-signature"]
    elif case == "garbage_timestamp":
        headers["webhook-timestamp"] = "yesterday"
    elif case == "valid_signature_bad_body":
        body = b'{"type": "booking.exploded", "data": {}}'
        headers = signed(body)
    with pytest.raises(HookRejected) as err:
        await intake.accept(body, headers)
    assert (err.value.status, err.value.code) == (status, code)
    assert sink.sent == []


@pytest.mark.parametrize(("offset", "accepted"), [(-300, True), (300, True), (-301, False), (301, False)])
async def test_the_five_minute_window_is_exact_on_a_fixed_clock(
    storage: StorageAccount, sink: CountingSink, offset: int, accepted: bool
):
    # The header is signed at the real time (the signature library checks freshness against it too) and
    # the intake's own clock is pinned `offset` seconds away, so the boundary is exact, not a race.
    sent_at = int(time.time())
    intake = HookIntake(
        secret=SECRET, seen=TableHookIds(storage), sink=sink, wall_clock=lambda: float(sent_at - offset)
    )
    body = hook_body(f"bk-{uuid.uuid4().hex}")
    headers = signed(body, at=sent_at)
    if accepted:
        await intake.accept(body, headers)
        assert len(sink.jobs()) == 1
    else:
        with pytest.raises(HookRejected) as err:
            await intake.accept(body, headers)
        assert err.value.code == "StaleTimestamp"
        assert sink.sent == []


async def test_timestamps_within_five_minutes_either_way_are_accepted(intake: HookIntake, sink: CountingSink):
    for skew in (-290, 290):
        body = hook_body(f"bk-{uuid.uuid4().hex}")
        await intake.accept(body, signed(body, at=time.time() + skew))
    assert len(sink.jobs()) == 2


async def test_a_replay_is_refused_and_enqueues_nothing(intake: HookIntake, sink: CountingSink):
    body = hook_body(f"bk-{uuid.uuid4().hex}")
    headers = signed(body)
    await intake.accept(body, headers)
    with pytest.raises(HookRejected) as err:
        await intake.accept(body, headers)
    assert (err.value.status, err.value.code) == (409, "Replay")
    # re-signed now, same id (what a retrying sender does): still the same hook
    with pytest.raises(HookRejected):
        await intake.accept(body, signed(body, msg_id=headers["webhook-id"]))
    assert len(sink.jobs()) == 1


async def test_concurrent_duplicates_enqueue_exactly_one_job(intake: HookIntake, sink: CountingSink):
    body = hook_body(f"bk-{uuid.uuid4().hex}")
    headers = signed(body)
    results = await asyncio.gather(*(intake.accept(body, headers) for _ in range(6)), return_exceptions=True)
    accepted = [r for r in results if isinstance(r, BookingSyncJob)]
    # A duplicate that arrives while the first is being enqueued is told to retry (503 InFlight, then a
    # 409 once enqueued), one that arrives after it is a replay: either way, never a second job.
    refused = [r for r in results if isinstance(r, HookRejected) and r.code in {"Replay", "InFlight"}]
    assert (len(accepted), len(refused)) == (1, 5)
    assert len(sink.jobs()) == 1


async def test_a_delivery_that_died_before_enqueueing_does_not_make_its_retry_a_replay(
    storage: StorageAccount, sink: CountingSink
):
    """The id is claimed before the job is sent and marked enqueued after: a claim whose delivery died
    (no release, no enqueue) is taken over by the sender's retry once it is older than an invocation."""
    now = datetime(2030, 1, 8, 9, 0, tzinfo=UTC)
    seen = TableHookIds(storage, clock=lambda: now)
    hook_id = f"msg_{uuid.uuid4().hex}"
    assert await seen.claim(hook_id) is HookClaim.NEW  # ... and the process dies here
    assert await seen.claim(hook_id) is HookClaim.IN_FLIGHT  # a retry right away: told to come back
    now += CLAIM_TIMEOUT
    assert await seen.claim(hook_id) is HookClaim.NEW  # the retry after the timeout takes it over
    assert await seen.claim(hook_id) is HookClaim.IN_FLIGHT  # once
    await seen.enqueued(hook_id)
    assert await seen.claim(hook_id) is HookClaim.REPLAY


async def test_a_rejected_hook_does_not_burn_its_id(intake: HookIntake, sink: CountingSink):
    """Only a verified hook's id is remembered: a forgery with a genuine id cannot block the genuine hook."""
    body = hook_body(f"bk-{uuid.uuid4().hex}")
    genuine = signed(body)
    forged = signed(body, secret=FORGED, msg_id=genuine["webhook-id"])
    with pytest.raises(HookRejected):
        await intake.accept(body, forged)
    await intake.accept(body, genuine)
    assert len(sink.jobs()) == 1


async def test_a_job_the_queue_refused_lets_the_senders_retry_through(intake: HookIntake, sink: CountingSink):
    body = hook_body(f"bk-{uuid.uuid4().hex}")
    headers = signed(body)
    sink.fail = 1
    with pytest.raises(ConnectionError):
        await intake.accept(body, headers)  # -> 5xx: the sender retries
    assert sink.sent == []
    await intake.accept(body, signed(body, msg_id=headers["webhook-id"]))
    assert len(sink.jobs()) == 1


async def test_without_a_secret_nothing_is_accepted(storage: StorageAccount, sink: CountingSink):
    intake = HookIntake(secret=None, seen=TableHookIds(storage), sink=sink)
    body = hook_body(f"bk-{uuid.uuid4().hex}")
    with pytest.raises(HookRejected) as rejected:
        await intake.accept(body, signed(body))
    assert rejected.value.status == 503  # a 5xx, so the sender retries once configured
    assert sink.sent == []


async def test_the_emulators_hooks_pass_the_intake(
    intake: HookIntake, sink: CountingSink, ibss_emulator_fresh: IbssEmulator
):
    """Every hook type the IBSS emulator signs is accepted once, as received (raw bytes and headers)."""
    emu = ibss_emulator_fresh
    with HookReceiver() as receiver:
        emu.set_hook_target(receiver.url, SECRET, backoff_s=0.05)
        b = emu.act_book(
            "alice@contoso.example", "HQ-1-BOREALIS", TUESDAY.replace(hour=9), TUESDAY.replace(hour=10)
        )
        bid = b["Booking_Id"]
        emu.act_edit("alice@contoso.example", bid, name="Edited")
        emu.set_clock(TUESDAY.replace(hour=9))
        emu.act_check_in("alice@contoso.example", bid)
        emu.act_check_out("alice@contoso.example", bid)
        c = emu.act_book(
            "bob@contoso.example", "HQ-2-CIRRUS", TUESDAY.replace(hour=11), TUESDAY.replace(hour=12)
        )
        emu.act_cancel("bob@contoso.example", c["Booking_Id"])
        d = emu.act_book(
            "bob@contoso.example", "HQ-2-DELTA", TUESDAY.replace(hour=12), TUESDAY.replace(hour=13)
        )
        emu.set_clock(TUESDAY.replace(hour=12, minute=15))  # auto-cancel of d (and of the morning's seeds)
        emu.wait_hooks_settled()
        received = list(receiver.received)
    assert {d["status"] for d in emu.hook_deliveries()} == {"delivered"}
    for hook in received:
        await intake.accept(hook.body, hook.headers)
    jobs = sink.jobs()
    assert len(jobs) == len(received)
    assert {IbssHookType(j.hook_type) for j in jobs} == set(IbssHookType)
    mine = {bid, c["Booking_Id"], d["Booking_Id"]}
    assert {j.booking_id for j in jobs} >= mine
    for hook in received:  # the sender's retries of delivered hooks are replays
        with pytest.raises(HookRejected):
            await intake.accept(hook.body, hook.headers)
    assert len(sink.jobs()) == len(received)
