"""A deck's gradebook: one row per learner, one column per card (best attempt after penalties) and the total.

The figures are ``app.services.scores.deck_scores``, so the gradebook, the learner's deck page and the
analytics agree to the last digit. ``gradebook_csv`` writes the same table for a spreadsheet or an LMS.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.models import Card, Deck, DeckCard, Learner, Submission, User
from app.services.accounts import can_edit
from app.services.errors import Forbidden, NotFound
from app.services.scores import GRADEBOOK_LIMIT, deck_scores

# A spreadsheet runs a cell starting with one of these as a formula; an external id could be made to.
_FORMULA_STARTS: Final = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class GradebookCard:
    slug: str
    title: str


@dataclass(frozen=True)
class GradebookRow:
    learner_id: int
    learner: str  # the account's email, the LMS's external id, or "guest N"
    scores: tuple[float, ...]  # per card in the deck's order: best after penalties, 0 when not attempted
    attempts: tuple[int, ...]  # per card: submissions made in the deck
    total: float  # the deck score: the mean of ``scores``


@dataclass(frozen=True)
class Gradebook:
    slug: str
    title: str
    penalty_per_attempt: float
    cards: tuple[GradebookCard, ...]
    rows: tuple[GradebookRow, ...]


def learner_name(*, learner_id: int, email: str | None, external_id: str | None) -> str:
    """How an instructor knows a learner: ``ada@example.org``, ``lms-user-123`` or ``guest 7``."""
    return email or external_id or f"guest {learner_id}"


def deck_gradebook(*, session: Session, viewer: User, slug: str, limit: int = GRADEBOOK_LIMIT) -> Gradebook:
    """The gradebook of deck ``slug`` for its owner or an administrator, learners in the order they first appeared.

    Raises NotFound for an unknown deck and Forbidden for a viewer who may not edit it.
    """
    deck = session.scalars(select(Deck).where(Deck.slug == slug)).one_or_none()
    if deck is None:
        raise NotFound(f"no deck '{slug}'")
    if not can_edit(viewer, deck.owner_id):
        raise Forbidden(f"the deck '{slug}' is not yours: its gradebook is for its owner and administrators")
    cards = session.execute(
        select(Card.id, Card.slug, Card.title)
        .join(DeckCard, DeckCard.card_id == Card.id)
        .where(DeckCard.deck_id == deck.id)
        .order_by(DeckCard.position)
    ).all()
    scores = deck_scores(session=session, deck=deck, limit=limit)
    in_deck = select(Submission.learner_id).where(Submission.deck_id == deck.id).distinct().scalar_subquery()
    names = {
        row.id: learner_name(learner_id=row.id, email=row.email, external_id=row.external_id)
        for row in session.execute(
            select(Learner.id, Learner.external_id, User.email)
            .outerjoin(User, User.id == Learner.user_id)
            .where(Learner.id.in_(in_deck))
        )
    }
    rows = tuple(
        GradebookRow(
            learner_id=score.learner_id,
            learner=names.get(score.learner_id, f"guest {score.learner_id}"),
            scores=tuple(score.cards.get(card_id, 0.0) for card_id, _, _ in cards),
            attempts=tuple(score.attempts.get(card_id, 0) for card_id, _, _ in cards),
            total=score.score,
        )
        for score in scores
    )
    return Gradebook(
        slug=deck.slug,
        title=deck.title,
        penalty_per_attempt=deck.penalty_per_attempt,
        cards=tuple(GradebookCard(slug=card_slug, title=title) for _, card_slug, title in cards),
        rows=rows,
    )


def _cell(text: str) -> str:
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def gradebook_csv(gradebook: Gradebook) -> str:
    """The gradebook as CSV: a header ``learner, <card slug>..., total``, scores from 0 to 1 to four decimals."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["learner", *(card.slug for card in gradebook.cards), "total"])
    for row in gradebook.rows:
        writer.writerow([_cell(row.learner), *(f"{score:.4f}" for score in row.scores), f"{row.total:.4f}"])
    return out.getvalue()


def csv_filename(gradebook: Gradebook) -> str:
    """``gradebook-<deck slug>.csv``: slugs are ``[a-z0-9-]``, so the name needs no quoting."""
    return f"gradebook-{gradebook.slug}.csv"
