"""The JSON shapes of the authoring API: a card spec, an authored card, a preview with answers, a version."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.domain.cards import PartKind, is_drawn
from app.services.authoring import AuthoredCard, CardPreview, SavedCard, VersionInfo
from app.services.spec_yaml import SpecProblem
from app.web.schemas import PartPublic, json_safe

EXAMPLE_SPEC: Final[dict[str, Any]] = {
    "slug": "two-students",
    "title": "Which student mimics the teacher?",
    "tags": ["kl-divergence", "distillation"],
    "params": {
        "vocab": ["apple", "banana", "cherry"],
        "P": [0.7, 0.2, 0.1],
        "QA": [0.6, 0.3, 0.1],
        "QB": {"dirichlet": [6, 2, 1], "decimals": 2},
    },
    "prompt": "A teacher predicts $P = {{ P }}$ over {{ vocab }}; student A predicts {{ QA }}, student B {{ QB }}.",
    "parts": [
        {
            "key": "loss_a",
            "kind": "numeric",
            "label": "KL(P ‖ Q_A)",
            "answer": "kl(P, QA)",
            "tolerance": {"rtol": 0.01, "atol": 0.0005},
            "unit": "nats",
        },
        {
            "key": "better",
            "kind": "choice",
            "label": "Which student mimics the teacher better?",
            "choices": ["Student A", "Student B"],
            "answer": "'Student A' if kl(P, QA) < kl(P, QB) else 'Student B'",
        },
    ],
    "solution": "$\\mathrm{KL}(P \\parallel Q_A) = {{ kl(P, QA) | fmt }}$",
    "constraints": ["abs(kl(P, QA) - kl(P, QB)) > 0.01"],
}

EXAMPLE_YAML: Final = """\
slug: two-students
title: Which student mimics the teacher?
tags: [kl-divergence, distillation]
params:
  P: [0.7, 0.2, 0.1]
  QA: [0.6, 0.3, 0.1]
  QB: {dirichlet: [6, 2, 1], decimals: 2}
prompt: |
  A teacher predicts $P = {{ P }}$; student A predicts {{ QA }}, student B {{ QB }}.
parts:
  - key: loss_a
    kind: numeric
    label: KL(P ‖ Q_A)
    answer: kl(P, QA)
    unit: nats
solution: |
  $\\mathrm{KL}(P \\parallel Q_A) = {{ kl(P, QA) | fmt }}$
"""


class TolerancePublic(BaseModel):
    rtol: float = Field(default=0.01, description="Relative tolerance: right when |s − c| ≤ atol + rtol·|c|")
    atol: float = Field(default=1e-4, description="Absolute tolerance")


class PartSpecPublic(BaseModel):
    key: str = Field(description="A lowercase letter, then a-z, 0-9 or _; unique in the card")
    kind: PartKind
    label: str | None = Field(default=None, description="Markdown; may use {{ }} placeholders (the key if null)")
    answer: str | None = Field(default=None, description="An expression over the params (numeric, choice, multi)")
    choices: list[str] | None = Field(default=None, description="The options of a choice or multi part")
    tolerance: TolerancePublic | None = Field(default=None, description="Numeric parts only")
    model_answer: str | None = Field(default=None, description="Text parts only: shown after submitting")
    weight: float = 1.0
    unit: str | None = Field(default=None, description="Shown beside a numeric input, e.g. `nats`")


class CardSpecDocument(BaseModel):
    """A card spec as JSON: the same object as a card's YAML file."""

    model_config = ConfigDict(json_schema_extra={"examples": [EXAMPLE_SPEC]})

    slug: str = Field(description="Lowercase words joined by hyphens; cannot change once the card exists")
    title: str
    # As in a YAML file, an empty key (null) means the same as leaving it out.
    tags: list[str] | None = Field(default_factory=list)
    params: dict[str, Any] = Field(
        default_factory=dict,
        description="Fixed values, or draws per seed: `{dirichlet: [...], decimals: 2}`, `{uniform: [lo, hi]}`, "
        "`{choice: [...]}`, `{logits: n, scale: s}`, `{integer: [lo, hi]}`",
    )
    prompt: str = Field(description="Markdown with LaTeX ($...$) and {{ }} placeholders")
    parts: list[PartSpecPublic] = Field(description="1 to 20 parts")
    solution: str | None = Field(default="", description="Markdown shown after submitting")
    constraints: list[str] | None = Field(default_factory=list, description="Expressions every variant must satisfy")


