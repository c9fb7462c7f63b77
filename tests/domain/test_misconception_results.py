"""The wrong results of a part are kept per (answer, parameters object, expected): same diagnoses, fewer evaluations."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from app.domain import misconceptions, wrong_formulas
from app.domain.cards import PartSpec, Tolerance
from app.domain.expressions import evaluate
from app.domain.misconceptions import _WrongResults, diagnose

P = [0.7, 0.2, 0.1]
QA = [0.6, 0.3, 0.1]
PART = PartSpec(key="loss", kind="numeric", label="Loss", answer="kl(P, QA)", tolerance=Tolerance(0.01, 0.0005))
LOSS = float(np.sum(np.array(P) * np.log(np.array(P) / np.array(QA))))
WRONG = {
    "reverse_kl": float(np.sum(np.array(QA) * np.log(np.array(QA) / np.array(P)))),
    "log_base_2": LOSS / math.log(2),
    "sign_flipped": -LOSS,
    "unweighted": float(np.sum(np.log(np.array(P) / np.array(QA)))),
}


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts evaluations of the answer expression (the survey and each wrong formula), on a fresh cache."""
    calls: list[int] = []
    real = wrong_formulas.expressions.evaluate

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(wrong_formulas.expressions, "evaluate", counting)
    monkeypatch.setattr(misconceptions, "_known", _WrongResults(maxsize=2))
    return calls


def codes(params: dict[str, Any]) -> list[str | None]:
    expected = float(evaluate(PART.answer or "", params))
    found = [diagnose(part=PART, params=params, given=given, expected=expected) for given in WRONG.values()]
    return [None if item is None else item.code for item in found]


def test_a_second_round_of_wrong_answers_gives_the_same_diagnoses_without_evaluating_again(counted: list[int]) -> None:
    params = {"P": P, "QA": QA}
    first = codes(params)
    assert first == list(WRONG)
    evaluations = len(counted)
    assert codes(params) == first
    assert len(counted) == evaluations  # every wrong formula's result was kept


def test_equal_parameters_in_another_object_are_another_entry_and_the_cache_is_bounded(counted: list[int]) -> None:
    first, second, third = ({"P": P, "QA": QA} for _ in range(3))
    assert codes(first) == codes(second) == codes(third) == list(WRONG)
    known = misconceptions._known
    assert len(known._entries) == 2  # the oldest entry went
    evaluations = len(counted)
    assert codes(first) == list(WRONG)  # evicted: evaluated again, to the same diagnoses
    assert len(counted) > evaluations
