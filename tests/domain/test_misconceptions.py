import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.cards import PartSpec, Tolerance
from app.domain.expressions import evaluate
from app.domain.misconceptions import Misconception, diagnose, within_tolerance

P = np.array([0.7, 0.2, 0.1])
QA = np.array([0.6, 0.3, 0.1])
COURSE_PARAMS = {"vocab": ["apple", "banana", "cherry"], "P": P.tolist(), "QA": QA.tolist(), "QB": [0.8, 0.1, 0.1]}
COURSE_TOLERANCE = Tolerance(rtol=0.01, atol=0.0005)
LOSS_A = float(np.sum(P * np.log(P / QA)))
TERMS_A = P * np.log(P / QA)  # apple, banana, cherry (the cherry term is 0)


def numeric(answer: str, tolerance: Tolerance = COURSE_TOLERANCE) -> PartSpec:
    return PartSpec(key="value", kind="numeric", label="Value", answer=answer, tolerance=tolerance)


def code_for(part: PartSpec, params: dict, learner: float) -> str | None:
    expected = float(evaluate(part.answer or "", params))
    found = diagnose(part=part, params=params, given=learner, expected=expected)
    return None if found is None else found.code


# --- the course card --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("learner", "code"),
    [
        (float(np.sum(QA * np.log(QA / P))), "reverse_kl"),  # KL(QA‖P) = 0.02915
        (LOSS_A / math.log(2), "log_base_2"),  # 0.03868 bits
        (0.0387, "log_base_2"),  # as a learner would round it
        (LOSS_A / math.log(10), "log_base_10"),
        (float(-np.sum(P * np.log(QA))), "cross_entropy_for_kl"),  # H(P, QA) = 0.8286
        (-LOSS_A, "sign_flipped"),
        (float(np.sum(P * np.log(QA / P))), "sign_flipped"),  # the ratio upside down
        (float(np.sum(np.log(P / QA))), "unweighted"),
        (float(TERMS_A[0] + TERMS_A[2]), "missing_term"),  # banana left out
        (float(TERMS_A[1] + TERMS_A[2]), "missing_term"),  # apple left out
    ],
)
def test_course_card_mistakes_are_recognised(learner, code):
    assert code_for(numeric("kl(P, QA)"), COURSE_PARAMS, learner) == code


@pytest.mark.parametrize("learner", [0.5, 0.1, 0.0, 0.0335, 0.0305, LOSS_A * 1.05, 1.0, -1.0, math.inf])
def test_values_near_no_mistake_get_no_misconception(learner):
    # LOSS_A·1.05 is just outside the tolerance, and close to "the cherry term left out", which equals the
    # right answer (0.1·ln 1 = 0) and so explains nothing; 0.0 is "only the cherry term", explaining nothing.
    assert code_for(numeric("kl(P, QA)"), COURSE_PARAMS, learner) is None


@pytest.mark.parametrize("learner", [LOSS_A, 0.0268, 0.0270])
def test_a_right_answer_is_no_mistake(learner):
    assert code_for(numeric("kl(P, QA)"), COURSE_PARAMS, learner) is None


def test_bits_message_uses_the_numbers():
    found = diagnose(part=numeric("kl(P, QA)"), params=COURSE_PARAMS, given=0.0387, expected=LOSS_A)
    assert found == Misconception(
        code="log_base_2",
        message="0.0387 is the loss in bits (log base 2), not nats: the question asks for the natural "
        "logarithm, which gives 0.02681.",
    )


def test_missing_term_is_named_from_the_vocabulary():
    found = diagnose(part=numeric("kl(P, QA)"), params=COURSE_PARAMS, given=float(TERMS_A[0]), expected=LOSS_A)
    assert found is not None
    # Apple's term alone is also "banana left out" (cherry's term is 0): the earlier check wins.
    assert found.code == "missing_term"
    assert found.message == (
        "0.1079 leaves out the term for banana: the sum runs over every outcome, and with all 3 terms it gives 0.02681."
    )


@pytest.mark.parametrize("vocab", [None, ["apple", "banana"], "apple banana cherry"])
def test_missing_term_falls_back_to_the_outcome_number(vocab):
    params = {**COURSE_PARAMS, "vocab": vocab}
    if vocab is None:
        del params["vocab"]
    found = diagnose(part=numeric("kl(P, QA)"), params=params, given=float(TERMS_A[0]), expected=LOSS_A)
    assert found is not None
    assert "the term for outcome 2:" in found.message


