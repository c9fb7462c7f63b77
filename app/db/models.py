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
    UniqueConstraint,
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


class Learner(Base):
    """Someone answering cards; a guest is known by the id in their signed cookie."""

    __tablename__ = "learner"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    guest_id: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


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
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Submission(Base):
    """One graded attempt: the version and seed rebuild the variant, ``answers`` are kept as sent."""

    __tablename__ = "submission"
    __table_args__ = (
        # A learner's best score per card (the card list) and their history (the progress page).
        Index("ix_submission_learner_id_card_id", "learner_id", "card_id"),
        Index("ix_submission_learner_id_created_at", "learner_id", "created_at"),
        # Per-card analytics and regrading, newest first.
        Index("ix_submission_card_id_created_at", "card_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    learner_id: Mapped[int] = mapped_column(ForeignKey("learner.id"))
    card_id: Mapped[int] = mapped_column(ForeignKey("card.id"))
    card_version_id: Mapped[int] = mapped_column(ForeignKey("card_version.id"), index=True)
    seed: Mapped[int] = mapped_column(BigInteger)
    answers: Mapped[dict[str, Any]]
    results: Mapped[dict[str, Any]]
    score: Mapped[float] = mapped_column(Float)
    pending: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
