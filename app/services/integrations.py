"""What integrations read and write: learners named by an external id, and submissions of any learner.

An LMS or a school's system names its users by its own ids (``"lms-user-123"``); the first submission made
for one creates its learner. Lists are read a page at a time, each page after an opaque cursor that holds the
position of the last row (``(created_at, id)`` for submissions, ``id`` for learners), so rows written while a
client walks the pages never make it see a row twice or skip one.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from sqlalchemy import and_, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.db.models import Card, CardVersion, Deck, Learner, Submission
from app.services.paging import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    CursorInvalid,
    Page,
    cursor_position,
    decode_cursor,
    encode_cursor,
    page_of,
)
from app.services.submission_views import SubmissionSummary

MAX_EXTERNAL_ID: Final = 255

# The cursor helpers live in app.services.paging; callers of this module may import them from here too.
__all__ = [
    "DEFAULT_LIMIT",
    "MAX_EXTERNAL_ID",
    "MAX_LIMIT",
    "CursorInvalid",
    "ExternalLearner",
    "Page",
    "SubmissionFilter",
    "SubmissionRecord",
    "decode_cursor",
    "encode_cursor",
    "external_learner",
    "find_submissions",
    "list_external_learners",
    "submission_after",
]


# --- learners by external id --------------------------------------------------------------------------------


def external_learner(*, session: Session, external_id: str) -> Learner:
    """The learner an integration calls ``external_id``, created (and committed) on first sight."""
    learner = session.scalars(select(Learner).where(Learner.external_id == external_id)).one_or_none()
    if learner is not None:
        return learner
    # The guest id is required and unique; a random one no guest cookie will ever carry.
    learner = Learner(guest_id=f"external-{secrets.token_hex(16)}", external_id=external_id)
    session.add(learner)
    try:
        session.commit()
    except IntegrityError:
        # Two first submissions for the same external id raced; the other one created the row.
        session.rollback()
        return session.scalars(select(Learner).where(Learner.external_id == external_id)).one()
    return learner


@dataclass(frozen=True)
class ExternalLearner:
    id: int
    external_id: str
    created_at: datetime
    submissions: int


def list_external_learners(
    *, session: Session, limit: int = DEFAULT_LIMIT, cursor: str | None = None
) -> Page[ExternalLearner]:
    """The learners known by an external id, in the order they were first seen; raises CursorInvalid."""
    position = cursor_position(cursor, (int,))
    counts = select(Submission.learner_id, func.count().label("n")).group_by(Submission.learner_id).subquery()
    query = (
        select(Learner.id, Learner.external_id, Learner.created_at, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.learner_id == Learner.id)
        .where(Learner.external_id.is_not(None))
        .order_by(Learner.id)
        .limit(limit + 1)
    )
    if position is not None:
        query = query.where(Learner.id > position[0])
    rows = [
        ExternalLearner(id=row[0], external_id=str(row[1]), created_at=row[2], submissions=int(row[3]))
        for row in session.execute(query)
    ]
    return page_of(rows, limit=limit, position=lambda learner: [learner.id])


# --- submissions of any learner ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SubmissionFilter:
    """Which submissions to list; every field that is set narrows the list."""

    learner_id: int | None = None  # the caller's own learner, for a caller who may only read their own
    external_id: str | None = None
    card: str | None = None
    deck: str | None = None
    since: datetime | None = None  # made at or after
    until: datetime | None = None  # made before


@dataclass(frozen=True)
class SubmissionRecord(SubmissionSummary):
    """A submission as an integration lists it: the learner's own summary, with its deck, attempt and learner."""

    deck: str | None
    attempt: int
    learner_id: int
    external_id: str | None


def submission_after(cursor: str | None) -> tuple[datetime, int] | None:
    position = cursor_position(cursor, (str, int))
    if position is None:
        return None
    stamp, ident = position
    try:
        moment = datetime.fromisoformat(stamp)
    except ValueError as exc:
        raise CursorInvalid("is not a cursor of this list: send back the next_cursor of a page") from exc
    if moment.tzinfo is None:
        raise CursorInvalid("is not a cursor of this list: send back the next_cursor of a page")
    return moment, ident


def find_submissions(
    *, session: Session, where: SubmissionFilter, limit: int = DEFAULT_LIMIT, cursor: str | None = None
) -> Page[SubmissionRecord]:
    """Submissions newest first, ``limit`` at a time after ``cursor``; raises CursorInvalid."""
    after = submission_after(cursor)
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
            Deck.slug.label("deck"),
            Submission.attempt,
            Submission.learner_id,
            Learner.external_id,
        )
        .join(CardVersion, CardVersion.id == Submission.card_version_id)
        .join(Card, Card.id == Submission.card_id)
        .join(Learner, Learner.id == Submission.learner_id)
        .outerjoin(Deck, Deck.id == Submission.deck_id)
        .order_by(Submission.created_at.desc(), Submission.id.desc())
        .limit(limit + 1)
    )
    if where.learner_id is not None:
        query = query.where(Submission.learner_id == where.learner_id)
    if where.external_id is not None:
        query = query.where(Learner.external_id == where.external_id)
    if where.card is not None:
        query = query.where(Card.slug == where.card)
    if where.deck is not None:
        query = query.where(Deck.slug == where.deck)
    if where.since is not None:
        query = query.where(Submission.created_at >= where.since)
    if where.until is not None:
        query = query.where(Submission.created_at < where.until)
    if after is not None:
        stamp, ident = after
        query = query.where(
            or_(Submission.created_at < stamp, and_(Submission.created_at == stamp, Submission.id < ident))
        )
    rows = [
        SubmissionRecord(
            id=row.id,
            slug=row.slug,
            title=row.title,
            version=row.number,
            seed=row.seed,
            created_at=row.created_at,
            score=row.score,
            pending=row.pending,
            deck=row.deck,
            attempt=row.attempt,
            learner_id=row.learner_id,
            external_id=row.external_id,
        )
        for row in session.execute(query)
    ]
    return page_of(rows, limit=limit, position=lambda record: [record.created_at.isoformat(), record.id])
