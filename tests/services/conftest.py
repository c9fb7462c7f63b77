"""Card specs written inline for the service tests, so they do not depend on the built-in bank's content."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy.orm import Session

from app.db.models import Learner
from app.services.bank import load_cards
from app.services.learners import guest_learner

FIXED_CARD: dict[str, Any] = {
    "slug": "two-students",
    "title": "Two students",
    "tags": ["kl-divergence", "distillation"],
    "params": {
        "vocab": ["apple", "banana", "cherry"],
        "P": [0.7, 0.2, 0.1],
        "QA": [0.6, 0.3, 0.1],
        "QB": [0.8, 0.1, 0.1],
    },
    "prompt": "A teacher predicts {{ P }} over {{ vocab }}; student A predicts {{ QA }}, student B {{ QB }}.",
    "parts": [
        {
            "key": "loss_a",
            "kind": "numeric",
            "label": "KL(P‖Q_A) in nats",
            "answer": "kl(P, QA)",
            "tolerance": {"rtol": 0.01, "atol": 0.0005},
        },
        {
            "key": "better",
            "kind": "choice",
            "label": "Which student mimics the teacher better?",
            "choices": ["Student A", "Student B"],
            "answer": "'Student A' if kl(P, QA) < kl(P, QB) else 'Student B'",
        },
        {"key": "reasoning", "kind": "text", "label": "Why?", "model_answer": "Student A has the lower KL."},
    ],
    "solution": "KL(P‖Q_A) = {{ kl(P, QA) }}",
}

DRAWN_CARD: dict[str, Any] = {
    "slug": "drawn-kl",
    "title": "A drawn KL",
    "tags": ["kl-divergence"],
    "params": {"P": {"dirichlet": [8, 1, 1], "decimals": 2}, "Q": {"dirichlet": [4, 3, 3], "decimals": 2}},
    "prompt": "P = {{ P }}, Q = {{ Q }}.",
    "parts": [{"key": "kl", "kind": "numeric", "label": "KL(P‖Q)", "answer": "kl(P, Q)"}],
    "solution": "{{ kl(P, Q) }}",
}


WriteCard = Callable[..., Path]


def _write_card(folder: Path, data: dict[str, Any], name: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (name or f"{data['slug']}.yaml")
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture
def write_card() -> WriteCard:
    """``write_card(folder, data, name=None)`` writes a card as YAML and returns the file's path."""
    return _write_card


@pytest.fixture
def fixed_card() -> dict[str, Any]:
    return copy.deepcopy(FIXED_CARD)


@pytest.fixture
def drawn_card() -> dict[str, Any]:
    return copy.deepcopy(DRAWN_CARD)


@pytest.fixture
def bank(tmp_path: Path, fixed_card: dict[str, Any], drawn_card: dict[str, Any]) -> Path:
    """A folder with the two cards above."""
    folder = tmp_path / "bank"
    _write_card(folder, fixed_card)
    _write_card(folder, drawn_card)
    return folder


@pytest.fixture
def loaded(session: Session, bank: Path) -> Path:
    """The two cards loaded into the test database; returns their folder."""
    load_cards(session=session, path=bank)
    return bank


@pytest.fixture
def learner(session: Session) -> Learner:
    return guest_learner(session=session, guest_id="guest-one")


@pytest.fixture
def other_learner(session: Session) -> Learner:
    return guest_learner(session=session, guest_id="guest-two")
