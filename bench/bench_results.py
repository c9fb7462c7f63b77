"""bench/results.json: each benchmark writes its own top-level key and keeps every other one."""

from __future__ import annotations

import fcntl
import json
import tempfile
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results.json"


def merge_results(key: str, value: dict[str, Any]) -> None:
    """Merge ``value`` into ``key`` of bench/results.json (a run on one database keeps the other's figures),
    under a lock so two benchmarks finishing together both keep theirs."""
    with open(Path(tempfile.gettempdir()) / "distill-tutor-bench-results.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        data: dict[str, Any] = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
        data[key] = {**data.get(key, {}), **value}
        partial = RESULTS.with_suffix(".json.tmp")
        partial.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
        partial.replace(RESULTS)


def reference_loop_ms() -> float:
    """The CPU time of a fixed piece of pure Python (ten million additions in a for loop), best of three, in ms.

    Figures in milliseconds and seconds (a p99, a cold start) scale with the speed of the machine, which varies
    severalfold between the machines these benchmarks run on, from one day to the next; this says how fast the
    machine at hand was, so that two runs' absolute figures can be compared. (The ratios to ``/healthz`` need no
    such help.)
    """
    best = float("inf")
    for _ in range(3):
        start = time.process_time()
        total = 0
        for number in range(10_000_000):
            total += number
        best = min(best, time.process_time() - start)
    return round(best * 1000, 1)
