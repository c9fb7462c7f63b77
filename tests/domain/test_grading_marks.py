import dataclasses
import json
import math

import numpy as np
import pytest
from grading_support import (
    COURSE,
    COURSE_TOLERANCE,
    COURSE_VARIANT,
    DARK,
    FLATTENS,
    LOSS_A,
    NO_T2,
    RIGHT,
    SHARPENS,
    SUPPORT,
    TEMPERATURE,
    make_variant,
)

from app.domain.cards import generate, parse_spec
from app.domain.grading import AnswerFormatError, Grade, Misconception, PartResult, grade

# --- full marks -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "loss_a",
    ["0.0268", "2.68e-2", "0,0268", " 0.0268 ", "+0.0268", "2.681E-2", ".02681", "0.02681", 0.0268, LOSS_A],
)
def test_full_marks_in_every_accepted_format(loss_a):
    result = grade(COURSE, COURSE_VARIANT, {**RIGHT, "loss_a": loss_a, "better": "  Student A "})
    assert result.score == 1.0
    assert [p.correct for p in result.parts] == [True, True, True, None]
    assert result.part("loss_a").given == pytest.approx(0.0268, abs=2e-5)
    assert result.part("loss_a").misconception is None
    assert result.part("better").given == "Student A"


def test_right_numeric_feedback_shows_both_values():
    result = grade(COURSE, COURSE_VARIANT, RIGHT).part("loss_a")
    assert result.feedback == "Right: 0.0268 is within the tolerance of 0.02681."
    assert result.expected == pytest.approx(LOSS_A, rel=1e-12)


def test_tolerance_edges_follow_atol_plus_rtol():
    margin = COURSE_TOLERANCE.atol + COURSE_TOLERANCE.rtol * LOSS_A
    inside = grade(COURSE, COURSE_VARIANT, {**RIGHT, "loss_a": LOSS_A + margin * 0.999})
    outside = grade(COURSE, COURSE_VARIANT, {**RIGHT, "loss_a": LOSS_A + margin * 1.001})
    assert inside.part("loss_a").correct is True
    assert outside.part("loss_a").correct is False
    assert "answers from 0.02604 to 0.02758 count as right" in outside.part("loss_a").feedback


# --- wrong answers and misconceptions ---------------------------------------------------------------


def test_loss_in_bits_is_wrong_and_explained():
    result = grade(COURSE, COURSE_VARIANT, {**RIGHT, "loss_a": "0.0387"})
    part = result.part("loss_a")
    assert part.correct is False
    assert part.score == 0.0
    assert part.misconception is not None
    assert part.misconception.code == "log_base_2"
    assert part.misconception.message == (
        "0.0387 is the loss in bits (log base 2), not nats: the question asks for the natural logarithm, "
        "which gives 0.02681."
    )
    assert part.feedback.startswith("Not quite: 0.0387 is not within the tolerance of 0.02681")
    assert part.feedback.endswith(part.misconception.message)
    assert result.score == pytest.approx(2 / 3)


def test_wrong_value_that_matches_no_mistake_has_plain_feedback():
    part = grade(COURSE, COURSE_VARIANT, {**RIGHT, "loss_a": "0.5"}).part("loss_a")
    assert part.correct is False
    assert part.misconception is None
    assert part.feedback == (
        "Not quite: 0.5 is not within the tolerance of 0.02681 (answers from 0.02604 to 0.02758 count as right)."
    )


@pytest.mark.parametrize(
    ("answers", "better_correct", "given"),
    [
        ({"better": "Student B"}, False, "Student B"),
        ({"better": ""}, False, None),
        ({}, False, None),
    ],
)
def test_wrong_or_missing_choice_is_graded_wrong_not_refused(answers, better_correct, given):
    sent = {key: value for key, value in RIGHT.items() if key != "better"} | answers
    part = grade(COURSE, COURSE_VARIANT, sent).part("better")
    assert part.correct is better_correct
    assert part.score == 0.0
    assert part.given == given
    assert "the answer is Student A" in part.feedback


# --- multi, text and the score ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("picked", "score", "correct"),
    [
        ([FLATTENS, DARK], 1.0, True),
        ([DARK, FLATTENS], 1.0, True),
        ([FLATTENS], 0.5, False),
        (FLATTENS, 0.5, False),  # a single string is a one-item list
        ([FLATTENS, FLATTENS], 0.5, False),  # picking an option twice counts once
        ([FLATTENS, DARK, SHARPENS], 0.5, False),
        ([FLATTENS, SHARPENS], 0.0, False),
        ([SHARPENS, NO_T2], 0.0, False),  # never below zero
        ([], 0.0, False),
        (None, 0.0, False),
    ],
)
def test_multi_partial_credit(picked, score, correct):
    result = grade(TEMPERATURE, make_variant(TEMPERATURE), {"effects": picked} if picked is not None else {})
    part = result.part("effects")
    assert part.score == pytest.approx(score)
    assert part.correct is correct
    assert result.score == pytest.approx(score)
    assert part.expected == (FLATTENS, DARK)


def test_multi_feedback_counts_right_and_wrong_picks():
    part = grade(TEMPERATURE, make_variant(TEMPERATURE), {"effects": [FLATTENS, SHARPENS, NO_T2]}).part("effects")
    assert part.feedback == (
        f"Not quite: you picked 1 of the 2 correct options and 2 that are not correct; "
        f"the correct options are: {FLATTENS}, {DARK}."
    )


def test_multi_refuses_an_option_that_is_not_offered():
    with pytest.raises(AnswerFormatError) as caught:
        grade(TEMPERATURE, make_variant(TEMPERATURE), {"effects": [FLATTENS, "cools the room"]})
    assert caught.value.errors == {
        "effects": f"'cools the room' is not one of the options: {FLATTENS}, {DARK}, {SHARPENS}, {NO_T2}"
    }


