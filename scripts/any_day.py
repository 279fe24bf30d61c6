"""`make test-any-day`: the date-sensitive tests under a shifted clock, on every weekday and at the edges.

Each run wraps `python -m scripts.stack test` in libfaketime's offset mode (`faketime -f '+<seconds>'`), so
pytest, Azurite, the emulators and the dev hosts all see the same shifted, running clock (absolute mode
would stop time and break `time.sleep`). The runs:

- one per weekday: today and the six days after it, at the current time of day;
- late evening: 23:40 in Europe/Berlin (the demo building's zone), so midnight falls inside the run;
- the week of the next DST change in Europe/Berlin: its Monday, at the current time of day.

Usage: `python -m scripts.any_day [--only NAME ...] [--list] [pytest args]`; the modules default to
MODULES. SYNC_E2E_EXAMPLES defaults to 2 here (each randomized example already uses a day of its own).
Prints one line per run and a summary table; exits 1 if any run failed.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from zoneinfo import ZoneInfo

from scripts.stack import ROOT

BERLIN = ZoneInfo("Europe/Berlin")
# Every module whose tests book on the real (or real-following) clock of the dev host or the emulators.
MODULES = (
    "tests/test_slots.py",
    "tests/e2e",
    "tests/integration/test_reconciler_races.py",
    "tests/telemetry/test_sync_round_telemetry.py",
    "tests/admin/test_ops_page_browser.py",
    "tests/rooms/test_e2e_stack.py",
    "tests/security/test_ops_page_xss.py",
    "tests/security/test_privacy.py",
)
LOGS = ROOT / ".localstack" / "any-day"
# pytest's closing line, with or without "=" bars: "1 failed, 334 passed, 2 warnings in 402.12s (0:06:42)".
_SUMMARY = re.compile(r"^=*\s*((?:\d+ \w+(?:, )?)+) in [\d.]+s", re.MULTILINE)


@dataclass(frozen=True)
class Run:
    """A shift of whole days (the time of day stays real), or a fixed start (the offset is taken just
    before the run starts, so the run begins at ``target`` however long earlier runs took)."""

    name: str
    days: int = 0
    target: datetime | None = None

    def offset_seconds(self, now: datetime) -> int:
        if self.target is None:
            return self.days * 86_400
        return round((self.target - now).total_seconds())

    def starts(self, now: datetime) -> datetime:
        return now + timedelta(seconds=self.offset_seconds(now))


def next_dst_change(after: datetime) -> datetime:
    """Midnight (Berlin) of the first day after ``after`` whose UTC offset differs from the day before."""
    day = after.astimezone(BERLIN).date()
    for _ in range(400):
        following = day + timedelta(days=1)
        noon = (datetime.combine(day, dtime(12), BERLIN), datetime.combine(following, dtime(12), BERLIN))
        if noon[0].utcoffset() != noon[1].utcoffset():
            return datetime.combine(following, dtime(0), BERLIN)
        day = following
    raise RuntimeError("Europe/Berlin has no DST change within 400 days")


def plan(now: datetime) -> list[Run]:
    runs = []
    for days in range(7):
        runs.append(Run(f"{now + timedelta(days=days):%a}", days=days))
    evening = datetime.combine(now.astimezone(BERLIN).date(), dtime(23, 40), BERLIN)
    if evening <= now:
        evening += timedelta(days=1)
    runs.append(Run("23:40-berlin", target=evening))
    change = next_dst_change(now)
    week_monday = change.date() - timedelta(days=change.weekday())
    local_now = now.astimezone(BERLIN)
    at_monday = datetime.combine(week_monday, local_now.time().replace(tzinfo=None), BERLIN)
    runs.append(Run(f"dst-week-{change:%Y-%m-%d}", target=at_monday))
    return runs


def ensure_faketime() -> str:
    found = shutil.which("faketime")
    if not found:
        raise SystemExit("faketime is not installed: run `make test-any-day` (it installs Debian's faketime)")
    return found


def run_one(run: Run, faketime: str, pytest_args: Sequence[str]) -> tuple[int, str, float, Path]:
    LOGS.mkdir(parents=True, exist_ok=True)
    log_path = LOGS / f"{run.name}.log"
    now = datetime.now(UTC)
    offset = run.offset_seconds(now)
    env = {**os.environ, "SYNC_E2E_EXAMPLES": os.environ.get("SYNC_E2E_EXAMPLES", "2")}
    cmd = [
        faketime,
        "-f",
        f"{offset:+d}",
        sys.executable,
        "-m",
        "scripts.stack",
        "test",
        "-p",
        "no:cacheprovider",
        *pytest_args,
    ]
    began = time.monotonic()
    with log_path.open("wb") as log:
        code = subprocess.call(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    text = log_path.read_text(errors="replace")
    found = _SUMMARY.findall(text)
    summary = found[-1] if found else f"no pytest summary (exit {code})"
    return (
        code,
        f"{run.starts(now).astimezone(BERLIN):%a %Y-%m-%d %H:%M %Z}  {summary}",
        time.monotonic() - began,
        log_path,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.any_day", description=__doc__.split("\n")[0])
    parser.add_argument("--only", action="append", default=[], help="run only these runs (by name)")
    parser.add_argument("--list", action="store_true", help="print the runs and exit")
    args, pytest_args = parser.parse_known_args(argv)
    runs = plan(datetime.now(UTC))
    if args.only:
        runs = [r for r in runs if r.name in args.only]
    if args.list:
        for r in runs:
            starts = r.starts(datetime.now(UTC)).astimezone(BERLIN)
            print(f"{r.name:>22}  starts at {starts:%a %Y-%m-%d %H:%M %Z}")
        return 0
    faketime = ensure_faketime()
    workers = os.environ.get("TEST_WORKERS", "2")
    pytest_args = pytest_args or ["-n", workers, "--dist", "loadgroup", "-q", *MODULES]
    print(f"test-any-day, started {datetime.now(UTC):%Y-%m-%d %H:%M} UTC: {len(runs)} runs of", *pytest_args)
    results = []
    for r in runs:
        code, summary, seconds, log_path = run_one(r, faketime, pytest_args)
        results.append((r, code, summary, seconds))
        verdict = "ok" if code == 0 else "FAILED"
        print(
            f"{r.name:>22}  {verdict:6}  {summary}  ({seconds:.0f} s; log {log_path.relative_to(ROOT)})",
            flush=True,
        )
    failed = [r.name for r, code, _, _ in results if code != 0]
    total = sum(s for *_, s in results)
    print(f"test-any-day: {len(results) - len(failed)} of {len(results)} runs passed in {total / 60:.1f} min")
    if failed:
        print("failed runs:", ", ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
