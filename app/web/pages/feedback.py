"""What the result page shows: each part's verdict, and each divergence worked out term by term.

``result_view(submission)`` turns a stored submission into plain values for ``submission.html``: the
template only lays them out. Every verdict has a word and a symbol as well as a colour.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from markupsafe import Markup

from app.domain.cards import Expected, Variant
from app.domain.divergence import Breakdown
from app.domain.grading import PartResult
from app.services.submissions import SubmissionView
from app.web.charts import BarChart, bar_chart
from app.web.markdown import to_html, to_inline_html
from app.web.pages.rendering import number

_LOG: Final = {"e": "ln", "2": "log₂", "10": "log₁₀"}
_UNIT: Final = {"e": "nats", "2": "bits", "10": "hartleys"}


@dataclass(frozen=True)
class PartView:
    key: str
    kind: str
    label_html: Markup
    status: str  # "right", "partial", "wrong" or "pending": a CSS class, never the only signal
    verdict: str  # the status in words, with a symbol
    given: tuple[str, ...]  # one entry, or each option picked of a multi part
    expected: tuple[str, ...] | None
    feedback: str
    misconception: str | None
    model_answer_html: Markup | None


@dataclass(frozen=True)
class TermRow:
    outcome: str
    p: str
    q: str
    term: str


@dataclass(frozen=True)
class Working:
    """One divergence of the solution: its table of terms and its chart."""

    index: int  # numbers the chart's ids, unique on the page
    title: str  # e.g. "KL(P ‖ QA)"
    unit: str
    used_by: tuple[Markup, ...]  # the labels of the parts whose answers use it
    p_name: str
    q_name: str
    show_q: bool
    term_header: str
    rows: tuple[TermRow, ...]
    total: str
    infinite_note: str | None  # why the sum is ∞, when it is
    chart: BarChart | None


@dataclass(frozen=True)
class ResultView:
    parts: tuple[PartView, ...]
    solution_html: Markup
    workings: tuple[Working, ...]
    graded_count: int
    right_count: int


def show_value(value: Any) -> tuple[str, ...]:
    """An answer or expected value as lines: a number formatted, each option of a list, "no answer" for none."""
    if value is None or value == "" or value == [] or value == ():
        return ("no answer",)
    if isinstance(value, list | tuple):
        return tuple(str(v) for v in value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (number(value),)
    return (str(value),)


def _status(result: PartResult) -> tuple[str, str]:
    if result.pending:
        return "pending", "… Awaiting an instructor"
    if result.correct:
        return "right", "✓ Correct"
    if result.score:
        return "partial", f"◐ Partly correct ({round(result.score * 100)}%)"
    return "wrong", "✗ Incorrect"


def _expected(result: PartResult) -> tuple[str, ...] | None:
    expected: Expected = result.expected
    if result.kind == "text" or expected is None:
        return None
    if result.kind == "multi" and not expected:
        return ("none of the options",)
    return show_value(expected)


def part_views(submission: SubmissionView) -> tuple[PartView, ...]:
    labels = {part.key: part.label for part in submission.variant.parts}
    views = []
    for result in submission.grade.parts:
        status, verdict = _status(result)
        message = result.misconception.message if result.misconception else None
        feedback = result.feedback
        if message and feedback.endswith(" " + message):
            feedback = feedback.removesuffix(" " + message)  # the page shows the message on its own line
        raw = submission.answers.get(result.key, result.given)
        model = result.model_answer or submission.variant.model_answers.get(result.key)
        views.append(
            PartView(
                key=result.key,
                kind=result.kind,
                label_html=to_inline_html(labels.get(result.key, result.key)),
                status=status,
                verdict=verdict,
                given=show_value(raw if raw is not None else result.given),
                expected=_expected(result),
                feedback=feedback,
                misconception=message,
                model_answer_html=to_html(model) if model else None,
            )
        )
    return tuple(views)


# --- divergences, term by term ------------------------------------------------------------------------


def _name_of(values: Sequence[float], params: Mapping[str, Any], fallback: str) -> str:
    """The parameter holding ``values`` (``QA``), so the table speaks the card's own names."""
    for name, param in params.items():
        if (
            isinstance(param, list)
            and len(param) == len(values)
            and all(isinstance(v, int | float) and not isinstance(v, bool) for v in param)
            and all(math.isclose(float(a), b, rel_tol=1e-12, abs_tol=1e-15) for a, b in zip(param, values, strict=True))
        ):
            return name
    return fallback


