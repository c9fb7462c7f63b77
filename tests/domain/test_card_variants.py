import copy
import dataclasses
import json

import numpy as np
import pytest
from cards_support import COURSE_CARD, DRAWN_CARD, assert_json_safe, card, drawn_spec, problems_of
from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain import cards
from app.domain import divergence as dv
from app.domain.cards import Problem, VariantError, check_spec, generate, is_drawn, parse_spec

# --- seeds and draws --------------------------------------------------------------------------------


def test_fixed_cards_are_the_same_for_every_seed():
    spec = parse_spec(COURSE_CARD)
    first = generate(spec, 0)
    for seed in (1, 17, 2**31 - 1):
        variant = generate(spec, seed)
        assert variant.params == first.params == COURSE_CARD["params"]
        assert variant.answers == first.answers


def test_same_seed_same_variant_and_seeds_differ():
    spec = parse_spec(DRAWN_CARD)
    assert is_drawn(spec)
    assert generate(spec, 42) == generate(spec, 42)
    variants = [generate(spec, seed) for seed in range(30)]
    assert len({json.dumps(v.params) for v in variants}) == 30
    assert len({v.answers["loss_a"] for v in variants}) == 30


@pytest.mark.parametrize("seed", [-1, 2**31, 1.5, "3", True, None])
def test_seed_must_be_a_whole_number_in_range(seed):
    with pytest.raises(ValueError, match="seed"):
        generate(drawn_spec(), seed)


@settings(max_examples=120, deadline=None)
@given(seed=st.integers(0, 2**31 - 1))
def test_drawn_variants_show_distributions_summing_to_one_and_answers_from_them(seed):
    variant = generate(drawn_spec(), seed)
    for name in ("P", "QA", "QB"):
        shown = variant.params[name]
        counts = [round(v * 100) for v in shown]
        assert [round(k / 100, 2) for k in counts] == shown
        assert sum(counts) == 100 and min(counts) >= 1
    p, qa, qb = variant.params["P"], variant.params["QA"], variant.params["QB"]
    # The answers are computed from the values as shown, exactly.
    assert variant.answers["loss_a"] == dv.kl(p, qa)
    assert variant.answers["loss_b"] == dv.kl(p, qb)
    assert abs(dv.kl(p, qa) - dv.kl(p, qb)) > 0.05  # the constraint holds
    names = variant.params["names"]
    assert variant.answers["better"] == (names[0] if dv.kl(p, qa) < dv.kl(p, qb) else names[1])
    assert variant.parts[2].choices == tuple(names)
    assert set(variant.answers["lower_than_half"]) <= set(names)
    assert variant.prompt.startswith(f"P = [{p[0]}, {p[1]}, {p[2]}]")
    assert_json_safe(variant.params)
    assert 0.5 <= variant.params["T"] <= 4 and 2 <= variant.params["n"] <= 5


def test_variant_params_are_copies():
    spec = parse_spec(COURSE_CARD)
    generate(spec, 0).params["P"].append(1.0)
    assert spec.params["P"] == [0.7, 0.2, 0.1]
    assert generate(spec, 0).params["P"] == [0.7, 0.2, 0.1]


def test_constraints_are_redrawn_until_they_hold():
    data = copy.deepcopy(DRAWN_CARD)
    data["constraints"] = ["P[0] >= 0.9"]  # rare for dirichlet [8, 1, 1]: needs several draws for most seeds
    spec = parse_spec(data)
    for seed in range(40):
        assert generate(spec, seed).params["P"][0] >= 0.9


def test_an_impossible_constraint_gives_a_variant_error_naming_it():
    data = copy.deepcopy(DRAWN_CARD)
    data["constraints"] = ["len(P) == 3", "P[0] > 1"]
    spec = dataclasses.replace(drawn_spec(), constraints=tuple(data["constraints"]))
    with pytest.raises(VariantError) as caught:
        generate(spec, 3)
    assert isinstance(caught.value, ValueError)
    (problem,) = caught.value.problems
    assert problem.field == "constraints[1]"
    assert "P[0] > 1" in problem.message and f"{cards.MAX_REDRAWS} draws" in problem.message
    (refused,) = problems_of(data)
    assert refused.field == "constraints[1]"


