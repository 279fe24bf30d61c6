"""Structured JSON-lines logging with a correlation id that follows one change through the pipeline.

Never pass secrets, tokens, subjects or attendee addresses to these loggers: only ids, counts and reasons.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

_correlation_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("correlation_id", default=None)

_RESERVED = set(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}


def new_correlation_id() -> str:
    return uuid.uuid4().hex


def current_correlation_id() -> str | None:
    return _correlation_id.get()


@contextmanager
def correlation(correlation_id: str | None) -> Iterator[str]:
    """Bind a correlation id (a new one if None) for the duration of the block."""
    cid = correlation_id or new_correlation_id()
    token = _correlation_id.set(cid)
    try:
        yield cid
    finally:
        _correlation_id.reset(token)


# An address, plain or percent-encoded (an IBSS or Graph URL inside an exception's text carries one); the
# ops page's error reasons use the same pattern (shared/state/sync_events.py).
ADDRESS = re.compile(r"[A-Za-z0-9._%+\-']+(?:@|%40)[A-Za-z0-9.\-]+")
# The query string of a URL (filters can name owners; keys can ride in it).
_QUERY = re.compile(r"((?:https?://|(?<![^\s'\"(])/)[^\s'\"?#]*)\?[^\s'\"]*")


def redact(text: str) -> str:
    """``text`` without addresses and URL query strings, for whatever leaves the process in logs or
    telemetry; exception texts above all, which carry the URL of the call that failed."""
    return ADDRESS.sub("{address}", _QUERY.sub(r"\1", text))


def _clean(value: str) -> str:
    # CR/LF in a log value would let input forge log lines (CWE-117).
    return redact(value).replace("\r", "\\r").replace("\n", "\\n")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": _clean(record.getMessage()),
        }
        cid = getattr(record, "correlation_id", None) or _correlation_id.get()
        if cid:
            entry["correlation_id"] = cid
        for key, value in vars(record).items():
            if key not in _RESERVED and key != "correlation_id" and not key.startswith("_"):
                entry[key] = _clean(value) if isinstance(value, str) else value
        if record.exc_info:
            entry["exc"] = _clean(self.formatException(record.exc_info))
        return json.dumps(entry, default=str)


def configure_logging(level: int = logging.INFO) -> None:
    """Send JSON lines to stderr. Idempotent; the Functions worker keeps its own handlers too."""
    root = logging.getLogger()
    if any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root.addHandler(handler)
    root.setLevel(level)
    # The Azure SDKs log every HTTP request with headers at INFO; that is noise and may carry URLs with keys.
    for noisy in ("azure", "azure.core.pipeline.policies.http_logging_policy", "httpx", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
