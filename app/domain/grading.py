"""Grading: parse a learner's raw answers, grade them against a variant, and explain the result.

``grade(spec, variant, answers)`` first checks the form of every answer and raises ``AnswerFormatError``
naming each part whose answer cannot be read (nothing is graded then: a typo costs no attempt). Otherwise it
returns a ``Grade`` whose ``to_dict()`` is strictly JSON-safe, so it can be stored and shown again with
``Grade.from_dict()``.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from app.domain.cards import CardSpec, Expected, PartKind, PartSpec, Variant
from app.domain.expressions import format_number
from app.domain.misconceptions import Misconception, diagnose, within_tolerance

__all__ = [
    "AnswerFormatError",
    "Grade",
    "Misconception",
    "PartResult",
    "grade",
    "parse_number",
    "weighted_score",
]

_DECIMAL: Final = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
_INFINITY: Final = re.compile(r"([+-]?)(?:inf|infinity|∞)", re.IGNORECASE)
_EXAMPLE: Final = "write it like 0.0268 or 2.68e-2"
_MINUS_SIGNS: Final = str.maketrans({"\u2212": "-", "\u2013": "-", "\ufe63": "-", "\uff0d": "-"})


class AnswerFormatError(ValueError):
    """Answers that cannot be read; ``errors`` maps each offending part key to what is wrong with it."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        self.errors = dict(errors)
        super().__init__("; ".join(f"{key}: {message}" for key, message in self.errors.items()))


def parse_number(raw: str) -> float:
    """Read a learner's number: ``parse_number(" 0,0268 ") == 0.0268``; ``inf`` and ``∞`` give infinity."""
    text = raw.strip()
    if not text:
        raise ValueError("is empty: enter a number, such as 0.0268")
    shown = text if len(text) <= 40 else text[:37] + "…"
    text = text.translate(_MINUS_SIGNS)
    if any(ch.isspace() for ch in text):
        raise ValueError(f"'{shown}' has a space inside it; write one number, like 0.0268")
    infinity = _INFINITY.fullmatch(text)
    if infinity:
        return -math.inf if infinity.group(1) == "-" else math.inf
    if text.lstrip("+-").lower() == "nan":
        raise ValueError(f"'{shown}' means 'not a number', which cannot be an answer; {_EXAMPLE}")
    if "/" in text:
        raise ValueError(f"'{shown}' is a fraction; write it as a decimal, like 0.5 for 1/2")
    if text.endswith("%"):
        raise ValueError(f"'{shown}' is a percentage; write it as a decimal, like 0.0268 for 2.68%")
    if "," in text:
        # A decimal comma is fine (0,0268); with a dot as well it would be a thousands separator, and
        # 1,000.5 and 1.000,5 cannot both be guessed right.
        if "." in text:
            raise ValueError(f"'{shown}' has both a comma and a dot; use one decimal separator, like 1000.5")
        if text.count(",") > 1:
            raise ValueError(f"'{shown}' has more than one comma; write it like 0.0268 or 0,0268")
        text = text.replace(",", ".")
    if text.count(".") > 1:
        raise ValueError(f"'{shown}' has more than one decimal point; {_EXAMPLE}")
    if not _DECIMAL.fullmatch(text):
        raise ValueError(f"'{shown}' is not a number; {_EXAMPLE}")
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"'{shown}' is too large to be a number; write inf or ∞ for an infinite value")
    return value


