"""Shared by the authorisation tests: instructor A's published card and deck, a learner's submission, A's token."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from accounts_support import MakeUser, UserClient, csrf_headers, signed_in
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.services.tokens import create_token

P, QA = [0.7, 0.2, 0.1], [0.6, 0.3, 0.1]
MODEL_ANSWER = "Student A has the smaller divergence from the teacher."
SOLUTION_WORDS = "worked through term by term"


def card_spec(slug: str, title: str = "Owned by A") -> dict[str, Any]:
    return {
        "slug": slug,
        "title": title,
        "tags": ["kl-divergence"],
        "params": {"P": P, "QA": QA, "QB": {"dirichlet": [6, 2, 1], "decimals": 2}},
        "prompt": "The teacher predicts $P = {{ P }}$; students predict $Q_A = {{ QA }}$ and $Q_B = {{ QB }}$.",
        "parts": [
            {"key": "loss_b", "kind": "numeric", "label": "KL(P‖Q_B)", "answer": "kl(P, QB)"},
            {
                "key": "better",
                "kind": "choice",
                "label": "Which student is closer?",
                "choices": ["A", "B"],
                "answer": "'A' if kl(P, QA) < kl(P, QB) else 'B'",
            },
            {"key": "why", "kind": "text", "label": "Why?", "model_answer": MODEL_ANSWER},
        ],
        "solution": "KL(P‖Q_B) = {{ kl(P, QB) | fmt }}, " + SOLUTION_WORDS + ".",
        "constraints": ["abs(kl(P, QA) - kl(P, QB)) > 0.01"],
    }


def deck_body(slug: str, cards: list[str]) -> dict[str, Any]:
    return {"slug": slug, "title": f"Deck {slug}", "cards": cards, "show_solution": "always", "status": "published"}


@dataclass
class World:
    """Instructor A's published card and deck, a learner's submission to the card, and A's API token."""

    app: FastAPI
    owner: UserClient
    card: str
    deck: str
    submission_id: int
    token_id: int
    fresh: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def new_slug(self, kind: str) -> str:
        return f"{kind}-{next(self.fresh)}"


def build_world(app: FastAPI, make_user: MakeUser, make_client: Callable[[], TestClient]) -> World:
    owner = UserClient(app)
    owner.user = make_user("instructor", email="owner@example.org")
    signed_in(owner, owner.user)
    card = "owned-card"
    created = owner.post("/api/v1/cards", json=card_spec(card))
    assert created.status_code == 201, created.text
    published = owner.post(f"/api/v1/cards/{card}/publish")
    assert published.status_code == 200, published.text
    deck = "owned-deck"
    made = owner.post("/api/v1/decks", json=deck_body(deck, [card, "evaluate-student-models"]))
    assert made.status_code == 201, made.text

    answerer = make_client()
    answerer.headers.update(csrf_headers(answerer))
    answered = answerer.post(
        f"/api/v1/cards/{card}/submissions", json={"seed": 0, "answers": {"loss_b": "1", "better": "A", "why": "x"}}
    )
    assert answered.status_code == 201, answered.text

    with app.state.sessionmaker() as session:
        token = create_token(session=session, user=owner.user, name="grading script")
        token_id = token.token.id
    return World(app=app, owner=owner, card=card, deck=deck, submission_id=answered.json()["id"], token_id=token_id)
