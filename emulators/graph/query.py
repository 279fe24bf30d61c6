"""The OData query options the emulator understands ($filter, $select, $expand, $orderby)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC
from typing import Any

from emulators.graph.errors import bad_request
from emulators.graph.events import Instance
from emulators.graph.timezones import parse_graph_datetime

Predicate = Callable[[Instance, dict[str, Any]], bool]

_ANY_RE = re.compile(r"^singleValueExtendedProperties/any\(\s*(\w+)\s*:\s*(.+)\)$", re.IGNORECASE | re.DOTALL)
_CMP_RE = re.compile(r"^([\w/]+)\s+(eq|ne|ge|gt|le|lt)\s+(.+)$", re.IGNORECASE | re.DOTALL)
_EXPAND_RE = re.compile(
    r"^singleValueExtendedProperties(?:\(\s*\$filter\s*=\s*id\s+eq\s+'((?:[^']|'')*)'\s*\))?$", re.IGNORECASE
)


def split_and(text: str) -> list[str]:
    """Split on top-level ``and`` (outside parentheses and quotes)."""
    parts, depth, quote, buf, i = [], 0, False, "", 0
    while i < len(text):
        ch = text[i]
        if ch == "'":
            quote = not quote
        elif not quote and ch == "(":
            depth += 1
        elif not quote and ch == ")":
            depth -= 1
        if not quote and depth == 0 and text[i : i + 5].lower() == " and ":
            parts.append(buf.strip())
            buf, i = "", i + 5
            continue
        buf += ch
        i += 1
    parts.append(buf.strip())
    return [p for p in parts if p]


def _literal(raw: str) -> Any:
    raw = raw.strip()
    if raw.startswith("'") and raw.endswith("'"):
        return raw[1:-1].replace("''", "'")
    if raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    if raw.lower() == "null":
        return None
    try:
        return int(raw)
    except ValueError:
        dt, _ = parse_graph_datetime(raw)
        return dt.replace(tzinfo=UTC)


def _compare(op: str, left: Any, right: Any) -> bool:
    if op == "eq":
        return bool(left == right)
    if op == "ne":
        return bool(left != right)
    if left is None or right is None:
        return False
    return bool({"ge": left >= right, "gt": left > right, "le": left <= right, "lt": left < right}[op])


def _value(inst: Instance, wire: dict[str, Any], path: str) -> Any:
    p = path.lower()
    if p == "start/datetime":
        return inst.start
    if p == "end/datetime":
        return inst.end
    if p in ("lastmodifieddatetime", "createddatetime"):
        return inst.event.last_modified if p.startswith("last") else inst.event.created
    node: Any = wire
    for seg in path.split("/"):
        node = node.get(seg) if isinstance(node, dict) else None
    return node


def parse_filter(text: str) -> list[Predicate]:
    preds: list[Predicate] = []
    for clause in split_and(text.strip()):
        m = _ANY_RE.match(clause)
        if m:
            var, inner = m.group(1), m.group(2)
            conds: list[tuple[str, Any]] = []
            for c in split_and(inner):
                cm = _CMP_RE.match(c)
                if (
                    not cm
                    or cm.group(2).lower() != "eq"
                    or not cm.group(1).lower().startswith(var.lower() + "/")
                ):
                    raise bad_request(f"Unsupported lambda expression '{c}'.", "ErrorInvalidUrlQueryFilter")
                conds.append((cm.group(1).split("/", 1)[1].lower(), _literal(cm.group(3))))

            def any_pred(inst: Instance, wire: dict[str, Any], conds: list[tuple[str, Any]] = conds) -> bool:
                for prop in inst.event.sv_props:
                    ok = True
                    for field, val in conds:
                        have = prop["id"] if field == "id" else prop["value"]
                        if field == "id":
                            ok &= str(have).lower() == str(val).lower()
                        else:
                            ok &= have == val
                    if ok:
                        return True
                return False

            preds.append(any_pred)
            continue
        cm = _CMP_RE.match(clause)
        if not cm:
            raise bad_request(f"Invalid filter clause '{clause}'.", "ErrorInvalidUrlQueryFilter")
        path, op, lit = cm.group(1), cm.group(2).lower(), _literal(cm.group(3))

        def cmp_pred(
            inst: Instance, wire: dict[str, Any], path: str = path, op: str = op, lit: Any = lit
        ) -> bool:
            return _compare(op, _value(inst, wire, path), lit)

        preds.append(cmp_pred)
    return preds


def parse_select(text: str | None) -> set[str] | None:
    if not text:
        return None
    return {s.strip() for s in text.split(",") if s.strip()}


def parse_expand(text: str | None) -> str | None:
    """'' for all single-value extended properties, the id to match, or None."""
    if not text:
        return None
    m = _EXPAND_RE.match(text.strip())
    if not m:
        raise bad_request(f"$expand '{text}' is not supported by the emulator.", "ErrorInvalidUrlQuery")
    return (m.group(1) or "").replace("''", "'")


def sort_key(orderby: str | None) -> tuple[Callable[[Instance], Any], bool] | None:
    if not orderby:
        return None
    field, _, direction = orderby.strip().partition(" ")
    desc = direction.strip().lower() == "desc"
    f = field.lower()
    if f == "start/datetime":
        return (lambda i: i.start), desc
    if f == "end/datetime":
        return (lambda i: i.end), desc
    if f == "lastmodifieddatetime":
        return (lambda i: i.event.last_modified), desc
    if f == "createddatetime":
        return (lambda i: i.event.created), desc
    if f == "subject":
        return (lambda i: str(i.event.props.get("subject", ""))), desc
    raise bad_request(f"$orderby '{orderby}' is not supported by the emulator.", "ErrorInvalidUrlQuery")
