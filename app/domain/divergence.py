"""Divergences between discrete distributions, softmax with temperature, and the distillation loss.

Every function works on the last axis, so a batch of distributions of shape ``(rows, n)`` is one numpy
call: ``kl([[0.7, 0.3], [0.5, 0.5]], [[0.6, 0.4], [0.5, 0.5]])`` returns an array of two values, while
``kl([0.7, 0.3], [0.6, 0.4])`` returns a plain ``float``.

Conventions: ``0 · log 0 = 0``; a term with ``P(x) > 0`` where ``Q(x) = 0`` is ``inf`` and so is the
divergence (a support mismatch is a fact about the distributions, not an error).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

Array = NDArray[np.float64]
Base = Literal["e", "2", "10"]
Measure = Literal["kl", "reverse_kl", "cross_entropy", "entropy", "js"]

MAX_ENTRIES: Final = 10_000
SUM_TOLERANCE: Final = 1e-6
MEASURES: Final[tuple[Measure, ...]] = ("kl", "reverse_kl", "cross_entropy", "entropy", "js")
BASES: Final[tuple[Base, ...]] = ("e", "2", "10")
_LN_BASE: Final = {"e": 1.0, "2": math.log(2.0), "10": math.log(10.0)}


class DistributionError(ValueError):
    """Input that is not a valid distribution or parameter; ``field`` names the offending input."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


# --- validation -------------------------------------------------------------------------------------


def _as_vector(values: ArrayLike, *, name: str) -> Array:
    """Convert to a float array of shape (..., n), refusing shapes and values no distribution can have."""
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise DistributionError(name, "must be a list of numbers") from None
    if arr.ndim == 0:
        raise DistributionError(name, "must be a list of numbers, not a single number")
    n = arr.shape[-1]
    if n == 0:
        raise DistributionError(name, "is empty; it needs at least one entry")
    if n > MAX_ENTRIES:
        raise DistributionError(name, f"has {n:,} entries; at most {MAX_ENTRIES:,} are allowed")
    finite = np.isfinite(arr)
    if not finite.all():
        index = _first_index(~finite)
        raise DistributionError(name, f"entry {index} is {arr[index]!s}; every entry must be a finite number")
    return arr


def _first_index(mask: NDArray[np.bool_]) -> tuple[int, ...] | int:
    where = tuple(int(i) for i in np.argwhere(mask)[0])
    return where[0] if len(where) == 1 else where


def as_distribution(values: ArrayLike, *, name: str = "p") -> Array:
    """Validate probabilities (non-negative, summing to 1 within 1e-6) and return them as floats."""
    arr = _as_vector(values, name=name)
    negative = arr < 0
    if negative.any():
        index = _first_index(negative)
        raise DistributionError(name, f"entry {index} is {arr[index]:g}; probabilities cannot be negative")
    sums = arr.sum(axis=-1)
    off = np.abs(sums - 1.0) > SUM_TOLERANCE
    if np.any(off):
        total = float(np.asarray(sums)[off][0]) if arr.ndim > 1 else float(sums)
        raise DistributionError(name, f"sums to {total:.10g}; a distribution must sum to 1 (within 1e-6)")
    return arr


def as_pair(p: ArrayLike, q: ArrayLike, *, names: tuple[str, str] = ("p", "q")) -> tuple[Array, Array]:
    """Validate two distributions over the same outcomes."""
    p_arr = as_distribution(p, name=names[0])
    q_arr = as_distribution(q, name=names[1])
    if p_arr.shape != q_arr.shape:
        raise DistributionError(
            names[1],
            f"has shape {q_arr.shape} but {names[0]} has shape {p_arr.shape}; "
            "both must give a probability for the same outcomes",
        )
    return p_arr, q_arr


def _log_scale(base: Base | str | int) -> float:
    key = str(base)
    if key not in _LN_BASE:
        raise DistributionError("base", f"must be one of 'e', '2' or '10', not {base!r}")
    return _LN_BASE[key]


def check_alpha(alpha: float) -> float:
    if not (isinstance(alpha, int | float) and math.isfinite(alpha) and 0.0 <= alpha <= 1.0):
        raise DistributionError("alpha", f"must be between 0 and 1, not {alpha!r}")
    return float(alpha)


def check_temperature(temperature: float) -> float:
    if not (isinstance(temperature, int | float) and math.isfinite(temperature) and temperature > 0):
        raise DistributionError("temperature", f"must be a finite number greater than 0, not {temperature!r}")
    return float(temperature)


def _scalar(values: Array) -> float | Array:
    """A plain float for one distribution, the array for a batch."""
    return float(values) if values.ndim == 0 else values


# --- per-term breakdowns ----------------------------------------------------------------------------


