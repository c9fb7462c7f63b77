"""The geometry of a grouped bar chart of distributions, drawn as SVG by a template (no JavaScript).

``bar_chart(outcomes, [("P", p), ("Q", q)])`` lays out one group of bars per outcome and one bar per
distribution; the template only copies coordinates. Series differ by fill pattern as well as by colour,
so the chart does not rely on colour alone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from app.domain.expressions import format_number

WIDTH: Final = 400
HEIGHT: Final = 260
_LEFT: Final = 50  # room for the y tick labels and the axis title
_RIGHT: Final = 12
_TOP: Final = 44  # room for the legend, and for the value printed above the tallest bar
_BOTTOM: Final = 58  # room for the outcome names and the axis title
MAX_OUTCOMES: Final = 40  # beyond this the bars are too thin to read; the table says it all
# Fill patterns, in series order: solid, diagonal hatching, dots (CSS gives each its colour as well).
PATTERNS: Final = ("solid", "hatch", "dots")


@dataclass(frozen=True)
class Bar:
    series: int
    outcome: str
    value: float
    text: str  # the value as printed above the bar and read by a screen reader
    x: float
    y: float
    width: float
    height: float
    show_text: bool  # only when the bar is wide enough for its label


@dataclass(frozen=True)
class Group:
    label: str
    x: float  # centre of the group, where its label sits


@dataclass(frozen=True)
class Tick:
    value: float
    y: float
    text: str


@dataclass(frozen=True)
class Series:
    index: int
    name: str
    pattern: str
    legend_x: float


@dataclass(frozen=True)
class BarChart:
    width: int
    height: int
    left: float
    right: float
    top: float
    bottom: float
    y_max: float
    series: tuple[Series, ...]
    groups: tuple[Group, ...]
    bars: tuple[Bar, ...]
    ticks: tuple[Tick, ...]
    description: str  # a sentence giving every value, for the SVG's <desc>


def _scale_top(largest: float) -> tuple[float, float]:
    """A round top for the y axis and the tick step: 0.1 steps up to 0.5, 0.2 steps above."""
    step = 0.1 if largest <= 0.5 else 0.2
    steps = max(1, math.ceil(round(largest / step, 9)))
    return steps * step, step


def bar_chart(outcomes: Sequence[str], distributions: Sequence[tuple[str, Sequence[float]]]) -> BarChart | None:
    """Lay out grouped bars, one group per outcome; ``None`` when there is nothing sensible to draw."""
    if not outcomes or not distributions or len(outcomes) > MAX_OUTCOMES or len(distributions) > len(PATTERNS):
        return None
    if any(len(values) != len(outcomes) for _, values in distributions):
        return None
    finite = [v for _, values in distributions for v in values if math.isfinite(v)]
    y_max, step = _scale_top(max(finite, default=0.0))
    right, bottom = WIDTH - _RIGHT, HEIGHT - _BOTTOM
    plot_height = bottom - _TOP
    group_width = (right - _LEFT) / len(outcomes)
    bar_width = group_width * 0.8 / len(distributions)

    def y_of(value: float) -> float:
        return bottom - plot_height * min(max(value, 0.0), y_max) / y_max

    groups: list[Group] = []
    bars: list[Bar] = []
    for i, outcome in enumerate(outcomes):
        start = _LEFT + i * group_width + group_width * 0.1
        groups.append(Group(label=outcome, x=round(_LEFT + (i + 0.5) * group_width, 2)))
        for s, (_, values) in enumerate(distributions):
            value = float(values[i])
            top = y_of(value)
            bars.append(
                Bar(
                    series=s,
                    outcome=outcome,
                    value=value,
                    text=format_number(value, 3),
                    x=round(start + s * bar_width, 2),
                    y=round(top, 2),
                    width=round(bar_width, 2),
                    height=round(bottom - top, 2),
                    show_text=bar_width >= 26,
                )
            )
    count = round(y_max / step)
    ticks = tuple(
        Tick(value=k * step, y=round(y_of(k * step), 2), text=format_number(round(k * step, 10), 2))
        for k in range(count + 1)
    )
    legend_step = (right - _LEFT) / len(distributions)
    series = tuple(
        Series(index=s, name=name, pattern=PATTERNS[s], legend_x=round(_LEFT + s * legend_step, 2))
        for s, (name, _) in enumerate(distributions)
    )
    description = "; ".join(
        f"{outcome}: " + ", ".join(f"{name} {format_number(float(values[i]), 3)}" for name, values in distributions)
        for i, outcome in enumerate(outcomes)
    )
    return BarChart(
        width=WIDTH,
        height=HEIGHT,
        left=_LEFT,
        right=right,
        top=_TOP,
        bottom=bottom,
        y_max=y_max,
        series=series,
        groups=tuple(groups),
        bars=tuple(bars),
        ticks=ticks,
        description=description + ".",
    )
