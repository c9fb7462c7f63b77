"""The usual mistakes as formulas: what a part's answer expression computes, and the wrong formulas to swap in.

``survey`` reads which divergences, bases and temperatures an answer expression uses; ``candidates`` lists, for
those, the wrong formulas a learner is likely to have used instead (reverse KL for KL, bits for nats,
cross-entropy for KL, a dropped term, α on the wrong term, a missing T², ...), each with the message that names
it; ``evaluate_candidate`` evaluates the answer with one swapped in. ``app.domain.misconceptions`` matches a
learner's value against their results.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
from numpy.typing import ArrayLike

from app.domain import divergence as dv
from app.domain import expressions
from app.domain.expressions import FUNCTIONS, ExpressionError, format_number

Functions = Mapping[str, Callable[..., Any]]

# Beyond this many outcomes "which term was left out" is guesswork and costs one evaluation per outcome.
MAX_TERMS: Final = 32

_DIVERGENCES: Final = ("kl", "reverse_kl", "cross_entropy", "js")
_KL_LIKE: Final = frozenset({"kl", "reverse_kl"})
_LN: Final = {"e": 1.0, "2": math.log(2.0), "10": math.log(10.0)}



@dataclass
class Survey:
    """What one evaluation of the answer expression called: names, log bases, outcome counts, temperatures."""

    called: set[str] = field(default_factory=set)
    bases: set[str] = field(default_factory=set)
    lengths: set[int] = field(default_factory=set)
    temperatures: set[float] = field(default_factory=set)


def _base_label(base: Any) -> str:
    if isinstance(base, str):
        return base
    for label, number in (("e", math.e), ("2", 2.0), ("10", 10.0)):
        if base == number:
            return label
    return str(base)


def survey(answer: str, params: Mapping[str, Any]) -> Survey | None:
    """Evaluate once with recording wrappers; None when the expression fails even with the right formulas."""
    survey = Survey()

    def divergence(name: str) -> Callable[..., Any]:
        def call(p: Any, q: Any, base: Any = "e") -> Any:
            survey.called.add(name)
            survey.bases.add(_base_label(base))
            survey.lengths.add(int(np.shape(p)[-1]) if np.ndim(p) else 0)
            return FUNCTIONS[name](p, q, base)

        return call

    def entropy(p: Any, base: Any = "e") -> Any:
        survey.called.add("entropy")
        survey.bases.add(_base_label(base))
        survey.lengths.add(int(np.shape(p)[-1]) if np.ndim(p) else 0)
        return FUNCTIONS["entropy"](p, base)

    def log(x: float, base: float = math.e) -> float:
        survey.called.add("log")
        survey.bases.add(_base_label(base))
        return float(FUNCTIONS["log"](x, base))

    def log_fixed(name: str, label: str) -> Callable[[float], float]:
        def call(x: float) -> float:
            survey.called.add(name)
            survey.bases.add(label)
            return float(FUNCTIONS[name](x))

        return call

    def kd_loss(teacher_logits: Any, student_logits: Any, T: float = 1.0) -> float:
        survey.called.add("kd_loss")
        survey.temperatures.add(float(T))
        return float(FUNCTIONS["kd_loss"](teacher_logits, student_logits, T))

    def distill(teacher_logits: Any, student_logits: Any, label: int, alpha: float, T: float) -> float:
        survey.called.add("distill")
        survey.temperatures.add(float(T))
        return float(FUNCTIONS["distill"](teacher_logits, student_logits, label, alpha, T))

    def combined(alpha: float, kd: float, ce: float) -> float:
        survey.called.add("combined")
        return float(FUNCTIONS["combined"](alpha, kd, ce))

    recording: dict[str, Callable[..., Any]] = {name: divergence(name) for name in _DIVERGENCES}
    recording |= {
        "entropy": entropy,
        "log": log,
        "log2": log_fixed("log2", "2"),
        "log10": log_fixed("log10", "10"),
        "kd_loss": kd_loss,
        "distill": distill,
        "combined": combined,
    }
    try:
        expressions.evaluate(answer, params, functions={**FUNCTIONS, **recording})
    except ExpressionError:
        return None
    return survey


def evaluate_candidate(answer: str, params: Mapping[str, Any], candidate: Candidate) -> float | None:
    """The answer expression under the candidate's wrong formulas; None when it fails or is not a number."""
    try:
        # numpy may warn (e.g. log of 0 in an unweighted sum); a wrong formula failing is simply no match.
        with np.errstate(all="ignore"):
            value = expressions.evaluate(answer, params, functions={**FUNCTIONS, **candidate.swap})
    except ExpressionError:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


