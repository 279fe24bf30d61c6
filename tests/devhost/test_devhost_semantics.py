"""The dev host runs a real app over HTTP and real Azurite queues with the Functions host's semantics."""

import base64
import contextlib
import itertools
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from azure.core.exceptions import ResourceExistsError
from azure.storage.queue import QueueClient, TextBase64EncodePolicy

from scripts.stack import stop_process
from tests.stack_fixtures import RunningHost, start_host

APP = Path(__file__).parent / "apps" / "sample_app.py"


@pytest.fixture(scope="module")
def out_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("sample-app")


@pytest.fixture(scope="module")
def sample_host(storage_connection: str, out_dir: Path) -> Iterator[RunningHost]:
    host = start_host(
        APP, storage_connection, {"SAMPLE_APP_OUT": str(out_dir), "SAMPLE_TIMER": "*/1 * * * * *"}
    )
    try:
        yield host
    finally:
        stop_process(host.proc)


def _queue(conn: str, name: str) -> QueueClient:
    q = QueueClient.from_connection_string(conn, name, message_encode_policy=TextBase64EncodePolicy())
    with contextlib.suppress(ResourceExistsError):
        q.create_queue()
    return q


def _wait(predicate, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def test_http_route_params_query_and_method(sample_host: RunningHost) -> None:
    r = httpx.get(f"{sample_host.base_url}/api/items/7?q=abc")
    assert r.status_code == 200
    assert r.text == "7|abc|GET"
    assert r.headers["content-type"].startswith("text/plain")
    assert httpx.get(f"{sample_host.base_url}/api/items/seven").status_code == 404
    assert httpx.post(f"{sample_host.base_url}/api/items/7").status_code == 405


def test_http_auth_levels(sample_host: RunningHost) -> None:
    url = f"{sample_host.base_url}/api/secure"
    assert httpx.post(url, content=b"x").status_code == 401
    assert httpx.post(url + "?code=wrong", content=b"x").status_code == 401
    ok = httpx.post(url + f"?code={sample_host.function_key}", content=b"payload", headers={"x-probe": "p"})
    assert (ok.status_code, ok.content, ok.headers["x-seen"]) == (201, b"payload", "p")
    by_header = httpx.post(url, content=b"x", headers={"x-functions-key": sample_host.master_key})
    assert by_header.status_code == 201
    admin = f"{sample_host.base_url}/api/admin-only"
    assert httpx.get(admin, params={"code": sample_host.function_key}).status_code == 401
    assert httpx.get(admin, params={"code": sample_host.master_key}).status_code == 200


def test_unhandled_exception_is_a_bare_500(sample_host: RunningHost) -> None:
    r = httpx.get(f"{sample_host.base_url}/api/boom")
    assert r.status_code == 500
    assert b"boom" not in r.content


def test_base64_message_reaches_the_function(
    sample_host: RunningHost, storage_connection: str, out_dir: Path
) -> None:
    _queue(storage_connection, "echo-in").send_message('{"hello": "wörld"}')
    text = _wait(lambda: (out_dir / "echo.txt").exists() and (out_dir / "echo.txt").read_text())
    assert '{"hello": "wörld"}' in text


def test_always_failing_message_is_poisoned_after_max_dequeue_count(
    sample_host: RunningHost, storage_connection: str, out_dir: Path
) -> None:
    q = _queue(storage_connection, "always-fails")
    sent = q.send_message("poison-me")
    poison = QueueClient.from_connection_string(storage_connection, "always-fails-poison")

    def poisoned() -> list[str]:
        try:
            return [m.content for m in poison.peek_messages(max_messages=32)]
        except Exception:
            return []

    contents = _wait(poisoned)
    # The host moves the message as it was (still base64) to the poison queue.
    assert base64.b64decode(contents[0]).decode() == "poison-me"
    attempts = [line.split() for line in (out_dir / "attempts.txt").read_text().splitlines()]
    mine = [a for a in attempts if a[0] == sent.id]
    assert [int(a[1]) for a in mine] == [1, 2, 3, 4, 5]
    assert q.peek_messages(max_messages=32) == []


def test_undecodable_message_counts_as_failure_and_is_poisoned(
    sample_host: RunningHost, storage_connection: str
) -> None:
    raw = QueueClient.from_connection_string(storage_connection, "echo-in")
    raw.send_message("not base64 at all!")
    poison = QueueClient.from_connection_string(storage_connection, "echo-in-poison")

    def poisoned() -> list[str]:
        try:
            return [m.content for m in poison.peek_messages(max_messages=32)]
        except Exception:
            return []

    assert "not base64 at all!" in _wait(poisoned)


def test_timer_fires_on_schedule_and_on_startup(sample_host: RunningHost, out_dir: Path) -> None:
    lines = _wait(
        lambda: (
            len((out_dir / "timer.txt").read_text().splitlines()) >= 3
            if (out_dir / "timer.txt").exists()
            else 0
        )
    )
    assert lines
    stamps = [float(line.split()[0]) for line in (out_dir / "timer.txt").read_text().splitlines()]
    gaps = [b - a for a, b in itertools.pairwise(stamps[1:])]
    assert all(0.5 < g < 1.6 for g in gaps), gaps
