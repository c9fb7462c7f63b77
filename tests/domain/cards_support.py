"""Shared by the card tests: the course card, a drawn card, and helpers to change, parse and check them."""

import copy
import functools
import json

import pytest

from app.domain.cards import SpecError, parse_spec

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
