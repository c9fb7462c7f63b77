"""The JSON API's request and response bodies (Pydantic v2), each request with an example for /docs.

JSON has no infinity: a divergence that is infinite is sent as ``null`` beside ``"infinite": true``, and an
expected answer that is infinite as the string ``"inf"`` (the form a learner types it in).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainValidator
from pydantic_core import PydanticCustomError

from app.domain import divergence as dv
from app.domain.cards import CardSpec, PartKind, Variant
from app.domain.grading import PartResult
from app.services.catalog import CardSummary
from app.services.submissions import SubmissionSummary, SubmissionView

MAX_ENTRIES: Final = dv.MAX_ENTRIES
MAX_ANSWER_LENGTH: Final = 10_000  # characters in one answer: a paragraph of reasoning fits many times over
MAX_ANSWERS: Final = 100  # answers in one submission; cards have far fewer parts
MAX_OPTIONS: Final = 100  # options picked in one multi answer
SEED_LIMIT: Final = 2**31  # seeds run from 0 to 2**31 - 1

# A learner as an integration names it, e.g. an LMS user id: printable, at most 255 characters.
ExternalId = Annotated[str, Field(min_length=1, max_length=255, pattern=r"^[^\x00-\x1f\x7f]+$")]
MeasureName = Literal["kl", "reverse_kl", "cross_entropy", "js", "entropy"]
AnswerValue = str | float | list[str]


def _base_text(value: Any) -> Any:
    # Clients naturally send the base as a number; 2 and 10 mean the same as "2" and "10".
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


BaseName = Annotated[Literal["e", "2", "10"], BeforeValidator(_base_text)]


def _datetime_text(value: Any) -> Any:
    # Pydantic would read a bare number as seconds since 1970: a date is written out, with its time zone.
    if isinstance(value, int | float):
        raise PydanticCustomError("datetime_type", "must be a date and time as text, e.g. 2026-12-11T17:00:00Z")
    return value


DateTimeText = Annotated[datetime, BeforeValidator(_datetime_text)]
Probabilities = Annotated[list[float], Field(min_length=1, max_length=MAX_ENTRIES)]


def finite_or_none(value: float) -> float | None:
    """A float JSON can carry, or None for inf and NaN (the response says which it was)."""
    return value if math.isfinite(value) else None


def json_safe(value: Any) -> Any:
    """Parameters and expected values for JSON: infinite numbers as ``"inf"``/``"-inf"``, tuples as lists."""
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    return value


class StrictRequest(BaseModel):
    # A misspelt field ("temprature") is an error, not a silently used default; strict: `true` is no probability
    # and `"3"` no seed, so nothing is coerced into a number the client never sent.
    model_config = ConfigDict(extra="forbid", strict=True)


# --- errors ---------------------------------------------------------------------------------------------


class ErrorItem(BaseModel):
    field: str | None = Field(description="The input at fault, e.g. `answers.loss_a` or `p[2]`; null if none")
    message: str


class ErrorResponse(BaseModel):
    detail: list[ErrorItem]


# --- cards and variants ---------------------------------------------------------------------------------


class CardPublic(BaseModel):
    slug: str
    title: str
    tags: list[str]
    drawn: bool = Field(description="Whether the card's values are drawn afresh for each seed")
    best_score: float | None = Field(description="The caller's best score on this card, null if never tried")

    @classmethod
    def build(cls, summary: CardSummary) -> CardPublic:
        return cls(
            slug=summary.slug,
            title=summary.title,
            tags=list(summary.tags),
            drawn=summary.drawn,
            best_score=summary.best_score,
        )


class PartOutlinePublic(BaseModel):
    key: str
    kind: PartKind
    weight: float
    unit: str | None


class CardDetailPublic(BaseModel):
    slug: str
    title: str
    tags: list[str]
    drawn: bool
    version: int = Field(description="The card version that submissions are graded against")
    parts: list[PartOutlinePublic]

    @classmethod
    def build(cls, *, spec: CardSpec, version: int, drawn: bool) -> CardDetailPublic:
        return cls(
            slug=spec.slug,
            title=spec.title,
            tags=list(spec.tags),
            drawn=drawn,
            version=version,
            parts=[
                PartOutlinePublic(key=p.key, kind=p.kind, weight=p.weight, unit=p.unit) for p in spec.parts
            ],
        )


class PartPublic(BaseModel):
    key: str = Field(description="The key to answer this part under in a submission")
    kind: PartKind
    label: str
    choices: list[str] = Field(description="The options of a choice or multi part; empty otherwise")
    unit: str | None


class VariantPublic(BaseModel):
    """A card as a learner sees it for one seed: the prompt and the parts, never the answers."""

    slug: str
    seed: int
    version: int
    title: str
    drawn: bool
    prompt: str = Field(description="Markdown with LaTeX ($...$), placeholders filled in")
    params: dict[str, Any] = Field(description="The values shown on the card")
    parts: list[PartPublic]

    @classmethod
    def build(cls, *, spec: CardSpec, variant: Variant, version: int, drawn: bool) -> VariantPublic:
        return cls(
            slug=variant.slug,
            seed=variant.seed,
            version=version,
            title=spec.title,
            drawn=drawn,
            prompt=variant.prompt,
            params=json_safe(variant.params),
            parts=[
                PartPublic(key=p.key, kind=p.kind, label=p.label, choices=list(p.choices), unit=p.unit)
                for p in variant.parts
            ],
        )


# --- submissions ----------------------------------------------------------------------------------------


def _answer_value(value: Any) -> AnswerValue:
    """Text, a finite number or a list of options; anything else is refused with a reason."""
    if isinstance(value, bool):
        raise PydanticCustomError("answer_type", "must be text, a number or a list of options, not true/false")
    if isinstance(value, int | float):
        try:
            number = float(value)
        except OverflowError:
            number = math.inf
        if not math.isfinite(number):
            raise PydanticCustomError(
                "answer_number", 'must be a finite number; send the text "inf" for an infinite value'
            )
        return value if isinstance(value, float) else number
    if isinstance(value, str):
        if len(value) > MAX_ANSWER_LENGTH:
            raise PydanticCustomError("answer_length", f"is longer than {MAX_ANSWER_LENGTH:,} characters")
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        if len(value) > MAX_OPTIONS:
            raise PydanticCustomError("answer_length", f"has more than {MAX_OPTIONS} options")
        return list(value)
    raise PydanticCustomError("answer_type", "must be text, a number or a list of options")


Answer = Annotated[AnswerValue, PlainValidator(_answer_value, json_schema_input_type=AnswerValue)]


class SubmissionCreate(StrictRequest):
    """Answers to one variant of a card, by part key."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "seed": 0,
                    "answers": {
                        "loss_a": "0.0268",
                        "loss_b": 0.0452,
                        "better": "Student A",
                        "reasoning": "Student A's probabilities give the smaller KL divergence from the teacher.",
                    },
                }
            ]
        }
    )

    seed: int = Field(ge=0, lt=SEED_LIMIT, description="The variant answered (from the variant endpoint)")
    answers: dict[str, Answer] = Field(
        max_length=MAX_ANSWERS,
        description="Part key → answer: a number (as a JSON number or text such as `2.68e-2`), an option, "
        "a list of options for a multi part, or text",
    )
    learner: ExternalId | None = Field(
        default=None,
        description="Submit for the learner an integration calls by this id (created on first use); "
        "integration tokens only (scope `integrations`), anyone else gets a 403",
    )