def kl_terms(p: ArrayLike, q: ArrayLike, *, base: Base = "e") -> Array:
    """The terms P(x)·log(P(x)/Q(x)) of KL(P‖Q): 0 where P(x) = 0, inf where only Q(x) = 0."""
    p_arr, q_arr = as_pair(p, q)
    return _kl_terms(p_arr, q_arr) / _log_scale(base)


def _kl_terms(p: Array, q: Array) -> Array:
    # log p − log q rather than log(p/q): the ratio overflows for a tiny (subnormal) q, the difference does not.
    # ``where=`` masks give 0·log 0 = 0 without warnings, and cost less than an errstate block per call.
    positive = p > 0
    log_p = np.log(p, out=np.zeros_like(p), where=positive)
    return np.multiply(p, log_p - _log_or_minus_inf(q), out=np.zeros_like(p), where=positive)


def _log_or_minus_inf(q: Array) -> Array:
    return np.log(q, out=np.full_like(q, -np.inf), where=q > 0)


def _neg_p_log_q(p: Array, q: Array) -> Array:
    """−P(x)·log Q(x): 0 where P(x) = 0, inf where only Q(x) = 0."""
    return np.multiply(-p, _log_or_minus_inf(q), out=np.zeros_like(p), where=p > 0)


def cross_entropy_terms(p: ArrayLike, q: ArrayLike, *, base: Base = "e") -> Array:
    """The terms −P(x)·log Q(x) of H(P, Q)."""
    p_arr, q_arr = as_pair(p, q)
    return _neg_p_log_q(p_arr, q_arr) / _log_scale(base)


def entropy_terms(p: ArrayLike, *, base: Base = "e") -> Array:
    """The terms −P(x)·log P(x) of H(P)."""
    p_arr = as_distribution(p)
    return _neg_p_log_q(p_arr, p_arr) / _log_scale(base)


def js_terms(p: ArrayLike, q: ArrayLike, *, base: Base = "e") -> Array:
    """The terms ½·P(x)·log(P(x)/M(x)) + ½·Q(x)·log(Q(x)/M(x)) with M = (P + Q)/2; always finite."""
    p_arr, q_arr = as_pair(p, q)
    log_p, log_q = _log_or_minus_inf(p_arr), _log_or_minus_inf(q_arr)
    with np.errstate(invalid="ignore"):  # −inf − (−inf) where P(x) = Q(x) = 0; masked out below
        # log M in log space: (p + q)/2 underflows to 0 for subnormal entries, which would make JS infinite.
        log_m = np.logaddexp(log_p, log_q) - math.log(2.0)
        terms = np.multiply(p_arr, log_p - log_m, out=np.zeros_like(p_arr), where=p_arr > 0)
        terms += np.multiply(q_arr, log_q - log_m, out=np.zeros_like(p_arr), where=q_arr > 0)
    return 0.5 * terms / _log_scale(base)


# --- the measures -----------------------------------------------------------------------------------


def kl(p: ArrayLike, q: ArrayLike, *, base: Base = "e") -> float | Array:
    """KL(P‖Q) = Σ P(x)·log(P(x)/Q(x)); ``kl([0.7, 0.2, 0.1], [0.6, 0.3, 0.1]) ≈ 0.0268``."""
    return _scalar(kl_terms(p, q, base=base).sum(axis=-1))


def reverse_kl(p: ArrayLike, q: ArrayLike, *, base: Base = "e") -> float | Array:
    """KL(Q‖P): the student's distribution weights the log ratios (mode-seeking when minimised over Q)."""
    return _scalar(kl_terms(q, p, base=base).sum(axis=-1))


def cross_entropy(p: ArrayLike, q: ArrayLike, *, base: Base = "e") -> float | Array:
    """H(P, Q) = −Σ P(x)·log Q(x) = H(P) + KL(P‖Q)."""
    return _scalar(cross_entropy_terms(p, q, base=base).sum(axis=-1))


def entropy(p: ArrayLike, *, base: Base = "e") -> float | Array:
    """H(P) = −Σ P(x)·log P(x)."""
    return _scalar(entropy_terms(p, base=base).sum(axis=-1))


def js(p: ArrayLike, q: ArrayLike, *, base: Base = "e") -> float | Array:
    """Jensen–Shannon divergence, symmetric and bounded by log 2."""
    return _scalar(js_terms(p, q, base=base).sum(axis=-1))


@dataclass(frozen=True)
class Breakdown:
    """A divergence with the term contributed by each outcome, for worked solutions and the API."""

    measure: Measure
    base: Base
    p: tuple[float, ...]
    q: tuple[float, ...]
    terms: tuple[float, ...]
    value: float

    @property
    def infinite(self) -> bool:
        return math.isinf(self.value)


