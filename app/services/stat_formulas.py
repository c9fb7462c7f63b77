"""The small formulas behind the analytics: Pearson's r from sums, and score histograms read as thresholds."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import ColumnElement, case, func

BUCKETS: Final = 10


@dataclass(frozen=True)
class Bucket:
    """Scores from ``low`` up to (not including) ``high``; the last bucket includes 1."""

    low: float
    high: float
    count: int


def pearson(n: int, sx: float, sy: float, sxy: float, sxx: float, syy: float) -> float | None:
    """Pearson's r from the sums; None when there are fewer than two pairs or either side does not vary."""
    if n < 2:
        return None
    cov = n * sxy - sx * sy
    var_x = n * sxx - sx * sx
    var_y = n * syy - sy * sy
    # Sums of squares of values in [0, 1] lose a few ulps; a spread this small is no spread at all.
    scale = max(1.0, float(n) * n)
    if var_x <= 1e-12 * scale or var_y <= 1e-12 * scale:
        return None
    return max(-1.0, min(1.0, cov / math.sqrt(var_x * var_y)))


def at_least_columns(score: Any) -> list[ColumnElement[int]]:
    """SQL sums counting the scores at or above 0.1, 0.2, ... 0.9: a histogram read in the same pass as a mean."""
    # Thresholds rather than a bucket number to group by: no GROUP BY, so no sort, and no floor(), which
    # SQLite may lack (and PostgreSQL's integer cast rounds instead of truncating).
    return [func.sum(case((score >= k / BUCKETS, 1), else_=0)) for k in range(1, BUCKETS)]


def from_thresholds(count: int, at_least: Sequence[Any]) -> tuple[Bucket, ...]:
    """The buckets from the number of scores and the counts of ``at_least_columns``: k/10 ≤ score < (k+1)/10."""
    bounds = [count, *(int(n or 0) for n in at_least), 0]
    return histogram((k, bounds[k] - bounds[k + 1]) for k in range(BUCKETS))


def histogram(counts: Iterable[tuple[int, int]]) -> tuple[Bucket, ...]:
    """Every bucket, empty ones included, from (bucket, count) rows."""
    found = dict(counts)
    return tuple(Bucket(low=k / BUCKETS, high=(k + 1) / BUCKETS, count=int(found.get(k, 0))) for k in range(BUCKETS))


def merged(histograms: Iterable[tuple[Bucket, ...]]) -> tuple[Bucket, ...]:
    """The bucket-by-bucket sum of histograms."""
    totals = [0] * BUCKETS
    for buckets in histograms:
        for k, bucket in enumerate(buckets):
            totals[k] += bucket.count
    return histogram(enumerate(totals))