# --- results ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PartResult:
    """How one part was answered and graded; ``correct`` and ``score`` are None while a person grades it."""

    key: str
    kind: PartKind
    given: Expected  # the answer as read: a float, an option, the picked options, or the text
    correct: bool | None
    score: float | None
    expected: Expected
    feedback: str
    misconception: Misconception | None
    pending: bool
    model_answer: str | None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe form: infinities become the strings "inf" and "-inf", tuples become lists."""
        return {
            "key": self.key,
            "kind": self.kind,
            "given": _encode(self.given),
            "correct": self.correct,
            "score": self.score,
            "expected": _encode(self.expected),
            "feedback": self.feedback,
            "misconception": (
                None
                if self.misconception is None
                else {"code": self.misconception.code, "message": self.misconception.message}
            ),
            "pending": self.pending,
            "model_answer": self.model_answer,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PartResult:
        """The inverse of ``to_dict``."""
        kind: PartKind = data["kind"]
        found = data.get("misconception")
        return cls(
            key=str(data["key"]),
            kind=kind,
            given=_decode(data.get("given"), kind),
            correct=data.get("correct"),
            score=None if data.get("score") is None else float(data["score"]),
            expected=_decode(data.get("expected"), kind),
            feedback=str(data.get("feedback", "")),
            misconception=None if found is None else Misconception(str(found["code"]), str(found["message"])),
            pending=bool(data.get("pending", False)),
            model_answer=data.get("model_answer"),
        )


@dataclass(frozen=True)
class Grade:
    """A graded submission: the weighted mean of its auto-graded parts, and whether some await a person."""

    score: float
    parts: tuple[PartResult, ...]
    pending: bool

    def to_dict(self) -> dict[str, Any]:
        """Strictly JSON-safe: ``json.dumps(grade.to_dict(), allow_nan=False)`` always works."""
        return {"score": self.score, "pending": self.pending, "parts": [p.to_dict() for p in self.parts]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Grade:
        """A stored grade, as ``to_dict`` wrote it, ready to be shown again."""
        return cls(
            score=float(data["score"]),
            parts=tuple(PartResult.from_dict(p) for p in data["parts"]),
            pending=bool(data["pending"]),
        )

    def part(self, key: str) -> PartResult:
        """The result of the part named ``key``."""
        for result in self.parts:
            if result.key == key:
                return result
        raise KeyError(key)

    def with_manual(self, key: str, score: float, comment: str, *, weights: Mapping[str, float] | None = None) -> Grade:
        """This grade with a person's ``score`` (0 to 1) and ``comment`` on the text part ``key``.

        The part counts as graded from then on: right only at full marks, its feedback the comment. The
        score becomes the weighted mean over every graded part (``weights`` by part key, 1 where missing),
        and the grade stays pending while another text part waits. Raises KeyError for an unknown part and
        ValueError for a part that is not text or a score outside [0, 1].
        """
        found = self.part(key)
        if found.kind != "text":
            raise ValueError(
                f"part '{key}' is a {found.kind} part, graded automatically; only text parts are graded by hand"
            )
        if not (math.isfinite(score) and 0.0 <= score <= 1.0):
            raise ValueError(f"score must be a number from 0 to 1, not {score!r}")
        graded = dataclasses.replace(
            found,
            correct=score == 1.0,
            score=float(score),
            feedback=comment.strip(),  # the grader's own words, or nothing: the score speaks for itself
            pending=False,
        )
        parts = tuple(graded if result.key == key else result for result in self.parts)
        return Grade(score=weighted_score(parts, weights or {}), parts=parts, pending=any(p.pending for p in parts))


def weighted_score(parts: tuple[PartResult, ...], weights: Mapping[str, float]) -> float:
    """The weighted mean of the parts that have a score (``weights`` by key, 1 where missing); 0 when none has."""
    graded = [(weights.get(part.key, 1.0), part.score) for part in parts if part.score is not None]
    total = sum(weight for weight, _ in graded)
    return sum(weight * score for weight, score in graded) / total if total > 0 else 0.0


def _encode(value: Expected) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, tuple):
        return list(value)
    return value


def _decode(value: Any, kind: PartKind) -> Expected:
    if value is None:
        return None
    if kind == "numeric":
        return float(value)  # float("inf") and float("-inf") read the encoded infinities back
    if kind == "multi":
        return tuple(str(v) for v in value)
    return str(value)


# --- reading the answers ----------------------------------------------------------------------------


def _options(variant: Variant, part: PartSpec) -> tuple[str, ...]:
    """The options as the learner saw them (choices may be templates, filled per variant)."""
    for shown in variant.parts:
        if shown.key == part.key:
            return shown.choices
    return part.choices


def _read_number(raw: Any) -> float:
    if raw is None:
        raise ValueError("is empty: enter a number, such as 0.0268")
    if isinstance(raw, bool):
        raise ValueError(f"'{raw}' is not a number; {_EXAMPLE}")
    if isinstance(raw, int | float):
        if math.isnan(raw):
            raise ValueError(f"'nan' means 'not a number', which cannot be an answer; {_EXAMPLE}")
        return float(raw)
    if isinstance(raw, str):
        return parse_number(raw)
    raise ValueError(f"is not a number but a {type(raw).__name__}; {_EXAMPLE}")


def _read_option(raw: Any, options: tuple[str, ...]) -> str:
    if not isinstance(raw, str):
        raise ValueError(f"must be one of the options as text, not a {type(raw).__name__}")
    by_text = {option.strip(): option for option in options}
    picked = raw.strip()
    if picked not in by_text:
        shown = picked if len(picked) <= 60 else picked[:57] + "…"
        raise ValueError(f"'{shown}' is not one of the options: {', '.join(by_text)}")
    return by_text[picked]


def _read(part: PartSpec, raw: Any, options: tuple[str, ...]) -> Expected:
    """The answer to one part in its graded form; raises ValueError with a message for the learner."""
    if part.kind == "numeric":
        return _read_number(raw)
    if part.kind == "choice":
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            return None  # left out: graded wrong, not a format error
        return _read_option(raw, options)
    if part.kind == "multi":
        items = [raw] if isinstance(raw, str) else raw
        if items is None:
            return ()
        if not isinstance(items, list | tuple):
            raise ValueError(f"must be a list of options, not a {type(raw).__name__}")
        filled = [item for item in items if not (isinstance(item, str) and not item.strip())]
        picked = [_read_option(item, options) for item in filled]
        return tuple(dict.fromkeys(picked))  # the same option picked twice counts once
    if raw is None:
        return ""
    if not isinstance(raw, str):
        raise ValueError(f"must be text, not a {type(raw).__name__}")
    return raw


def _read_all(spec: CardSpec, variant: Variant, answers: Mapping[str, Any]) -> dict[str, Expected]:
    keys = {part.key for part in spec.parts}
    errors = {str(key): f"no part named '{key}' on this card" for key in answers if key not in keys}
    read: dict[str, Expected] = {}
    for part in spec.parts:
        try:
            read[part.key] = _read(part, answers.get(part.key), _options(variant, part))
        except ValueError as exc:
            errors[part.key] = str(exc)
    if errors:
        raise AnswerFormatError(errors)
    return read


# --- grading ----------------------------------------------------------------------------------------


def grade(spec: CardSpec, variant: Variant, answers: Mapping[str, Any]) -> Grade:
    """Grade every part; raises AnswerFormatError (grading nothing) when any answer cannot be read."""
    read = _read_all(spec, variant, answers)
    results = tuple(_grade_part(part, variant, read[part.key]) for part in spec.parts)
    # Text parts have no score until a person grades them, so only the auto-graded parts count here.
    score = weighted_score(results, {part.key: part.weight for part in spec.parts})
    return Grade(score=score, parts=results, pending=any(r.pending for r in results))


def _grade_part(part: PartSpec, variant: Variant, given: Expected) -> PartResult:
    expected = variant.answers.get(part.key)
    if part.kind == "numeric":
        if not isinstance(given, float):
            raise TypeError(f"part {part.key!r}: a numeric answer was read as {given!r}")
        return _grade_numeric(part, variant, given, _expected_number(part, expected))
    if part.kind == "choice":
        return _grade_choice(part, given, expected)
    if part.kind == "multi":
        return _grade_multi(part, given, expected)
    model = variant.model_answers.get(part.key) or None
    feedback = "Recorded: an instructor will grade this answer."
    if model:
        feedback += " Compare yours with the model answer."
    return PartResult(
        key=part.key,
        kind=part.kind,
        given=given,
        correct=None,
        score=None,
        expected=None,
        feedback=feedback,
        misconception=None,
        pending=True,
        model_answer=model,
    )


def _expected_number(part: PartSpec, expected: Expected) -> float:
    if isinstance(expected, bool) or not isinstance(expected, int | float):
        raise ValueError(f"the variant has no numeric answer for part {part.key!r} (found {expected!r})")
    return float(expected)


def _grade_numeric(part: PartSpec, variant: Variant, given: float, expected: float) -> PartResult:
    correct = within_tolerance(given, expected, part.tolerance)
    shown, answer = format_number(given), format_number(expected)
    misconception = None
    if correct:
        if math.isinf(expected):
            feedback = f"Right: the value is infinite ({answer})."
        else:
            feedback = f"Right: {shown} is within the tolerance of {answer}."
    else:
        if math.isinf(expected):
            feedback = f"Not quite: the value is infinite ({answer}), not {shown}; write inf or ∞ for it."
        elif math.isinf(given):
            feedback = f"Not quite: the value is finite, {answer}, not {shown}."
        else:
            margin = part.tolerance.atol + part.tolerance.rtol * abs(expected)
            low, high = format_number(expected - margin), format_number(expected + margin)
            feedback = (
                f"Not quite: {shown} is not within the tolerance of {answer} "
                f"(answers from {low} to {high} count as right)."
            )
        misconception = diagnose(part=part, params=variant.params, given=given, expected=expected)
        if misconception is not None:
            feedback += " " + misconception.message
    return PartResult(
        key=part.key,
        kind=part.kind,
        given=given,
        correct=correct,
        score=1.0 if correct else 0.0,
        expected=expected,
        feedback=feedback,
        misconception=misconception,
        pending=False,
        model_answer=None,
    )


def _grade_choice(part: PartSpec, given: Expected, expected: Expected) -> PartResult:
    answer = str(expected).strip() if expected is not None else ""
    correct = isinstance(given, str) and given.strip() == answer
    if given is None:
        feedback = f"No option was chosen; the answer is {answer}."
    elif correct:
        feedback = f"Right: {answer}."
    else:
        feedback = f"Not quite: you chose {given}; the answer is {answer}."
    return PartResult(
        key=part.key,
        kind=part.kind,
        given=given,
        correct=correct,
        score=1.0 if correct else 0.0,
        expected=expected,
        feedback=feedback,
        misconception=None,
        pending=False,
        model_answer=None,
    )


def _grade_multi(part: PartSpec, given: Expected, expected: Expected) -> PartResult:
    if isinstance(expected, str):
        right_options: tuple[str, ...] = (expected,)
    elif isinstance(expected, tuple | list):
        right_options = tuple(str(option) for option in expected)
    else:
        right_options = ()
    wanted = {option.strip() for option in right_options}
    picks = [option.strip() for option in given] if isinstance(given, tuple) else []
    right = sum(1 for pick in picks if pick in wanted)
    wrong = len(picks) - right
    correct = set(picks) == wanted
    # When no option is right, picking none is the whole answer.
    score = max(0.0, (right - wrong) / len(wanted)) if wanted else float(correct)
    listed = ", ".join(right_options) if right_options else "none of them"
    if correct:
        feedback = "Right: you picked exactly the correct options."
    elif not picks:
        feedback = f"No option was picked; the correct options are: {listed}."
    else:
        opening = "Partly right" if score > 0 else "Not quite"
        feedback = f"{opening}: you picked {right} of the {len(wanted)} correct options"
        if wrong:
            feedback += f" and {wrong} that {'is' if wrong == 1 else 'are'} not correct"
        feedback += f"; the correct options are: {listed}."
    return PartResult(
        key=part.key,
        kind=part.kind,
        given=given,
        correct=correct,
        score=score,
        expected=right_options,
        feedback=feedback,
        misconception=None,
        pending=False,
        model_answer=None,
    )
