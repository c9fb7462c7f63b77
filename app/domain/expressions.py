"""Card expressions and templates: small formulas over a card's parameters, run in Jinja2's sandbox.

An author writes ``kl(P, QA)`` as a part's answer or ``{{ P }}`` in a prompt. Both are compiled by an
immutable sandboxed Jinja2 environment with attribute access switched off entirely, so an expression such
as ``().__class__.__mro__`` is refused when the card is validated and could not run if it got through:
card code can reach the parameters and the functions below, nothing else.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Iterator, Mapping
from functools import lru_cache
from typing import Any, Final

import numpy as np
from jinja2 import StrictUndefined, TemplateSyntaxError, Undefined, UndefinedError, nodes
from jinja2.exceptions import SecurityError
from jinja2.runtime import LoopContext
from jinja2.sandbox import ImmutableSandboxedEnvironment

from app.domain import divergence as dv

MAX_POWER: Final = 1_000  # bounds ``x ** y`` so an expression cannot ask for a billion-digit integer


class ExpressionError(ValueError):
    """An expression or template that cannot be compiled, is not allowed, or fails when evaluated."""


def _plain(value: Any) -> Any:
    """numpy results become plain Python values, so templates print ``0.7`` rather than ``np.float64(0.7)``."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _log(x: float, base: float = math.e) -> float:
    return math.log(x) if base == math.e else math.log(x, base)


def _argmin(values: list[float]) -> int:
    return int(np.argmin(values))


def _argmax(values: list[float]) -> int:
    return int(np.argmax(values))


def kd_loss(teacher_logits: list[float], student_logits: list[float], T: float = 1.0) -> float:
    """The soft term T²·KL(softmax(t/T) ‖ softmax(s/T))."""
    p = dv.softmax(teacher_logits, temperature=T)
    q = dv.softmax(student_logits, temperature=T)
    return float(T * T * dv.kl(p, q))


def distill(
    teacher_logits: list[float], student_logits: list[float], label: int, alpha: float, T: float
) -> float:
    """The whole distillation objective α·T²·KL + (1−α)·CE for a hard label (a class index)."""
    loss = dv.distillation_loss(
        teacher_logits=teacher_logits,
        student_logits=student_logits,
        labels=int(label),
        alpha=alpha,
        temperature=T,
    )
    return float(loss.total)


def combined(alpha: float, kd: float, ce: float) -> float:
    """α·L_KD + (1−α)·L_CE for given loss values."""
    dv.check_alpha(alpha)
    return alpha * kd + (1.0 - alpha) * ce


def _divergence(fn: Callable[..., Any]) -> Callable[..., Any]:
    def call(p: Any, q: Any, base: Any = "e") -> Any:
        return _plain(fn(p, q, base=str(base)))

    call.__name__ = fn.__name__
    call.__doc__ = fn.__doc__
    return call


def _entropy(p: Any, base: Any = "e") -> Any:
    return _plain(dv.entropy(p, base=str(base)))  # type: ignore[arg-type]  # an unknown base is refused inside


def _softmax(logits: Any, T: float = 1.0) -> list[float]:
    result: list[float] = dv.softmax(logits, temperature=T).tolist()
    return result


# Everything a card expression may call. Misconception detection swaps some of these for the wrong formula.
FUNCTIONS: Final[Mapping[str, Any]] = {
    "kl": _divergence(dv.kl),
    "reverse_kl": _divergence(dv.reverse_kl),
    "cross_entropy": _divergence(dv.cross_entropy),
    "js": _divergence(dv.js),
    "entropy": _entropy,
    "softmax": _softmax,
    "kd_loss": kd_loss,
    "distill": distill,
    "combined": combined,
    "log": _log,
    "log2": math.log2,
    "log10": math.log10,
    "exp": math.exp,
    "sqrt": math.sqrt,
    "abs": abs,
    "min": min,
    "max": max,
    "sum": sum,
    "len": len,
    "round": round,
    "sorted": sorted,
    "argmin": _argmin,
    "argmax": _argmax,
    "inf": math.inf,
    "pi": math.pi,
    "e": math.e,
}


def format_number(value: Any, digits: int = 4) -> str:
    """Numbers as a learner reads them: ``0.0268``, ``∞``; lists element by element."""
    value = _plain(value)
    if isinstance(value, bool) or not isinstance(value, int | float | list | tuple):
        return str(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(format_number(v, digits) for v in value) + "]"
    if isinstance(value, float) and math.isinf(value):
        return "∞" if value > 0 else "−∞"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value)) if digits == 0 else f"{value:g}"
    return f"{value:.{digits}g}"


def _finalize(value: Any) -> Any:
    # Shown values print exactly as stored (0.7, not 0.69999…); only computed results get rounded by ``fmt``.
    value = _plain(value)
    if isinstance(value, float) and math.isinf(value):
        return "∞"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(str(_finalize(v)) for v in value) + "]"
    return value


class _CardSandbox(ImmutableSandboxedEnvironment):
    """No attribute access at all (card code has no use for it) and bounded powers."""

    intercepted_binops = frozenset({"**", "*"})

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        # ``loop.index`` in a template's for-loop is the one attribute card code needs.
        return isinstance(obj, LoopContext) and not attr.startswith("_")

    def call_binop(self, context: Any, operator_: str, left: Any, right: Any) -> Any:
        # Both checks stop an expression from asking for gigabytes: 10**10**9, or "x" * 10**9.
        if operator_ == "**":
            if isinstance(right, int | float) and abs(right) > MAX_POWER:
                raise SecurityError(f"the exponent {right} is too large (at most {MAX_POWER})")
            if isinstance(left, int) and isinstance(right, int) and left.bit_length() * abs(right) > 4096:
                raise SecurityError("the power is too large")
            return operator.pow(left, right)
        if operator_ == "*":
            pairs = ((left, right), (right, left))
            sizes = [len(x) * y for x, y in pairs if isinstance(x, str | list | tuple) and isinstance(y, int)]
            if sizes and max(sizes) > 10_000:
                raise SecurityError("repeating a list or string more than 10,000 entries is not allowed")
            return operator.mul(left, right)
        return super().call_binop(context, operator_, left, right)


