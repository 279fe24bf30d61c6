"""Retry policy of the worker client: short waits are absorbed, long ones surface as GraphThrottled."""

from __future__ import annotations

import time

import pytest

from emulators.graph.testing import GraphEmulator
from shared.graph.errors import DEFAULT_RETRY_AFTER_SECONDS, GraphServerError, GraphThrottled

from .conftest import Graph, requests_by_endpoint
from .helpers import ALICE, AURORA, create_action, outlook_meeting

GET_EVENT = "GET /users/{id}/events/{id}"


def _event(emu: GraphEmulator) -> str:
    return str(emu.act_create_meeting(ALICE, outlook_meeting())["id"])


async def test_long_retry_after_surfaces_at_once(graph: Graph, emu: GraphEmulator) -> None:
    event_id = _event(emu)
    emu.inject_fault("http", status=429, count=5, mailbox=ALICE, method="GET", retryAfter=30)
    began = time.monotonic()
    with pytest.raises(GraphThrottled) as err:
        await graph.calendar.get_event(ALICE, event_id)
    assert time.monotonic() - began < 1.0
    assert err.value.retry_after == 30.0
    assert err.value.retry_after_from_header
    assert err.value.status == 429
    assert err.value.retryable
    assert requests_by_endpoint(emu) == {GET_EVENT: 1}  # not retried


async def test_short_retry_after_is_absorbed(graph: Graph, emu: GraphEmulator) -> None:
    event_id = _event(emu)
    emu.inject_fault("http", status=429, count=1, mailbox=ALICE, method="GET", retryAfter=1)
    began = time.monotonic()
    event = await graph.calendar.get_event(ALICE, event_id)
    elapsed = time.monotonic() - began
    assert event is not None
    assert 1.0 <= elapsed < 2.0  # waited Retry-After, not longer, not shorter
    assert requests_by_endpoint(emu) == {GET_EVENT: 2}


async def test_decimal_retry_after_and_retry_budget(graph: Graph, emu: GraphEmulator) -> None:
    event_id = _event(emu)
    # Graph sends decimal seconds; kiota alone would ignore them and use its own backoff.
    emu.inject_fault("http", status=429, count=5, mailbox=ALICE, method="GET", retryAfter=0.25)
    began = time.monotonic()
    with pytest.raises(GraphThrottled) as err:
        await graph.calendar.get_event(ALICE, event_id)
    assert time.monotonic() - began < 1.5
    assert err.value.retry_after == 0.25
    assert requests_by_endpoint(emu) == {GET_EVENT: 3}  # the first try + 2 retries


async def test_503_is_throttling_with_or_without_retry_after(graph: Graph, emu: GraphEmulator) -> None:
    event_id = _event(emu)
    emu.inject_fault("http", status=503, count=1, mailbox=ALICE, method="GET", retryAfter=None)
    assert await graph.calendar.get_event(ALICE, event_id) is not None  # absorbed (backoff < 2 s)
    emu.inject_fault("http", status=503, count=5, mailbox=ALICE, method="GET", retryAfter=20)
    with pytest.raises(GraphThrottled) as err:
        await graph.calendar.get_event(ALICE, event_id)
    assert err.value.retry_after == 20.0
    emu.clear_faults()
    # Without a Retry-After the work is still put back after a delay, not failed as a server error.
    emu.inject_fault("http", status=503, count=5, mailbox=ALICE, method="GET", retryAfter=None)
    with pytest.raises(GraphThrottled) as bare:
        await graph.calendar.get_event(ALICE, event_id)
    assert bare.value.retry_after == DEFAULT_RETRY_AFTER_SECONDS
    emu.clear_faults()
    emu.inject_fault("http", status=500, count=1, mailbox=ALICE, method="GET")
    with pytest.raises(GraphServerError):
        await graph.calendar.get_event(ALICE, event_id)


async def test_retried_post_keeps_body_and_creates_once(graph: Graph, emu: GraphEmulator) -> None:
    emu.inject_fault("http", status=429, count=1, mailbox=ALICE, method="POST", retryAfter=0.2)
    result = await graph.writer.apply(create_action())
    assert result.event_id
    assert requests_by_endpoint(emu) == {"POST /users/{id}/events": 2}
    assert len(emu.mailbox_events(ALICE)) == 1
    assert len(emu.mailbox_events(AURORA)) == 1
    event = await graph.calendar.get_event(ALICE, result.event_id)
    assert event is not None
    assert event.subject == "Budget review"


async def test_long_throttle_on_a_write_surfaces(graph: Graph, emu: GraphEmulator) -> None:
    emu.inject_fault("http", status=429, count=1, mailbox=ALICE, method="POST", retryAfter=45)
    with pytest.raises(GraphThrottled) as err:
        await graph.writer.apply(create_action())
    assert err.value.retry_after == 45.0
    assert emu.mailbox_events(ALICE) == []