# --- the wrong formulas -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    """One usual mistake: functions to swap in (or a value computed directly) and the message template."""

    code: str
    message: str  # with the placeholders {given} and {expected}
    swap: Functions = field(default_factory=dict)
    value: float | None = None
    not_zero: bool = False  # a zero result explains nothing (e.g. the one term kept is 0·log 1)


def _noun(called: set[str]) -> str:
    if called & {"kl", "reverse_kl", "kd_loss", "distill", "combined"}:
        return "the loss"
    if "cross_entropy" in called:
        return "the cross-entropy"
    if "js" in called:
        return "the divergence"
    if "entropy" in called:
        return "the entropy"
    return "the value"


def _in_base(label: str) -> Functions:
    """Every logarithm taken in base ``label``, whatever base the card asked for."""
    number = {"e": math.e, "2": 2.0, "10": 10.0}[label]

    def divergence(name: str) -> Callable[..., Any]:
        def call(p: Any, q: Any, base: Any = "e") -> Any:
            return FUNCTIONS[name](p, q, label)

        return call

    def entropy(p: Any, base: Any = "e") -> Any:
        return FUNCTIONS["entropy"](p, label)

    def log(x: float, base: float = math.e) -> float:
        return math.log(x, number)

    def log_fixed(x: float) -> float:
        return math.log(x, number)

    swap: dict[str, Callable[..., Any]] = {name: divergence(name) for name in _DIVERGENCES}
    return swap | {"entropy": entropy, "log": log, "log2": log_fixed, "log10": log_fixed}


def _base(base: Any) -> dv.Base:
    label = str(base)
    for known in dv.BASES:
        if label == known:
            return known
    raise ValueError(f"base must be 'e', '2' or '10', not {base!r}")


def _scalar(values: Any) -> Any:
    arr = np.asarray(values, dtype=np.float64)
    return float(arr) if arr.ndim == 0 else arr.tolist()


def _unweighted(p: ArrayLike, q: ArrayLike, base: Any = "e") -> Any:
    """Σ log(P(x)/Q(x)): KL with the P(x) weights forgotten."""
    p_arr, q_arr = dv.as_pair(p, q)
    with np.errstate(all="ignore"):
        return _scalar(np.log(p_arr / q_arr).sum(axis=-1) / _LN[_base(base)])


def _unweighted_cross_entropy(p: ArrayLike, q: ArrayLike, base: Any = "e") -> Any:
    """−Σ log Q(x): cross-entropy with the P(x) weights forgotten."""
    _, q_arr = dv.as_pair(p, q)
    with np.errstate(all="ignore"):
        return _scalar(-np.log(q_arr).sum(axis=-1) / _LN[_base(base)])


def _terms_swap(*, without: int | None = None, only: int | None = None) -> Functions:
    """Divergences summed without the term of outcome ``without``, or with the term of ``only`` alone."""

    def summed(terms: np.ndarray[Any, Any]) -> Any:
        outcomes = np.arange(terms.shape[-1])
        mask = outcomes != without if only is None else outcomes == only
        return _scalar(np.where(mask, terms, 0.0).sum(axis=-1))

    def kl(p: Any, q: Any, base: Any = "e") -> Any:
        return summed(dv.kl_terms(p, q, base=_base(base)))

    def reverse_kl(p: Any, q: Any, base: Any = "e") -> Any:
        return summed(dv.kl_terms(q, p, base=_base(base)))

    def cross_entropy(p: Any, q: Any, base: Any = "e") -> Any:
        return summed(dv.cross_entropy_terms(p, q, base=_base(base)))

    def js(p: Any, q: Any, base: Any = "e") -> Any:
        return summed(dv.js_terms(p, q, base=_base(base)))

    def entropy(p: Any, base: Any = "e") -> Any:
        return summed(dv.entropy_terms(p, base=_base(base)))

    return {"kl": kl, "reverse_kl": reverse_kl, "cross_entropy": cross_entropy, "js": js, "entropy": entropy}


