"""The seed test of a card: generate and answer many variants, and report what goes wrong.

``test_seeds(spec)`` tries seeds 0..199 and finds the seeds that fail and why, the seeds that give the same
variant, infinite or NaN answers, and seeds whose constraints cannot be met. Each variant is also answered
with its own computed answers, which the grader must mark right: a check of the answers' form as well.
"""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any, Final

from app.domain.cards import CardSpec, Variant, VariantError, generate, is_drawn
from app.domain.grading import AnswerFormatError, grade

TEST_SEEDS: Final = 200
REPEAT_GROUPS: Final = 5  # the largest groups of seeds sharing one variant, shown in a report


@dataclass(frozen=True)
class SeedIssue:
    seed: int
    field: str
    message: str


@dataclass(frozen=True)
class SeedReport:
    """What generating and answering many variants of a spec found."""

    seeds: int  # seeds tried: 0 .. seeds-1 (only seed 0 for a card without drawn values)
    drawn: bool
    generated: int  # seeds that gave a variant
    distinct: int  # different variants among them (by the values shown)
    repeats: tuple[tuple[int, ...], ...]  # the largest groups of seeds that give the same variant
    errors: tuple[SeedIssue, ...]  # a field that fails, or an answer the grader does not accept as right
    nonfinite: tuple[SeedIssue, ...]  # numeric answers that are infinite or NaN
    constraint_failures: tuple[SeedIssue, ...]  # seeds whose constraints could not be met

    @property
    def ok(self) -> bool:
        """No errors and no unmet constraints (an infinite answer can be intended: see ``nonfinite``)."""
        return not self.errors and not self.constraint_failures


def expected_answers(variant: Variant) -> dict[str, Any]:
    """The answers a learner would send to get every auto-graded part right (text parts: the model answer)."""
    answers: dict[str, Any] = {}
    for part in variant.parts:
        expected = variant.answers.get(part.key)
        if part.kind == "text":
            answers[part.key] = variant.model_answers.get(part.key, "")
        elif isinstance(expected, float):
            answers[part.key] = repr(expected)  # "inf" for an infinite answer, as a learner would type it
        elif isinstance(expected, tuple):
            answers[part.key] = list(expected)
        else:
            answers[part.key] = expected
    return answers


def _answer_issues(spec: CardSpec, variant: Variant) -> tuple[list[SeedIssue], list[SeedIssue]]:
    """(errors, non-finite answers) of one variant: its own answers, sent back, must all be graded right."""
    seed, errors, nonfinite = variant.seed, [], []
    where = {part.key: f"parts[{i}].answer" for i, part in enumerate(spec.parts)}
    for part in spec.parts:
        value = variant.answers.get(part.key)
        if part.kind == "numeric" and isinstance(value, float) and math.isinf(value):
            nonfinite.append(SeedIssue(seed, where[part.key], f"is {'' if value > 0 else '−'}∞ (infinite)"))
    try:
        result = grade(spec, variant, expected_answers(variant))
    except AnswerFormatError as exc:
        for key, message in exc.errors.items():
            errors.append(SeedIssue(seed, where.get(key, key), f"the computed answer cannot be read back: {message}"))
        return errors, nonfinite
    except (TypeError, ValueError) as exc:
        return [SeedIssue(seed, "parts", f"grading the computed answers failed: {exc}")], nonfinite
    for outcome in result.parts:
        if not outcome.pending and not outcome.correct:
            shown = variant.answers.get(outcome.key)
            message = f"the computed answer {shown!r} is not graded as right: {outcome.feedback}"
            errors.append(SeedIssue(seed, where[outcome.key], message))
    return errors, nonfinite


def test_seeds(spec: CardSpec, *, seeds: int = TEST_SEEDS) -> SeedReport:
    """Generate and answer variants 0..seeds-1 of ``spec``: failing seeds, repeats, infinite answers, constraints.

    Named for what the page calls it ("test 200 seeds"); import the module rather than the name in tests.
    """
    if seeds < 1:
        raise ValueError("seeds must be at least 1")
    drawn = is_drawn(spec)
    tried = seeds if drawn else 1  # fixed values: every seed gives the same variant
    errors: list[SeedIssue] = []
    nonfinite: list[SeedIssue] = []
    constraints: list[SeedIssue] = []
    by_values: defaultdict[str, list[int]] = defaultdict(list)
    for seed in range(tried):
        try:
            variant = generate(spec, seed)
        except VariantError as exc:
            for problem in exc.problems:
                issue = SeedIssue(seed, problem.field, problem.message)
                if problem.field.startswith("constraints"):
                    constraints.append(issue)
                elif problem.field.endswith(".answer") and "NaN" in problem.message:
                    nonfinite.append(issue)
                else:
                    errors.append(issue)
            continue
        by_values[json.dumps(variant.params, sort_keys=True, default=str)].append(seed)
        found, infinite = _answer_issues(spec, variant)
        errors.extend(found)
        nonfinite.extend(infinite)
    groups = sorted((tuple(s) for s in by_values.values() if len(s) > 1), key=lambda g: (-len(g), g[0]))
    return SeedReport(
        seeds=tried,
        drawn=drawn,
        generated=sum(len(s) for s in by_values.values()),
        distinct=len(by_values),
        repeats=tuple(groups[:REPEAT_GROUPS]),
        errors=tuple(errors),
        nonfinite=tuple(nonfinite),
        constraint_failures=tuple(constraints),
    )


def issue_counts(issues: tuple[SeedIssue, ...]) -> list[tuple[str, int, SeedIssue]]:
    """Issues grouped by field: (field, how many seeds, the first one), most frequent first."""
    counts: Counter[str] = Counter(issue.field for issue in issues)
    first: dict[str, SeedIssue] = {}
    for issue in issues:
        first.setdefault(issue.field, issue)
    return [(field, count, first[field]) for field, count in counts.most_common()]
