"""Card parameters: fixed values, and values drawn per seed and rounded to what the learner is shown.

A drawn parameter is a mapping with exactly one draw key and its options, e.g.
``{"dirichlet": [8, 1, 1], "decimals": 2}``. Every value comes back as a plain Python value, already
rounded, because a card's answers are computed from the values as shown, never from unrounded ones.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Final

import numpy as np

DRAW_KINDS: Final = ("dirichlet", "uniform", "choice", "logits", "integer")
# The options each draw accepts, with their defaults.
OPTIONS: Final[Mapping[str, Mapping[str, Any]]] = {
    "dirichlet": {"decimals": 2, "allow_zero": False},
    "uniform": {"decimals": 2},
    "choice": {},
    "logits": {"decimals": 1, "scale": 1.0},
    "integer": {},
}
MAX_DECIMALS: Final = 6
MAX_OUTCOMES: Final = 100  # entries of a drawn distribution or logit vector
MAX_ENTRIES: Final = 10_000  # numbers and strings in one fixed value
MAX_DEPTH: Final = 3  # a list of lists of lists at most
MAX_STRING: Final = 1_000
_MAX_INTEGER: Final = 2**53  # integers beyond this lose precision as floats


def is_number(value: Any) -> bool:
    """A finite int or float; ``True`` is not a number here, though Python says it is an int."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def is_draw(value: Any) -> bool:
    """Whether a parameter is drawn per seed (every drawn parameter is written as a mapping)."""
    return isinstance(value, Mapping)


