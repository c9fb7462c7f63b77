"""Deck scores, computed in SQL: each card's best attempt after penalties, and their mean over the deck.

An attempt's credit is ``max(0, score − penalty_per_attempt × (attempt − 1))``; a card's credit is the best
of its attempts; the deck score is the mean over the deck's cards, a card not attempted counting 0. Manual
grades change ``Submission.score``, so they are counted as soon as they are saved. The deck's current
penalty applies, so changing the policy re-scores every attempt already made.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Protocol

from sqlalchemy import ColumnElement, Subquery, and_, case, func, literal, select
from sqlalchemy.orm import Session

from app.db.models import Card, DeckCard, Submission

GRADEBOOK_LIMIT: Final = 100_000  # learners in one gradebook


class ScoredDeck(Protocol):
    """What the score queries read from a deck: a ``Deck`` row and a ``DeckView`` both have it."""

    @property
    def id(self) -> int: ...

    @property
    def penalty_per_attempt(self) -> float: ...


@dataclass(frozen=True)
class CardScore:
    """One learner's standing on one card of a deck."""

    card_id: int
    slug: str
    title: str
    position: int  # 1, 2, ... in the deck's order
    attempts: int  # submissions made in the deck
    best: float  # the best attempt after penalties; 0.0 when not attempted
    best_attempt: int | None  # which attempt gave ``best`` (the earliest of equals); None when not attempted
    pending: bool  # some attempt still waits for a person to grade a written part


@dataclass(frozen=True)
class LearnerDeckScore:
    """One learner's row of a gradebook: the best after penalties per card id, and the deck score."""

    learner_id: int
    cards: Mapping[int, float]  # card id → best after penalties; cards never attempted are absent (they count 0)
    attempts: Mapping[int, int]  # card id → submissions made
    score: float  # mean over the deck's cards


def penalised_score(*, penalty: float) -> ColumnElement[float]:
    """``max(0, score − penalty × (attempt − 1))`` as SQL (CASE, so SQLite and PostgreSQL read it alike)."""
    raw = Submission.score - literal(float(penalty)) * (Submission.attempt - 1)
    return case((raw > 0, raw), else_=literal(0.0))


def _best_per_card(deck: ScoredDeck, learner_id: int | None = None) -> Subquery:
    """Per learner and card of ``deck``: attempts, best credit, and whether any attempt is pending."""
    credit = penalised_score(penalty=deck.penalty_per_attempt)
    query = (
        select(
            Submission.learner_id,
            Submission.card_id,
            func.count().label("attempts"),
            func.max(credit).label("best"),
            func.max(case((Submission.pending, 1), else_=0)).label("pending"),
        )
        # Only cards still in the deck count: a card taken out no longer weighs on anyone's score.
        .join(DeckCard, and_(DeckCard.deck_id == Submission.deck_id, DeckCard.card_id == Submission.card_id))
        .where(Submission.deck_id == deck.id)
        .group_by(Submission.learner_id, Submission.card_id)
    )
    if learner_id is not None:
        query = query.where(Submission.learner_id == learner_id)
    return query.subquery()


def card_scores_for_learner(*, session: Session, deck: ScoredDeck, learner_id: int) -> list[CardScore]:
    """``learner_id``'s standing on every card of ``deck``, in the deck's order."""
    best = _best_per_card(deck, learner_id)
    credit = penalised_score(penalty=deck.penalty_per_attempt)
    # The attempt that reached the best credit: the earliest of those within a rounding error of it.
    best_attempt = (
        select(func.min(Submission.attempt))
        .where(
            Submission.deck_id == deck.id,
            Submission.learner_id == learner_id,
            Submission.card_id == DeckCard.card_id,
            credit >= best.c.best - 1e-12,
        )
        .correlate(DeckCard, best)
        .scalar_subquery()
    )
    rows = session.execute(
        select(
            DeckCard.position,
            Card.id,
            Card.slug,
            Card.title,
            func.coalesce(best.c.attempts, 0).label("attempts"),
            func.coalesce(best.c.best, 0.0).label("best"),
            func.coalesce(best.c.pending, 0).label("pending"),
            case((best.c.best.is_(None), None), else_=best_attempt).label("best_attempt"),
        )
        .join(Card, Card.id == DeckCard.card_id)
        .outerjoin(best, best.c.card_id == DeckCard.card_id)
        .where(DeckCard.deck_id == deck.id)
        .order_by(DeckCard.position)
    )
    return [
        CardScore(
            card_id=row.id,
            slug=row.slug,
            title=row.title,
            position=index,
            attempts=int(row.attempts),
            best=float(row.best),
            best_attempt=None if row.best_attempt is None else int(row.best_attempt),
            pending=bool(row.pending),
        )
        for index, row in enumerate(rows, start=1)
    ]


def deck_score(card_scores: Sequence[CardScore]) -> float:
    """The mean of the cards' best credits (0 for a deck without cards)."""
    return sum(card.best for card in card_scores) / len(card_scores) if card_scores else 0.0


def deck_score_for_learner(*, session: Session, deck: ScoredDeck, learner_id: int) -> float:
    """``learner_id``'s deck score, in one SQL aggregate."""
    best = _best_per_card(deck, learner_id)
    total = session.scalar(select(func.coalesce(func.sum(best.c.best), 0.0))) or 0.0
    cards = _card_count(session, deck)
    return float(total) / cards if cards else 0.0


def _card_count(session: Session, deck: ScoredDeck) -> int:
    return session.scalar(select(func.count()).select_from(DeckCard).where(DeckCard.deck_id == deck.id)) or 0


def deck_scores(*, session: Session, deck: ScoredDeck, limit: int = GRADEBOOK_LIMIT) -> list[LearnerDeckScore]:
    """Every learner with a submission in ``deck``, by learner id: the best per card and the deck score.

    One query: the per-card bests grouped in SQL, each learner's deck total alongside by a window sum.
    Learners who never submitted in the deck are not listed (their score would be 0).
    """
    cards = _card_count(session, deck)
    best = _best_per_card(deck)
    learners = select(best.c.learner_id).group_by(best.c.learner_id).order_by(best.c.learner_id).limit(limit).subquery()
    total = func.sum(best.c.best).over(partition_by=best.c.learner_id)
    rows = session.execute(
        select(best.c.learner_id, best.c.card_id, best.c.attempts, best.c.best, total.label("total"))
        .join(learners, learners.c.learner_id == best.c.learner_id)
        .order_by(best.c.learner_id, best.c.card_id)
    )
    bests: dict[int, dict[int, float]] = {}
    attempts: dict[int, dict[int, int]] = {}
    totals: dict[int, float] = {}
    for row in rows:
        bests.setdefault(row.learner_id, {})[row.card_id] = float(row.best)
        attempts.setdefault(row.learner_id, {})[row.card_id] = int(row.attempts)
        totals[row.learner_id] = float(row.total)
    return [
        LearnerDeckScore(
            learner_id=learner_id,
            cards=bests[learner_id],
            attempts=attempts[learner_id],
            score=totals[learner_id] / cards if cards else 0.0,
        )
        for learner_id in bests
    ]
