"""Published cards by slug, kept for a moment: every submission and card page needs the current version.

A card changes rarely and is read on every request, so each process keeps what it read for ``CACHE_SECONDS``.
A change made in this process (a new version published, a card archived) empties the cache at once; one made
by another server or worker is seen here within ``CACHE_SECONDS``, and a submission graded meanwhile is stored
with the version it was graded against, so it stays consistent. Missing cards are not kept: a new card is
found the moment it is published.
"""

from __future__ import annotations

from functools import partial
from typing import Final

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from app.db.models import Card, CardVersion
from app.services.catalog import PublishedCard, get_card
from app.services.engine_cache import EngineCache, forget_on_change, session_engine

CACHE_SECONDS: Final = 1.0
GRACE_SECONDS: Final = 0.5  # one request reads an expired card again while the others keep the old one

cards: EngineCache[str, PublishedCard] = EngineCache(seconds=CACHE_SECONDS, grace=GRACE_SECONDS)
forget_on_change(cards, Card, CardVersion)


def cached_card(engine: Engine, slug: str) -> PublishedCard | None:
    """The published card ``slug`` of ``engine``'s database as read in the last ``CACHE_SECONDS``, else None (and
    the caller is to take the path that reads it: ``published_card``). For the event loop: it never waits."""
    return cards.get(engine, slug)


def published_card(*, session: Session, slug: str) -> PublishedCard:
    """``catalog.get_card`` through the cache: the current version of the published card ``slug``, or NotFound."""
    return cards.fetch(session_engine(session), slug, partial(get_card, session=session, slug=slug))
