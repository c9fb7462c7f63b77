"""The tables: learners, cards with immutable versions, and the submissions graded against a version."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

# Named constraints let Alembic's batch mode rebuild SQLite tables and drop or alter them by name later.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

CARD_STATUSES = ("published", "draft", "archived")
DECK_STATUSES = CARD_STATUSES
ROLES = ("learner", "instructor", "admin")
SOLUTION_POLICIES = ("always", "after_correct", "after_due")

# JSONB on PostgreSQL (indexable, compact); plain JSON text elsewhere.
JSONType = JSON().with_variant(JSONB(), "postgresql")


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp everywhere: SQLite keeps no offset, so one is put back on read."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("timestamps must be timezone-aware")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSONType,
        list[str]: JSONType,
    }


class User(Base):
    """An account: learners who signed up, instructors and administrators."""

    __tablename__ = "user_account"  # "user" is a reserved word in PostgreSQL
    __table_args__ = (CheckConstraint(f"role IN {ROLES!r}", name="role"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)  # stored lower-cased
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), default="learner")
    # Part of every session cookie: bumping it (password change, "sign out everywhere") ends old sessions.
    session_version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class EndedSession(Base):
    """A browser session signed out: its cookie, should a copy of it survive, signs no one in any more.

    Kept until the cookie would have expired anyway (``ends_at``), then deleted by the next sign-out.
    """

    __tablename__ = "ended_session"

    session_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    ends_at: Mapped[datetime] = mapped_column(index=True)


class Learner(Base):
    """Someone answering cards: a guest known by the id in their signed cookie, later perhaps a user."""

    __tablename__ = "learner"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    guest_id: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), unique=True, default=None)
    # An external id given by an LMS or an integration ("lms-user-123"), unique where present.
    external_id: Mapped[str | None] = mapped_column(String(255), unique=True, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiToken(Base):
    """A bearer token for /api/v1; only its SHA-256 is kept (tokens are long random strings, not passwords)."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))  # the first characters, shown in lists to tell tokens apart
    scopes: Mapped[list[str]] = mapped_column(default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)


