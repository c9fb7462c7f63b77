"""Submissions: grade a learner's answers to a seeded variant, store them, and show them again later."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.db.models import Card, CardVersion, Deck, Submission, utcnow
from app.domain.cards import CardSpec, Variant, is_drawn
from app.domain.grading import Grade, grade
from app.domain.variant_cache import VariantCache
from app.services.card_cache import published_card
from app.services.catalog import PublishedCard, stored_spec
from app.services.decks import claim_attempt, deck_for_submission
from app.services.errors import InvalidSeed, NotFound
from app.services.practice_seeds import reserved_practice_seed
from app.services.submission_store import GradedSubmission, store_submissions
from app.services.submission_views import SubmissionSummary, SubmissionView

__all__ = [
    "SubmissionSummary",
    "SubmissionView",
    "check_practice_seed",
    "get_submission",
    "grade_submission",
    "list_submissions",
    "submit",
    "variant_for",
]


# The variants learners were shown, kept for their submissions and results (generating one takes milliseconds).
variants = VariantCache()


def variant_for(spec: CardSpec, seed: int) -> Variant:
    """The variant ``seed`` of ``spec``; raises InvalidSeed when the seed gives none."""
    try:
        return variants.variant(spec, seed)
    except ValueError as exc:  # VariantError included: the card's constraints cannot be met for this seed
        raise InvalidSeed(str(exc)) from exc


def grade_submission(
    *, card: PublishedCard, learner_id: int, seed: int, answers: Mapping[str, Any], now: datetime
) -> GradedSubmission:
    """Grade ``answers`` to variant ``seed`` of ``card`` (no database): InvalidSeed, or AnswerFormatError."""
    variant = variant_for(card.spec, seed)
    result = grade(card.spec, variant, answers)
    raw = {str(key): value for key, value in answers.items()}
    return GradedSubmission(
        learner_id=learner_id, card=card, seed=seed, answers=raw, grade=result, variant=variant, created_at=now
    )


def check_practice_seed(*, session: Session, card: PublishedCard, learner_id: int, seed: int, now: datetime) -> None:
    """InvalidSeed when variant ``seed`` of a drawn card is the learner's own in a deck that hides its solution."""
    if not is_drawn(card.spec):
        return
    reserved = reserved_practice_seed(
        session=session, learner_id=learner_id, card_id=card.card_id, card_slug=card.spec.slug, seed=seed, now=now
    )
    if reserved is not None:
        raise InvalidSeed(f"variant {seed} is your variant of this card in the deck '{reserved}': answer it there")


def submit(
    *,
    session: Session,
    learner_id: int,
    slug: str,
    seed: int,
    answers: Mapping[str, Any],
    deck_slug: str | None = None,
    now: datetime | None = None,
    on_stored: Callable[[SubmissionView], None] | None = None,
) -> SubmissionView:
    """Grade ``answers`` to variant ``seed`` of card ``slug`` and store the submission.

    ``on_stored`` is called with the submission once it is written and before the commit, so whatever it
    writes (the response kept for an ``Idempotency-Key``) is stored if and only if the submission is.

    With ``deck_slug`` the card is answered inside that published deck: the seed must be the learner's
    own (``decks.deck_seed``), and the submission is numbered as the learner's next attempt there.
    Raises NotFound (no such published card, deck or learner; the card not in the deck), InvalidSeed
    (WrongSeed in a deck), grading's AnswerFormatError (an answer that is not in the expected form; no
    attempt is used), or SubmissionRefused (no attempts left, the deck closed); nothing is stored then.
    """
    moment = now or utcnow()
    card = published_card(session=session, slug=slug)
    deck = None
    if deck_slug is not None:
        deck = deck_for_submission(
            session=session, deck_slug=deck_slug, card_slug=slug, learner_id=learner_id, seed=seed, now=moment
        )
    else:
        check_practice_seed(session=session, card=card, learner_id=learner_id, seed=seed, now=moment)
    graded = grade_submission(card=card, learner_id=learner_id, seed=seed, answers=answers, now=moment)
    graded = replace(graded, deck_slug=deck_slug, on_stored=on_stored)
    try:
        if deck is not None:
            # Counted while the learner's row is locked, so concurrent attempts get distinct numbers.
            attempt = claim_attempt(session=session, deck=deck, learner_id=learner_id, card_id=card.card_id)
            graded = replace(graded, deck_id=deck.id, attempt=attempt)
        [view] = store_submissions(session=session, graded=[graded])
        session.commit()
    except IntegrityError as exc:
        session.rollback()
        raise NotFound(f"no learner {learner_id}") from exc
    except BaseException:
        session.rollback()
        raise
    return view


def get_submission(*, session: Session, submission_id: int, learner_id: int) -> SubmissionView:
    """One of ``learner_id``'s submissions, variant rebuilt from its version and seed; else NotFound."""
    found = session.execute(
        select(Submission, CardVersion.number, CardVersion.spec, Card.slug, Deck.slug)
        .join(CardVersion, CardVersion.id == Submission.card_version_id)
        .join(Card, Card.id == Submission.card_id)
        .outerjoin(Deck, Deck.id == Submission.deck_id)
        .where(Submission.id == submission_id, Submission.learner_id == learner_id)
    ).one_or_none()
    if found is None:
        raise NotFound(f"no submission {submission_id}")
    row, number, spec_data, slug, deck_slug = found
    spec = stored_spec(spec_data)
    return SubmissionView(
        id=row.id,
        slug=slug,
        title=spec.title,
        version=number,
        seed=row.seed,
        created_at=row.created_at,
        score=row.score,
        pending=row.pending,
        answers=row.answers,
        grade=Grade.from_dict(row.results),
        spec=spec,
        variant=variants.variant(spec, row.seed),
        deck_slug=deck_slug,
        attempt=row.attempt,
    )


def list_submissions(*, session: Session, learner_id: int, limit: int | None = None) -> list[SubmissionSummary]:
    """``learner_id``'s submissions, newest first."""
    query = (
        select(
            Submission.id,
            Card.slug,
            Card.title,
            CardVersion.number,
            Submission.seed,
            Submission.created_at,
            Submission.score,
            Submission.pending,
        )
        .join(CardVersion, CardVersion.id == Submission.card_version_id)
        .join(Card, Card.id == Submission.card_id)
        .where(Submission.learner_id == learner_id)
        .order_by(Submission.created_at.desc(), Submission.id.desc())
        .limit(limit)
    )
    return [
        SubmissionSummary(
            id=row.id,
            slug=row.slug,
            title=row.title,
            version=row.number,
            seed=row.seed,
            created_at=row.created_at,
            score=row.score,
            pending=row.pending,
        )
        for row in session.execute(query)
    ]