@pytest.mark.parametrize(
    ("constraint", "fragment"),
    [("P[0] + 1", "must be true or false"), ("P[5] > 0", "no element 5"), ("log(P[0] - 1) > 0", "failed")],
)
def test_a_constraint_must_be_a_working_condition(constraint, fragment):
    (problem,) = problems_of(card(constraints=[constraint]))
    assert problem.field == "constraints[0]" and fragment in problem.message


def test_a_fixed_card_whose_constraint_is_false_is_refused():
    (problem,) = problems_of(card(constraints=["kl(P, QA) > 1"]))
    assert problem == Problem("constraints[0]", "`kl(P, QA) > 1` is false for the card's values")


# --- canonical form ---------------------------------------------------------------------------------


@pytest.mark.parametrize("data", [COURSE_CARD, DRAWN_CARD])
def test_spec_to_dict_round_trips(data):
    spec = parse_spec(data)
    canonical = cards.spec_to_dict(spec)
    text = json.dumps(canonical, allow_nan=False)
    assert parse_spec(json.loads(text)) == spec
    assert cards.spec_to_dict(parse_spec(canonical)) == canonical


def test_spec_to_dict_is_plain_and_complete():
    data = copy.deepcopy(COURSE_CARD)
    data["params"]["P"] = (0.7, 0.2, 0.1)
    canonical = cards.spec_to_dict(parse_spec(data))
    assert canonical["params"]["P"] == [0.7, 0.2, 0.1]
    assert canonical["parts"][1]["tolerance"] == {"rtol": 0.01, "atol": 0.0001}
    assert "tolerance" not in canonical["parts"][2] and "choices" not in canonical["parts"][0]
    assert canonical["constraints"] == [] and canonical["solution"] == COURSE_CARD["solution"]


# --- check_spec -------------------------------------------------------------------------------------


def test_check_spec_passes_good_cards():
    assert check_spec(parse_spec(COURSE_CARD)) == []
    assert check_spec(parse_spec(DRAWN_CARD), seeds=50) == []


def test_check_spec_catches_a_part_that_fails_only_for_some_seeds():
    # Parsed while valid, then given answers that break only when the drawn n is 0: seed 0 alone shows nothing.
    data = copy.deepcopy(COURSE_CARD)
    data["params"]["n"] = {"integer": [0, 3]}
    spec = parse_spec(data)
    broken = dataclasses.replace(
        spec,
        parts=(
            dataclasses.replace(spec.parts[0], answer="1 / n"),
            dataclasses.replace(spec.parts[1], answer="n * inf"),
            *spec.parts[2:],
        ),
    )
    zero_seeds = [seed for seed in range(200) if generate(spec, seed).params["n"] == 0]
    assert zero_seeds and len(zero_seeds) < 200

    problems = {p.field: p.message for p in check_spec(broken)}
    assert set(problems) == {"parts[0].answer", "parts[1].answer"}
    first, others = zero_seeds[0], len(zero_seeds) - 1
    assert problems["parts[0].answer"].startswith(f"seed {first} (and {others} other seeds): ")
    assert "ZeroDivisionError" in problems["parts[0].answer"]
    assert "NaN" in problems["parts[1].answer"]
    assert check_spec(broken, seeds=first) == []  # the seeds before the first bad one are fine


def test_check_spec_generates_one_seed_for_fixed_cards(monkeypatch):
    fixed, drawn = parse_spec(COURSE_CARD), parse_spec(DRAWN_CARD)
    seeds = []
    real = cards.generate
    monkeypatch.setattr(cards, "generate", lambda spec, seed: seeds.append(seed) or real(spec, seed))
    check_spec(fixed)
    assert seeds == [0]
    seeds.clear()
    check_spec(drawn, seeds=25)
    assert seeds == list(range(25))


def test_check_spec_reports_static_problems_of_a_hand_built_spec():
    spec = dataclasses.replace(parse_spec(COURSE_CARD), slug="Not A Slug", constraints=("P.clear()",))
    fields = [p.field for p in check_spec(spec)]
    assert fields == ["slug", "constraints[0]"]


def test_rng_is_seeded_from_seed_and_attempt():
    # A one-parameter card draws exactly what default_rng([seed, 0]) gives: variants are reproducible anywhere.
    spec = parse_spec(card(params={**COURSE_CARD["params"], "n": {"integer": [0, 1000]}}))
    expected = int(np.random.default_rng([5, 0]).integers(0, 1000, endpoint=True))
    assert generate(spec, 5).params["n"] == expected
