import copy
import dataclasses
import functools
import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain import cards
from app.domain import divergence as dv
from app.domain.cards import Problem, SpecError, VariantError, check_spec, generate, is_drawn, parse_spec

COURSE_CARD = {
    "slug": "evaluate-student-models",
    "title": "Evaluating Student Model Performance",
    "tags": ["distillation", "kl-divergence"],
    "params": {
        "vocab": ["apple", "banana", "cherry"],
        "P": [0.7, 0.2, 0.1],
        "QA": [0.6, 0.3, 0.1],
        "QB": [0.8, 0.1, 0.1],
    },
    "prompt": "A teacher predicts P = {{ P }} over {{ vocab | join(', ') }}.\n"
    "Student A predicts {{ QA }}, student B {{ QB }}.\n",
    "parts": [
        {
            "key": "loss_a",
            "kind": "numeric",
            "label": "Loss for student A (nats)",
            "answer": "kl(P, QA)",
            "tolerance": {"rtol": 0.01, "atol": 0.0005},
            "unit": "nats",
        },
        {"key": "loss_b", "kind": "numeric", "label": "Loss for student B (nats)", "answer": "kl(P, QB)"},
        {
            "key": "better",
            "kind": "choice",
            "label": "Which student mimics the teacher better?",
            "choices": ["Student A", "Student B"],
            "answer": "'Student A' if kl(P, QA) < kl(P, QB) else 'Student B'",
        },
        {
            "key": "reasoning",
            "kind": "text",
            "label": "Why?",
            "model_answer": "Student A: its KL is {{ kl(P, QA) | fmt }} nats against {{ kl(P, QB) | fmt }}.",
        },
    ],
    "solution": "KL(P‖QA) = {{ kl(P, QA) | fmt }}; KL(P‖QB) = {{ kl(P, QB) | fmt }}.",
}

DRAWN_CARD = {
    "slug": "drawn-students",
    "title": "Two drawn students",
    "params": {
        "P": {"dirichlet": [8, 1, 1], "decimals": 2},
        "QA": {"dirichlet": [4, 2, 2], "decimals": 2},
        "QB": {"dirichlet": [2, 2, 2]},
        "T": {"uniform": [0.5, 4], "decimals": 1},
        "z": {"logits": 3, "scale": 3},
        "n": {"integer": [2, 5]},
        "names": {"choice": [["A", "B"], ["Ann", "Bob"]]},
    },
    "constraints": ["abs(kl(P, QA) - kl(P, QB)) > 0.05"],
    "prompt": "P = {{ P }}, {{ names[0] }}: {{ QA }}, {{ names[1] }}: {{ QB }}",
    "parts": [
        {"key": "loss_a", "kind": "numeric", "answer": "kl(P, QA)"},
        {"key": "loss_b", "kind": "numeric", "answer": "kl(P, QB)"},
        {
            "key": "better",
            "kind": "choice",
            "choices": ["{{ names[0] }}", "{{ names[1] }}"],
            "answer": "names[0] if kl(P, QA) < kl(P, QB) else names[1]",
        },
        {
            "key": "lower_than_half",
            "kind": "multi",
            "choices": ["{{ names[0] }}", "{{ names[1] }}"],
            "answer": "([names[0]] if kl(P, QA) < 0.5 else []) + ([names[1]] if kl(P, QB) < 0.5 else [])",
        },
    ],
}


def card(**changes):
    data = copy.deepcopy(COURSE_CARD)
    data.update(changes)
    return data


def with_part(index, **changes):
    data = card()
    data["parts"][index].update(changes)
    return data


@functools.cache
def drawn_spec():
    """Parsed once: parsing generates seed 0, which the property test need not repeat."""
    return parse_spec(DRAWN_CARD)


def problems_of(data):
    with pytest.raises(SpecError) as caught:
        parse_spec(data)
    return caught.value.problems


def assert_json_safe(value):
    """Only plain JSON types all the way down: no numpy scalars, no tuples, no NaN."""
    json.dumps(value, allow_nan=False)
    if isinstance(value, dict):
        for item in value.values():
            assert_json_safe(item)
    elif isinstance(value, list):
        for item in value:
            assert_json_safe(item)
    else:
        assert type(value) in (int, float, str, bool), type(value)


# --- the course card --------------------------------------------------------------------------------


def test_course_card_parses_and_generates_its_answers():
    spec = parse_spec(COURSE_CARD)
    assert not is_drawn(spec)
    variant = generate(spec, 0)

    assert variant.answers["loss_a"] == pytest.approx(0.026812, abs=1e-6)
    assert variant.answers["loss_a"] == pytest.approx(0.7 * math.log(0.7 / 0.6) + 0.2 * math.log(0.2 / 0.3))
    assert variant.answers["loss_b"] == pytest.approx(0.7 * math.log(0.7 / 0.8) + 0.2 * math.log(0.2 / 0.1))
    assert variant.answers["better"] == "Student A"
    assert variant.answers["reasoning"] is None
    assert variant.model_answers == {"reasoning": "Student A: its KL is 0.02681 nats against 0.04516."}
    assert variant.prompt.startswith("A teacher predicts P = [0.7, 0.2, 0.1] over apple, banana, cherry.")
    assert variant.solution == "KL(P‖QA) = 0.02681; KL(P‖QB) = 0.04516."
    assert (variant.parts[0].key, variant.parts[0].kind) == ("loss_a", "numeric")
    assert variant.parts[0].label == "Loss for student A (nats)"
    assert variant.parts[0].unit == "nats"
    assert variant.parts[2].choices == ("Student A", "Student B")
    assert spec.parts[0].tolerance == cards.Tolerance(rtol=0.01, atol=0.0005)
    assert spec.parts[1].tolerance == cards.Tolerance(rtol=0.01, atol=1e-4)


