"""Spec texts: every problem reported with its line, limits refused with a message, YAML written back exactly."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from app.config import Settings
from app.domain.cards import spec_to_dict
from app.services.bank import read_card_file, spec_hash
from app.services.spec_yaml import (
    MAX_SPEC_BYTES,
    InvalidSpec,
    SpecProblem,
    dump_yaml,
    line_of,
    parse_spec_data,
    parse_spec_text,
    spec_to_yaml,
)

BANK = sorted(Settings(_env_file=None).bank_dir.glob("*.yaml"))

# Line numbers are written beside the lines they name, so a test reads like the editor's message.
CARD = """\
slug: two-students
title: Two students
tags: [kl-divergence]
params:
  P: [0.7, 0.2, 0.1]
  Q: [0.6, 0.3, 0.1]
prompt: |
  P = {{ P }} and Q = {{ Q }}.
parts:
  - key: loss
    kind: numeric
    label: KL(P‖Q)
    answer: kl(P, Q)
  - key: better
    kind: choice
    choices: [P, Q]
    answer: "'P'"
solution: |
  The loss is {{ kl(P, Q) | fmt }}.
"""


def problems_of(text: str, **options: Any) -> list[SpecProblem]:
    with pytest.raises(InvalidSpec) as caught:
        parse_spec_text(text, **options)
    return caught.value.problems


def with_line(text: str, number: int, line: str) -> str:
    """``text`` with its line ``number`` (1-based) replaced."""
    lines = text.splitlines()
    lines[number - 1] = line
    return "\n".join(lines) + "\n"


def test_a_valid_card_parses() -> None:
    parsed = parse_spec_text(CARD)

    assert parsed.spec.slug == "two-students"
    assert [part.key for part in parsed.spec.parts] == ["loss", "better"]


def test_a_yaml_syntax_error_is_reported_at_its_line() -> None:
    broken = with_line(CARD, 6, "  Q: [0.6, 0.3, 0.1")

    [problem] = problems_of(broken)

    assert problem.field == "yaml"
    assert problem.line == 7  # the parser notices the unclosed list where the next key begins
    assert problem.message.startswith("not valid YAML")


def test_a_tab_in_the_indentation_is_a_syntax_error_on_its_line() -> None:
    [problem] = problems_of(with_line(CARD, 11, "\tkind: numeric"))

    assert (problem.field, problem.line) == ("yaml", 11)


def test_a_bad_answer_expression_is_reported_at_its_line() -> None:
    [problem] = problems_of(with_line(CARD, 13, "    answer: kl(P, R)"))

    assert problem == SpecProblem("parts[0].answer", 13, problem.message)
    assert "unknown name 'R'" in problem.message


def test_the_sandbox_escape_is_refused_with_the_reason() -> None:
    [problem] = problems_of(with_line(CARD, 13, "    answer: ().__class__.__mro__"))

    assert (problem.field, problem.line) == ("parts[0].answer", 13)
    assert "attribute access" in problem.message
    assert "not allowed" in problem.message


def test_every_problem_is_listed_with_its_line_in_text_order() -> None:
    text = with_line(CARD, 2, "titel: Two students")
    text = with_line(text, 13, "    answer: kl(P, R)")
    text = with_line(text, 17, "    answer: 1 +")

    problems = problems_of(text)

    assert [(p.field, p.line) for p in problems] == [
        ("title", 1),  # missing: placed at the top of the document
        ("titel", 2),
        ("parts[0].answer", 13),
        ("parts[1].answer", 17),
    ]
    assert problems[0].message == "is missing"
    assert "did you mean 'title'?" in problems[1].message
    assert "is not a valid expression" in problems[3].message


def test_a_missing_field_is_placed_at_its_parent() -> None:
    text = CARD.replace("    answer: kl(P, Q)\n", "")

    [problem] = problems_of(text)

    assert problem.field == "parts[0].answer"
    assert problem.line == 10  # the part's first line: "- key: loss"


def test_a_block_scalar_problem_is_placed_on_its_key() -> None:
    [problem] = problems_of(with_line(CARD, 8, "  P = {{ P }} and Q = {{ R }}."))

    assert (problem.field, problem.line) == ("prompt", 7)


def test_a_key_given_twice_is_refused_at_the_second() -> None:
    text = CARD.replace("title: Two students\n", "title: Two students\ntitle: Again\n")

    [problem] = problems_of(text)

    assert (problem.field, problem.line) == ("title", 3)
    assert "twice" in problem.message


def test_aliases_are_refused() -> None:
    text = "a: &x [1, 2]\nb: &y [*x, *x]\nc: [*y, *y]\n"

    problems = problems_of(text)

    assert {p.field for p in problems} >= {"b[1]", "c[1]"}
    assert all("alias" in p.message for p in problems)


def test_a_spec_over_64_kb_is_refused_with_its_size() -> None:
    text = CARD.replace("The loss is", "The loss is" + " padding" * (MAX_SPEC_BYTES // 8))

    [problem] = problems_of(text)

    assert problem.field == "spec"
    assert f"{len(text.encode()):,} bytes" in problem.message
    assert "64 KB" in problem.message


def test_the_size_counts_bytes_as_sent() -> None:
    # "‖" is three bytes in UTF-8: a text under the limit in characters can be over it in bytes.
    filler = "‖" * ((MAX_SPEC_BYTES - len(CARD.encode())) // 3 + 10)
    text = CARD.replace("label: KL(P‖Q)", f"label: {filler}")

    assert len(text) < MAX_SPEC_BYTES < len(text.encode())
    assert problems_of(text)[0].field == "spec"


def test_more_than_twenty_parts_are_refused() -> None:
    data = yaml.safe_load(CARD)
    part = data["parts"][0]
    data["parts"] = [{**part, "key": f"part_{i}"} for i in range(21)]

    problems = problems_of(dump_yaml(data))

    assert [(p.field, p.message) for p in problems] == [("parts", "needs a list of 1 to 20 parts, not 21")]
    assert problems[0].line == 9


def test_deep_nesting_is_refused() -> None:
    [problem] = problems_of("params:\n  P: " + "[" * 40 + "1" + "]" * 40 + "\n")

    assert problem.field is not None and problem.field.startswith("params.P")
    assert "nested" in problem.message


def test_a_document_that_is_not_a_mapping_is_refused() -> None:
    assert problems_of("- 1\n- 2\n") == [
        SpecProblem("spec", 1, "must be a mapping with slug, title, params, prompt and parts; found a list")
    ]
    assert problems_of("")[0].message.endswith("found nothing")


def test_json_problems_have_lines_too() -> None:
    data = yaml.safe_load(CARD)
    data["parts"][0]["answer"] = "kl(P, R)"
    text = json.dumps(data, indent=2, ensure_ascii=False)
    expected_line = next(i for i, line in enumerate(text.splitlines(), 1) if "kl(P, R)" in line)

    [problem] = problems_of(text, media="json")

    assert (problem.field, problem.line) == ("parts[0].answer", expected_line)


def test_json_numbers_are_read_as_json_reads_them() -> None:
    data = yaml.safe_load(CARD)
    data["parts"][0]["tolerance"] = {"rtol": 1e-2, "atol": 5e-4}
    text = json.dumps(data).replace("0.0005", "5e-4")

    spec = parse_spec_text(text, media="json").spec

    assert spec.parts[0].tolerance.atol == 0.0005


def test_a_json_syntax_error_has_its_line() -> None:
    [problem] = problems_of('{\n  "slug": "x",\n  "title": "y"\n  "prompt": "z"\n}', media="json")

    assert (problem.field, problem.line) == ("json", 4)
    assert problem.message.startswith("not valid JSON")


@pytest.mark.parametrize(
    ("field", "line"),
    [
        ("slug", 1),
        ("params.Q", 6),
        ("params.R", 4),  # absent: its parent
        ("parts[1]", 14),
        ("parts[1].choices[1]", 16),
        ("parts[7].key", 9),  # no such part: the list
        ("constraints[0]", 1),  # no constraints at all: the document
    ],
)
def test_line_of_walks_the_path(field: str, line: int) -> None:
    assert line_of(yaml.compose(CARD), field) == line


def test_spec_data_from_a_form_has_the_same_checks_without_lines() -> None:
    data = yaml.safe_load(CARD)
    data["parts"][0]["answer"] = "().__class__"

    with pytest.raises(InvalidSpec) as caught:
        parse_spec_data(data)

    assert [(p.field, p.line) for p in caught.value.problems] == [("parts[0].answer", None)]


@pytest.mark.parametrize("path", BANK, ids=[path.stem for path in BANK])
def test_every_built_in_card_survives_the_round_trip_through_yaml(path: Path) -> None:
    spec = read_card_file(path)

    text = spec_to_yaml(spec)

    again = parse_spec_text(text).spec
    assert spec_to_dict(again) == spec_to_dict(spec)
    assert spec_hash(again) == spec_hash(spec)


def test_the_yaml_is_readable() -> None:
    spec = parse_spec_text(CARD).spec

    text = spec_to_yaml(spec)

    assert list(yaml.safe_load(text)) == ["slug", "title", "tags", "params", "prompt", "parts", "solution"]
    assert "prompt: |\n  P = {{ P }} and Q = {{ Q }}.\n" in text  # a block scalar, not an escaped string
    assert "  P: [0.7, 0.2, 0.1]\n" in text
    assert "    tolerance: {rtol: 0.01, atol: 0.0001}\n" in text
    assert "    answer: \"'P'\"\n" in text


def test_texts_a_block_cannot_hold_still_round_trip() -> None:
    data = yaml.safe_load(CARD)
    data["prompt"] = "Trailing spaces   \n  leading spaces\n\n\nand no final newline {{ P }}"
    data["solution"] = "#  not a comment\n- not a list: {{ P }}\n"
    spec = parse_spec_data(data).spec

    again = parse_spec_text(spec_to_yaml(spec)).spec

    assert again.prompt == data["prompt"]
    assert again.solution == data["solution"]
