"""bench/results.json: each benchmark writes its own top-level key and keeps every other one."""

from __future__ import annotations

import fcntl
import json
import tempfile
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