def _alpha_swapped() -> Functions:
    def combined(alpha: float, kd: float, ce: float) -> float:
        dv.check_alpha(alpha)
        return float(FUNCTIONS["combined"](1.0 - alpha, kd, ce))

    def distill(teacher_logits: Any, student_logits: Any, label: int, alpha: float, T: float) -> float:
        dv.check_alpha(alpha)
        return float(FUNCTIONS["distill"](teacher_logits, student_logits, label, 1.0 - alpha, T))

    return {"combined": combined, "distill": distill}


def _without_t_squared() -> Functions:
    def kd_loss(teacher_logits: Any, student_logits: Any, T: float = 1.0) -> float:
        p = dv.softmax(teacher_logits, temperature=T)
        q = dv.softmax(student_logits, temperature=T)
        return float(dv.kl(p, q))

    def distill(teacher_logits: Any, student_logits: Any, label: int, alpha: float, T: float) -> float:
        loss = dv.distillation_loss(
            teacher_logits=teacher_logits,
            student_logits=student_logits,
            labels=int(label),
            alpha=alpha,
            temperature=T,
        )
        return float(loss.alpha * float(loss.kl) + (1.0 - loss.alpha) * float(loss.ce))

    return {"kd_loss": kd_loss, "distill": distill}


def _outcome_name(index: int, count: int, params: Mapping[str, Any]) -> str:
    vocab = params.get("vocab")
    if isinstance(vocab, list | tuple) and len(vocab) == count:
        return str(vocab[index])
    return f"outcome {index + 1}"


