import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.special import rel_entr

from app.domain import divergence as dv

P = [0.7, 0.2, 0.1]
QA = [0.6, 0.3, 0.1]
QB = [0.8, 0.1, 0.1]
LN2 = math.log(2)


@pytest.mark.parametrize(
    ("fn", "p", "q", "base", "expected"),
    [
        # Hand values: 0.7 ln(7/6) + 0.2 ln(2/3) + 0.1 ln 1
        (dv.kl, P, QA, "e", 0.7 * math.log(7 / 6) + 0.2 * math.log(2 / 3)),
        (dv.kl, P, QB, "e", 0.7 * math.log(7 / 8) + 0.2 * math.log(2)),
        (dv.kl, P, QA, "2", (0.7 * math.log(7 / 6) + 0.2 * math.log(2 / 3)) / LN2),
        (dv.kl, P, QA, "10", (0.7 * math.log(7 / 6) + 0.2 * math.log(2 / 3)) / math.log(10)),
        (dv.reverse_kl, P, QA, "e", 0.6 * math.log(6 / 7) + 0.3 * math.log(3 / 2)),
        (dv.cross_entropy, P, QA, "e", -(0.7 * math.log(0.6) + 0.2 * math.log(0.3) + 0.1 * math.log(0.1))),
        (dv.kl, [0.5, 0.5], [0.25, 0.75], "2", 0.5 * math.log2(2) + 0.5 * math.log2(2 / 3)),
        (dv.js, [1.0, 0.0], [0.0, 1.0], "e", LN2),
        (dv.js, [1.0, 0.0], [0.0, 1.0], "2", 1.0),
        (dv.kl, [1.0, 0.0], [0.5, 0.5], "2", 1.0),
        (dv.kl, [0.0, 1.0], [0.5, 0.5], "e", LN2),  # 0·log 0 = 0
    ],
)
def test_hand_computed_values(fn, p, q, base, expected):
    assert fn(p, q, base=base) == pytest.approx(expected, rel=1e-12, abs=1e-15)


@pytest.mark.parametrize(
    ("p", "base", "expected"),
    [([0.5, 0.5], "2", 1.0), ([0.25] * 4, "2", 2.0), ([1.0, 0.0], "e", 0.0), (P, "e", 0.8018185525433373)],
)
def test_entropy(p, base, expected):
    assert dv.entropy(p, base=base) == pytest.approx(expected, rel=1e-12)


def test_course_card_numbers():
    assert dv.kl(P, QA) == pytest.approx(0.026812, abs=1e-6)
    assert dv.kl(P, QB) == pytest.approx(0.045157, abs=1e-6)
    assert dv.kl(P, QA, base="2") == pytest.approx(0.038682, abs=1e-6)


def test_support_mismatch_is_infinite_not_an_error():
    assert dv.kl([0.5, 0.5], [1.0, 0.0]) == math.inf
    assert dv.cross_entropy([0.5, 0.5], [1.0, 0.0]) == math.inf
    terms = dv.kl_terms([0.5, 0.5], [1.0, 0.0])
    assert terms[0] == pytest.approx(0.5 * math.log(0.5))
    assert terms[1] == math.inf
    # The other direction is finite: Q puts no mass where P has none to lose.
    assert dv.reverse_kl([0.5, 0.5], [1.0, 0.0]) == pytest.approx(LN2)
    result = dv.breakdown([0.5, 0.5], [1.0, 0.0])
    assert result.infinite and result.value == math.inf


def test_breakdown_terms_sum_to_value():
    result = dv.breakdown(P, QA, measure="kl", base="e")
    assert result.terms == pytest.approx([0.7 * math.log(7 / 6), 0.2 * math.log(2 / 3), 0.0])
    assert sum(result.terms) == pytest.approx(result.value)
    assert result.p == tuple(P) and result.q == tuple(QA)
    ce = dv.breakdown(P, QA, measure="cross_entropy")
    h = dv.breakdown(P, QA, measure="entropy")
    assert ce.value == pytest.approx(h.value + result.value)  # H(P, Q) = H(P) + KL(P‖Q)


