"""The published cards: the learner's list with best scores, and one card's current version."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.db.models import Card, CardVersion, Submission
from app.domain.cards import CardSpec, is_drawn, parse_spec
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


def list_cards(*, session: Session, learner_id: int | None) -> list[CardSummary]:
    """Every published card by title, with ``learner_id``'s best score on each (None for nobody)."""
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
    summaries = []
    for row in session.execute(query):
        best_score = row.best_score if learner_id is not None else None
        summaries.append(
            CardSummary(
                slug=row.slug,
                title=row.title,
                tags=tuple(row.tags),
                drawn=is_drawn(stored_spec(row.spec)),
                best_score=None if best_score is None else float(best_score),
            )
        )
    return summaries


def get_card(*, session: Session, slug: str) -> PublishedCard:
    """The current version of the published card ``slug``; raises NotFound otherwise."""
    row = session.execute(
        select(Card.id, CardVersion.id, CardVersion.number, CardVersion.spec)
        .join(CardVersion, CardVersion.id == Card.current_version_id)
        .where(Card.slug == slug, Card.status == "published")
    ).one_or_none()
    if row is None:
        raise NotFound(f"no published card '{slug}'")
    card_id, version_id, number, spec = row
    return PublishedCard(card_id=card_id, version_id=version_id, version=number, spec=stored_spec(spec))
