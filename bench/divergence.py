"""How fast the divergence engine is: one vectorised call over a batch against a Python loop over rows.

Run: `python bench/divergence.py [ROWS]`. Prints a table; figures are seconds for the whole batch.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable

import numpy as np

from app.domain import divergence as dv


def best_of(fn: Callable[[], object], repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def python_kl(p: list[float], q: list[float]) -> float:
    return sum(a * math.log(a / b) for a, b in zip(p, q, strict=True) if a > 0)


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    rng = np.random.default_rng(0)
    p = rng.dirichlet([6, 2, 1], size=rows)
    q = rng.dirichlet([2, 2, 2], size=rows)
    sample = min(rows, 100_000)  # the loops are timed on a sample and scaled up
    p_list, q_list = p[:sample].tolist(), q[:sample].tolist()

    vectorised = best_of(lambda: dv.kl(p, q))
    loop = best_of(lambda: [python_kl(a, b) for a, b in zip(p_list, q_list, strict=True)], 1) * rows / sample
    per_row = best_of(lambda: [dv.kl(a, b) for a, b in zip(p[:10_000], q[:10_000], strict=True)], 1) * rows / 10_000

    print(f"KL over {rows:,} three-outcome distributions")
    print(f"{'method':<34}{'seconds':>10}{'rows/s':>16}")
    for name, seconds in [
        ("dv.kl, one vectorised call", vectorised),
        ("plain Python loop (math.log)", loop),
        ("dv.kl called once per row", per_row),
    ]:
        print(f"{name:<34}{seconds:>10.3f}{rows / seconds:>16,.0f}")


if __name__ == "__main__":
    main()
