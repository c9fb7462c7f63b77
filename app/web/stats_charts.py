"""Column charts for the statistics pages, laid out here and drawn as SVG by a template (no JavaScript).

``score_histogram(buckets)`` charts how many submissions scored in each tenth; ``facility_chart(parts)`` the
mean score of each part. Each chart carries a sentence with every value for its ``<desc>``, and the pages
print the same numbers in a table beside it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from app.domain.expressions import format_number
from app.services.analytics import PartStats
from app.services.stat_formulas import Bucket

WIDTH: Final = 480
HEIGHT: Final = 260
_LEFT: Final = 54
_RIGHT: Final = 12
_TOP: Final = 20
_BOTTOM: Final = 58
MAX_COLUMNS: Final = 40  # more would be too thin to read; the table beside the chart has them all


@dataclass(frozen=True)
class Column:
    label: str
    value: float
    text: str  # the value as printed above the column
    x: float
    y: float
    width: float
    height: float
    label_x: float  # the centre of the column, where its label sits


@dataclass(frozen=True)
class Tick:
    y: float
    text: str


@dataclass(frozen=True)
class ColumnChart:
    width: int
    height: int
    left: float
    right: float
    top: float
    bottom: float
    title: str
    x_title: str
    y_title: str
    columns: tuple[Column, ...]
    ticks: tuple[Tick, ...]
    description: str  # every value in words, for the SVG's <desc>


def nice_step(largest: float, *, target: int = 5) -> float:
    """A round tick step (1, 2 or 5 times a power of ten) giving about ``target`` steps up to ``largest``."""
    if largest <= 0:
        return 1.0
    raw = largest / target
    power = 10 ** math.floor(math.log10(raw))
    return float(next(m * power for m in (1, 2, 5, 10) if m * power >= raw))


def column_chart(
    labels: Sequence[str],
    values: Sequence[float],
    *,
    texts: Sequence[str],
    y_max: float,
    step: float,
    title: str,
    x_title: str,
    y_title: str,
) -> ColumnChart | None:
    """One column per label, scaled to ``y_max``; None when there is nothing sensible to draw."""
    if not labels or len(labels) != len(values) or len(labels) > MAX_COLUMNS or y_max <= 0:
        return None
    right, bottom = WIDTH - _RIGHT, HEIGHT - _BOTTOM
    slot = (right - _LEFT) / len(labels)
    plot_height = bottom - _TOP
    columns = []
    for i, (label, value, text) in enumerate(zip(labels, values, texts, strict=True)):
        height = plot_height * min(max(value, 0.0), y_max) / y_max
        columns.append(
            Column(
                label=label,
                value=value,
                text=text,
                x=round(_LEFT + i * slot + slot * 0.15, 2),
                y=round(bottom - height, 2),
                width=round(slot * 0.7, 2),
                height=round(height, 2),
                label_x=round(_LEFT + (i + 0.5) * slot, 2),
            )
        )
    count = round(y_max / step)
    ticks = tuple(
        Tick(y=round(bottom - plot_height * k * step / y_max, 2), text=format_number(round(k * step, 10), 3))
        for k in range(count + 1)
    )
    description = "; ".join(f"{label}: {text}" for label, text in zip(labels, texts, strict=True)) + "."
    return ColumnChart(
        width=WIDTH,
        height=HEIGHT,
        left=_LEFT,
        right=right,
        top=_TOP,
        bottom=bottom,
        title=title,
        x_title=x_title,
        y_title=y_title,
        columns=tuple(columns),
        ticks=ticks,
        description=description,
    )


def bucket_label(bucket: Bucket) -> str:
    """``"30–40%"``; the last bucket includes 100%."""
    return f"{round(bucket.low * 100)}–{round(bucket.high * 100)}%"


def score_histogram(buckets: Sequence[Bucket], *, title: str = "Scores") -> ColumnChart | None:
    """How many scored in each tenth from 0 to 100%; None when nobody has."""
    counts = [bucket.count for bucket in buckets]
    if not any(counts):
        return None
    step = max(1.0, nice_step(max(counts)))  # whole numbers of submissions
    y_max = step * math.ceil(max(counts) / step)
    return column_chart(
        [f"{round(b.low * 100)}" for b in buckets],
        [float(c) for c in counts],
        texts=[str(c) for c in counts],
        y_max=y_max,
        step=step,
        title=title,
        x_title="Score (%), from the lower bound of each tenth",
        y_title="Count",
    )


def facility_chart(parts: Sequence[PartStats], *, title: str = "Facility by part") -> ColumnChart | None:
    """The mean score of each graded part, 0 to 1; None when no part has been graded."""
    graded = [part for part in parts if part.facility is not None]
    if not graded:
        return None
    return column_chart(
        [part.key for part in graded],
        [part.facility or 0.0 for part in graded],
        texts=[format_number(part.facility or 0.0, 2) for part in graded],
        y_max=1.0,
        step=0.2,
        title=title,
        x_title="Part",
        y_title="Mean score",
    )
