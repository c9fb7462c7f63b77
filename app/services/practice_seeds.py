"""Free practice on a learner's deck variant: refused while the deck still hides that variant's solution.

A learner's variant in a deck (``decks.deck_seed``) answered as free practice would show its worked solution,
which the deck's policy may still be withholding; such a submission belongs in the deck. Every free-practice
submission of a drawn card asks which decks hide the card's solution: the answer is kept for a moment per card
(``CACHE_SECONDS``, emptied at once when this process changes a deck), and most often no deck's variant is the
one answered, so no query is needed at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

from sqlalchemy import Engine, bindparam, select
from sqlalchemy.orm import Session

from app.db.models import Deck, DeckCard
from app.services.decks import LIST_LIMIT, answered_correctly, deck_seed, solution_visible
from app.services.engine_cache import EngineCache, forget_on_change, session_engine

CACHE_SECONDS: Final = 1.0
GRACE_SECONDS: Final = 0.5  # one request reads expired decks again while the others keep the old ones


@dataclass(frozen=True)
class HidingDeck:
    """A published deck with the card whose policy may withhold solutions."""

    id: int
    slug: str
    title: str
    show_solution: str
    due_at: datetime | None


# Built once: building a select costs more than running it.
_HIDING_DECKS = (
    select(Deck.id, Deck.slug, Deck.title, Deck.show_solution, Deck.due_at)
    .join(DeckCard, DeckCard.deck_id == Deck.id)
    .where(DeckCard.card_id == bindparam("card_id"), Deck.status == "published", Deck.show_solution != "always")
    .order_by(Deck.id)
    .limit(LIST_LIMIT)
)

hiding: EngineCache[int, tuple[HidingDeck, ...]] = EngineCache(seconds=CACHE_SECONDS, grace=GRACE_SECONDS)
forget_on_change(hiding, Deck, DeckCard)


def hiding_decks(*, session: Session, card_id: int) -> tuple[HidingDeck, ...]:
    """The published decks with card ``card_id`` that do not always show solutions (kept for a moment)."""

    def load() -> tuple[HidingDeck, ...]:
        return tuple(HidingDeck(*row) for row in session.execute(_HIDING_DECKS, {"card_id": card_id}))

    return hiding.fetch(session_engine(session), card_id, load)


def decks_of_variant(decks: tuple[HidingDeck, ...], *, learner_id: int, card_slug: str, seed: int) -> list[HidingDeck]:
    """The decks in which variant ``seed`` is ``learner_id``'s own."""
    return [
        deck for deck in decks if deck_seed(learner_id=learner_id, deck_slug=deck.slug, card_slug=card_slug) == seed
    ]


def known_free(engine: Engine, *, card_id: int, learner_id: int, card_slug: str, seed: int) -> bool:
    """True when it is known without a query that no deck reserves variant ``seed`` for the learner."""
    decks = hiding.get(engine, card_id)
    return decks is not None and not decks_of_variant(decks, learner_id=learner_id, card_slug=card_slug, seed=seed)


def reserved_practice_seed(
    *, session: Session, learner_id: int, card_id: int, card_slug: str, seed: int, now: datetime
) -> str | None:
    """The title of a deck whose hidden solution a free-practice submission at ``seed`` would reveal, else None."""
    decks = hiding_decks(session=session, card_id=card_id)
    for deck in decks_of_variant(decks, learner_id=learner_id, card_slug=card_slug, seed=seed):
        correct = answered_correctly(session=session, deck_id=deck.id, learner_id=learner_id, card_id=card_id)
        if not solution_visible(deck=deck, submission_correct=correct, now=now):
            return deck.title
    return None
