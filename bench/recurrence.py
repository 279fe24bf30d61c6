"""Recurrence: CPU cost of expansion and of the inverse, then the 52-week series on the local stack.

    .venv/bin/python -m bench.recurrence [--cases 3000] [--seed 7] [--cpu-only]

After the CPU figures below it runs ``bench.series`` in owner and in room mode (unless ``--cpu-only``):
time and Graph requests to bring a 52-week weekly series made in Outlook into IBSS, and to apply a
whole-series time change (``bench.series_ibss`` measures the other direction).

Uses the property test's random cases (33 zones, all pattern and range types, start dates near DST
transitions, windows of hours to years) and prints per-call latency percentiles for ``expand`` and for
``to_patterned_recurrence`` on the expanded starts, plus occurrences per second. A sync round expands
one series per changed booking, so these numbers bound the CPU cost of the series sync per change.
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import time

from shared.recurrence import expand, to_patterned_recurrence
from tests.recurrence.cases import case_from_seed


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--cpu-only", action="store_true", help="skip the 52-week series on the local stack")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    cases = [case_from_seed(rng.getrandbits(64)) for _ in range(args.cases)]
    parsed = [c.parsed() for c in cases]

    expand_ms: list[float] = []
    inverse_ms: list[float] = []
    occurrences = 0
    inverted = 0
    began = time.perf_counter()
    for case, rec in zip(cases, parsed, strict=True):
        t0 = time.perf_counter()
        occ = expand(
            rec, case.start_local.time(), case.duration, case.zone, case.window_start, case.window_end
        )
        expand_ms.append((time.perf_counter() - t0) * 1000)
        occurrences += len(occ)
        if len(occ) >= 2:
            t0 = time.perf_counter()
            found = to_patterned_recurrence([o.start_utc for o in occ], case.zone)
            inverse_ms.append((time.perf_counter() - t0) * 1000)
            inverted += found is not None
    total = time.perf_counter() - began

    print(f"cases={len(cases)} occurrences={occurrences} total={total:.2f}s")
    print(
        f"expand: mean={statistics.mean(expand_ms):.3f} ms p50={_pct(expand_ms, 0.5):.3f} "
        f"p95={_pct(expand_ms, 0.95):.3f} p99={_pct(expand_ms, 0.99):.3f} max={max(expand_ms):.3f} ms; "
        f"{occurrences / (sum(expand_ms) / 1000):,.0f} occurrences/s"
    )
    if inverse_ms:
        print(
            f"inverse: series={len(inverse_ms)} patterned={inverted} "
            f"mean={statistics.mean(inverse_ms):.3f} ms p95={_pct(inverse_ms, 0.95):.3f} "
            f"max={max(inverse_ms):.3f} ms"
        )
    if not args.cpu_only:
        for mode in ("owner", "room"):
            print(f"\n52-week weekly series made in Outlook, {mode} mode (bench.series):", flush=True)
            subprocess.run(
                [sys.executable, "-m", "bench.series", "--mode", mode],
                check=True,
                stderr=subprocess.DEVNULL,  # the dev host's JSON log
            )


if __name__ == "__main__":
    main()
