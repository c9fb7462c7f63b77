"""The card form's pieces: the spec it builds from the fields, and where each spec problem is shown."""

from __future__ import annotations

import pytest
from starlette.datastructures import FormData

from app.services.spec_yaml import SpecProblem
from app.web.pages.card_form import build_spec, form_field, read_card_form, slug_from


def test_the_spec_is_built_from_the_filled_slots_only() -> None:
    form = FormData(
        [
            ("title", "KL for Two Students!"),
            ("tags", " kl, , distillation "),
            ("params", "# a comment\nP = [0.5, 0.5]\n\nQ = {dirichlet: [1, 1], decimals: 2}\nname = two words"),
            ("prompt", "P = {{ P }}\r\nQ = {{ Q }}"),
            ("part-0-kind", "text"),
            ("part-0-key", "why"),
            ("part-0-model_answer", "Because."),
            ("part-2-kind", "choice"),
            ("part-2-key", "pick"),
            ("part-2-choices", "It's P\n\nQ\n"),
            ("part-2-answer", "It's P"),
            ("part-3-kind", "nonsense"),
            ("part-3-key", "x"),
            ("part-3-answer", "kl(P, Q)"),
            ("part-3-atol", "0.001"),
            ("part-3-rtol", "lots"),
        ]
    )

    data = read_card_form(form)
    spec, errors, slots = build_spec(data)

    assert errors == {}
    assert slots == [0, 2, 3]
    assert spec["slug"] == "kl-for-two-students"
    assert spec["tags"] == ["kl", "distillation"]
    assert spec["params"] == {"P": [0.5, 0.5], "Q": {"dirichlet": [1, 1], "decimals": 2}, "name": "two words"}
    assert spec["prompt"] == "P = {{ P }}\nQ = {{ Q }}"
    assert spec["parts"] == [
        {"key": "why", "kind": "text", "label": "", "model_answer": "Because."},
        {"key": "pick", "kind": "choice", "label": "", "choices": ["It's P", "Q"], "answer": "'It\\'s P'"},
        {
            "key": "x",
            "kind": "numeric",
            "label": "",
            "answer": "kl(P, Q)",
            "tolerance": {"rtol": "lots", "atol": 0.001},
        },
    ]
    assert "constraints" not in spec


def test_unreadable_parameter_lines_are_reported_by_line() -> None:
    data = read_card_form(FormData([("params", "P = [1, 2\nno equals sign\nQ = &a [*a]")]))

    _, errors, _ = build_spec(data)

    assert errors["params"][0].startswith("line 1 (P): not valid YAML")
    assert errors["params"][1] == "line 2: write one `name = value` per line"
    assert errors["params"][2].startswith("line 3 (Q): repeats an anchored value")


@pytest.mark.parametrize(
    ("field", "shown"),
    [
        ("title", ("title", "msg")),
        ("parts[1].answer", ("part-4-answer", "msg")),
        ("parts[1].tolerance.atol", ("part-4-atol", "msg")),
        ("parts[0].tolerance", ("part-1-rtol", "msg")),
        ("parts[0].choices[2]", ("part-1-choices", "option 3: msg")),
        ("parts[0].answr", ("part-1-label", "answr: msg")),
        ("parts[5].key", ("parts", "msg")),
        ("parts", ("parts", "msg")),
        ("params.P", ("params", "P: msg")),
        ("constraints[1]", ("constraints", "line 2: msg")),
        ("spec", ("form", "spec: msg")),
    ],
)
def test_each_problem_goes_beside_its_field(field: str, shown: tuple[str, str]) -> None:
    assert form_field(SpecProblem(field, None, "msg"), [1, 4]) == shown


def test_a_slug_from_a_title() -> None:
    assert slug_from("  Entropy — the basics (T = 2) ") == "entropy-the-basics-t-2"
    assert slug_from("¿¡") == ""
