"""Minimal ``$filter`` grammar shared by the client (to build) and the emulator (to parse).

Grammar (documented in docs/ibss-api.md)::

    filter  := clause ( " and " clause )*
    clause  := FIELD OP value
    OP      := eq | ne | lt | le | gt | ge
    value   := 'quoted string' ('' escapes ')  |  2026-01-05T09:00:00Z (UTC datetime, unquoted)
             | integer | true | false | null

Only ``and`` is supported: no ``or``, ``not``, parentheses or functions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from shared.ibss.models import format_utc

Op = Literal["eq", "ne", "lt", "le", "gt", "ge"]
Value = str | int | bool | datetime | None
OPS: frozenset[str] = frozenset({"eq", "ne", "lt", "le", "gt", "ge"})


@dataclass(frozen=True)
class Clause:
    field: str
    op: Op
    value: Value


def format_value(value: Value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, datetime):
        return format_utc(value)
    return "'" + value.replace("'", "''") + "'"


def build_filter(clauses: list[Clause]) -> str | None:
    """``[Clause("Space_Id", "eq", "X"), ...]`` -> ``"Space_Id eq 'X' and ..."`` (None when empty)."""
    if not clauses:
        return None
    return " and ".join(f"{c.field} {c.op} {format_value(c.value)}" for c in clauses)


class FilterSyntaxError(ValueError):
    pass


_CLAUSE = re.compile(
    r"\s*(?P<field>[A-Za-z_][A-Za-z0-9_]*)\s+(?P<op>eq|ne|lt|le|gt|ge)\s+"
    r"(?P<literal>'(?:[^']|'')*'|[^\s']+)\s*"
)
_AND = re.compile(r"and\s+")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$")


def _parse_value(raw: str) -> Value:
    if raw.startswith("'"):
        return raw[1:-1].replace("''", "'")
    if raw == "null":
        return None
    if raw in {"true", "false"}:
        return raw == "true"
    if re.fullmatch(r"-?\d+", raw):
        return int(raw)
    if _DATETIME.match(raw):
        return datetime.fromisoformat(raw.replace("Z", "+00:00"))
    raise FilterSyntaxError(f"unsupported value {raw!r}")


def parse_filter(text: str) -> list[Clause]:
    """Parse the minimal grammar; raises :class:`FilterSyntaxError`."""
    clauses: list[Clause] = []
    pos = 0
    text = text.strip()
    while True:
        m = _CLAUSE.match(text, pos)
        if not m:
            raise FilterSyntaxError(f"cannot parse $filter at position {pos}: {text[pos : pos + 30]!r}")
        op = m.group("op")
        if op not in OPS:  # pragma: no cover - the regex only admits OPS
            raise FilterSyntaxError(f"unsupported operator {op!r}")
        clauses.append(Clause(m.group("field"), op, _parse_value(m.group("literal"))))  # type: ignore[arg-type]
        pos = m.end()
        if pos >= len(text):
            return clauses
        a = _AND.match(text, pos)
        if not a:
            raise FilterSyntaxError(f"expected 'and' at position {pos}: {text[pos : pos + 30]!r}")
        pos = a.end()
