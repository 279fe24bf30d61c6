"""host.json and local.settings.json, read the way the Functions host reads them."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_TIMESPAN = re.compile(r"^(?:(?P<days>\d+)\.)?(?P<h>\d{1,2}):(?P<m>\d{2}):(?P<s>\d{2}(?:\.\d+)?)$")


class DevHostConfigError(ValueError):
    """host.json, local.settings.json or a binding expression is invalid."""


def parse_timespan(value: str) -> float:
    """Seconds in a .NET TimeSpan string such as `00:00:30` or `1.00:00:00`."""
    m = _TIMESPAN.match(value.strip())
    if not m:
        raise DevHostConfigError(f"not a TimeSpan (expected [d.]hh:mm:ss[.fff]): {value!r}")
    days = int(m.group("days") or 0)
    return days * 86400 + int(m.group("h")) * 3600 + int(m.group("m")) * 60 + float(m.group("s"))


@dataclass(frozen=True)
class QueueHostSettings:
    """extensions.queues in host.json, with the host's documented defaults."""

    batch_size: int = 16
    new_batch_threshold: int = 8
    max_dequeue_count: int = 5
    visibility_timeout: float = 0.0
    max_polling_interval: float = 60.0
    message_encoding: str = "base64"

    @classmethod
    def from_host_json(cls, host: dict[str, Any]) -> QueueHostSettings:
        queues = host.get("extensions", {}).get("queues", {})
        if not isinstance(queues, dict):
            raise DevHostConfigError("extensions.queues in host.json must be an object")
        batch = int(queues.get("batchSize", 16))
        if not 1 <= batch <= 32:
            raise DevHostConfigError("extensions.queues.batchSize must be between 1 and 32")
        encoding = str(queues.get("messageEncoding", "base64")).lower()
        if encoding not in {"base64", "none"}:
            raise DevHostConfigError("extensions.queues.messageEncoding must be 'base64' or 'none'")
        max_poll = parse_timespan(queues.get("maxPollingInterval", "00:01:00"))
        if max_poll < 0.1:
            raise DevHostConfigError("extensions.queues.maxPollingInterval must be at least 100 ms")
        return cls(
            batch_size=batch,
            new_batch_threshold=int(queues.get("newBatchThreshold", batch // 2)),
            max_dequeue_count=int(queues.get("maxDequeueCount", 5)),
            visibility_timeout=parse_timespan(queues.get("visibilityTimeout", "00:00:00")),
            max_polling_interval=max_poll,
            message_encoding=encoding,
        )


def load_host_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise DevHostConfigError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict) or data.get("version") != "2.0":
        raise DevHostConfigError(f'{path} must be an object with "version": "2.0"')
    return data


@dataclass(frozen=True)
class LocalSettings:
    values: dict[str, str]
    local_http_port: int | None


def load_local_settings(path: Path | None) -> LocalSettings:
    if path is None or not path.exists():
        return LocalSettings(values={}, local_http_port=None)
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise DevHostConfigError(f"cannot read {path}: {exc}") from exc
    values = data.get("Values", {})
    if not isinstance(values, dict):
        raise DevHostConfigError(f"'Values' in {path} must be an object")
    port = data.get("Host", {}).get("LocalHttpPort")
    return LocalSettings(values={str(k): str(v) for k, v in values.items()}, local_http_port=port)


def apply_local_settings(settings: LocalSettings) -> None:
    """Expose Values as environment variables, as Core Tools does; variables already set win."""
    for key, value in settings.values.items():
        os.environ.setdefault(key, value)


_EXPRESSION = re.compile(r"%([^%]+)%")


def resolve_binding_expression(value: str) -> str:
    """Replace `%SETTING%` with the app setting's value, as the host does for trigger properties."""

    def sub(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in os.environ:
            raise DevHostConfigError(f"app setting {name!r} used in a binding expression is not set")
        return os.environ[name]

    return _EXPRESSION.sub(sub, value)
