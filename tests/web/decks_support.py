"""Helpers for the deck web tests: the example deck in the app's database, learners' ids, and right answers."""

from __future__ import annotations

import math
from typing import Any

from fastapi import FastAPI
from sqlalchemy import select

from app.config import Settings
from app.db.models import Learner, Submission, User
from app.domain.cards import generate
from app.services.catalog import get_card
from app.services.deck_files import load_decks, read_deck_files
from app.services.decks import deck_seed

EXAMPLE = "course-foundations"
EXAMPLE_CARDS = ["evaluate-student-models", "closest-student", "reverse-kl-behaviour", "distillation-alpha"]

# The first course card: teacher P, students QA and QB; the losses are KL(P‖Q) in nats.
P, QA, QB = [0.7, 0.2, 0.1], [0.6, 0.3, 0.1], [0.8, 0.1, 0.1]


def kl(p: list[float], q: list[float]) -> float:
    return sum(pi * math.log(pi / qi) for pi, qi in zip(p, q, strict=True))


RIGHT = {"loss_a": f"{kl(P, QA):.5f}", "loss_b": f"{kl(P, QB):.5f}", "better": "Student A", "reasoning": "Lower KL."}
# Loss A in bits instead of nats (a misconception whose message quotes the right value) and the wrong student.
WRONG = {**RIGHT, "loss_a": f"{kl(P, QA) / math.log(2):.4f}", "better": "Student B"}


def load_example_deck(app: FastAPI) -> str:
    """The built-in example deck written into the app's database (the cards are there already)."""
    decks, problems = read_deck_files(Settings(_env_file=None).bank_dir / "decks")
    assert problems == []
    with app.state.sessionmaker() as session:
        report, problems = load_decks(session=session, decks=decks)
        assert problems == [] and report.created == (EXAMPLE,)
        session.commit()
    return EXAMPLE


def learner_id_of(app: FastAPI, user: User) -> int:
    with app.state.sessionmaker() as session:
        found = session.scalar(select(Learner.id).where(Learner.user_id == user.id))
    assert found is not None, "the user has not answered or opened a deck card yet"
    return found


def right_answers(app: FastAPI, *, card: str, seed: int) -> dict[str, Any]:
    """Every auto-graded part's answer for variant ``seed``, computed from the card's spec."""
    with app.state.sessionmaker() as session:
        spec = get_card(session=session, slug=card).spec
    variant = generate(spec, seed)
    return {key: str(value) for key, value in variant.answers.items()}


def own_seed(app: FastAPI, user: User, *, deck: str, card: str) -> int:
    return deck_seed(learner_id=learner_id_of(app, user), deck_slug=deck, card_slug=card)


def submissions(app: FastAPI) -> list[tuple[int | None, int, float]]:
    """Every stored submission as (deck_id, attempt, score), oldest first."""
    with app.state.sessionmaker() as session:
        rows = session.execute(select(Submission.deck_id, Submission.attempt, Submission.score).order_by(Submission.id))
        return [(row.deck_id, row.attempt, row.score) for row in rows]
