"""Booking hooks: delivered to a real local HTTP server and verified with the standardwebhooks library."""

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from emulators.ibss.testing import EmulatorControlError, HookReceiver, IbssEmulator
from shared.ibss import IbssHookEvent, IbssHookType, IbssHookVerificationError, verify_hook

SECRET = "whsec_" + base64.b64encode(b"ibss-emulator-test-secret-32-bytes!!").decode()
TUE = datetime(2030, 1, 8, tzinfo=UTC)


@pytest.fixture
def receiver() -> Iterator[HookReceiver]:
    with HookReceiver() as r:
        yield r


@pytest.fixture
def hooked(emu: IbssEmulator, receiver: HookReceiver) -> IbssEmulator:
    emu.set_hook_target(receiver.url, SECRET, backoff_s=0.05)
    return emu


def events(received) -> list[IbssHookEvent]:
    return [IbssHookEvent.model_validate_json(h.body) for h in received]


def test_every_event_type_is_signed_and_verifies(hooked: IbssEmulator, receiver: HookReceiver, api):
    b = hooked.act_book("alice@contoso.example", "HQ-1-BOREALIS", TUE.replace(hour=9), TUE.replace(hour=10))
    bid = b["Booking_Id"]
    hooked.act_edit("alice@contoso.example", bid, name="Edited")
    hooked.set_clock(TUE.replace(hour=9))
    hooked.act_check_in("alice@contoso.example", bid)
    hooked.act_check_out("alice@contoso.example", bid)
    c = api.post(
        "/v2/1001/bookings",
        json={
            "Space_Id": "HQ-2-CIRRUS",
            "Booking_Start": "2030-01-08T11:00:00Z",
            "Booking_End": "2030-01-08T12:00:00Z",
            "Booking_Owner_Email": "bob@contoso.example",
        },
    ).json()
    api.delete(f"/v2/1001/bookings/{c['Booking_Id']}")
    d = api.post(
        "/v2/1001/bookings",
        json={
            "Space_Id": "HQ-2-DELTA",
            "Booking_Start": "2030-01-08T12:00:00Z",
            "Booking_End": "2030-01-08T13:00:00Z",
            "Booking_Owner_Email": "bob@contoso.example",
        },
    ).json()
    hooked.set_clock(TUE.replace(hour=12, minute=15))  # auto-cancel of d

    received = receiver.wait_for(10)  # 8 + the auto-cancel of the two demo seed bookings that morning
    wh = Webhook(SECRET)
    for hook in received:
        payload = wh.verify(hook.body, hook.headers)  # raises on a bad signature or stale timestamp
        assert payload["data"]["Node_Id"] == 1001
        assert hook.headers["webhook-id"].startswith("msg_")
        # webhook-timestamp is real wall-clock time; the body's timestamp is the emulator clock (2030)
        assert abs(int(hook.headers["webhook-timestamp"]) - time.time()) < 60
        assert payload["timestamp"].startswith("2030-01-0")
        assert verify_hook(SECRET, hook.body, hook.headers).data.booking_id == payload["data"]["Booking_Id"]
    mine = {bid, c["Booking_Id"], d["Booking_Id"]}
    got = sorted((e.type.value, e.data.booking_id) for e in events(received) if e.data.booking_id in mine)
    assert got == sorted(
        [
            ("booking.created", bid),
            ("booking.updated", bid),
            ("booking.checked_in", bid),
            ("booking.checked_out", bid),
            ("booking.created", c["Booking_Id"]),
            ("booking.cancelled", c["Booking_Id"]),
            ("booking.created", d["Booking_Id"]),
            ("booking.auto_cancelled", d["Booking_Id"]),
        ]
    )
    assert {t.value for t in IbssHookType} == {g[0] for g in got}
    auto = next(
        e
        for e in events(received)
        if e.data.booking_id == d["Booking_Id"] and e.type is IbssHookType.AUTO_CANCELLED
    )
    assert auto.timestamp == TUE.replace(hour=12, minute=15)
    assert auto.data.space_id == "HQ-2-DELTA"
    assert auto.data.series_id is None


def test_body_shape_is_thin(hooked: IbssEmulator, receiver: HookReceiver):
    hooked.act_book(
        "bob@contoso.example",
        "HQ-2-CIRRUS",
        occurrences=[
            (TUE.replace(hour=9), TUE.replace(hour=10)),
            (TUE.replace(hour=11), TUE.replace(hour=12)),
        ],
    )
    received = receiver.wait_for(2)
    body = json.loads(received[0].body)
    assert set(body) == {"type", "timestamp", "data"}
    assert set(body["data"]) == {"Booking_Id", "Node_Id", "Space_Id", "Booking_Series_Id"}
    assert body["data"]["Booking_Series_Id"]
    assert received[0].headers["content-type"] == "application/json"