class MisconceptionPublic(BaseModel):
    code: str = Field(description="A stable name for the mistake, e.g. `log_base_2`")
    message: str


class PartResultPublic(BaseModel):
    key: str
    kind: PartKind
    correct: bool | None = Field(description="null while a text part waits for a person to grade it")
    score: float | None
    expected: float | str | list[str] | None = Field(
        description="The right answer of an auto-graded part (`\"inf\"` when infinite); null for text parts"
    )
    feedback: str
    misconception: MisconceptionPublic | None
    pending: bool
    model_answer: str | None

    @classmethod
    def build(cls, result: PartResult) -> PartResultPublic:
        misconception = result.misconception
        return cls(
            key=result.key,
            kind=result.kind,
            correct=result.correct,
            score=result.score,
            expected=json_safe(result.expected),
            feedback=result.feedback,
            misconception=(
                None
                if misconception is None
                else MisconceptionPublic(code=misconception.code, message=misconception.message)
            ),
            pending=result.pending,
            model_answer=result.model_answer,
        )


class SubmissionPublic(BaseModel):
    id: int
    slug: str
    title: str
    card_version: int
    seed: int
    score: float = Field(description="Weighted mean of the auto-graded parts, from 0 to 1")
    pending: bool = Field(description="Whether some part waits for a person to grade it")
    created_at: datetime
    answers: dict[str, Any] = Field(description="The answers as sent")
    parts: list[PartResultPublic]

    @classmethod
    def build(cls, view: SubmissionView) -> SubmissionPublic:
        return cls(
            id=view.id,
            slug=view.slug,
            title=view.title,
            card_version=view.version,
            seed=view.seed,
            score=view.score,
            pending=view.pending,
            created_at=view.created_at,
            answers=json_safe(view.answers),
            parts=[PartResultPublic.build(result) for result in view.grade.parts],
        )


class SubmissionSummaryPublic(BaseModel):
    id: int
    slug: str
    title: str
    card_version: int
    seed: int
    score: float
    pending: bool
    created_at: datetime

    @classmethod
    def build(cls, summary: SubmissionSummary) -> SubmissionSummaryPublic:
        return cls(
            id=summary.id,
            slug=summary.slug,
            title=summary.title,
            card_version=summary.version,
            seed=summary.seed,
            score=summary.score,
            pending=summary.pending,
            created_at=summary.created_at,
        )
