"""The bar chart's layout: grouped bars in the plot area, heights proportional to the values."""

from __future__ import annotations

import math

import pytest

from app.web.charts import MAX_OUTCOMES, bar_chart


def test_grouped_bars_one_group_per_outcome() -> None:
    chart = bar_chart(["apple", "banana", "cherry"], [("P", [0.7, 0.2, 0.1]), ("QA", [0.6, 0.3, 0.1])])
    assert chart is not None
    assert [g.label for g in chart.groups] == ["apple", "banana", "cherry"]
    assert [(b.series, b.outcome, b.value) for b in chart.bars] == [
        (0, "apple", 0.7), (1, "apple", 0.6),
        (0, "banana", 0.2), (1, "banana", 0.3),
        (0, "cherry", 0.1), (1, "cherry", 0.1),
    ]  # fmt: skip
    assert [s.name for s in chart.series] == ["P", "QA"]
    assert [s.pattern for s in chart.series] == ["solid", "hatch"]  # told apart without colour


def test_bars_stand_on_the_axis_with_proportional_heights() -> None:
    chart = bar_chart(["a", "b"], [("P", [0.8, 0.2]), ("Q", [0.5, 0.5])])
    assert chart is not None
    assert chart.y_max == pytest.approx(0.8)
    plot = chart.bottom - chart.top
    for bar in chart.bars:
        assert bar.y + bar.height == pytest.approx(chart.bottom, abs=0.02)
        assert bar.height == pytest.approx(plot * bar.value / chart.y_max, abs=0.02)
        assert chart.left <= bar.x and bar.x + bar.width <= chart.right
    # Bars of one group do not overlap, and groups keep their order left to right.
    xs = [bar.x for bar in chart.bars]
    assert xs == sorted(xs)


def test_ticks_are_round_and_cover_the_largest_value() -> None:
    chart = bar_chart(["a", "b", "c"], [("P", [0.34, 0.33, 0.33])])
    assert chart is not None
    assert [t.text for t in chart.ticks] == ["0", "0.1", "0.2", "0.3", "0.4"]
    assert chart.ticks[0].y == chart.bottom and chart.ticks[-1].y == chart.top


def test_description_reads_every_value() -> None:
    chart = bar_chart(["sat", "ran"], [("P", [0.75, 0.25]), ("Q", [0.5, 0.5])])
    assert chart is not None
    assert chart.description == "sat: P 0.75, Q 0.5; ran: P 0.25, Q 0.5."


def test_zero_and_infinite_values_do_not_break_the_layout() -> None:
    chart = bar_chart(["a", "b"], [("P", [1.0, 0.0]), ("Q", [0.0, 1.0])])
    assert chart is not None
    heights = [bar.height for bar in chart.bars]
    assert all(math.isfinite(h) and h >= 0 for h in heights)
    assert bar_chart(["a"], [("P", [0.0])]) is not None  # all zeros: still a valid axis


@pytest.mark.parametrize(
    ("outcomes", "series"),
    [
        ([], [("P", [])]),
        (["a", "b"], []),
        (["a", "b"], [("P", [0.5, 0.5]), ("Q", [1.0])]),
        ([str(i) for i in range(MAX_OUTCOMES + 1)], [("P", [1 / (MAX_OUTCOMES + 1)] * (MAX_OUTCOMES + 1))]),
    ],
)
def test_nothing_drawn_when_there_is_nothing_sensible_to_draw(
    outcomes: list[str], series: list[tuple[str, list[float]]]
) -> None:
    assert bar_chart(outcomes, series) is None