@pytest.mark.parametrize("answers", [RIGHT, {key: v for key, v in RIGHT.items() if key != "reasoning"}])
def test_text_part_is_pending_with_the_model_answer(answers):
    result = grade(COURSE, COURSE_VARIANT, answers)
    part = result.part("reasoning")
    assert result.pending is True
    assert part.pending is True
    assert part.score is None
    assert part.correct is None
    assert part.given == answers.get("reasoning", "")
    assert part.model_answer == "Student A has the lower KL divergence from the teacher."
    assert "an instructor will grade" in part.feedback
    assert result.score == 1.0  # the pending part does not count yet


def test_score_is_the_weighted_mean_of_auto_graded_parts():
    weighted = dataclasses.replace(
        COURSE,
        parts=(
            dataclasses.replace(COURSE.parts[0], weight=3.0),
            dataclasses.replace(COURSE.parts[1], weight=1.0),
            dataclasses.replace(COURSE.parts[2], weight=2.0),
            dataclasses.replace(COURSE.parts[3], weight=5.0),
        ),
    )
    result = grade(weighted, COURSE_VARIANT, {**RIGHT, "loss_b": "0.9", "better": "Student B"})
    assert result.score == pytest.approx(3 / 6)


def test_a_card_with_only_a_text_part_scores_zero_and_is_pending():
    essay = dataclasses.replace(COURSE, parts=(COURSE.parts[3],))
    result = grade(essay, make_variant(essay), {"reasoning": "Because."})
    assert result.score == 0.0
    assert result.pending is True


def test_no_pending_without_text_parts():
    assert grade(TEMPERATURE, make_variant(TEMPERATURE), {"effects": [FLATTENS]}).pending is False


# --- infinity and storage ---------------------------------------------------------------------------


@pytest.mark.parametrize(("gap", "correct"), [("inf", True), ("∞", True), ("Infinity", True), ("1e9", False)])
def test_infinite_expected_value_is_right_only_for_inf(gap, correct):
    part = grade(SUPPORT, make_variant(SUPPORT), {"gap": gap}).part("gap")
    assert part.expected == math.inf
    assert part.correct is correct
    assert (part.feedback == "Right: the value is infinite (∞).") is correct


def test_inf_for_a_finite_value_is_wrong():
    part = grade(COURSE, COURSE_VARIANT, {**RIGHT, "loss_a": "inf"}).part("loss_a")
    assert part.correct is False
    assert part.feedback.startswith("Not quite: the value is finite, 0.02681, not ∞.")


@pytest.mark.parametrize(
    ("spec", "answers"),
    [
        (SUPPORT, {"gap": "inf"}),
        (SUPPORT, {"gap": "0.5"}),
        (COURSE, {**RIGHT, "loss_a": "0.0387", "better": "Student B"}),
        (COURSE, {**RIGHT, "loss_a": "-inf", "reasoning": ""}),
        (TEMPERATURE, {"effects": [DARK, SHARPENS]}),
    ],
)
def test_to_dict_is_strict_json_and_round_trips(spec, answers):
    result = grade(spec, make_variant(spec), answers)
    text = json.dumps(result.to_dict(), allow_nan=False)
    assert Grade.from_dict(json.loads(text)) == result


def test_to_dict_spells_infinity_as_a_string():
    stored = grade(SUPPORT, make_variant(SUPPORT), {"gap": "∞"}).to_dict()
    assert stored["parts"][0]["expected"] == "inf"
    assert stored["parts"][0]["given"] == "inf"
    assert stored == {
        "score": 1.0,
        "pending": False,
        "parts": [
            {
                "key": "gap",
                "kind": "numeric",
                "given": "inf",
                "correct": True,
                "score": 1.0,
                "expected": "inf",
                "feedback": "Right: the value is infinite (∞).",
                "misconception": None,
                "pending": False,
                "model_answer": None,
            }
        ],
    }


def test_part_result_keeps_its_misconception_through_storage():
    part = grade(COURSE, COURSE_VARIANT, {**RIGHT, "loss_a": "0.0387"}).part("loss_a")
    again = PartResult.from_dict(json.loads(json.dumps(part.to_dict(), allow_nan=False)))
    assert again.misconception == Misconception(code="log_base_2", message=part.misconception.message)
    assert again == part


# --- with generated variants ------------------------------------------------------------------------

DRAWN = {
    "slug": "drawn-kl",
    "title": "KL of drawn distributions",
    "tags": ["kl-divergence"],
    "params": {
        "vocab": ["cat", "dog", "fox"],
        "P": {"dirichlet": [8, 2, 2], "decimals": 2},
        "Q": {"dirichlet": [3, 3, 3], "decimals": 2},
    },
    "prompt": "P = {{ P }}, Q = {{ Q }}",
    "parts": [{"key": "loss", "kind": "numeric", "label": "KL(P‖Q) in nats", "answer": "kl(P, Q)"}],
    "solution": "{{ kl(P, Q) | fmt }}",
}


@pytest.mark.parametrize("seed", range(10))
def test_generated_variants_are_graded_from_the_shown_values(seed):
    spec = parse_spec(DRAWN)
    variant = generate(spec, seed)
    p, q = np.array(variant.params["P"]), np.array(variant.params["Q"])
    nats = float(np.sum(p * np.log(p / q)))
    assert grade(spec, variant, {"loss": f"{nats:.4g}"}).score == 1.0
    in_bits = grade(spec, variant, {"loss": f"{nats / math.log(2):.4g}"}).part("loss")
    assert in_bits.correct is False
    assert in_bits.misconception is not None
    assert in_bits.misconception.code in ("log_base_2", "reverse_kl")  # reverse KL is checked first