@pytest.mark.parametrize(
    ("p", "q", "field", "words"),
    [
        ([0.5, 0.5], [0.2, 0.3, 0.5], "q", "shape"),
        ([], [], "p", "empty"),
        ([1.2, -0.2], [0.5, 0.5], "p", "negative"),
        ([float("nan"), 1.0], [0.5, 0.5], "p", "finite"),
        ([0.5, 0.5], [float("inf"), 0.0], "q", "finite"),
        ([0.5, 0.4], [0.5, 0.5], "p", "sums to 0.9"),
        (np.full(10_001, 1 / 10_001), np.full(10_001, 1 / 10_001), "p", "10,000"),
        (0.5, [0.5, 0.5], "p", "single number"),
        (["a", "b"], [0.5, 0.5], "p", "numbers"),
    ],
)
def test_invalid_distributions_are_refused_with_clear_messages(p, q, field, words):
    with pytest.raises(dv.DistributionError) as info:
        dv.kl(p, q)
    assert info.value.field == field
    assert words in info.value.message


def test_sum_tolerance_is_one_in_a_million():
    dv.kl([0.5, 0.5 + 9e-7], [0.5, 0.5])
    with pytest.raises(dv.DistributionError):
        dv.kl([0.5, 0.5 + 2e-6], [0.5, 0.5])


def test_ten_thousand_entries_are_allowed():
    u = np.full(10_000, 1 / 10_000)
    assert dv.kl(u, u) == 0.0


@pytest.mark.parametrize("base", ["3", "ln", 16])
def test_unknown_base(base):
    with pytest.raises(dv.DistributionError, match="base"):
        dv.kl(P, QA, base=base)


def test_batch_is_one_call_and_matches_rows():
    rng = np.random.default_rng(7)
    p = rng.dirichlet([1, 2, 3, 4], size=1000)
    q = rng.dirichlet([4, 3, 2, 1], size=1000)
    batch = dv.kl(p, q)
    assert isinstance(batch, np.ndarray) and batch.shape == (1000,)
    assert batch[17] == pytest.approx(dv.kl(p[17], q[17]), rel=1e-13)
    assert np.allclose(dv.js(p, q), [dv.js(a, b) for a, b in zip(p[:5], q[:5], strict=True)] + list(dv.js(p, q)[5:]))


def test_batch_validation_names_the_bad_row():
    with pytest.raises(dv.DistributionError, match=r"entry \(1, 0\)"):
        dv.kl([[0.5, 0.5], [-0.5, 1.5]], [[0.5, 0.5], [0.5, 0.5]])


def test_softmax_temperature_flattens_and_sharpens():
    z = [2.0, 1.0, 0.1]
    base = dv.softmax(z)
    assert base.sum() == pytest.approx(1.0)
    assert base == pytest.approx(np.exp(z) / np.exp(z).sum())
    hot, cold = dv.softmax(z, temperature=5.0), dv.softmax(z, temperature=0.5)
    assert dv.entropy(cold) < dv.entropy(base) < dv.entropy(hot)
    assert dv.softmax([1000.0, 0.0]) == pytest.approx([1.0, 0.0])  # no overflow


@pytest.mark.parametrize("temperature", [0, -1, float("nan"), float("inf")])
def test_temperature_must_be_positive(temperature):
    with pytest.raises(dv.DistributionError, match="temperature"):
        dv.softmax([1.0, 2.0], temperature=temperature)


def test_distillation_loss_components():
    t, s, T, alpha = [3.0, 1.0, 0.2], [2.0, 1.5, 0.1], 2.0, 0.7
    loss = dv.distillation_loss(teacher_logits=t, student_logits=s, labels=0, alpha=alpha, temperature=T)
    pt = np.exp(np.array(t) / T) / np.exp(np.array(t) / T).sum()
    ps = np.exp(np.array(s) / T) / np.exp(np.array(s) / T).sum()
    ps1 = np.exp(s) / np.exp(s).sum()
    kl = float(np.sum(pt * np.log(pt / ps)))
    ce = -math.log(ps1[0])
    assert loss.kl == pytest.approx(kl)
    assert loss.kd == pytest.approx(T * T * kl)
    assert loss.ce == pytest.approx(ce)
    assert loss.total == pytest.approx(alpha * T * T * kl + (1 - alpha) * ce)