# --- other kinds of card ----------------------------------------------------------------------------

P4 = np.array([0.4, 0.3, 0.2, 0.1])
Q4 = np.array([0.1, 0.2, 0.3, 0.4])
PARAMS4 = {"P": P4.tolist(), "Q": Q4.tolist()}
KL4 = P4 * np.log(P4 / Q4)


@pytest.mark.parametrize(
    ("answer", "learner", "code"),
    [
        # The card asks for bits; the learner used nats.
        ("kl(P, Q, 2)", float(KL4.sum()), "natural_log"),
        ("kl(P, Q, '2')", float(KL4.sum()), "natural_log"),
        # The card asks for cross-entropy; the learner gave the KL divergence.
        ("cross_entropy(P, Q)", float(KL4.sum()), "kl_for_cross_entropy"),
        ("cross_entropy(P, Q)", float(-np.sum(np.log(Q4))), "unweighted"),
        ("cross_entropy(P, Q)", float(np.sum(P4 * np.log(Q4))), "sign_flipped"),
        # Four outcomes: one term alone differs from any single dropped term.
        ("kl(P, Q)", float(KL4[0]), "only_one_term"),
        ("kl(P, Q)", float(KL4[:3].sum()), "missing_term"),
        # Written out by hand with log(): the base swaps reach it too.
        ("0.4 * log(0.4 / 0.1) + 0.6 * log(0.6 / 0.9)", 0.4 * math.log2(4) + 0.6 * math.log2(2 / 3), "log_base_2"),
    ],
)
def test_other_cards(answer, learner, code):
    assert code_for(numeric(answer, Tolerance()), PARAMS4, learner) == code


def test_forward_kl_on_a_reverse_kl_card():
    params = {"P": P.tolist(), "Q": QA.tolist()}
    found = diagnose(
        part=numeric("reverse_kl(P, Q)"), params=params, given=LOSS_A, expected=float(np.sum(QA * np.log(QA / P)))
    )
    assert found is not None
    assert found.code == "reverse_kl"
    assert found.message.startswith("0.02681 is the forward divergence KL(P‖Q)")


def test_infinite_reverse_kl_is_recognised():
    # Q puts mass where P has none: KL(Q‖P) is infinite, KL(P‖Q) is not.
    params = {"P": [0.5, 0.5, 0.0], "Q": [0.4, 0.3, 0.3]}
    expected = 0.5 * math.log(0.5 / 0.4) + 0.5 * math.log(0.5 / 0.3)
    assert code_for(numeric("kl(P, Q)", Tolerance()), params, math.inf) == "reverse_kl"
    assert diagnose(part=numeric("kl(P, Q)"), params=params, given=math.inf, expected=expected) is not None


# --- distillation -----------------------------------------------------------------------------------


def softmax(z, T=1.0):
    e = np.exp(np.asarray(z) / T - np.max(np.asarray(z) / T))
    return e / e.sum()


TEACHER, STUDENT, LABEL, ALPHA, T = [2.0, 1.0, 0.1], [1.5, 1.2, 0.3], 0, 0.7, 4.0
DISTILL_PARAMS = {"t": TEACHER, "s": STUDENT, "y": LABEL, "alpha": ALPHA, "T": T}
SOFT_KL = float(np.sum(softmax(TEACHER, T) * np.log(softmax(TEACHER, T) / softmax(STUDENT, T))))
HARD_CE = float(-np.log(softmax(STUDENT)[LABEL]))


@pytest.mark.parametrize(
    ("answer", "learner", "code"),
    [
        ("distill(t, s, y, alpha, T)", (1 - ALPHA) * T**2 * SOFT_KL + ALPHA * HARD_CE, "alpha_swapped"),
        ("distill(t, s, y, alpha, T)", ALPHA * SOFT_KL + (1 - ALPHA) * HARD_CE, "missing_t_squared"),
        ("distill(t, s, y, alpha, T)", -(ALPHA * T**2 * SOFT_KL + (1 - ALPHA) * HARD_CE), "sign_flipped"),
        ("distill(t, s, y, alpha, T)", 1.0, None),
        ("kd_loss(t, s, T)", SOFT_KL, "missing_t_squared"),
        ("combined(alpha, 0.9, 1.6)", (1 - ALPHA) * 0.9 + ALPHA * 1.6, "alpha_swapped"),
        ("combined(alpha, 0.9, 1.6)", ALPHA * 0.9 + (1 - ALPHA) * 1.6, None),  # right
    ],
)
def test_distillation_mistakes(answer, learner, code):
    assert code_for(numeric(answer, Tolerance()), DISTILL_PARAMS, learner) == code