def test_wrong_secret_or_tampered_body_fails_verification(hooked: IbssEmulator, receiver: HookReceiver):
    hooked.act_book("bob@contoso.example", "HQ-2-CIRRUS", TUE.replace(hour=9), TUE.replace(hour=10))
    hook = receiver.wait_for(1)[0]
    other = "whsec_" + base64.b64encode(b"another-secret-another-secret-32").decode()
    with pytest.raises(WebhookVerificationError):
        Webhook(other).verify(hook.body, hook.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(hook.body.replace(b"HQ-2-CIRRUS", b"HQ-2-DELTA"), hook.headers)
    with pytest.raises(IbssHookVerificationError) as err:
        verify_hook(other, hook.body, hook.headers)
    assert err.value.reason == "BadSignature"


def test_failed_deliveries_are_retried_with_the_same_id(emu: IbssEmulator):
    with HookReceiver(fail_first=2, fail_status=503) as flaky:
        emu.set_hook_target(flaky.url, SECRET, backoff_s=0.02)
        emu.act_book("bob@contoso.example", "HQ-2-CIRRUS", TUE.replace(hour=9), TUE.replace(hour=10))
        hook = flaky.wait_for(1)[0]
        assert [r.headers["webhook-id"] for r in flaky.rejected] == [hook.headers["webhook-id"]] * 2
        Webhook(SECRET).verify(hook.body, hook.headers)
    delivery = emu.wait_hooks_settled()[0]
    assert delivery["status"] == "delivered"
    assert delivery["attempts"] == 3


def test_gives_up_after_max_attempts(emu: IbssEmulator):
    with HookReceiver(fail_first=100) as down:
        emu.set_hook_target(down.url, SECRET, backoff_s=0.01, max_attempts=3)
        emu.act_book("bob@contoso.example", "HQ-2-CIRRUS", TUE.replace(hour=9), TUE.replace(hour=10))
        delivery = emu.wait_hooks_settled()[0]
        assert delivery["status"] == "failed"
        assert delivery["attempts"] == 3
        assert delivery["last_status"] == 500
        assert len(down.rejected) == 3


def test_unreachable_target_is_retried_in_the_background(emu: IbssEmulator, api):
    emu.set_hook_target("http://127.0.0.1:9/hooks", SECRET, backoff_s=0.01, max_attempts=2, timeout_s=0.5)
    started = time.monotonic()
    resp = api.post(
        "/v2/1001/bookings",
        json={
            "Space_Id": "HQ-2-CIRRUS",
            "Booking_Start": "2030-01-08T11:00:00Z",
            "Booking_End": "2030-01-08T12:00:00Z",
            "Booking_Owner_Email": "bob@contoso.example",
        },
    )
    assert resp.status_code == 201
    assert time.monotonic() - started < 0.5
    delivery = emu.wait_hooks_settled()[0]
    assert delivery["status"] == "failed"
    assert delivery["last_error"] == "ConnectError"


def test_fault_injection_drops_and_delays_hooks(hooked: IbssEmulator, receiver: HookReceiver):
    hooked.inject_hook_fault("drop", times=1, types=["booking.created"])
    a = hooked.act_book("bob@contoso.example", "HQ-2-CIRRUS", TUE.replace(hour=9), TUE.replace(hour=10))
    hooked.act_cancel("bob@contoso.example", a["Booking_Id"])
    received = receiver.wait_for(1)
    assert [e.type for e in events(received)] == [IbssHookType.CANCELLED]
    statuses = {d["type"]: d["status"] for d in hooked.wait_hooks_settled()}
    assert statuses == {"booking.created": "dropped", "booking.cancelled": "delivered"}

    receiver.clear()
    hooked.inject_hook_fault("delay", delay_ms=300)
    started = time.monotonic()
    hooked.act_book("bob@contoso.example", "HQ-2-DELTA", TUE.replace(hour=9), TUE.replace(hour=10))
    receiver.wait_for(1)
    assert time.monotonic() - started >= 0.3


def test_no_target_means_no_delivery(emu: IbssEmulator):
    emu.act_book("bob@contoso.example", "HQ-2-CIRRUS", TUE.replace(hour=9), TUE.replace(hour=10))
    assert [d["status"] for d in emu.hook_deliveries()] == ["no_target"]


def test_hook_target_needs_a_valid_secret(emu: IbssEmulator):
    with pytest.raises(EmulatorControlError):
        emu.set_hook_target("http://127.0.0.1:9/hooks", None)
    with pytest.raises(EmulatorControlError):
        emu.set_hook_target("http://127.0.0.1:9/hooks", "whsec_")


def test_series_and_moves_send_one_hook_per_booking_changed(
    hooked: IbssEmulator, receiver: HookReceiver, api
):
    """A series is one booking per occurrence: creating, changing and cancelling it announces each one,
    all carrying the series id; moving a booking to another space in Flex is an update."""
    series = hooked.act_book(
        "bob@contoso.example",
        "HQ-2-CIRRUS",
        occurrences=[(TUE.replace(hour=h), TUE.replace(hour=h, minute=30)) for h in (9, 10, 11)],
    )
    sid = series["Booking_Series_Id"]
    ids = {b["Booking_Id"] for b in series["value"]}
    assert api.patch(f"/v2/1001/bookings/series/{sid}", json={"Booking_Name": "Renamed"}).status_code == 200
    assert api.delete(f"/v2/1001/bookings/series/{sid}").status_code == 200
    single = hooked.act_book("bob@contoso.example", "HQ-2-DELTA", TUE.replace(hour=13), TUE.replace(hour=14))
    hooked.act_move("bob@contoso.example", single["Booking_Id"], "HQ-1-BOREALIS")

    got = events(receiver.wait_for(3 * 3 + 2))
    for hook_type in (IbssHookType.CREATED, IbssHookType.UPDATED, IbssHookType.CANCELLED):
        of_series = [e for e in got if e.type is hook_type and e.data.booking_id in ids]
        assert {e.data.booking_id for e in of_series} == ids
        assert len(of_series) == 3
        assert {e.data.series_id for e in of_series} == {sid}
    moved = [e for e in got if e.data.booking_id == single["Booking_Id"]]
    assert sorted((e.type.value, e.data.space_id) for e in moved) == [  # deliveries are not ordered
        ("booking.created", "HQ-2-DELTA"),
        ("booking.updated", "HQ-1-BOREALIS"),
    ]
    settled = hooked.wait_hooks_settled()
    assert len(settled) == 11  # nothing more than one hook per booking changed
    assert {d["status"] for d in settled} == {"delivered"}


def test_signature_is_hmac_sha256_over_id_timestamp_body(hooked: IbssEmulator, receiver: HookReceiver):
    """The scheme itself, computed by hand (not only "the library accepts it")."""
    hooked.act_book("bob@contoso.example", "HQ-2-CIRRUS", TUE.replace(hour=9), TUE.replace(hour=10))
    hook = receiver.wait_for(1)[0]
    msg_id, stamp = hook.headers["webhook-id"], hook.headers["webhook-timestamp"]
    key = base64.b64decode(SECRET.removeprefix("whsec_"))
    signed_content = f"{msg_id}.{stamp}.".encode() + hook.body
    expected = base64.b64encode(hmac.new(key, signed_content, hashlib.sha256).digest()).decode()
    versions = dict(part.split(",", 1) for part in hook.headers["webhook-signature"].split(" "))
    assert versions == {"v1": expected}


def test_hooks_off_sends_nothing_and_keeps_the_target(hooked: IbssEmulator, receiver: HookReceiver):
    hooked.set_hooks(enabled=False)
    booking = hooked.act_book("bob@contoso.example", "HQ-2-CIRRUS", TUE.replace(hour=9), TUE.replace(hour=10))
    hooked.act_cancel("bob@contoso.example", booking["Booking_Id"])
    time.sleep(0.2)
    assert receiver.received == []
    assert [d["status"] for d in hooked.hook_deliveries()] == ["off", "off"]
    hooked.set_hooks(enabled=True)  # the target was kept: on again, hooks flow
    hooked.act_book("bob@contoso.example", "HQ-2-DELTA", TUE.replace(hour=9), TUE.replace(hour=10))
    assert [e.type for e in events(receiver.wait_for(1))] == [IbssHookType.CREATED]


def test_a_share_of_hooks_is_dropped_at_random_and_repeatably(hooked: IbssEmulator, receiver: HookReceiver):
    def run() -> list[str]:
        hooked.reset(clock=TUE.replace(hour=7))
        hooked.set_hook_target(receiver.url, SECRET, backoff_s=0.05)
        hooked.set_hooks(drop_share=0.5)
        for hour in range(8, 18):
            hooked.act_book(
                "bob@contoso.example",
                "HQ-2-CIRRUS",
                TUE.replace(hour=hour),
                TUE.replace(hour=hour, minute=30),
            )
        return [d["status"] for d in hooked.wait_hooks_settled()]

    first = run()
    assert set(first) == {"dropped", "delivered"}
    assert 2 <= first.count("dropped") <= 8
    assert run() == first  # seeded: the same hooks are dropped on every run
    with pytest.raises(EmulatorControlError):
        hooked.set_hooks(drop_share=1.5)


def test_hooks_off_from_the_start() -> None:
    with IbssEmulator(hooks=False) as emu, HookReceiver() as receiver:
        emu.reset(clock=TUE.replace(hour=7))
        emu.set_hook_target(receiver.url, SECRET)
        emu.act_book("bob@contoso.example", "HQ-2-CIRRUS", TUE.replace(hour=9), TUE.replace(hour=10))
        assert [d["status"] for d in emu.hook_deliveries()] == ["off"]
        emu.reset(clock=TUE.replace(hour=7))
        emu.act_book("bob@contoso.example", "HQ-2-CIRRUS", TUE.replace(hour=9), TUE.replace(hour=10))
        assert [d["status"] for d in emu.hook_deliveries()] == ["off"]  # reset keeps the start-up setting
