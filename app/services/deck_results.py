"""What a learner sees of their work in a deck: each attempt, and a result with answers hidden as the policy says.

Until the deck's policy lets the worked solution be shown, a deck submission is shown with the learner's own
answers and verdicts only: no expected values, no feedback that would quote them, no misconception (its
message names the right value), no model answers, no solution and no term-by-term workings.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.models import Submission
from app.domain.grading import Grade, PartResult
from app.services.decks import DeckView, answered_correctly, any_deck, solution_visible
from app.services.errors import NotFound
from app.services.scores import CardScore, card_scores_for_learner, deck_score, penalised_score
from app.services.submissions import SubmissionView

ATTEMPTS_LIMIT: Final = 100


@dataclass(frozen=True)
class Attempt:
    """One of a learner's submissions to a card in a deck."""

    submission_id: int
    attempt: int
    score: float  # as graded
    credit: float  # after the penalty for its attempt number
    pending: bool
    created_at: datetime


@dataclass(frozen=True)
class DeckResult:
    """A deck submission as its learner may see it now, with their standing in the deck."""

    deck: DeckView
    submission: SubmissionView  # answers removed unless ``solution_visible``
    solution_visible: bool
    card: CardScore  # the learner's standing on the submission's card
    deck_score: float
    attempts_left: int | None  # None: unlimited


def attempts_left(deck: DeckView, used: int) -> int | None:
    """Attempts still open on one card (None when unlimited)."""
    return None if deck.max_attempts is None else max(0, deck.max_attempts - used)


def deck_attempts(
    *, session: Session, deck: DeckView, learner_id: int, card_id: int, limit: int = ATTEMPTS_LIMIT
) -> list[Attempt]:
    """The learner's attempts at one card of the deck, first attempt first."""
    rows = session.execute(
        select(
            Submission.id,
            Submission.attempt,
            Submission.score,
            penalised_score(penalty=deck.penalty_per_attempt).label("credit"),
            Submission.pending,
            Submission.created_at,
        )
        .where(Submission.deck_id == deck.id, Submission.learner_id == learner_id, Submission.card_id == card_id)
        .order_by(Submission.attempt, Submission.id)
        .limit(limit)
    )
    return [
        Attempt(
            submission_id=row.id,
            attempt=row.attempt,
            score=float(row.score),
            credit=float(row.credit),
            pending=bool(row.pending),
            created_at=row.created_at,
        )
        for row in rows
    ]


def _hidden(part: PartResult) -> PartResult:
    if part.kind == "text":
        # A person's comment stays (it is the grade's explanation); the model answer waits for the solution.
        feedback = "Recorded: an instructor will grade this answer." if part.pending else part.feedback
    elif part.correct:
        feedback = "Right."
    elif part.score:
        feedback = f"Partly right ({round(part.score * 100)}%)."
    else:
        feedback = "Not right."
    return dataclasses.replace(part, expected=None, feedback=feedback, misconception=None, model_answer=None)


def hide_answers(view: SubmissionView) -> SubmissionView:
    """``view`` with everything that would give the answers away removed; the learner's own answers stay."""
    grade = Grade(score=view.grade.score, parts=tuple(_hidden(part) for part in view.grade.parts), pending=view.pending)
    variant = dataclasses.replace(view.variant, answers={}, model_answers={}, solution="", workings={})
    return dataclasses.replace(view, grade=grade, variant=variant)


def deck_result(*, session: Session, submission: SubmissionView, learner_id: int, now: datetime) -> DeckResult:
    """The deck submission ``submission`` of ``learner_id`` as they may see it at ``now``.

    Raises NotFound for a submission made outside a deck.
    """
    if submission.deck_slug is None:
        raise NotFound(f"submission {submission.id} was not made in a deck")
    deck = any_deck(session=session, slug=submission.deck_slug)
    card_id = session.scalar(select(Submission.card_id).where(Submission.id == submission.id))
    if card_id is None:
        raise NotFound(f"no submission {submission.id}")
    cards = card_scores_for_learner(session=session, deck=deck, learner_id=learner_id)
    standing = next((card for card in cards if card.card_id == card_id), None)
    if standing is None:  # the card has since been taken out of the deck: it no longer counts
        standing = CardScore(card_id, submission.slug, submission.title, 0, 0, 0.0, None, False)
    correct = answered_correctly(session=session, deck_id=deck.id, learner_id=learner_id, card_id=card_id)
    visible = solution_visible(deck=deck, submission_correct=correct, now=now)
    return DeckResult(
        deck=deck,
        submission=submission if visible else hide_answers(submission),
        solution_visible=visible,
        card=standing,
        deck_score=deck_score(cards),
        attempts_left=attempts_left(deck, standing.attempts),
    )