def test_missing_t_squared_message_names_the_temperature():
    learner = ALPHA * SOFT_KL + (1 - ALPHA) * HARD_CE
    expected = ALPHA * T**2 * SOFT_KL + (1 - ALPHA) * HARD_CE
    part = numeric("distill(t, s, y, alpha, T)")
    found = diagnose(part=part, params=DISTILL_PARAMS, given=learner, expected=expected)
    assert found is not None
    assert "(T² = 16 for T = 4)" in found.message
    assert found.message.startswith("0.2168 leaves out the T² factor")
    assert found.message.endswith("which gives 0.2554.")


def test_alpha_of_one_half_cannot_be_on_the_wrong_term():
    params = {**DISTILL_PARAMS, "alpha": 0.5}
    assert code_for(numeric("combined(alpha, 0.9, 1.6)", Tolerance()), params, 0.5 * 0.9 + 0.5 * 1.6 + 0.3) is None


# --- robustness -------------------------------------------------------------------------------------


def test_swaps_that_fail_are_skipped():
    # Under log base 10 the square root's argument turns negative and the expression fails; the checks
    # that come after it still run.
    part = numeric("sqrt(kl(P, QA) - 0.02)")
    cross_entropy = float(-np.sum(P * np.log(QA)))
    assert code_for(part, COURSE_PARAMS, math.sqrt(cross_entropy - 0.02)) == "cross_entropy_for_kl"
    assert code_for(part, COURSE_PARAMS, 0.0) is None


def test_only_numeric_parts_with_a_working_expression_are_diagnosed():
    choice = PartSpec(key="c", kind="choice", label="C", answer="'A'", choices=("A", "B"))
    assert diagnose(part=choice, params={}, given=1.0, expected=2.0) is None
    broken = numeric("kl(P, missing)")
    assert diagnose(part=broken, params=COURSE_PARAMS, given=1.0, expected=2.0) is None


def test_within_tolerance_rule():
    tolerance = Tolerance(rtol=0.01, atol=0.0005)
    assert within_tolerance(1.0104, 1.0, tolerance)  # atol + rtol·|1.0| = 0.0105
    assert within_tolerance(0.9896, 1.0, tolerance)
    assert not within_tolerance(1.0106, 1.0, tolerance)
    assert within_tolerance(math.inf, math.inf, tolerance)
    assert not within_tolerance(1e300, math.inf, tolerance)
    assert not within_tolerance(math.inf, 1.0, tolerance)
    assert not within_tolerance(math.nan, math.nan, tolerance)


def distribution(n: int) -> st.SearchStrategy[list[float]]:
    counts = st.lists(st.integers(min_value=1, max_value=20), min_size=n, max_size=n)
    return counts.map(lambda c: (np.array(c) / sum(c)).tolist())


pairs = st.integers(min_value=2, max_value=6).flatmap(lambda n: st.tuples(distribution(n), distribution(n)))


@given(pairs)
def test_an_answer_in_bits_is_recognised_on_any_card(pair):
    p, q = pair
    params = {"P": p, "Q": q}
    part = numeric("kl(P, Q)", Tolerance())
    nats = float(evaluate("kl(P, Q)", params))
    bits = nats / math.log(2)
    reverse = float(evaluate("reverse_kl(P, Q)", params))
    found = diagnose(part=part, params=params, given=bits, expected=nats)
    if within_tolerance(bits, nats, part.tolerance):
        assert found is None
    elif within_tolerance(bits, reverse, part.tolerance) and not within_tolerance(reverse, nats, part.tolerance):
        assert found is not None and found.code == "reverse_kl"  # checked first
    else:
        assert found is not None and found.code == "log_base_2"


@given(pairs, st.floats(min_value=-0.99, max_value=0.99))
def test_an_answer_within_tolerance_is_never_a_mistake(pair, fraction):
    p, q = pair
    params = {"P": p, "Q": q}
    part = numeric("kl(P, Q)")
    expected = float(evaluate("kl(P, Q)", params))
    margin = part.tolerance.atol + part.tolerance.rtol * abs(expected)
    assert diagnose(part=part, params=params, given=expected + fraction * margin, expected=expected) is None
