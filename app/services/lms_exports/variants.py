"""What an export holds: a deck's published cards, each generated at one seed, and whether solutions go along.

Every card of the deck is exported at the same seed (0 unless asked), the variant an instructor previews
at that seed, so the numbers in an LMS quiz can be checked against the card's page. Only the current
published version of a card is exported; a card taken out of publication is listed in ``skipped``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.models import Card, CardVersion, User, utcnow
from app.domain.cards import MAX_SEED, CardSpec, Variant, VariantError, generate
from app.services.catalog import stored_spec
from app.services.decks import DeckView, get_deck, may_edit, solution_visible
from app.services.errors import Forbidden, InvalidSeed

DEFAULT_SEED: Final = 0  # the variant a fixed card always shows, and the one authors preview first


@dataclass(frozen=True)
class ExportCard:
    slug: str
    title: str
    spec: CardSpec  # for the parts' tolerances and weights
    variant: Variant


@dataclass(frozen=True)
class DeckExport:
    slug: str
    title: str
    description: str
    seed: int
    max_attempts: int | None
    show_solutions: bool  # the worked solution and model answers go along as general feedback
    cards: tuple[ExportCard, ...]
    skipped: tuple[str, ...] = ()  # cards of the deck with no published version to export


def deck_for_export(*, session: Session, user: User | None, slug: str) -> DeckView:
    """The deck ``slug`` when ``user`` may export it (its owner, an administrator); else NotFound or Forbidden.

    An export holds every answer, so it is for those who may already see the deck's solutions: a deck
    the user cannot see at all is not found, a published one that is not theirs is forbidden.
    """
    deck = get_deck(session=session, slug=slug, user=user)
    if not may_edit(user, deck):
        raise Forbidden(
            f"deck '{slug}' can be exported only by its owner or an administrator: an export holds every answer"
        )
    return deck


def _published_specs(session: Session, deck: DeckView) -> dict[int, CardSpec]:
    ids = [card.card_id for card in deck.cards]
    rows = session.execute(
        select(Card.id, CardVersion.spec)
        .join(CardVersion, CardVersion.id == Card.current_version_id)
        .where(Card.id.in_(ids), Card.status == "published")
    )
    return {card_id: stored_spec(spec) for card_id, spec in rows}


def load_export(*, session: Session, deck: DeckView, seed: int = DEFAULT_SEED) -> DeckExport:
    """The deck's published cards generated at ``seed``; raises InvalidSeed naming a card with no such variant.

    Solutions go along when the deck shows them now whoever asks: always, or after a due date that has passed.
    """
    if isinstance(seed, bool) or not 0 <= seed < MAX_SEED:
        raise InvalidSeed(f"seed must be a whole number from 0 to {MAX_SEED - 1}, not {seed!r}")
    specs = _published_specs(session, deck)
    cards: list[ExportCard] = []
    skipped: list[str] = []
    for card in deck.cards:
        spec = specs.get(card.card_id)
        if spec is None:
            skipped.append(card.slug)
            continue
        try:
            variant = generate(spec, seed)
        except VariantError as exc:
            raise InvalidSeed(f"card '{card.slug}' has no variant {seed} ({exc}); choose another seed") from exc
        cards.append(ExportCard(slug=card.slug, title=card.title, spec=spec, variant=variant))
    return DeckExport(
        slug=deck.slug,
        title=deck.title,
        description=deck.description,
        seed=seed,
        max_attempts=deck.max_attempts,
        show_solutions=solution_visible(deck=deck, submission_correct=False, now=utcnow()),
        cards=tuple(cards),
        skipped=tuple(skipped),
    )
