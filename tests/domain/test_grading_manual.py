"""A person's grade on a written part: Grade.with_manual re-scores the submission over every graded part."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.cards import CardSpec, PartSpec, generate
from app.domain.grading import Grade, PartResult, grade, weighted_score

COURSE = CardSpec(
    slug="evaluate-student-models",
    title="Evaluating Student Model Performance",
    tags=(),
    params={"P": [0.7, 0.2, 0.1], "QA": [0.6, 0.3, 0.1], "QB": [0.8, 0.1, 0.1]},
    prompt="",
    parts=(
        PartSpec(key="loss_a", kind="numeric", label="Loss for student A", answer="kl(P, QA)"),
        PartSpec(key="loss_b", kind="numeric", label="Loss for student B", answer="kl(P, QB)"),
        PartSpec(
            key="better",
            kind="choice",
            label="Which student mimics the teacher better?",
            answer="'Student A' if kl(P, QA) < kl(P, QB) else 'Student B'",
            choices=("Student A", "Student B"),
        ),
        PartSpec(key="reasoning", kind="text", label="Why?", model_answer="Student A has the lower KL divergence."),
    ),
    solution="",
)
RIGHT = {"loss_a": "0.0268", "loss_b": "0.0452", "better": "Student A", "reasoning": "A is closer to P."}

TWO_ESSAYS = CardSpec(
    slug="two-essays",
    title="Two written parts",
    tags=(),
    params={"P": [0.5, 0.5]},
    prompt="",
    parts=(
        PartSpec(key="value", kind="numeric", label="H(P) in nats", answer="entropy(P)", weight=2.0),
        PartSpec(key="why", kind="text", label="Why?", model_answer="Uniform is the most uncertain."),
        PartSpec(key="when", kind="text", label="When?", model_answer="Always for two outcomes."),
    ),
    solution="",
)
WEIGHTS = {part.key: part.weight for part in TWO_ESSAYS.parts}


def course_grade(**answers: str) -> Grade:
    return grade(COURSE, generate(COURSE, 0), {**RIGHT, **answers})


def test_a_manual_grade_joins_the_weighted_mean_and_ends_pending() -> None:
    before = course_grade(loss_b="0.5")  # loss_a and better right, loss_b wrong: 2 of 3
    assert before.pending and math.isclose(before.score, 2 / 3)
    after = before.with_manual("reasoning", 0.5, "Right idea, but say which divergence.")
    assert not after.pending
    assert math.isclose(after.score, (1 + 0 + 1 + 0.5) / 4)
    part = after.part("reasoning")
    assert (part.score, part.correct, part.pending) == (0.5, False, False)
    assert part.feedback == "Right idea, but say which divergence."
    assert part.given == "A is closer to P." and part.model_answer == before.part("reasoning").model_answer
    assert after.part("loss_b") == before.part("loss_b")


def test_full_marks_count_as_correct_and_a_blank_comment_leaves_no_feedback() -> None:
    after = course_grade().with_manual("reasoning", 1.0, "  ")
    part = after.part("reasoning")
    assert part.correct is True and after.score == 1.0
    assert part.feedback == ""


def test_weights_apply_and_the_grade_stays_pending_while_another_text_part_waits() -> None:
    first = grade(TWO_ESSAYS, generate(TWO_ESSAYS, 0), {"value": "0.6931", "why": "max entropy", "when": ""})
    assert first.score == 1.0 and first.pending
    one = first.with_manual("why", 0.0, "No.", weights=WEIGHTS)
    assert one.pending
    assert math.isclose(one.score, (2 * 1.0 + 1 * 0.0) / 3)
    both = one.with_manual("when", 1.0, "Yes.", weights=WEIGHTS)
    assert not both.pending
    assert math.isclose(both.score, (2 * 1.0 + 0.0 + 1.0) / 4)


def test_grading_again_replaces_the_earlier_grade() -> None:
    again = course_grade().with_manual("reasoning", 0.0, "No.").with_manual("reasoning", 1.0, "On reflection, yes.")
    assert again.score == 1.0 and again.part("reasoning").feedback == "On reflection, yes."


def test_the_regraded_result_survives_storage() -> None:
    after = course_grade(better="Student B").with_manual("reasoning", 0.25, "Partly.")
    stored = json.loads(json.dumps(after.to_dict(), allow_nan=False))
    assert Grade.from_dict(stored) == after


@pytest.mark.parametrize(
    ("key", "score", "error", "says"),
    [
        ("loss_a", 1.0, ValueError, "numeric part, graded automatically"),
        ("better", 0.0, ValueError, "choice part"),
        ("nothing", 1.0, KeyError, "nothing"),
        ("reasoning", 1.5, ValueError, "from 0 to 1"),
        ("reasoning", -0.1, ValueError, "from 0 to 1"),
        ("reasoning", math.nan, ValueError, "from 0 to 1"),
        ("reasoning", math.inf, ValueError, "from 0 to 1"),
    ],
)
def test_refuses_parts_that_are_not_text_and_scores_outside_zero_to_one(
    key: str, score: float, error: type[Exception], says: str
) -> None:
    with pytest.raises(error, match=says):
        course_grade().with_manual(key, score, "")


@given(st.lists(st.tuples(st.floats(0.01, 10), st.one_of(st.none(), st.floats(0, 1))), min_size=1, max_size=8))
def test_weighted_score_is_the_mean_of_the_scored_parts(pairs: list[tuple[float, float | None]]) -> None:
    parts = tuple(
        PartResult(
            key=f"p{i}",
            kind="numeric",
            given=None,
            correct=None,
            score=score,
            expected=None,
            feedback="",
            misconception=None,
            pending=score is None,
            model_answer=None,
        )
        for i, (_, score) in enumerate(pairs)
    )
    weights = {f"p{i}": weight for i, (weight, _) in enumerate(pairs)}
    scored = [(weight, score) for weight, score in pairs if score is not None]
    expected = sum(w * s for w, s in scored) / sum(w for w, _ in scored) if scored else 0.0
    assert math.isclose(weighted_score(parts, weights), expected, abs_tol=1e-12)
    assert 0.0 <= weighted_score(parts, weights) <= 1.0 + 1e-12