class Card(Base):
    """A question by slug; its content lives in versions, ``current_version_id`` is the one learners get."""

    __tablename__ = "card"
    __table_args__ = (CheckConstraint(f"status IN {CARD_STATUSES!r}", name="status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(100), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    tags: Mapped[list[str]] = mapped_column(default=list)
    status: Mapped[str] = mapped_column(String(16), default="draft")
    builtin: Mapped[bool] = mapped_column(Boolean, default=False)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), index=True, default=None)
    # Cards and versions point at each other; the constraint is added after both tables exist.
    current_version_id: Mapped[int | None] = mapped_column(ForeignKey("card_version.id", use_alter=True), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class CardVersion(Base):
    """An immutable snapshot of a card's spec; submissions point here so every grade can be reproduced."""

    __tablename__ = "card_version"
    __table_args__ = (UniqueConstraint("card_id", "number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    card_id: Mapped[int] = mapped_column(ForeignKey("card.id"))
    number: Mapped[int] = mapped_column(Integer)
    spec: Mapped[dict[str, Any]]
    spec_hash: Mapped[str] = mapped_column(String(64))
    author_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Deck(Base):
    """An assignment: an ordered set of cards with a policy for attempts, penalties and solutions."""

    __tablename__ = "deck"
    __table_args__ = (
        CheckConstraint(f"status IN {DECK_STATUSES!r}", name="status"),
        CheckConstraint(f"show_solution IN {SOLUTION_POLICIES!r}", name="show_solution"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(100), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    due_at: Mapped[datetime | None] = mapped_column(default=None)
    max_attempts: Mapped[int | None] = mapped_column(Integer, default=None)  # None: unlimited
    penalty_per_attempt: Mapped[float] = mapped_column(Float, default=0.0)  # credit lost per extra attempt
    show_solution: Mapped[str] = mapped_column(String(16), default="always")
    status: Mapped[str] = mapped_column(String(16), default="draft")
    builtin: Mapped[bool] = mapped_column(Boolean, default=False)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), index=True, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class DeckCard(Base):
    """A card's place in a deck."""

    __tablename__ = "deck_card"
    __table_args__ = (UniqueConstraint("deck_id", "card_id"),)

    deck_id: Mapped[int] = mapped_column(ForeignKey("deck.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    card_id: Mapped[int] = mapped_column(ForeignKey("card.id"), index=True)


class Submission(Base):
    """One graded attempt: the version and seed rebuild the variant, ``answers`` are kept as sent."""

    __tablename__ = "submission"
    __table_args__ = (
        # A learner's best score per card (the card list), read from the index alone; their history (progress).
        Index("ix_submission_learner_id_card_id_score", "learner_id", "card_id", "score"),
        Index("ix_submission_learner_id_created_at", "learner_id", "created_at"),
        # Per-card analytics and regrading, newest first.
        Index("ix_submission_card_id_created_at", "card_id", "created_at"),
        # Deck progress, gradebooks and deck analytics: every column they read is in the index, so a page of
        # learners is a short range of it and the table itself is never visited.
        Index(
            "ix_submission_deck_id_learner_id_card_id_attempt_score_pending",
            "deck_id",
            "learner_id",
            "card_id",
            "attempt",
            "score",
            "pending",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    learner_id: Mapped[int] = mapped_column(ForeignKey("learner.id"))
    card_id: Mapped[int] = mapped_column(ForeignKey("card.id"))
    card_version_id: Mapped[int] = mapped_column(ForeignKey("card_version.id"), index=True)
    deck_id: Mapped[int | None] = mapped_column(ForeignKey("deck.id"), default=None)
    attempt: Mapped[int] = mapped_column(Integer, default=1, server_default="1")  # 1, 2, ... per learner, card and deck
    seed: Mapped[int] = mapped_column(BigInteger)
    answers: Mapped[dict[str, Any]]
    results: Mapped[dict[str, Any]]
    score: Mapped[float] = mapped_column(Float)
    pending: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SubmissionPart(Base):
    """One part of one submission, in its own row so analytics (facility, wrong answers) are plain SQL."""

    __tablename__ = "submission_part"
    __table_args__ = (
        UniqueConstraint("submission_id", "part_key"),
        Index("ix_submission_part_card_id_part_key", "card_id", "part_key"),
        # The grading queue: the few pending parts, oldest first, without reading the graded millions.
        Index(
            "ix_submission_part_pending",
            "submission_id",
            "id",
            sqlite_where=text("pending = 1"),
            postgresql_where=text("pending = true"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submission.id", ondelete="CASCADE"))
    card_id: Mapped[int] = mapped_column(ForeignKey("card.id"))
    part_key: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    answer: Mapped[str] = mapped_column(String(200), default="")  # the answer as text, cut to 200 characters
    score: Mapped[float | None] = mapped_column(Float, default=None)  # None while pending
    correct: Mapped[bool | None] = mapped_column(Boolean, default=None)
    misconception: Mapped[str | None] = mapped_column(String(64), default=None)
    pending: Mapped[bool] = mapped_column(Boolean, default=False)


class ManualGrade(Base):
    """An instructor's grade and comment on a text part; the latest one per part counts."""

    __tablename__ = "manual_grade"
    __table_args__ = (UniqueConstraint("submission_id", "part_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submission.id", ondelete="CASCADE"))
    part_key: Mapped[str] = mapped_column(String(64))
    score: Mapped[float] = mapped_column(Float)
    comment: Mapped[str] = mapped_column(Text, default="")
    grader_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


# --- running tallies ------------------------------------------------------------------------------------
# A card's statistics are read from these small tables instead of its submissions, so they cost the same with
# a thousand submissions or a million. Database triggers (created by the migration that added the tables)
# keep them in step with submission and submission_part in the same transaction as every insert, update and
# delete, whichever code makes it: the app, a manual grade, a regrade, a learner's history moved on sign-up,
# or a bulk load. Sums are split over TALLY_SHARDS rows per card (by submission id) so that concurrent
# submissions to one card do not all wait on one row lock; readers add the shards up.

TALLY_SHARDS = 8


class CardTally(Base):
    """Per card and shard: submissions, learners, the score sum, pending ones, and a histogram as thresholds."""

    __tablename__ = "card_tally"

    card_id: Mapped[int] = mapped_column(ForeignKey("card.id", ondelete="CASCADE"), primary_key=True)
    shard: Mapped[int] = mapped_column(Integer, primary_key=True)
    submissions: Mapped[int] = mapped_column(Integer, default=0)
    learners: Mapped[int] = mapped_column(Integer, default=0)  # learners whose first submission counted here
    score_sum: Mapped[float] = mapped_column(Float, default=0.0)
    pending: Mapped[int] = mapped_column(Integer, default=0)
    # Scores at or above 0.1, 0.2, ... 0.9: the histogram's buckets are differences of these.
    at_least_1: Mapped[int] = mapped_column(Integer, default=0)
    at_least_2: Mapped[int] = mapped_column(Integer, default=0)
    at_least_3: Mapped[int] = mapped_column(Integer, default=0)
    at_least_4: Mapped[int] = mapped_column(Integer, default=0)
    at_least_5: Mapped[int] = mapped_column(Integer, default=0)
    at_least_6: Mapped[int] = mapped_column(Integer, default=0)
    at_least_7: Mapped[int] = mapped_column(Integer, default=0)
    at_least_8: Mapped[int] = mapped_column(Integer, default=0)
    at_least_9: Mapped[int] = mapped_column(Integer, default=0)


class CardLearner(Base):
    """How many submissions a learner has made to a card: the card's learner count moves when it leaves 0."""

    __tablename__ = "card_learner"

    card_id: Mapped[int] = mapped_column(ForeignKey("card.id", ondelete="CASCADE"), primary_key=True)
    learner_id: Mapped[int] = mapped_column(ForeignKey("learner.id", ondelete="CASCADE"), primary_key=True)
    submissions: Mapped[int] = mapped_column(Integer, default=0)


class PartTally(Base):
    """Per card, part and shard: answer counts, the score sum, and the sums behind Pearson's r (x: the part's
    score, y: its submission's score, over the parts that have a score)."""

    __tablename__ = "part_tally"

    card_id: Mapped[int] = mapped_column(ForeignKey("card.id", ondelete="CASCADE"), primary_key=True)
    part_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    shard: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), default="")
    answered: Mapped[int] = mapped_column(Integer, default=0)
    graded: Mapped[int] = mapped_column(Integer, default=0)
    correct: Mapped[int] = mapped_column(Integer, default=0)
    score_sum: Mapped[float] = mapped_column(Float, default=0.0)  # Σx
    sxx: Mapped[float] = mapped_column(Float, default=0.0)
    sy: Mapped[float] = mapped_column(Float, default=0.0)
    syy: Mapped[float] = mapped_column(Float, default=0.0)
    sxy: Mapped[float] = mapped_column(Float, default=0.0)


class AnswerTally(Base):
    """How often each wrong answer was given to an auto-graded part, with the mistake it matched ('' for none)."""

    __tablename__ = "answer_tally"
    __table_args__ = (Index("ix_answer_tally_card_id_part_key_times", "card_id", "part_key", "times"),)

    card_id: Mapped[int] = mapped_column(ForeignKey("card.id", ondelete="CASCADE"), primary_key=True)
    part_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    answer: Mapped[str] = mapped_column(String(200), primary_key=True)
    misconception: Mapped[str] = mapped_column(String(64), primary_key=True)
    times: Mapped[int] = mapped_column(Integer, default=0)


# The integration tables live in their own module; importing it here puts them on Base.metadata for
# Alembic and the tests wherever the models are imported.
from app.db import integrations as _integrations  # noqa: E402, F401
