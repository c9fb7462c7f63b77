"""A deck's gradebook: one row per learner, one column per card (best attempt after penalties) and the total.

The figures are those of ``app.services.scores.deck_scores`` (the same SQL expression for an attempt's credit),
so the gradebook, the learner's deck page and the analytics agree to the last digit; the gradebook is read a
page of learners at a time (keyset on the learner id). ``gradebook_csv`` writes the same table for a
spreadsheet or an LMS.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Final

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from app.db.models import Card, Deck, DeckCard, Learner, Submission, User
from app.services.accounts import can_edit
from app.services.errors import Forbidden, NotFound
from app.services.paging import cursor_position, encode_cursor
from app.services.scores import GRADEBOOK_LIMIT, LearnerDeckScore, penalised_score

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
    next_cursor: str | None = None  # the next page's cursor; None on the last page


def learner_name(*, learner_id: int, email: str | None, external_id: str | None) -> str:
    """How an instructor knows a learner: ``ada@example.org``, ``lms-user-123`` or ``guest 7``."""
    return email or external_id or f"guest {learner_id}"


def _page_learners(session: Session, deck: Deck, after: int | None, limit: int) -> list[int]:
    """The ids of the next ``limit`` learners with a submission to a card of the deck, after learner ``after``."""
    query = (
        select(Submission.learner_id)
        .join(DeckCard, and_(DeckCard.deck_id == Submission.deck_id, DeckCard.card_id == Submission.card_id))
        .where(Submission.deck_id == deck.id)
        # Grouped in the order of the (deck, learner, ...) index: the scan stops after the page's learners.
        .group_by(Submission.learner_id)
        .order_by(Submission.learner_id)
        .limit(limit)
    )
    if after is not None:
        query = query.where(Submission.learner_id > after)
    return list(session.scalars(query))


def _page_scores(session: Session, deck: Deck, learner_ids: list[int], card_count: int) -> list[LearnerDeckScore]:
    """``scores.deck_scores`` for a range of learners: the best after penalties and attempts per card, the total."""
    if not learner_ids:
        return []
    rows = session.execute(
        select(
            Submission.learner_id,
            Submission.card_id,
            func.count().label("attempts"),
            func.max(penalised_score(penalty=deck.penalty_per_attempt)).label("best"),
        )
        .join(DeckCard, and_(DeckCard.deck_id == Submission.deck_id, DeckCard.card_id == Submission.card_id))
        # A range of the covering index: the page's learners and nobody else's rows are read.
        .where(Submission.deck_id == deck.id, Submission.learner_id.between(learner_ids[0], learner_ids[-1]))
        .group_by(Submission.learner_id, Submission.card_id)
    )
    bests: dict[int, dict[int, float]] = {learner_id: {} for learner_id in learner_ids}
    attempts: dict[int, dict[int, int]] = {learner_id: {} for learner_id in learner_ids}
    for row in rows:
        bests[row.learner_id][row.card_id] = float(row.best)
        attempts[row.learner_id][row.card_id] = int(row.attempts)
    return [
        LearnerDeckScore(
            learner_id=learner_id,
            cards=bests[learner_id],
            attempts=attempts[learner_id],
            score=sum(bests[learner_id].values()) / card_count if card_count else 0.0,
        )
        for learner_id in learner_ids
    ]


def deck_gradebook(
    *, session: Session, viewer: User, slug: str, limit: int = GRADEBOOK_LIMIT, cursor: str | None = None
) -> Gradebook:
    """A page of the gradebook of deck ``slug`` for its owner or an administrator: ``limit`` learners after
    ``cursor`` (the ``next_cursor`` of the page before), in the order they first appeared.

    A page reads only its own learners' rows of the deck's covering index, so its cost does not grow with
    the course. Raises NotFound for an unknown deck, Forbidden for a viewer who may not edit it, and
    CursorInvalid for a cursor this list did not give out.
    """
    after = cursor_position(cursor, (int,))
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
    learner_ids = _page_learners(session, deck, None if after is None else after[0], limit + 1)
    more = len(learner_ids) > limit
    learner_ids = learner_ids[:limit]
    scores = _page_scores(session, deck, learner_ids, len(cards))
    names = {
        row.id: learner_name(learner_id=row.id, email=row.email, external_id=row.external_id)
        for row in session.execute(
            select(Learner.id, Learner.external_id, User.email)
            .outerjoin(User, User.id == Learner.user_id)
            .where(Learner.id.in_(learner_ids))
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
        next_cursor=encode_cursor([learner_ids[-1]]) if more else None,
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