class AuthoredCardPublic(BaseModel):
    slug: str
    title: str
    tags: list[str]
    status: Literal["draft", "published", "archived"]
    builtin: bool
    owner: str | None = Field(description="The owner's email; null for built-in cards (admins edit them)")
    version: int = Field(description="The current version's number")
    editable: bool = Field(description="Whether the caller may change this card")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def build(cls, card: AuthoredCard) -> AuthoredCardPublic:
        return cls(
            slug=card.slug,
            title=card.title,
            tags=list(card.tags),
            status=card.status,
            builtin=card.builtin,
            owner=card.owner_email,
            version=card.version,
            editable=card.editable,
            created_at=card.created_at,
            updated_at=card.updated_at,
        )


class CardSavedPublic(AuthoredCardPublic):
    new_version: bool = Field(description="False when the spec sent equals the current one (nothing was saved)")

    @classmethod
    def saved(cls, saved: SavedCard) -> CardSavedPublic:
        return cls(**AuthoredCardPublic.build(saved.card).model_dump(), new_version=saved.new_version)


class VersionPublic(BaseModel):
    number: int
    author: str | None = Field(description="Who saved it; null for versions loaded from files")
    created_at: datetime
    spec_hash: str = Field(description="SHA-256 of the canonical spec: equal specs, equal hashes")
    current: bool

    @classmethod
    def build(cls, version: VersionInfo) -> VersionPublic:
        return cls(
            number=version.number,
            author=version.author_email,
            created_at=version.created_at,
            spec_hash=version.spec_hash,
            current=version.current,
        )


class CardPreviewPublic(BaseModel):
    """A variant as the learner sees it, with what the learner never gets before submitting: the answers."""

    slug: str
    seed: int
    version: int
    status: Literal["draft", "published", "archived"]
    title: str
    drawn: bool
    prompt: str = Field(description="Markdown with LaTeX, placeholders filled in")
    params: dict[str, Any]
    parts: list[PartPublic]
    answers: dict[str, Any] = Field(
        description='Part key → the right answer: a number (`"inf"` when infinite), an option, a list of '
        "options, or null for a text part"
    )
    model_answers: dict[str, str] = Field(description="Text parts: the model answer, placeholders filled in")
    solution: str

    @classmethod
    def build(cls, preview: CardPreview) -> CardPreviewPublic:
        variant = preview.variant
        return cls(
            slug=variant.slug,
            seed=variant.seed,
            version=preview.version,
            status=preview.card.status,
            title=preview.spec.title,
            drawn=is_drawn(preview.spec),
            prompt=variant.prompt,
            params=json_safe(variant.params),
            parts=[
                PartPublic(key=p.key, kind=p.kind, label=p.label, choices=list(p.choices), unit=p.unit)
                for p in variant.parts
            ],
            answers={key: json_safe(value) for key, value in variant.answers.items()},
            model_answers=dict(variant.model_answers),
            solution=variant.solution,
        )


class SpecErrorItem(BaseModel):
    field: str | None = Field(description="The spec's field at fault, e.g. `parts[0].answer`; `yaml` for syntax")
    line: int | None = Field(default=None, description="The line of the spec as sent (1-based); null when not known")
    message: str

    @classmethod
    def build(cls, problem: SpecProblem) -> SpecErrorItem:
        return cls(field=problem.field, line=problem.line, message=problem.message)


class SpecErrorResponse(BaseModel):
    """Every problem of a refused spec, in the order of its text."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "detail": [
                        {
                            "field": "parts[0].answer",
                            "line": 12,
                            "message": "unknown name 'QC'; it is neither a parameter nor a function",
                        },
                        {
                            "field": "parts[1].answer",
                            "line": 19,
                            "message": "attribute access ('.__mro__') is not allowed; use P[0] or a function",
                        },
                    ]
                }
            ]
        }
    )

    detail: list[SpecErrorItem]
