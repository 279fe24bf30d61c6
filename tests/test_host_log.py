"""The failure report of end-to-end waits: what the dev hosts logged in the test, about one booking."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from tests.stack_fixtures import HostLog, RunningHost, what_the_service_did


def _line(msg: str, cid: str | None = None, **fields: Any) -> str:
    entry: dict[str, Any] = {
        "ts": "2026-12-02T05:57:20.289+00:00",
        "level": "INFO",
        "logger": "w",
        "msg": msg,
    }
    if cid:
        entry["correlation_id"] = cid
    return json.dumps({**entry, **fields})


@pytest.fixture
def host() -> RunningHost:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return RunningHost(base_url="http://127.0.0.1:1", proc=proc)


def test_since_counts_lines_ever_read_also_past_the_bound() -> None:
    log = HostLog()
    log.lines = type(log.lines)(maxlen=3)
    for i in range(5):
        log.append(str(i))
    assert log.since(0) == ["2", "3", "4"]  # older lines are gone, the mark still counts
    assert log.since(3) == ["3", "4"]
    assert log.since(5) == []


def test_routine_lines_are_left_out_and_the_rest_compacted(host: RunningHost) -> None:
    host.log.append(_line("rooms maintenance done", rooms=4))
    host.log.append(_line("delta round", changed=0, removed=0))
    host.log.append(_line("plan", "c1", actions=["create_booking"], booking_id=None))
    host.log.append("Traceback (most recent call last):")
    report = what_the_service_did(hosts=[host])
    assert "maintenance" not in report
    assert "delta round" not in report
    assert "05:57:20.289 INFO w: plan actions=['create_booking'] booking_id=None" in report
    assert "Traceback" in report


def test_about_keeps_the_lines_of_its_ids_and_their_correlation(host: RunningHost) -> None:
    host.log.append(_line("plan", "c1", actions=["create_booking"], room_event_id="EV1"))
    host.log.append(_line("IBSS refused the booking", "c1", status=409))
    host.log.append(_line("plan", "c2", actions=["update_meeting"], room_event_id="EV2"))
    report = what_the_service_did(about=["EV1"], hosts=[host])
    assert "create_booking" in report
    assert "IBSS refused the booking status=409" in report
    assert "update_meeting" not in report


def test_limit_keeps_the_last_lines_and_says_so(host: RunningHost) -> None:
    for i in range(50):
        host.log.append(_line(f"step {i}"))
    report = what_the_service_did(limit=5, hosts=[host])
    assert "(last 5 of 50)" in report
    assert "step 49" in report
    assert "step 44" not in report


def test_nothing_logged_says_so(host: RunningHost) -> None:
    assert what_the_service_did(hosts=[host]) == "the hosts logged nothing for this test"
