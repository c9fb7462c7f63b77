"""Misconceptions: recognise a wrong numeric answer as one of the usual mistakes, and say which.

The grader re-evaluates the part's own answer expression with a wrong formula swapped into the expression
namespace (reverse KL for KL, bits for nats, cross-entropy for KL, a dropped term, α on the wrong term ...).
When the learner's value matches one of these results, the learner most likely made that mistake, and the
feedback can name it in plain words instead of only saying "wrong".
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from app.domain.cards import PartSpec, Tolerance
from app.domain.expressions import format_number
from app.domain.wrong_formulas import MAX_TERMS, Candidate, candidates, evaluate_candidate, survey

__all__ = ["MAX_TERMS", "Misconception", "diagnose", "within_tolerance"]


@dataclass(frozen=True)
class Misconception:
    """A recognised mistake: a stable ``code`` (e.g. ``log_base_2``) and a ``message`` for the learner."""

    code: str
    message: str


def within_tolerance(value: float, target: float, tolerance: Tolerance) -> bool:
    """The numeric grading rule |value − target| ≤ atol + rtol·|target|; an infinity matches only itself."""
    if math.isnan(value) or math.isnan(target):
        return False
    if math.isinf(value) or math.isinf(target):
        return value == target
    return abs(value - target) <= tolerance.atol + tolerance.rtol * abs(target)


def diagnose(*, part: PartSpec, params: Mapping[str, Any], given: float, expected: float) -> Misconception | None:
    """The first usual mistake that explains ``given`` for this part, or None when none does."""
    if part.kind != "numeric" or not part.answer:
        return None
    if within_tolerance(given, expected, part.tolerance):
        return None  # a right answer is not a mistake
    for candidate, value in _known.values(part.answer, params, expected):
        if value is None or (candidate.not_zero and within_tolerance(value, 0.0, part.tolerance)):
            continue
        # A wrong formula that happens to give the right answer explains nothing.
        if within_tolerance(given, value, part.tolerance) and not within_tolerance(value, expected, part.tolerance):
            # replace(), not format(): an outcome name taken from the card may itself contain braces.
            text = candidate.message.replace("{given}", format_number(given))
            text = text.replace("{expected}", format_number(expected))
            return Misconception(code=candidate.code, message=text)
    return None


# --- the wrong results of a part, kept --------------------------------------------------------------------


class _Wrong:
    """The usual mistakes for one answer expression and parameters, each result computed when first needed.

    Every wrong answer to the same variant meets the same candidates, and evaluating them all costs a few
    milliseconds. A race between two threads only computes the same (deterministic) value twice.
    """

    def __init__(self, answer: str, params: Mapping[str, Any], expected: float) -> None:
        self.params = params  # held, so its id cannot be reused by other parameters while this entry lives
        self._answer = answer
        reading = survey(answer, params)
        self._candidates = [] if reading is None else list(candidates(reading, params, expected))
        self._results: dict[int, float | None] = {}

    def __iter__(self) -> Iterator[tuple[Candidate, float | None]]:
        for index, candidate in enumerate(self._candidates):
            if candidate.value is not None:
                yield candidate, candidate.value
                continue
            if index not in self._results:
                self._results[index] = evaluate_candidate(self._answer, self.params, candidate)
            yield candidate, self._results[index]


class _WrongResults:
    """A bounded LRU of ``_Wrong`` by (answer, parameters object, expected value).

    Keyed by the parameters *object*: a variant's parameters are generated once and kept with the variant
    (``app.domain.variant_cache``), so every submission to a variant meets the same object; other parameters
    are another key. Parameters are read-only, as they are everywhere once a variant is made.
    """

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._entries: OrderedDict[tuple[str, int, float], _Wrong] = OrderedDict()
        self._lock = threading.Lock()

    def values(self, answer: str, params: Mapping[str, Any], expected: float) -> _Wrong:
        key = (answer, id(params), expected)
        with self._lock:
            found = self._entries.get(key)
            if found is not None and found.params is params:
                self._entries.move_to_end(key)
                return found
        made = _Wrong(answer, params, expected)  # outside the lock: one expression evaluation
        with self._lock:
            self._entries[key] = made
            self._entries.move_to_end(key)
            while len(self._entries) > self.maxsize:
                self._entries.popitem(last=False)
        return made

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


# A few kilobytes each (the candidates' swapped functions): as many as the variants kept, for a part or two each.
_known = _WrongResults(maxsize=2048)