def breakdown(p: ArrayLike, q: ArrayLike, *, measure: Measure = "kl", base: Base = "e") -> Breakdown:
    """One distribution pair's divergence and its terms (``q`` is ignored for ``entropy``)."""
    if measure not in MEASURES:
        raise DistributionError("measure", f"must be one of {', '.join(MEASURES)}, not {measure!r}")
    p_arr, q_arr = as_pair(p, q)
    if p_arr.ndim != 1:
        raise DistributionError("p", "must be a single distribution (a flat list of numbers)")
    if measure == "kl":
        terms = kl_terms(p_arr, q_arr, base=base)
    elif measure == "reverse_kl":
        terms = kl_terms(q_arr, p_arr, base=base)
    elif measure == "cross_entropy":
        terms = cross_entropy_terms(p_arr, q_arr, base=base)
    elif measure == "entropy":
        terms = entropy_terms(p_arr, base=base)
    else:
        terms = js_terms(p_arr, q_arr, base=base)
    return Breakdown(
        measure=measure,
        base=base,
        p=tuple(p_arr.tolist()),
        q=tuple(q_arr.tolist()),
        terms=tuple(terms.tolist()),
        value=float(terms.sum()),
    )


# --- temperature and distillation -------------------------------------------------------------------


def softmax(logits: ArrayLike, *, temperature: float = 1.0) -> Array:
    """softmax(z / T) along the last axis; T > 1 flattens the distribution, T < 1 sharpens it."""
    t = check_temperature(temperature)
    # An overflow of logits / T is reported as the caller's input; one in the shift below only gives exp(-inf) = 0.
    with np.errstate(over="ignore"):
        z = _as_vector(logits, name="logits") / t
        if not np.isfinite(z).all():
            raise DistributionError("temperature", f"{t:g} is too small for these logits: logits / T overflows")
        z = z - z.max(axis=-1, keepdims=True)  # shift for stability: exp never overflows
    e = np.exp(z)
    result: Array = e / e.sum(axis=-1, keepdims=True)
    return result


@dataclass(frozen=True)
class DistillationLoss:
    """α·T²·KL(softmax(t/T) ‖ softmax(s/T)) + (1−α)·CE(y, softmax(s)), with every component."""

    total: float | Array
    kd: float | Array  # T²·KL, the distillation term before α
    kl: float | Array  # KL at temperature T, before the T² scaling
    ce: float | Array  # cross-entropy of the student at T = 1 against the labels
    alpha: float
    temperature: float


def distillation_loss(
    *,
    teacher_logits: ArrayLike,
    student_logits: ArrayLike,
    labels: ArrayLike,
    alpha: float,
    temperature: float,
    base: Base = "e",
) -> DistillationLoss:
    """The distillation objective of Hinton et al.; ``labels`` is a class index or a target distribution.

    The T² factor keeps the gradient of the soft term comparable in size as T changes.
    """
    a = check_alpha(alpha)
    t = check_temperature(temperature)
    if not 0 < t * t < math.inf:
        raise DistributionError("temperature", f"{t:g} is out of range: T² is not a finite number above 0")
    teacher = _as_vector(teacher_logits, name="teacher_logits")
    student = _as_vector(student_logits, name="student_logits")
    if teacher.shape != student.shape:
        raise DistributionError(
            "student_logits", f"has shape {student.shape} but teacher_logits has shape {teacher.shape}"
        )
    y = _targets(labels, n=student.shape[-1], batch=student.shape[:-1])
    kl_t = kl_terms(softmax(teacher, temperature=t), softmax(student, temperature=t), base=base).sum(axis=-1)
    ce = cross_entropy_terms(y, softmax(student), base=base).sum(axis=-1)
    kd = t * t * kl_t
    # A term whose weight is 0 contributes nothing, even when it is infinite (0·∞ would be NaN).
    total = (a * kd if a > 0 else 0.0) + ((1.0 - a) * ce if a < 1 else 0.0)
    return DistillationLoss(
        total=_scalar(np.asarray(total, dtype=np.float64)),
        kd=_scalar(kd),
        kl=_scalar(kl_t),
        ce=_scalar(ce),
        alpha=a,
        temperature=t,
    )


def _targets(labels: ArrayLike, *, n: int, batch: tuple[int, ...]) -> Array:
    """Hard labels (class indices) become one-hot rows; soft labels must be distributions."""
    arr = np.asarray(labels)
    if arr.shape == batch and np.issubdtype(arr.dtype, np.integer):
        if np.any((arr < 0) | (arr >= n)):
            raise DistributionError("labels", f"class indices must be between 0 and {n - 1}")
        one_hot: Array = np.eye(n, dtype=np.float64)[arr]
        return one_hot
    y = as_distribution(labels, name="labels")
    if y.shape != (*batch, n):
        raise DistributionError("labels", f"has shape {y.shape}; expected a class index or shape {(*batch, n)}")
    return y
