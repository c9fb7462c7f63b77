"""Submissions: grade a learner's answers to a seeded variant, store them, and show them again later."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.db.models import Card, CardVersion, Deck, Submission, SubmissionPart, utcnow
from app.domain.cards import CardSpec, Variant, is_drawn
from app.domain.grading import Grade, grade
from app.domain.variant_cache import VariantCache
from app.metrics import note_stored_submissions
from app.services.catalog import get_card, stored_spec
from app.services.decks import claim_attempt, deck_for_submission, reserved_practice_seed
from app.services.errors import InvalidSeed, NotFound
from app.services.lti.ags import queue_submission_scores
from app.services.webhooks import queue_submission_webhooks


@dataclass(frozen=True)
class SubmissionSummary:
    id: int
    slug: str
    title: str
    version: int
    seed: int
    created_at: datetime
    score: float
    pending: bool  # some parts (text) still wait for a person's grade


@dataclass(frozen=True)
class SubmissionView:
    """A stored submission with what it takes to show it: the spec and variant it answered, and its grade."""

    id: int
    slug: str
    title: str
    version: int
    seed: int
    created_at: datetime
    score: float
    pending: bool
    answers: Mapping[str, Any]  # as the learner sent them
    grade: Grade
    spec: CardSpec
    variant: Variant
    deck_slug: str | None = None  # answered inside this deck (an assignment), else free practice
    attempt: int = 1  # 1, 2, ... per learner, card and deck


# Core inserts of the tables, built once: the ORM's unit of work costs several times as much for the same rows.
# The submission row is not in the session afterwards, so the metrics count it explicitly (note_stored_submissions).
_INSERT_SUBMISSION = insert(Submission.__table__).returning(Submission.__table__.c.id)  # type: ignore[arg-type]
_INSERT_PARTS = insert(SubmissionPart.__table__)  # type: ignore[arg-type]  # a Table, typed as FromClause

# The variants learners were shown, kept for their submissions and results (generating one takes milliseconds).
variants = VariantCache()


def variant_for(spec: CardSpec, seed: int) -> Variant:
    """The variant ``seed`` of ``spec``; raises InvalidSeed when the seed gives none."""
    try:
        return variants.variant(spec, seed)
    except ValueError as exc:  # VariantError included: the card's constraints cannot be met for this seed
        raise InvalidSeed(str(exc)) from exc


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
    card = get_card(session=session, slug=slug)
    deck = None
    if deck_slug is not None:
        deck = deck_for_submission(
            session=session, deck_slug=deck_slug, card_slug=slug, learner_id=learner_id, seed=seed, now=moment
        )
    elif is_drawn(card.spec):
        reserved = reserved_practice_seed(
            session=session, learner_id=learner_id, card_id=card.card_id, card_slug=slug, seed=seed, now=moment
        )
        if reserved is not None:
            raise InvalidSeed(f"variant {seed} is your variant of this card in the deck '{reserved}': answer it there")
    variant = variant_for(card.spec, seed)
    result = grade(card.spec, variant, answers)
    raw = {str(key): value for key, value in answers.items()}
    deck_id = None if deck is None else deck.id
    try:
        attempt = 1
        if deck is not None:
            # Counted while the learner's row is locked, so concurrent attempts get distinct numbers.
            attempt = claim_attempt(session=session, deck=deck, learner_id=learner_id, card_id=card.card_id)
        submission_id: int = session.execute(
            _INSERT_SUBMISSION,
            {
                "learner_id": learner_id,
                "card_id": card.card_id,
                "card_version_id": card.version_id,
                "deck_id": deck_id,
                "attempt": attempt,
                "seed": seed,
                "answers": raw,
                "results": result.to_dict(),
                "score": result.score,
                "pending": result.pending,
                "created_at": moment,
            },
        ).scalar_one()
        note_stored_submissions(session, 1)
        session.execute(_INSERT_PARTS, part_rows(submission_id, card.card_id, raw, result))
        # The new score for LMS gradebooks is queued in the same transaction: sent if and only if this is stored.
        queue_submission_scores(
            session=session, learner_id=learner_id, card_id=card.card_id, deck_id=deck_id, now=moment
        )
        view = SubmissionView(
            id=submission_id,
            slug=card.spec.slug,
            title=card.spec.title,
            version=card.version,
            seed=seed,
            created_at=moment,
            score=result.score,
            pending=result.pending,
            answers=raw,
            grade=result,
            spec=card.spec,
            variant=variant,
            deck_slug=deck_slug,
            attempt=attempt,
        )
        queue_submission_webhooks(session=session, submission=view, learner_id=learner_id, now=moment)
        if on_stored is not None:
            on_stored(view)
        session.commit()
    except IntegrityError as exc:
        session.rollback()
        raise NotFound(f"no learner {learner_id}") from exc
    except BaseException:
        session.rollback()
        raise
    return view


def answer_text(value: Any) -> str:
    """An answer as one line of text, for analytics (the most frequent wrong answers)."""
    text = ", ".join(map(str, value)) if isinstance(value, list | tuple) else str(value)
    return " ".join(text.split())[:200]


def part_rows(submission_id: int, card_id: int, answers: Mapping[str, Any], result: Grade) -> list[dict[str, Any]]:
    """The submission_part rows of a graded submission."""
    return [
        {
            "submission_id": submission_id,
            "card_id": card_id,
            "part_key": part.key,
            "kind": part.kind,
            "answer": answer_text(answers.get(part.key, "")),
            "score": part.score,
            "correct": part.correct,
            "misconception": part.misconception.code if part.misconception else None,
            "pending": part.pending,
        }
        for part in result.parts
    ]


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
