"""Cards: the spec model, validation, seeded variants and their answers.

PrairieLearn's shape: ``parse_spec(data) -> CardSpec``, ``generate(spec, seed) -> Variant`` and, in
``grading``, ``grade(spec, variant, answers)``; plain functions over JSON-safe data, so any grade can be
reproduced from the stored spec and seed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from app.domain.divergence import Breakdown

PartKind = Literal["numeric", "choice", "multi", "text"]
PART_KINDS: tuple[PartKind, ...] = ("numeric", "choice", "multi", "text")
AUTO_GRADED: tuple[PartKind, ...] = ("numeric", "choice", "multi")

# An answer as computed for a variant: a number (numeric, possibly inf), an option (choice),
# the set of correct options (multi), or None (text: graded by a person).
Expected = float | str | tuple[str, ...] | None


@dataclass(frozen=True)
class Tolerance:
    """A numeric answer s is right when |s − c| ≤ atol + rtol·|c|."""

    rtol: float = 0.01
    atol: float = 1e-4


@dataclass(frozen=True)
class PartSpec:
    key: str  # [a-z][a-z0-9_]*, unique in its card; the form field and the JSON key
    kind: PartKind
    label: str  # a template: may use {{ }}
    answer: str | None = None  # expression; required for numeric, choice and multi
    choices: tuple[str, ...] = ()  # the options of choice and multi parts (templates)
    tolerance: Tolerance = field(default_factory=Tolerance)
    model_answer: str | None = None  # text parts: shown after submitting, used by the grader (template)
    weight: float = 1.0
    unit: str | None = None  # shown beside a numeric input, e.g. "nats"


@dataclass(frozen=True)
class CardSpec:
    slug: str
    title: str
    tags: tuple[str, ...]
    params: Mapping[str, Any]  # fixed values, or draw specs such as {"dirichlet": [8, 1, 1], "decimals": 2}
    prompt: str  # Markdown + LaTeX with {{ }} placeholders
    parts: tuple[PartSpec, ...]
    solution: str  # Markdown with {{ }} placeholders, shown after submitting
    constraints: tuple[str, ...] = ()  # expressions every variant must satisfy


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a spec: ``field`` is a path such as ``parts[1].answer`` or ``params.P``."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class SpecError(ValueError):
    """A card spec that cannot be used; ``problems`` lists every problem found, not just the first."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = problems


@dataclass(frozen=True)
class VariantPart:
    """A part as the learner sees it: never the answer."""

    key: str
    kind: PartKind
    label: str
    choices: tuple[str, ...] = ()
    unit: str | None = None


@dataclass(frozen=True)
class Variant:
    slug: str
    seed: int
    params: Mapping[str, Any]  # the values as shown to the learner, JSON-safe
    prompt: str  # Markdown, placeholders filled
    parts: tuple[VariantPart, ...]
    answers: Mapping[str, Expected]  # computed from the shown values
    model_answers: Mapping[str, str]  # text parts
    solution: str  # Markdown, placeholders filled
    workings: Mapping[str, tuple[Breakdown, ...]]  # per part: the divergences its answer computes, term by term