def outcome_names(params: Mapping[str, Any], size: int) -> tuple[str, ...]:
    """The card's ``vocab`` when it names every outcome, else the outcomes' numbers 1, 2, …"""
    vocab = params.get("vocab")
    if isinstance(vocab, list | tuple) and len(vocab) == size:
        return tuple(str(word) for word in vocab)
    return tuple(str(i + 1) for i in range(size))


def _formula(item: Breakdown, p: str, q: str) -> tuple[str, str, bool]:
    """The divergence's name, the header of its term column, and whether Q takes part."""
    log = _LOG[item.base]
    if item.measure == "kl":
        return f"KL({p} ‖ {q})", f"{p}(x) · {log}({p}(x) / {q}(x))", True
    if item.measure == "reverse_kl":
        return f"KL({q} ‖ {p})", f"{q}(x) · {log}({q}(x) / {p}(x))", True
    if item.measure == "cross_entropy":
        return f"H({p}, {q})", f"−{p}(x) · {log} {q}(x)", True
    if item.measure == "entropy":
        return f"H({p})", f"−{p}(x) · {log} {p}(x)", False
    return (
        f"JS({p}, {q})",
        f"½{p}(x) · {log}({p}(x) / M(x)) + ½{q}(x) · {log}({q}(x) / M(x)), where M = ({p} + {q}) / 2",
        True,
    )


def _infinite_note(item: Breakdown, p: str, q: str) -> str:
    weight, zero = (q, p) if item.measure == "reverse_kl" else (p, q)
    return (
        f"The sum is infinite (∞): for some outcome {weight}(x) > 0 where {zero}(x) = 0, "
        "and that outcome's term has no finite value."
    )


def workings(variant: Variant, labels: Mapping[str, str]) -> tuple[Working, ...]:
    """Each distinct divergence the answers compute, once, with the parts that use it."""
    found: dict[tuple[Any, ...], tuple[Breakdown, list[Markup]]] = {}
    for key, items in variant.workings.items():
        for item in items:
            identity = (item.measure, item.base, item.p, item.q)
            _, users = found.setdefault(identity, (item, []))
            label = to_inline_html(labels.get(key, key))
            if label not in users:
                users.append(label)
    result = []
    for index, (item, users) in enumerate(found.values(), start=1):
        p_name = _name_of(item.p, variant.params, "P")
        q_name = _name_of(item.q, variant.params, "Q")
        if q_name == p_name:
            q_name = "Q"
        title, term_header, show_q = _formula(item, p_name, q_name)
        outcomes = outcome_names(variant.params, len(item.p))
        series = [(p_name, item.p), (q_name, item.q)] if show_q else [(p_name, item.p)]
        result.append(
            Working(
                index=index,
                title=title,
                unit=_UNIT[item.base],
                used_by=tuple(users),
                p_name=p_name,
                q_name=q_name,
                show_q=show_q,
                term_header=term_header,
                rows=tuple(
                    TermRow(outcome=name, p=number(p), q=number(q), term=number(term))
                    for name, p, q, term in zip(outcomes, item.p, item.q, item.terms, strict=True)
                ),
                total=number(item.value),
                infinite_note=_infinite_note(item, p_name, q_name) if item.infinite else None,
                chart=bar_chart(outcomes, series),
            )
        )
    return tuple(result)


def result_view(submission: SubmissionView) -> ResultView:
    parts = part_views(submission)
    labels = {part.key: part.label for part in submission.variant.parts}
    # Written parts are graded by a person and shown with their own verdict; the count is of the automatic ones.
    graded = [p for p in parts if p.status != "pending" and p.kind != "text"]
    return ResultView(
        parts=parts,
        solution_html=to_html(submission.variant.solution),
        workings=workings(submission.variant, labels),
        graded_count=len(graded),
        right_count=sum(1 for p in graded if p.status == "right"),
    )
