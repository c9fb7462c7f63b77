"""Shared by the grading tests: hand-built card specs, their variants, and the right answers to the course card."""

import math

from app.domain.cards import CardSpec, PartSpec, Tolerance, Variant, VariantPart
from app.domain.expressions import evaluate

P = [0.7, 0.2, 0.1]
QA = [0.6, 0.3, 0.1]
QB = [0.8, 0.1, 0.1]
LOSS_A = 0.7 * math.log(0.7 / 0.6) + 0.2 * math.log(0.2 / 0.3)  # the cherry term is 0.1·ln 1 = 0
LOSS_B = 0.7 * math.log(0.7 / 0.8) + 0.2 * math.log(0.2 / 0.1)
COURSE_TOLERANCE = Tolerance(rtol=0.01, atol=0.0005)

COURSE = CardSpec(
    slug="evaluate-student-models",
    title="Evaluating Student Model Performance",
    tags=("distillation", "kl-divergence"),
    params={"vocab": ["apple", "banana", "cherry"], "P": P, "QA": QA, "QB": QB},
    prompt="A teacher predicts P = {{ P }} over {{ vocab }}; students A and B predict {{ QA }} and {{ QB }}.",
    parts=(
        PartSpec(
            key="loss_a",
            kind="numeric",
            label="Loss for student A (nats)",
            answer="kl(P, QA)",
            tolerance=COURSE_TOLERANCE,
        ),
        PartSpec(
            key="loss_b",
            kind="numeric",
            label="Loss for student B (nats)",
            answer="kl(P, QB)",
            tolerance=COURSE_TOLERANCE,
        ),
        PartSpec(
            key="better",
            kind="choice",
            label="Which student mimics the teacher better?",
            answer="'Student A' if kl(P, QA) < kl(P, QB) else 'Student B'",
            choices=("Student A", "Student B"),
        ),
        PartSpec(
            key="reasoning",
            kind="text",
            label="Why?",
            model_answer="Student A has the lower KL divergence from the teacher.",
        ),
    ),
    solution="KL(P‖QA) = {{ kl(P, QA) | fmt }}",
)

FLATTENS, DARK, SHARPENS, NO_T2 = (
    "flattens the distribution",
    "shows the dark knowledge",
    "sharpens the top class",
    "removes the T² factor",
)
TEMPERATURE = CardSpec(
    slug="temperature-effects",
    title="What temperature does",
    tags=("temperature",),
    params={},
    prompt="Which statements about raising T are true?",
    parts=(
        PartSpec(
            key="effects",
            kind="multi",
            label="Raising T ...",
            answer=f"['{FLATTENS}', '{DARK}']",
            choices=(FLATTENS, DARK, SHARPENS, NO_T2),
        ),
    ),
    solution="",
)

SUPPORT = CardSpec(
    slug="support-mismatch",
    title="A student that rules out an outcome",
    tags=("kl-divergence",),
    params={"P": [0.6, 0.4], "Q": [1.0, 0.0]},
    prompt="",
    parts=(PartSpec(key="gap", kind="numeric", label="KL(P‖Q)", answer="kl(P, Q)"),),
    solution="",
)


def make_variant(spec: CardSpec, seed: int = 0) -> Variant:
    """A variant of a card with fixed parameters, its answers computed by the expression evaluator."""
    answers: dict[str, float | str | tuple[str, ...] | None] = {}
    for part in spec.parts:
        if part.kind == "text":
            answers[part.key] = None
            continue
        value = evaluate(part.answer or "", spec.params)
        answers[part.key] = float(value) if part.kind == "numeric" else tuple(value) if part.kind == "multi" else value
    return Variant(
        slug=spec.slug,
        seed=seed,
        params=dict(spec.params),
        prompt=spec.prompt,
        parts=tuple(VariantPart(p.key, p.kind, p.label, p.choices, p.unit) for p in spec.parts),
        answers=answers,
        model_answers={p.key: p.model_answer or "" for p in spec.parts if p.kind == "text"},
        solution=spec.solution,
        workings={},
    )


COURSE_VARIANT = make_variant(COURSE)
RIGHT = {"loss_a": "0.0268", "loss_b": "0.0452", "better": "Student A", "reasoning": "A is closer to P."}