def candidates(survey: Survey, params: Mapping[str, Any], expected: float) -> Iterator[Candidate]:
    """The usual mistakes, in the fixed order in which they are checked (the first match wins)."""
    called = survey.called
    noun = _noun(called)

    if called & _KL_LIKE:
        if called >= _KL_LIKE:
            text = "{given} comes from swapping KL(P‖Q) and KL(Q‖P): the direction matters, and the right one gives "
        elif "kl" in called:
            text = (
                "{given} is the reverse divergence KL(Q‖P), with the log ratios weighted by Q(x): "
                "KL(P‖Q) = Σ P(x)·log(P(x)/Q(x)) weights them by the teacher's P(x), which gives "
            )
        else:
            text = (
                "{given} is the forward divergence KL(P‖Q): the question asks for the reverse "
                "KL(Q‖P) = Σ Q(x)·log(Q(x)/P(x)), weighted by Q(x), which gives "
            )
        swap = {"kl": FUNCTIONS["reverse_kl"], "reverse_kl": FUNCTIONS["kl"]}
        yield Candidate("reverse_kl", text + "{expected}.", swap=swap)

    if survey.bases == {"e"}:
        yield Candidate(
            "log_base_2",
            "{given} is " + noun + " in bits (log base 2), not nats: the question asks for the natural "
            "logarithm, which gives {expected}.",
            swap=_in_base("2"),
        )
        yield Candidate(
            "log_base_10",
            "{given} is " + noun + " with log base 10, not nats: the question asks for the natural "
            "logarithm, which gives {expected}.",
            swap=_in_base("10"),
        )
    if survey.bases == {"2"}:
        yield Candidate(
            "natural_log",
            "{given} is " + noun + " in nats (natural logarithm), not bits: the question asks for log "
            "base 2, which gives {expected}.",
            swap=_in_base("e"),
        )

    if called & _KL_LIKE:
        cross_entropy = FUNCTIONS["cross_entropy"]
        yield Candidate(
            "cross_entropy_for_kl",
            "{given} is the cross-entropy H(P, Q) = −Σ P(x)·log Q(x), not the KL divergence: "
            "KL(P‖Q) = H(P, Q) − H(P) subtracts the teacher's own entropy, which gives {expected}.",
            swap={"kl": cross_entropy, "reverse_kl": lambda p, q, base="e": cross_entropy(q, p, base)},
        )
    if "cross_entropy" in called:
        yield Candidate(
            "kl_for_cross_entropy",
            "{given} is the KL divergence KL(P‖Q), not the cross-entropy: H(P, Q) = H(P) + KL(P‖Q) "
            "also counts the teacher's entropy H(P), which gives {expected}.",
            swap={"cross_entropy": FUNCTIONS["kl"]},
        )

    if called & (_KL_LIKE | {"js"}):
        hint = (
            " A divergence is never negative: the log ratio was probably turned upside down "
            "(log(Q(x)/P(x)) instead of log(P(x)/Q(x)))."
        )
    elif called & {"cross_entropy", "entropy"}:
        hint = " The minus sign in −Σ P(x)·log Q(x) makes it positive; it was probably dropped."
    else:
        hint = ""
    sign_text = "{given} has the wrong sign: the answer is {expected}." + hint
    yield Candidate("sign_flipped", sign_text, value=-expected)

    if called & (_KL_LIKE | {"cross_entropy"}):
        if called & _KL_LIKE == {"reverse_kl"}:
            text = (
                "{given} is the plain sum Σ log(Q(x)/P(x)): each log ratio must be weighted by Q(x), "
                "as in Σ Q(x)·log(Q(x)/P(x)), which gives {expected}."
            )
        elif called & _KL_LIKE:
            text = (
                "{given} is the plain sum Σ log(P(x)/Q(x)): each log ratio must be weighted by the "
                "teacher's probability P(x), as in Σ P(x)·log(P(x)/Q(x)), which gives {expected}."
            )
        else:
            text = (
                "{given} is the plain sum −Σ log Q(x): each −log Q(x) must be weighted by the teacher's "
                "probability P(x), as in −Σ P(x)·log Q(x), which gives {expected}."
            )
        kl_unweighted = {
            "kl": _unweighted,
            "reverse_kl": lambda p, q, base="e": _unweighted(q, p, base),
            "cross_entropy": _unweighted_cross_entropy,
        }
        yield Candidate("unweighted", text, swap=kl_unweighted)

    count = max(survey.lengths, default=0)
    if called & {*_DIVERGENCES, "entropy"} and 2 <= count <= MAX_TERMS:
        for index in range(count):
            name = _outcome_name(index, count, params)
            yield Candidate(
                "missing_term",
                "{given} leaves out the term for " + name + ": the sum runs over every outcome, and with "
                f"all {count} terms it gives " + "{expected}.",
                swap=_terms_swap(without=index),
            )

    if called & {"combined", "distill"}:
        yield Candidate(
            "alpha_swapped",
            "{given} puts α on the wrong term: α weights the distillation loss L_KD and 1 − α the "
            "cross-entropy L_CE, which gives {expected}.",
            swap=_alpha_swapped(),
        )
    if called & {"kd_loss", "distill"}:
        detail = ""
        if len(survey.temperatures) == 1:
            (t,) = survey.temperatures
            detail = f" (T² = {format_number(t * t)} for T = {format_number(t)})"
        yield Candidate(
            "missing_t_squared",
            "{given} leaves out the T² factor: the KL divergence between the softened distributions is "
            "multiplied by T²" + detail + ", which gives {expected}.",
            swap=_without_t_squared(),
        )

    # One term alone only differs from a dropped term when there are at least three outcomes.
    if called & {*_DIVERGENCES, "entropy"} and 3 <= count <= MAX_TERMS:
        for index in range(count):
            name = _outcome_name(index, count, params)
            yield Candidate(
                "only_one_term",
                "{given} is only the term for " + name + f": the sum adds the terms of all {count} outcomes, "
                "which gives {expected}.",
                swap=_terms_swap(only=index),
                not_zero=True,
            )