def test_course_card_workings_hold_each_term():
    variant = generate(parse_spec(COURSE_CARD), 0)
    (loss_a,) = variant.workings["loss_a"]
    assert (loss_a.measure, loss_a.base, loss_a.p, loss_a.q) == ("kl", "e", (0.7, 0.2, 0.1), (0.6, 0.3, 0.1))
    assert loss_a.terms == pytest.approx((0.7 * math.log(7 / 6), 0.2 * math.log(2 / 3), 0.0))
    assert loss_a.value == variant.answers["loss_a"]
    assert [b.q for b in variant.workings["better"]] == [(0.6, 0.3, 0.1), (0.8, 0.1, 0.1)]
    assert variant.workings["reasoning"] == ()


def test_parts_left_without_label_or_weight_get_readable_defaults():
    data = card()
    del data["parts"][1]["label"]
    spec = parse_spec(data)
    assert spec.parts[1].label == "Loss b"
    assert spec.parts[1].weight == 1.0


# --- validation -------------------------------------------------------------------------------------


def test_a_spec_with_many_mistakes_reports_every_one():
    data = {
        "slug": "Bad Slug",
        "title": "",
        "tags": [1],
        "params": {"kl": [0.5, 0.5], "P": {"dirichlet": [8, 1, 1], "decimal": 2}, "2x": 1, "Q": None},
        "prompt": "{{ R }}",
        "parts": [
            {"key": "Loss", "kind": "numerc", "answer": "kl(P, Q)"},
            {"key": "pick", "kind": "choice", "choices": ["only one"], "answer": "'only one'"},
            {"key": "pick", "kind": "text"},
            {"key": "w", "kind": "numeric", "answer": "1", "weight": 0, "tolerance": {"rtol": -1}, "answr": "2"},
        ],
        "colour": "red",
    }
    found = {(p.field, p.message) for p in problems_of(data)}
    fields = {f for f, _ in found}
    assert fields >= {
        "colour",
        "slug",
        "title",
        "tags",
        "params.kl",
        "params.P",
        "params.2x",
        "params.Q",
        "prompt",
        "parts[0].key",
        "parts[0].kind",
        "parts[1].choices",
        "parts[2].key",
        "parts[2].model_answer",
        "parts[3].weight",
        "parts[3].tolerance.rtol",
        "parts[3].answr",
    }
    assert ("parts[3].answr", "is not a known field (did you mean 'answer'?)") in found
    assert ("params.P", "'decimal' is not an option of dirichlet (options: decimals, allow_zero)") in found
    assert any(f == "prompt" and "unknown name 'R'" in m for f, m in found)
    assert any(f == "params.kl" and "hides the built-in" in m for f, m in found)
    # A bad parameter is still a known name: expressions using it are not reported a second time.
    assert not any(f == "parts[0].answer" for f, _ in found)


@pytest.mark.parametrize(
    ("data", "where", "fragment"),
    [
        (card(slug="a" * 81), "slug", "at most 80"),
        (card(slug="two--hyphens"), "slug", "single hyphens"),
        (card(title="t" * 201), "title", "at most 200"),
        (card(tags="kl"), "tags", "list"),
        (card(prompt="   "), "prompt", "must not be empty"),
        (card(prompt="{% for x in P %}"), "prompt", "line"),
        (card(parts=[]), "parts", "1 to 20"),
        (card(parts=[COURSE_CARD["parts"][0]] * 21), "parts", "1 to 20"),
        (card(params={"P": [0.7, 0.3], "loop": 1}), "params.loop", "reserved"),
        (card(params=[1, 2]), "params", "mapping"),
        (card(constraints="P[0] > 0"), "constraints", "list"),
        (card(constraints=["P[0] >"]), "constraints[0]", "not a valid expression"),
        (card(solution="{{ P.pop() }}"), "solution", "attribute access"),
        (with_part(0, kind="quiz"), "parts[0].kind", "numeric, choice, multi, text"),
        (with_part(0, answer=""), "parts[0].answer", "must not be empty"),
        (with_part(0, answer=None), "parts[0].answer", "is missing"),
        (with_part(0, choices=["a", "b"]), "parts[0].choices", "does not apply to a numeric part"),
        (with_part(0, tolerance={"rtol": math.inf}), "parts[0].tolerance.rtol", "finite"),
        (with_part(0, tolerance={"rtl": 0.1}), "parts[0].tolerance.rtl", "did you mean 'rtol'"),
        (with_part(0, weight=-1), "parts[0].weight", "greater than 0"),
        (with_part(0, label="{{ Z }}"), "parts[0].label", "unknown name 'Z'"),
        (with_part(2, choices=["Student A", "Student A"]), "parts[2].choices", "same option twice"),
        (with_part(2, choices=["Student A", True]), "parts[2].choices[1]", "in quotes"),
        (with_part(2, answer="Student A"), "parts[2].answer", "quote it: \"'Student A'\""),
        (with_part(2, unit="nats"), "parts[2].unit", "does not apply to a choice part"),
        (with_part(3, answer="1"), "parts[3].answer", "does not apply to a text part"),
        (with_part(3, model_answer=None), "parts[3].model_answer", "is missing"),
        (with_part(1, key="loss_a"), "parts[1].key", "used by an earlier part"),
    ],
)
def test_each_rule_names_its_field(data, where, fragment):
    problems = problems_of(data)
    assert any(p.field == where and fragment in p.message for p in problems), problems


