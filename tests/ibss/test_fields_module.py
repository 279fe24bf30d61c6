"""One mapping module of IBSS wire names: every name lives in shared/ibss/fields.py, each marked CONFIRMED,
ASSUMED or OURS, and the docs list every assumed one (aligning with a customer's Swagger is a one-file
change)."""

import ast
import io
import re
import tokenize
from pathlib import Path

from shared.ibss import fields

ROOT = Path(__file__).resolve().parents[2]
FIELDS = ROOT / "shared" / "ibss" / "fields.py"
DOCS = ROOT / "docs" / "ibss-api.md"
MARKERS = ("CONFIRMED", "ASSUMED", "OURS")


def wire_constants() -> dict[str, tuple[str, str]]:
    """``{NAME: (value, marker)}`` for every string constant of fields.py, with the marker of its comment."""
    source = FIELDS.read_text(encoding="utf-8")
    comments: dict[int, str] = {
        tok.start[0]: tok.string
        for tok in tokenize.generate_tokens(io.StringIO(source).readline)
        if tok.type == tokenize.COMMENT
    }
    result: dict[str, tuple[str, str]] = {}
    for node in ast.parse(source).body:
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
            continue
        if not (isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)):
            continue
        end = node.end_lineno or node.lineno
        texts = [comments[n] for n in range(node.lineno, end + 1) if n in comments]
        marker = next((w for t in texts for w in MARKERS if t.lstrip("# ").startswith(w)), "")
        result[node.target.id] = (node.value.value, marker)
    return result


def test_every_wire_name_is_marked_and_the_marks_match_the_confirmed_set():
    constants = wire_constants()
    assert len(constants) > 100
    unmarked = sorted(name for name, (_, marker) in constants.items() if not marker)
    assert unmarked == []
    for name, (value, marker) in constants.items():
        if marker == "CONFIRMED":
            assert value in fields.CONFIRMED, name
        # An ASSUMED constant may share its value with a CONFIRMED one of another resource (``Email`` is
        # confirmed on booking parties, assumed on user preferences): the mark belongs to the constant.
    assert set(fields.CONFIRMED) <= {v for v, m in constants.values() if m == "CONFIRMED"}


def _string_literals(path: Path) -> list[tuple[int, str]]:
    """String literals of a module, without docstrings and ``__all__`` (Python names, not wire names)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            first = node.body[0] if node.body else None
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                skipped.add(id(first.value))
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            skipped.update(id(n) for n in ast.walk(node.value))
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skipped
    ]


def test_no_wire_name_is_spelled_outside_the_mapping_module():
    """The client, the hook intake and the emulator take every wire name from fields.py."""
    names = {value for value, _ in wire_constants().values()}
    offenders = []
    for folder in (ROOT / "shared" / "ibss", ROOT / "emulators" / "ibss"):
        for path in sorted(folder.rglob("*.py")):
            if path == FIELDS:
                continue
            for line, text in _string_literals(path):
                if text in names:
                    offenders.append(f"{path.relative_to(ROOT)}:{line}: {text!r}")
    assert offenders == []


def _assumed_section() -> str:
    text = DOCS.read_text(encoding="utf-8")
    m = re.search(r"^## Assumed names\b.*?(?=^## |\Z)", text, flags=re.M | re.S)
    assert m, "docs/ibss-api.md has no '## Assumed names' section"
    return m.group(0)


def test_docs_list_every_assumed_name_and_no_confirmed_one():
    listed = set(re.findall(r"`([^`]+)`", _assumed_section()))
    constants = wire_constants()
    assumed = {v for v, m in constants.values() if m == "ASSUMED"}
    missing = sorted(assumed - listed)
    assert missing == []
    only_confirmed = {v for v, m in constants.values() if m == "CONFIRMED"} - assumed
    assert sorted(listed & only_confirmed) == []


def test_docs_describe_every_path():
    doc = DOCS.read_text(encoding="utf-8")
    documented = {re.sub(r"\{[^}]*\}", "{}", p) for p in re.findall(r"`[A-Z]+ (/v2/[^ `]+)", doc)}
    paths = {re.sub(r"\{[^}]*\}", "{}", v) for n, (v, _) in wire_constants().items() if n.startswith("PATH_")}
    assert sorted(paths - documented) == []
