"""Every field of a signed hook is checked before its webhook-id is recorded (issue F6).

A hook that can never be processed is a 400 at once; one that failed for a passing reason (a 5xx) leaves
its id unrecorded, so the sender's retry goes through instead of getting 409 and the change being lost; a
series job that cannot be made leaves no "scheduled" flag for later hooks to join.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from pydantic import BaseModel, ValidationError
from standardwebhooks.webhooks import Webhook

from shared.config import AppSettings
from shared.ibss.intake import HookIntake, HookRejected
from shared.state.dedup import TableHookIds
from shared.state.ibss_series import TableSeriesStore
from shared.storage.account import StorageAccount
from shared.storage.queues import StorageQueueSink
from shared.worker.series_ibss import request_series_job
from tests.stack_fixtures import HOOK_SECRET, RunningHost

SECRET = "whsec_" + base64.b64encode(b"hook-fields-test-secret-32-bytes").decode()


class _Sink:
    def __init__(self) -> None:
        self.sent: list[BaseModel] = []

    async def send(self, queue: str, message: BaseModel) -> None:
        self.sent.append(message)


@pytest.fixture
async def storage(storage_connection: str) -> AsyncIterator[StorageAccount]:
    account = StorageAccount.from_settings(AppSettings(AzureWebJobsStorage=storage_connection))
    yield account
    await account.close()


def _body(**data: Any) -> bytes:
    fields = {"Booking_Id": f"bk-{uuid.uuid4().hex}", "Node_Id": 1001, "Space_Id": "HQ-1-AURORA", **data}
    return json.dumps(
        {"type": "booking.updated", "timestamp": "2030-01-08T09:00:00Z", "data": fields}
    ).encode()


def _signed(body: bytes, msg_id: str | None = None, secret: str = SECRET) -> dict[str, str]:
    msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
    now = datetime.now(UTC)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id, now, body.decode()),
        "content-type": "application/json",
    }


UNPROCESSABLE = [
    {"Booking_Id": "b" * 257},
    {"Space_Id": "s" * 257},
    {"Booking_Series_Id": "r" * 257},
    {"Booking_Series_Id": "series/with/slashes"},
    {"Booking_Series_Id": "series#hash"},
    {"Booking_Series_Id": "series\x00nul"},
    {"Node_Id": 2**64},
    {"Node_Id": -1},
]


IDS = [
    "long-booking",
    "long-space",
    "long-series",
    "series-slash",
    "series-hash",
    "series-nul",
    "node-2^64",
    "node--1",
]


@pytest.mark.parametrize("data", UNPROCESSABLE, ids=IDS)
async def test_a_hook_that_can_never_be_processed_is_a_400_and_its_id_is_not_recorded(
    storage: StorageAccount, data: dict[str, Any]
) -> None:
    sink = _Sink()
    intake = HookIntake(secret=SECRET, seen=TableHookIds(storage), sink=sink)
    msg_id = f"msg_{uuid.uuid4().hex}"
    bad = _body(**data)
    with pytest.raises(HookRejected) as rejected:
        await intake.accept(bad, _signed(bad, msg_id))
    assert rejected.value.status == 400
    assert sink.sent == []
    # The id was not recorded: a sender that corrects the body and sends it again under the same id is heard.
    good = _body()
    await intake.accept(good, _signed(good, msg_id))
    assert len(sink.sent) == 1


async def test_a_series_job_that_cannot_be_made_leaves_no_flag(storage: StorageAccount) -> None:
    store = TableSeriesStore(storage)
    series_id = "r" * 300  # longer than a series job carries
    with pytest.raises(ValidationError):
        await request_series_job(series_id, 1001, store, StorageQueueSink(storage))
    stored = await store.get(series_id)
    assert stored is None or not stored.row.scheduled


@pytest.mark.parametrize(
    "data", UNPROCESSABLE[:4], ids=["booking-id", "space-id", "series-id", "series-slash"]
)
def test_on_the_dev_host_such_hooks_are_400_never_500_and_a_retry_is_not_a_409(
    devhost: RunningHost, data: dict[str, Any]
) -> None:
    msg_id = f"msg_{uuid.uuid4().hex}"
    bad = _body(**data)
    url = devhost.url("ibss/hooks", key=False)
    first = httpx.post(url, content=bad, headers=_signed(bad, msg_id, HOOK_SECRET))
    time.sleep(0.05)
    retry = httpx.post(url, content=bad, headers=_signed(bad, msg_id, HOOK_SECRET))
    assert (first.status_code, retry.status_code) == (400, 400)


async def test_a_timestamp_in_other_scripts_digits_is_refused(storage: StorageAccount) -> None:
    # int() reads "١٧٩٦..." as a number; the signature covers the ASCII form, so it would verify.
    sink = _Sink()
    intake = HookIntake(secret=SECRET, seen=TableHookIds(storage), sink=sink)
    body = _body()
    headers = _signed(body)
    headers["webhook-timestamp"] = headers["webhook-timestamp"].translate(
        str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
    )
    with pytest.raises(HookRejected) as rejected:
        await intake.accept(body, headers)
    assert rejected.value.status == 400
    assert sink.sent == []