def test_a_spec_must_be_a_mapping():
    assert problems_of([1, 2]) == [Problem("spec", "must be a mapping of card fields, not a list")]


def test_parse_spec_leaves_its_input_alone():
    data = card()
    parse_spec(data)
    assert data == COURSE_CARD


# --- the sandbox ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "fragment"),
    [
        ("().__class__.__mro__", "attribute access"),
        ("P.append(1)", "attribute access ('.append') is not allowed"),
        ("__import__('os')", "the name '__import__' is not allowed"),
        ("P[0] if P else __builtins__", "the name '__builtins__' is not allowed"),
        ("P | attr('__class__')", "strings starting with '__' are not allowed"),
        ("lipsum", "unknown name 'lipsum'"),
        ("range(10**9) | list | length", "unknown name 'range'"),
    ],
)
def test_sandbox_escapes_are_problems_never_executed(monkeypatch, answer, fragment):
    calls = []
    real = cards.evaluate_traced
    monkeypatch.setattr(cards, "evaluate_traced", lambda *a: calls.append(a) or real(*a))
    problems = problems_of(with_part(0, answer=answer))
    assert [p.field for p in problems] == ["parts[0].answer"]
    assert fragment in problems[0].message
    assert "not allowed" in problems[0].message or "unknown name" in problems[0].message
    assert calls == []  # refused before any evaluation


def test_mro_escape_message_says_attribute_access_is_not_allowed():
    (problem,) = problems_of(with_part(0, answer="().__class__.__mro__"))
    assert problem.field == "parts[0].answer"
    assert "attribute access" in problem.message and "is not allowed" in problem.message


def test_a_dynamic_attribute_lookup_is_stopped_when_run():
    # Built from pieces, the name slips past the static check; the sandbox refuses it at run time instead.
    (problem,) = problems_of(with_part(0, answer="P | attr('_' ~ '_class__')"))
    assert problem.field == "parts[0].answer"
    assert "unsafe" in problem.message


# --- evaluation at parse time -----------------------------------------------------------------------


def test_an_answer_that_fails_when_evaluated_is_refused():
    data = card(params={**COURSE_CARD["params"], "QA": [0.5, 0.5]})
    fields = {p.field: p.message for p in problems_of(data)}
    assert "parts[0].answer" in fields and "shape" in fields["parts[0].answer"]
    assert {"parts[2].answer", "parts[3].model_answer", "solution"} <= set(fields)
    assert "parts[1].answer" not in fields


@pytest.mark.parametrize(
    ("index", "answer", "fragment"),
    [
        (0, "P", "must give a number"),
        (0, "'0.5'", "must give a number"),
        (0, "0 * inf", "NaN"),
        (2, "'Student C'", "not one of the options"),
        (2, "1", "one option as text"),
    ],
)
def test_an_answer_of_the_wrong_kind_is_refused(index, answer, fragment):
    (problem,) = problems_of(with_part(index, answer=answer))
    assert problem.field == f"parts[{index}].answer"
    assert fragment in problem.message


def test_an_infinite_divergence_is_a_valid_numeric_answer():
    spec = parse_spec(card(params={**COURSE_CARD["params"], "QA": [0.5, 0.5, 0.0]}))
    variant = generate(spec, 0)
    assert variant.answers["loss_a"] == math.inf
    assert variant.workings["loss_a"][0].infinite


def test_multi_answers_are_the_options_in_their_order():
    data = card()
    data["parts"][2] = {
        "key": "above",
        "kind": "multi",
        "choices": ["apple", "banana", "cherry"],
        "answer": "[vocab[2], vocab[0]] if P[0] > 0.5 else []",
    }
    assert generate(parse_spec(data), 0).answers["above"] == ("apple", "cherry")


def test_rendered_options_that_collide_are_refused():
    data = card(params={**COURSE_CARD["params"], "names": ["Ann", "Ann"]})
    data["parts"][2].update(choices=["{{ names[0] }}", "{{ names[1] }}"], answer="names[0]")
    (problem,) = problems_of(data)
    assert problem.field == "parts[2].choices"


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