def test_distillation_loss_soft_labels_and_batches():
    t = np.array([[3.0, 1.0], [0.0, 2.0]])
    s = np.array([[2.0, 1.0], [0.5, 0.5]])
    hard = dv.distillation_loss(teacher_logits=t, student_logits=s, labels=[0, 1], alpha=0.5, temperature=1.0)
    soft = dv.distillation_loss(
        teacher_logits=t, student_logits=s, labels=[[1.0, 0.0], [0.0, 1.0]], alpha=0.5, temperature=1.0
    )
    assert isinstance(hard.total, np.ndarray) and hard.total.shape == (2,)
    assert hard.total == pytest.approx(soft.total)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"alpha": 1.5}, "alpha"),
        ({"alpha": -0.1}, "alpha"),
        ({"temperature": 0.0}, "temperature"),
        ({"labels": 5}, "labels"),
        ({"student_logits": [1.0, 2.0]}, "student_logits"),
    ],
)
def test_distillation_loss_validation(kwargs, field):
    args = {"teacher_logits": [1.0, 2.0, 3.0], "student_logits": [1.0, 1.0, 1.0], "labels": 2, "alpha": 0.5}
    args |= {"temperature": 2.0} | kwargs
    with pytest.raises(dv.DistributionError) as info:
        dv.distillation_loss(**args)
    assert info.value.field == field


# --- properties --------------------------------------------------------------------------------------

sizes = st.integers(min_value=1, max_value=12)


@st.composite
def distributions(draw, n=None, allow_zero=True):
    n = n if n is not None else draw(sizes)
    raw = draw(arrays(np.float64, n, elements=st.floats(0.0 if allow_zero else 1e-3, 1.0)))
    if raw.sum() == 0:
        raw[0] = 1.0
    return raw / raw.sum()


@st.composite
def pairs(draw):
    n = draw(sizes)
    return draw(distributions(n)), draw(distributions(n))


@settings(max_examples=300)
@given(pairs())
def test_agrees_with_scipy_rel_entr(pq):
    p, q = pq
    expected = rel_entr(p, q)
    assert np.array_equal(np.isinf(dv.kl_terms(p, q)), (p > 0) & (q == 0))
    finite = np.isfinite(expected)  # rel_entr's p/q overflows for a subnormal q; ours stays finite
    assert np.allclose(dv.kl_terms(p, q)[finite], expected[finite], rtol=0, atol=1e-12)
    total = dv.kl(p, q)
    assert total == pytest.approx(float(expected.sum()), abs=1e-12) or math.isinf(total)


@given(pairs())
def test_kl_is_non_negative(pq):
    assert dv.kl(*pq) >= -1e-12


@given(distributions())
def test_kl_of_a_distribution_with_itself_is_zero(p):
    assert dv.kl(p, p) == pytest.approx(0.0, abs=1e-12)
    assert dv.js(p, p) == pytest.approx(0.0, abs=1e-12)


@given(pairs())
def test_reverse_kl_is_kl_with_arguments_swapped(pq):
    p, q = pq
    assert dv.reverse_kl(p, q) == dv.kl(q, p) or (math.isinf(dv.reverse_kl(p, q)) and math.isinf(dv.kl(q, p)))


@given(pairs())
def test_js_is_symmetric_and_bounded(pq):
    p, q = pq
    assert dv.js(p, q) == pytest.approx(dv.js(q, p), abs=1e-12)
    assert -1e-12 <= dv.js(p, q) <= LN2 + 1e-12


def test_kl_is_asymmetric():
    assert dv.kl(P, QA) != pytest.approx(dv.reverse_kl(P, QA))
    assert dv.kl([0.9, 0.1], [0.5, 0.5]) == pytest.approx(0.3681, abs=1e-4)
    assert dv.kl([0.5, 0.5], [0.9, 0.1]) == pytest.approx(0.5108, abs=1e-4)


@given(pairs(), st.sampled_from(["2", "10"]))
def test_bases_are_rescaled_nats(pq, base):
    p, q = pq
    nats, other = dv.kl(p, q), dv.kl(p, q, base=base)
    if math.isinf(nats):
        assert math.isinf(other)
    else:
        assert other == pytest.approx(nats / math.log(int(base)), abs=1e-12)


@given(pairs())
def test_cross_entropy_is_entropy_plus_kl(pq):
    p, q = pq
    ce, h, k = dv.cross_entropy(p, q), dv.entropy(p), dv.kl(p, q)
    if math.isinf(k):
        assert math.isinf(ce)
    else:
        assert ce == pytest.approx(h + k, abs=1e-9)


def test_a_term_weighted_zero_adds_nothing_even_when_infinite():
    # softmax([800, 0]) at T = 1 underflows to exactly [1, 0]: the student's CE for label 1 is infinite.
    loss = dv.distillation_loss(
        teacher_logits=[0.0, 1.0], student_logits=[800.0, 0.0], labels=1, alpha=1.0, temperature=1.0
    )
    assert math.isinf(loss.ce)
    assert loss.total == pytest.approx(loss.kd)
    assert not math.isnan(loss.total)
