"""The published cards: the learner's list with best scores (whole or a page at a time), and one card's version."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam, exists, func, literal, or_, select, type_coerce
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from app.db.models import Card, CardVersion, Submission
from app.domain.cards import CardSpec, parse_spec, stored_is_drawn
from app.services.errors import NotFound


@dataclass(frozen=True)
class CardSummary:
    slug: str
    title: str
    tags: tuple[str, ...]
    drawn: bool  # parameters drawn per seed: the page offers a new variant
    best_score: float | None  # the learner's best over every submission to the card; None when never tried


@dataclass(frozen=True)
class PublishedCard:
    card_id: int
    version_id: int
    version: int  # the version's number, 1, 2, ...
    spec: CardSpec


@lru_cache(maxsize=512)
def _parse_canonical(canonical: str) -> CardSpec:
    return parse_spec(json.loads(canonical))


def stored_spec(spec: Mapping[str, Any]) -> CardSpec:
    """The CardSpec of a stored version; versions never change, so parsing is done once per distinct spec."""
    return _parse_canonical(json.dumps(spec, sort_keys=True))


def _tagged(session: Session, tag: str) -> ColumnElement[bool]:
    """Cards whose tags include ``tag`` exactly: JSONB containment on PostgreSQL, ``json_each`` on SQLite."""
    if session.get_bind().dialect.name == "postgresql":
        return type_coerce(Card.tags, JSONB).contains([tag])
    each = func.json_each(Card.tags).table_valued("value")
    return exists(select(literal(1)).select_from(each).where(each.c.value == tag))


def list_cards(
    *,
    session: Session,
    learner_id: int | None,
    tag: str | None = None,
    after: tuple[str, str] | None = None,
    limit: int | None = None,
) -> list[CardSummary]:
    """Published cards by title (then slug), with ``learner_id``'s best score on each (None for nobody).

    ``tag`` keeps the cards with that tag; ``after`` is the ``(title, slug)`` of the last card of the previous
    page and ``limit`` the size of this one, for paging (all cards when both are left out).
    """
    columns = [Card.slug, Card.title, Card.tags, CardVersion.spec]
    query = select(*columns).join(CardVersion, CardVersion.id == Card.current_version_id)
    if learner_id is not None:
        best = (
            select(Submission.card_id, func.max(Submission.score).label("best_score"))
            .where(Submission.learner_id == learner_id)
            .group_by(Submission.card_id)
            .subquery()
        )
        query = query.add_columns(best.c.best_score).outerjoin(best, best.c.card_id == Card.id)
    query = query.where(Card.status == "published").order_by(Card.title, Card.slug)
    if tag is not None:
        query = query.where(_tagged(session, tag))
    if after is not None:
        title, slug = after
        query = query.where(or_(Card.title > title, and_(Card.title == title, Card.slug > slug)))
    if limit is not None:
        query = query.limit(limit)
    summaries = []
    for row in session.execute(query):
        best_score = row.best_score if learner_id is not None else None
        summaries.append(
            CardSummary(
                slug=row.slug,
                title=row.title,
                tags=tuple(row.tags),
                drawn=stored_is_drawn(row.spec),
                best_score=None if best_score is None else float(best_score),
            )
        )
    return summaries


# Built once: building a select costs more than running this one, and every page and submission needs it.
_CURRENT_VERSION = (
    select(Card.id, CardVersion.id, CardVersion.number, CardVersion.spec)
    .join(CardVersion, CardVersion.id == Card.current_version_id)
    .where(Card.slug == bindparam("slug"), Card.status == "published")
)


def get_card(*, session: Session, slug: str) -> PublishedCard:
    """The current version of the published card ``slug``; raises NotFound otherwise."""
    row = session.execute(_CURRENT_VERSION, {"slug": slug}).one_or_none()
    if row is None:
        raise NotFound(f"no published card '{slug}'")
    card_id, version_id, number, spec = row
    return PublishedCard(card_id=card_id, version_id=version_id, version=number, spec=stored_spec(spec))
