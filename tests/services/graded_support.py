"""Graded submissions ready to store, for the tests of the submission store and the submission writer."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from app.services.catalog import get_card
from app.services.submission_store import GradedSubmission
from app.services.submissions import grade_submission

NOW = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
RIGHT = {"loss_a": "0.0268", "better": "Student A", "reasoning": "Student A is closer."}

# Answers to the two test cards (tests/services/conftest.py): right, a misconception, wrong, an infinite value.
BATCH: list[tuple[str, int, dict[str, Any]]] = [
    ("two-students", 0, RIGHT),
    ("two-students", 3, {"loss_a": "0.0387", "better": "Student B", "reasoning": "B is closer."}),  # in bits
    ("drawn-kl", 5, {"kl": "0.1"}),
    ("drawn-kl", 6, {"kl": "inf"}),
]


def graded(
    session: Session, learner_id: int, slug: str, seed: int, answers: dict[str, Any], now: datetime = NOW
) -> GradedSubmission:
    """``answers`` to variant ``seed`` of the published card ``slug``, graded as the API grades them."""
    card = get_card(session=session, slug=slug)
    return grade_submission(card=card, learner_id=learner_id, seed=seed, answers=answers, now=now)