_ENV: Final = _CardSandbox(undefined=StrictUndefined, finalize=_finalize, autoescape=False)
_ENV.filters["fmt"] = format_number


def _walk(node: nodes.Node) -> Iterator[nodes.Node]:
    yield node
    for child in node.iter_child_nodes():
        yield from _walk(child)


def _is_loop_attribute(node: nodes.Getattr) -> bool:
    """``loop.index`` and friends inside a template's for-loop."""
    return isinstance(node.node, nodes.Name) and node.node.name == "loop" and not node.attr.startswith("_")


def _check_tree(tree: nodes.Node, *, names: set[str] | None) -> None:
    """Refuse what the sandbox would refuse at run time, with a message that says why, before anything runs."""
    assigned = {n.name for n in _walk(tree) if isinstance(n, nodes.Name) and n.ctx in ("store", "param")}
    for node in _walk(tree):
        if isinstance(node, nodes.Getattr) and not _is_loop_attribute(node):
            raise ExpressionError(f"attribute access ('.{node.attr}') is not allowed; use P[0] or a function")
        if isinstance(node, nodes.Name) and node.ctx == "load":
            if node.name.startswith("_"):
                raise ExpressionError(f"the name '{node.name}' is not allowed (names cannot start with '_')")
            known = names is None or node.name in names or node.name in FUNCTIONS or node.name in assigned
            if not known and node.name not in ("loop", "true", "false", "none"):
                raise ExpressionError(f"unknown name '{node.name}'; it is neither a parameter nor a function")
        if isinstance(node, nodes.Const) and isinstance(node.value, str) and node.value.startswith("__"):
            raise ExpressionError("strings starting with '__' are not allowed")


def check_expression(source: str, *, names: set[str] | None = None) -> None:
    """Raise ExpressionError unless ``source`` is one well-formed, allowed expression over ``names``."""
    if not isinstance(source, str) or not source.strip():
        raise ExpressionError("is empty; write an expression such as kl(P, Q)")
    try:
        tree = _ENV.parse("{{ (" + source + "\n) }}")
    except TemplateSyntaxError as exc:
        raise ExpressionError(f"is not a valid expression: {exc.message}") from None
    _check_tree(tree, names=names)


def check_template(source: str, *, names: set[str] | None = None) -> None:
    """Raise ExpressionError unless ``source`` is a valid, allowed text template over ``names``."""
    try:
        tree = _ENV.parse(source)
    except TemplateSyntaxError as exc:
        raise ExpressionError(f"line {exc.lineno}: {exc.message}") from None
    _check_tree(tree, names=names)


@lru_cache(maxsize=4096)
def _compiled(source: str) -> Any:
    check_expression(source)
    return _ENV.compile_expression(source, undefined_to_none=False)


@lru_cache(maxsize=1024)
def _template(source: str) -> Any:
    check_template(source)
    return _ENV.from_string(source)


def evaluate(source: str, params: Mapping[str, Any], *, functions: Mapping[str, Any] = FUNCTIONS) -> Any:
    """Evaluate an expression over ``params``; ``functions`` replaces the callable namespace when given."""
    try:
        value = _compiled(source)(**{**functions, **params})
        if isinstance(value, Undefined):
            str(value)  # a StrictUndefined result raises UndefinedError, naming the missing name
        return _plain(value)
    except ExpressionError:
        raise
    except (SecurityError, UndefinedError) as exc:
        raise ExpressionError(str(exc)) from None
    except dv.DistributionError as exc:
        raise ExpressionError(f"{exc.field} {exc.message}") from None
    except (ArithmeticError, TypeError, ValueError, IndexError, KeyError, OverflowError) as exc:
        raise ExpressionError(f"failed: {type(exc).__name__}: {exc}") from None


def render(source: str, params: Mapping[str, Any], *, functions: Mapping[str, Any] = FUNCTIONS) -> str:
    """Fill a prompt or solution template's ``{{ }}`` placeholders from ``params``."""
    try:
        text: str = _template(source).render(**{**functions, **params})
    except ExpressionError:
        raise
    except (SecurityError, UndefinedError) as exc:
        raise ExpressionError(str(exc)) from None
    except dv.DistributionError as exc:
        raise ExpressionError(f"{exc.field} {exc.message}") from None
    except (ArithmeticError, TypeError, ValueError, IndexError, KeyError, OverflowError) as exc:
        raise ExpressionError(f"failed: {type(exc).__name__}: {exc}") from None
    return text


_TRACED: Final = ("kl", "reverse_kl", "cross_entropy", "js")


def evaluate_traced(source: str, params: Mapping[str, Any]) -> tuple[Any, list[dv.Breakdown]]:
    """Evaluate and also record every divergence the expression computes, term by term, for worked solutions."""
    log: list[dv.Breakdown] = []

    def tracer(measure: dv.Measure) -> Callable[..., Any]:
        plain = FUNCTIONS[measure]

        def call(p: Any, q: Any, base: Any = "e") -> Any:
            result = plain(p, q, base)
            if np.ndim(p) == 1:
                log.append(dv.breakdown(p, q, measure=measure, base=str(base)))  # type: ignore[arg-type]
            return result

        return call

    functions = {**FUNCTIONS, **{name: tracer(name) for name in _TRACED}}
    value = evaluate(source, params, functions=functions)
    return value, log
