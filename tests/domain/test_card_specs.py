import math

import pytest
from cards_support import COURSE_CARD, card, problems_of, with_part

from app.domain import cards
from app.domain.cards import Problem, generate, is_drawn, parse_spec

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
