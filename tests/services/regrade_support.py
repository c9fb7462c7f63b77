"""Helpers shared by the regrade tests: answers near the two-students card's margin, a second version with new
tolerances, and submissions in bulk."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session
from users_support import make_user

from app.db.models import User
from app.domain.divergence import kl
from app.services.bank import load_cards
from app.services.learners import guest_learner
from app.services.submissions import submit

RIGHT = kl([0.7, 0.2, 0.1], [0.6, 0.3, 0.1])  # 0.0268…; the first version's margin is 0.0005 + 0.01·|c| ≈ 0.00077
REVERSE = kl([0.6, 0.3, 0.1], [0.7, 0.2, 0.1])  # the reverse KL, 0.0291…: outside both margins


def answers(loss: float, better: str = "Student A") -> dict[str, str]:
    return {"loss_a": f"{loss:.6f}", "better": better, "reasoning": "Because A is closer."}


def new_tolerance(
    session: Session, bank: Path, fixed_card: dict[str, Any], write_card: Any, **tolerance: float
) -> None:
    """A second version of two-students whose numeric part has ``tolerance``."""
    card = copy.deepcopy(fixed_card)
    card["parts"][0]["tolerance"] = tolerance
    write_card(bank, card)
    load_cards(session=session, path=bank)


def submit_all(session: Session, losses: list[tuple[float, str]]) -> list[int]:
    learner = guest_learner(session=session, guest_id="guest-regrade")
    return [
        submit(session=session, learner_id=learner.id, slug="two-students", seed=0, answers=answers(loss, better)).id
        for loss, better in losses
    ]


def make_admin(session: Session) -> User:
    return make_user(session, "admin", "admin@example.org")
