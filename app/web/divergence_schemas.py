"""The calculators' request and response bodies: a divergence term by term, and the distillation loss.

JSON has no infinity: a divergence that is infinite is sent as ``null`` beside ``"infinite": true``.
"""

from __future__ import annotations

import math
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from app.domain import divergence as dv
from app.web.schemas import MAX_ENTRIES, BaseName, MeasureName, Probabilities, StrictRequest, finite_or_none


class DivergenceRequest(StrictRequest):
    """Two distributions over the same outcomes and the measure to compute between them."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"p": [0.7, 0.2, 0.1], "q": [0.6, 0.3, 0.1], "measure": "kl", "base": "e"}]}
    )

    p: Probabilities = Field(description="P, e.g. the teacher's probabilities; must sum to 1")
    q: Probabilities | None = Field(
        default=None, description="Q, e.g. the student's probabilities; not needed for `entropy`"
    )
    measure: MeasureName = Field(
        default="kl",
        description="`kl` = KL(P‖Q), `reverse_kl` = KL(Q‖P), `cross_entropy` = H(P, Q), `js` = Jensen–Shannon, "
        "`entropy` = H(P)",
    )
    base: BaseName = Field(default="e", description="The logarithm's base: `e` (nats), `2` (bits) or `10`")


class TermPublic(BaseModel):
    index: int
    p: float
    q: float | None = Field(description="null for `entropy`, which has no Q")
    term: float | None = Field(description="This outcome's contribution; null when infinite")
    infinite: bool


class DivergenceResult(BaseModel):
    measure: MeasureName
    base: BaseName
    value: float | None = Field(description="The divergence; null when it is infinite")
    infinite: bool = Field(description="True when P(x) > 0 where Q(x) = 0, which makes the divergence infinite")
    terms: list[TermPublic]

    @classmethod
    def build(cls, result: dv.Breakdown) -> DivergenceResult:
        has_q = result.measure != "entropy"
        return cls(
            measure=result.measure,
            base=result.base,
            value=finite_or_none(result.value),
            infinite=math.isinf(result.value),
            terms=[
                TermPublic(
                    index=i, p=p, q=q if has_q else None, term=finite_or_none(term), infinite=math.isinf(term)
                )
                for i, (p, q, term) in enumerate(zip(result.p, result.q, result.terms, strict=True))
            ],
        )


class DistillationLossRequest(StrictRequest):
    """Logits of a teacher and a student for one example, its label, and the loss's α and temperature."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "teacher_logits": [4.0, 1.0, 0.5],
                    "student_logits": [2.5, 1.5, 0.5],
                    "label": 0,
                    "alpha": 0.7,
                    "temperature": 2.0,
                    "base": "e",
                }
            ]
        }
    )

    teacher_logits: Annotated[list[float], Field(min_length=1, max_length=MAX_ENTRIES)]
    student_logits: Annotated[list[float], Field(min_length=1, max_length=MAX_ENTRIES)]
    label: int | None = Field(default=None, ge=0, description="The true class index (a hard label)")
    labels: Probabilities | None = Field(
        default=None, description="A target distribution (soft labels), instead of `label`"
    )
    alpha: float = Field(ge=0, le=1, allow_inf_nan=False, description="Weight of the distillation term, 0 to 1")
    temperature: float = Field(gt=0, allow_inf_nan=False, description="T > 0; T > 1 softens both distributions")
    base: BaseName = "e"


class DistillationLossResult(BaseModel):
    """α·T²·KL(softmax(t/T) ‖ softmax(s/T)) + (1−α)·CE(y, softmax(s)), with each component."""

    total: float | None = Field(description="The whole loss; null when infinite")
    kd: float | None = Field(description="T²·KL, the distillation term before α")
    kl: float | None = Field(description="KL between the softened distributions, before T²")
    ce: float | None = Field(description="Cross-entropy of the student at T = 1 against the label")
    infinite: bool = Field(description="True when a component is infinite (a probability of exactly 0)")
    alpha: float
    temperature: float
    base: BaseName
    teacher_probs: list[float] = Field(description="softmax(teacher_logits / T)")
    student_probs: list[float] = Field(description="softmax(student_logits / T)")
    student_probs_t1: list[float] = Field(description="softmax(student_logits), used by the cross-entropy")

    @classmethod
    def build(
        cls,
        loss: dv.DistillationLoss,
        *,
        base: str,
        teacher_probs: list[float],
        student_probs: list[float],
        student_probs_t1: list[float],
    ) -> DistillationLossResult:
        total, kd, kl, ce = (float(value) for value in (loss.total, loss.kd, loss.kl, loss.ce))
        return cls(
            total=finite_or_none(total),
            kd=finite_or_none(kd),
            kl=finite_or_none(kl),
            ce=finite_or_none(ce),
            infinite=any(math.isinf(value) for value in (total, kd, kl, ce)),
            alpha=loss.alpha,
            temperature=loss.temperature,
            base=base,
            teacher_probs=teacher_probs,
            student_probs=student_probs,
            student_probs_t1=student_probs_t1,
        )