def plain(value: Any) -> Any:
    """A deep copy as JSON-safe Python values: tuples become lists, numpy scalars Python numbers."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def value_problem(value: Any) -> str | None:
    """Why ``value`` cannot be a fixed parameter value, or None when it can."""
    entries = 0

    def problem(v: Any, depth: int) -> str | None:
        nonlocal entries
        if isinstance(v, list | tuple):
            if depth >= MAX_DEPTH:
                return f"lists can be nested at most {MAX_DEPTH} deep"
            return next((p for item in v if (p := problem(item, depth + 1))), None)
        entries += 1
        if entries > MAX_ENTRIES:
            return f"has more than {MAX_ENTRIES:,} entries"
        if isinstance(v, bool) or is_number(v):
            return None
        if isinstance(v, int | float):
            return f"{v} is not allowed; numbers must be finite"
        if isinstance(v, str):
            return None if len(v) <= MAX_STRING else f"a string is longer than {MAX_STRING:,} characters"
        if v is None:
            return "has an empty value (null); give a number, text, true/false or a list of them"
        return f"{type(v).__name__} values are not allowed; use numbers, text, true/false or lists of them"

    return problem(value, 0)


def draw_kind(spec: Mapping[str, Any]) -> str:
    """The draw key of a valid draw spec."""
    return next(key for key in spec if key in DRAW_KINDS)


def draw_problems(spec: Mapping[str, Any]) -> list[str]:
    """Everything wrong with a draw spec, in words an author can act on."""
    kinds = [key for key in spec if key in DRAW_KINDS]
    if len(kinds) != 1:
        found = "none" if not kinds else " and ".join(map(str, kinds))
        return [f"a drawn parameter needs exactly one of {', '.join(DRAW_KINDS)} (found {found})"]
    kind = kinds[0]
    problems = [
        f"'{key}' is not an option of {kind} (options: {', '.join(OPTIONS[kind]) or 'none'})"
        for key in spec
        if key != kind and key not in OPTIONS[kind]
    ]
    arg = spec[kind]
    if kind == "dirichlet":
        sized = isinstance(arg, list | tuple) and 2 <= len(arg) <= MAX_OUTCOMES
        if not (sized and all(is_number(a) and a > 0 for a in arg)):
            problems.append(f"dirichlet needs 2 to {MAX_OUTCOMES} positive concentrations, e.g. [8, 1, 1]")
        elif not spec.get("allow_zero") and len(arg) > 10 ** max(0, _decimals_or_default(spec, kind)):
            problems.append("cannot give every outcome at least one unit with so few decimals")
    elif kind in ("uniform", "integer"):
        wanted = "whole numbers" if kind == "integer" else "numbers"
        ok = isinstance(arg, list | tuple) and len(arg) == 2 and all(is_number(a) for a in arg)
        if ok and kind == "integer":
            ok = all(isinstance(a, int) and abs(a) <= _MAX_INTEGER for a in arg)
        if not ok or arg[0] > arg[1] or (kind == "uniform" and arg[0] == arg[1]):
            problems.append(f"{kind} needs [low, high]: two {wanted} with low below high, e.g. [1, 6]")
    elif kind == "choice":
        if not (isinstance(arg, list | tuple) and arg):
            problems.append("choice needs a non-empty list of values to pick from")
        elif reason := value_problem(list(arg)):
            problems.append(f"choice: {reason}")
    elif not (isinstance(arg, int) and not isinstance(arg, bool) and 1 <= arg <= MAX_OUTCOMES):
        problems.append(f"logits needs the number of logits, a whole number from 1 to {MAX_OUTCOMES}")
    if "decimals" in spec and "decimals" in OPTIONS[kind] and _decimals_or_default(spec, kind) < 0:
        problems.append(f"decimals must be a whole number from 0 to {MAX_DECIMALS}")
    if "scale" in spec and not (is_number(spec["scale"]) and spec["scale"] > 0):
        problems.append("scale must be a number greater than 0")
    if "allow_zero" in spec and not isinstance(spec["allow_zero"], bool):
        problems.append("allow_zero must be true or false")
    return problems


def _decimals_or_default(spec: Mapping[str, Any], kind: str) -> int:
    """The decimals option, or -1 when it is not a whole number from 0 to MAX_DECIMALS."""
    value = spec.get("decimals", OPTIONS[kind].get("decimals", 0))
    ok = isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_DECIMALS
    return int(value) if ok else -1


def draw(spec: Mapping[str, Any], rng: np.random.Generator) -> Any:
    """One value of a valid draw spec, as shown to the learner."""
    kind = draw_kind(spec)
    options = {**OPTIONS[kind], **{k: v for k, v in spec.items() if k != kind}}
    arg = spec[kind]
    if kind == "dirichlet":
        weights = rng.dirichlet([float(a) for a in arg]).tolist()
        return round_distribution(weights, decimals=options["decimals"], allow_zero=options["allow_zero"])
    if kind == "uniform":
        return _shown(float(rng.uniform(float(arg[0]), float(arg[1]))), options["decimals"])
    if kind == "logits":
        values = rng.normal(0.0, float(options["scale"]), size=int(arg)).tolist()
        return [_shown(v, options["decimals"]) for v in values]
    if kind == "integer":
        return int(rng.integers(int(arg[0]), int(arg[1]), endpoint=True))
    return plain(arg[int(rng.integers(len(arg)))])


def _shown(value: float, decimals: int) -> float:
    # Adding 0.0 turns -0.0 into 0.0: a learner should never be shown "-0.0".
    return round(value, decimals) + 0.0


def round_distribution(weights: Sequence[float], *, decimals: int, allow_zero: bool = False) -> list[float]:
    """Round a distribution to ``decimals`` places so that the rounded values sum to exactly 1.

    Works in integer units of 10^-decimals with largest-remainder rounding, so the shown decimals add up
    to 1 exactly; unless ``allow_zero``, an outcome rounded to 0 takes a unit from the largest one, since a
    shown 0 would change the question (a support mismatch makes KL infinite).
    ``round_distribution([0.704, 0.196, 0.1], decimals=1) == [0.7, 0.2, 0.1]``.
    """
    unit = 10**decimals
    total = math.fsum(weights)
    if not weights or any(not math.isfinite(w) or w < 0 for w in weights) or not total > 0:
        raise ValueError("weights must be non-negative finite numbers with a positive sum")
    if not allow_zero and len(weights) > unit:
        raise ValueError(f"{len(weights)} outcomes cannot each get at least one unit of {1 / unit:g}")
    raw = [w / total * unit for w in weights]
    units = [math.floor(r) for r in raw]
    by_remainder = sorted(range(len(raw)), key=lambda i: (units[i] - raw[i], i))
    for i in by_remainder[: max(0, unit - sum(units))]:
        units[i] += 1
    if not allow_zero:
        for i, count in enumerate(units):
            if count == 0:
                # While some outcome has 0 units and there are at least as many units as outcomes,
                # the largest outcome has at least 2, so taking one from it never empties it.
                largest = max(range(len(units)), key=lambda j: (units[j], -j))
                units[largest] -= 1
                units[i] = 1
    return [round(k / unit, decimals) for k in units]
