import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from app.domain import draws


def units(values, decimals):
    """The shown decimals as whole units of 10^-decimals, asserting each value is exactly such a decimal."""
    counts = [round(v * 10**decimals) for v in values]
    assert [round(k / 10**decimals, decimals) for k in counts] == values
    return counts


@pytest.mark.parametrize(
    ("weights", "decimals", "allow_zero", "expected"),
    [
        ([0.704, 0.196, 0.1], 1, False, [0.7, 0.2, 0.1]),
        ([1 / 3, 1 / 3, 1 / 3], 2, False, [0.34, 0.33, 0.33]),  # the leftover unit goes to the first tie
        ([0.335, 0.335, 0.33], 2, False, [0.34, 0.33, 0.33]),
        ([0.996, 0.002, 0.002], 2, False, [0.98, 0.01, 0.01]),  # both zeros take a unit from the largest
        ([0.996, 0.002, 0.002], 2, True, [1.0, 0.0, 0.0]),
        ([2, 1, 1], 1, False, [0.5, 0.3, 0.2]),  # weights need not sum to 1
        ([0.5, 0.5], 0, True, [1.0, 0.0]),
        ([0.123456789, 0.876543211], 6, False, [0.123457, 0.876543]),
    ],
)
def test_round_distribution_examples(weights, decimals, allow_zero, expected):
    assert draws.round_distribution(weights, decimals=decimals, allow_zero=allow_zero) == expected


@settings(max_examples=300, deadline=None)
@given(
    weights=st.lists(st.floats(0, 1e6, allow_nan=False), min_size=1, max_size=12).filter(lambda w: sum(w) > 0),
    decimals=st.integers(1, 6),
    allow_zero=st.booleans(),
)
def test_round_distribution_sums_to_exactly_one(weights, decimals, allow_zero):
    assume(allow_zero or len(weights) <= 10**decimals)
    shown = draws.round_distribution(weights, decimals=decimals, allow_zero=allow_zero)
    counts = units(shown, decimals)
    assert sum(counts) == 10**decimals
    assert all(type(v) is float for v in shown)
    if not allow_zero:
        assert min(counts) >= 1
    # Largest remainder moves no entry a whole unit from its exact share (when no zero is lifted).
    if allow_zero:
        exact = [w / math.fsum(weights) * 10**decimals for w in weights]
        assert all(abs(k - x) < 1 for k, x in zip(counts, exact, strict=True))


@pytest.mark.parametrize(
    ("weights", "decimals", "allow_zero"),
    [([], 2, False), ([0, 0], 2, False), ([1, -1, 1], 2, False), ([1, math.nan], 2, False), ([1, 1], 0, False)],
)
def test_round_distribution_refuses_what_it_cannot_round(weights, decimals, allow_zero):
    with pytest.raises(ValueError):
        draws.round_distribution(weights, decimals=decimals, allow_zero=allow_zero)


@settings(max_examples=200, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    alphas=st.lists(st.floats(0.05, 50), min_size=2, max_size=8),
    decimals=st.integers(1, 4),
)
def test_dirichlet_draws_show_decimals_that_sum_to_one(seed, alphas, decimals):
    shown = draws.draw({"dirichlet": alphas, "decimals": decimals}, np.random.default_rng(seed))
    counts = units(shown, decimals)
    assert len(shown) == len(alphas)
    assert sum(counts) == 10**decimals
    assert min(counts) >= 1


def test_each_draw_kind_gives_plain_rounded_values():
    rng = np.random.default_rng(7)
    for _ in range(200):
        value = draws.draw({"uniform": [0.1, 0.9], "decimals": 2}, rng)
        assert type(value) is float and 0.1 <= value <= 0.9 and round(value, 2) == value
        logits = draws.draw({"logits": 4, "scale": 3}, rng)
        assert len(logits) == 4 and all(type(v) is float and round(v, 1) == v for v in logits)
        assert all(str(v) != "-0.0" for v in logits)
        n = draws.draw({"integer": [1, 3]}, rng)
        assert type(n) is int and 1 <= n <= 3
        picked = draws.draw({"choice": [[1, 2], "two", True]}, rng)
        assert picked in ([1, 2], "two", True)
    seen = {draws.draw({"integer": [1, 3]}, rng) for _ in range(100)}
    assert seen == {1, 2, 3}  # both ends are reachable


def test_a_choice_draw_returns_a_copy():
    options = [[0.5, 0.5]]
    picked = draws.draw({"choice": options}, np.random.default_rng(0))
    picked.append(1)
    assert options == [[0.5, 0.5]]


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ({"dirichlet": [8, 1, 1], "uniform": [0, 1]}, "exactly one of"),
        ({"decimals": 2}, "exactly one of"),
        ({"dirichlet": [8, 1, 1], "scale": 2}, "'scale' is not an option of dirichlet"),
        ({"dirichlet": [8]}, "2 to 100 positive concentrations"),
        ({"dirichlet": [8, 0, 1]}, "positive concentrations"),
        ({"dirichlet": [1] * 11, "decimals": 1}, "at least one unit"),
        ({"dirichlet": [1, 1], "decimals": 7}, "decimals must be a whole number from 0 to 6"),
        ({"dirichlet": [1, 1], "decimals": True}, "decimals must be"),
        ({"dirichlet": [1, 1], "allow_zero": "yes"}, "allow_zero must be true or false"),
        ({"uniform": [0.9, 0.1]}, "low below high"),
        ({"uniform": [0.1]}, "[low, high]"),
        ({"integer": [1.5, 3]}, "whole numbers"),
        ({"choice": []}, "non-empty list"),
        ({"choice": [None]}, "null"),
        ({"logits": 0}, "number of logits"),
        ({"logits": 3, "scale": -1}, "scale must be a number greater than 0"),
        ({"integer": [1, 2], "decimals": 1}, "'decimals' is not an option of integer"),
    ],
)
def test_draw_problems_name_the_mistake(spec, fragment):
    problems = draws.draw_problems(spec)
    assert any(fragment in p for p in problems), problems


@pytest.mark.parametrize(
    "spec",
    [
        {"dirichlet": [8, 1, 1], "decimals": 2},
        {"dirichlet": [1, 1, 1], "decimals": 0, "allow_zero": True},
        {"uniform": [0.1, 0.9]},
        {"choice": ["a", "b"]},
        {"logits": 4, "scale": 3, "decimals": 1},
        {"integer": [-3, 3]},
    ],
)
def test_valid_draw_specs_have_no_problems(spec):
    assert draws.draw_problems(spec) == []


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        (None, "null"),
        (math.inf, "finite"),
        ([1, [2, [3, [4]]]], "nested"),
        ({1, 2}, "set values are not allowed"),
        ("x" * 1001, "longer than"),
        ([0.0] * 10_001, "more than 10,000 entries"),
    ],
)
def test_fixed_values_are_plain_and_bounded(value, fragment):
    assert fragment in draws.value_problem(value)


def test_plain_values_pass_and_are_copied_as_lists():
    value = ([0.7, 0.2, 0.1], ("a", True), [[1, 2], [3, 4]])
    assert draws.value_problem(value) is None
    assert draws.plain(value) == [[0.7, 0.2, 0.1], ["a", True], [[1, 2], [3, 4]]]
    assert draws.plain(np.array([0.5, 0.5])) == [0.5, 0.5]
