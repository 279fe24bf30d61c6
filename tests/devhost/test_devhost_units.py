"""Units of the dev host: TimeSpans, host.json queue settings, route templates, schedules."""

import pytest

from devhost.config import DevHostConfigError, QueueHostSettings, parse_timespan, resolve_binding_expression
from devhost.loader import route_pattern
from devhost.timer_scheduler import parse_schedule


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("00:00:30", 30), ("00:01:00", 60), ("1.00:00:00", 86400), ("00:00:00.500", 0.5), ("10:00:00", 36000)],
)
def test_timespan(value: str, seconds: float) -> None:
    assert parse_timespan(value) == seconds


@pytest.mark.parametrize("value", ["30", "1:2", "abc", "00:00:60x"])
def test_bad_timespan(value: str) -> None:
    with pytest.raises(DevHostConfigError):
        parse_timespan(value)


def test_queue_defaults_match_the_host() -> None:
    s = QueueHostSettings.from_host_json({"version": "2.0"})
    assert (s.batch_size, s.new_batch_threshold, s.max_dequeue_count) == (16, 8, 5)
    assert s.max_polling_interval == 60
    assert s.message_encoding == "base64"


@pytest.mark.parametrize(
    "queues", [{"batchSize": 33}, {"messageEncoding": "utf8"}, {"maxPollingInterval": "00:00:00.010"}]
)
def test_queue_settings_rejected(queues: dict[str, object]) -> None:
    with pytest.raises(DevHostConfigError):
        QueueHostSettings.from_host_json({"version": "2.0", "extensions": {"queues": queues}})


@pytest.mark.parametrize(
    ("route", "path", "params"),
    [
        ("items/{id}", "items/42", {"id": "42"}),
        ("items/{id:int}", "items/x", None),
        ("admin/{name?}", "admin", {"name": None}),
        ("admin/{name?}", "admin/x", {"name": "x"}),
        ("graph/notifications", "GRAPH/Notifications", {}),
        ("graph/notifications", "graph/notifications/extra", None),
    ],
)
def test_route_templates(route: str, path: str, params: dict[str, str | None] | None) -> None:
    m = route_pattern(route).match(path)
    assert (m.groupdict() if m else None) == params


def test_schedule_needs_six_fields(monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse_schedule("0 */5 * * * *") == "0 */5 * * * *"
    monkeypatch.setenv("SCHED", "*/2 * * * * *")
    assert parse_schedule("%SCHED%") == "*/2 * * * * *"
    with pytest.raises(DevHostConfigError):
        parse_schedule("*/5 * * * *")
    with pytest.raises(DevHostConfigError):
        parse_schedule("99 * * * * *")
    with pytest.raises(DevHostConfigError):
        resolve_binding_expression("%NOT_SET_ANYWHERE%")
