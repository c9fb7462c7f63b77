"""Calculators: a divergence between two distributions term by term, and the distillation loss."""

from __future__ import annotations

from fastapi import APIRouter

from app.domain import divergence as dv
from app.web.divergence_schemas import (
    DistillationLossRequest,
    DistillationLossResult,
    DivergenceRequest,
    DivergenceResult,
)
from app.web.errors import ApiError

router = APIRouter(tags=["calculators"])

# These routes only compute (microseconds of numpy for up to 10,000 entries), so they run on the event loop.


@router.post("/divergence", summary="A divergence with its per-term breakdown", name="api_divergence")
async def divergence(body: DivergenceRequest) -> DivergenceResult:
    """KL(P‖Q), reverse KL, cross-entropy, Jensen–Shannon or entropy; an infinite result is flagged, not an error."""
    q = body.q
    if q is None:
        if body.measure != "entropy":
            raise ApiError(422, [("q", f"is required for the measure '{body.measure}'")])
        q = body.p  # entropy has no Q; breakdown only checks its shape
    result = dv.breakdown(body.p, q, measure=body.measure, base=body.base)
    return DivergenceResult.build(result)


@router.post("/distillation-loss", summary="The distillation loss and its components", name="api_distillation_loss")
async def distillation_loss(body: DistillationLossRequest) -> DistillationLossResult:
    """α·T²·KL(softmax(t/T) ‖ softmax(s/T)) + (1−α)·CE(y, softmax(s)), with the probabilities behind it."""
    if (body.label is None) == (body.labels is None):
        problem = "both were given" if body.label is not None else "neither was given"
        raise ApiError(422, [("label", f"give either label (a class index) or labels (a distribution); {problem}")])
    labels: int | list[float]
    if body.label is not None:
        classes = len(body.student_logits)
        if body.label >= classes:
            raise ApiError(422, [("label", f"is {body.label}, but the class indices run from 0 to {classes - 1}")])
        labels = body.label
    else:
        assert body.labels is not None
        labels = body.labels
    loss = dv.distillation_loss(
        teacher_logits=body.teacher_logits,
        student_logits=body.student_logits,
        labels=labels,
        alpha=body.alpha,
        temperature=body.temperature,
        base=body.base,
    )
    return DistillationLossResult.build(
        loss,
        base=body.base,
        teacher_probs=dv.softmax(body.teacher_logits, temperature=loss.temperature).tolist(),
        student_probs=dv.softmax(body.student_logits, temperature=loss.temperature).tolist(),
        student_probs_t1=dv.softmax(body.student_logits).tolist(),
    )
