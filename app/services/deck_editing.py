"""Creating and changing decks: everything is validated first and each problem reported by field.

Nothing is written while any problem is left.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from app.db.models import DECK_STATUSES, SOLUTION_POLICIES, Card, Deck, DeckCard, User, utcnow
from app.domain.spec_fields import SLUG_PATTERN
from app.services.accounts import is_instructor
from app.services.decks import (
    MAX_ATTEMPTS,
    MAX_CARDS,
    MAX_DESCRIPTION,
    MAX_SLUG,
    MAX_TITLE,
    DeckInput,
    DeckInvalid,
    DeckView,
    deck_for_editing,
    deck_view,
)
from app.services.errors import Forbidden

# --- validation -----------------------------------------------------------------------------------------


def _check_text(value: str, where: str, limit: int, problems: list[tuple[str, str]], *, required: bool) -> None:
    if required and not value.strip():
        problems.append((where, "is required"))
    elif len(value) > limit:
        problems.append((where, f"has {len(value):,} characters; at most {limit:,} are allowed"))


def _check_policy(data: DeckInput, problems: list[tuple[str, str]]) -> None:
    if data.due_at is not None and data.due_at.tzinfo is None:
        problems.append(("due_at", "needs a time zone, e.g. 2026-12-01T17:00:00+00:00"))
    attempts = data.max_attempts
    if attempts is not None and (isinstance(attempts, bool) or not 1 <= attempts <= MAX_ATTEMPTS):
        problems.append(("max_attempts", f"must be a whole number from 1 to {MAX_ATTEMPTS}, or empty for unlimited"))
    penalty = data.penalty_per_attempt
    if isinstance(penalty, bool) or not (math.isfinite(penalty) and 0.0 <= penalty <= 1.0):
        problems.append(("penalty_per_attempt", "must be a number from 0 to 1 (0.1 takes 10% off per extra attempt)"))
    if data.show_solution not in SOLUTION_POLICIES:
        problems.append(("show_solution", f"must be one of {', '.join(SOLUTION_POLICIES)}"))
    elif data.show_solution == "after_due" and data.due_at is None:
        problems.append(("due_at", "is required when the solution is shown after the due date"))
    if data.status not in DECK_STATUSES:
        problems.append(("status", f"must be one of {', '.join(DECK_STATUSES)}"))


def _check_cards(session: Session, data: DeckInput, problems: list[tuple[str, str]]) -> list[int]:
    """The ids of the deck's cards in order; each problem names ``cards[i]``."""
    if not data.cards:
        problems.append(("cards", "needs at least one card"))
        return []
    if len(data.cards) > MAX_CARDS:
        problems.append(("cards", f"has {len(data.cards)} cards; at most {MAX_CARDS} are allowed"))
        return []
    rows = session.execute(select(Card.slug, Card.id, Card.status).where(Card.slug.in_(set(data.cards))))
    found = {row.slug: (row.id, row.status) for row in rows}
    seen: set[str] = set()
    ids = []
    for index, slug in enumerate(data.cards):
        where = f"cards[{index}]"
        if slug in seen:
            problems.append((where, f"'{slug}' is already in the deck; each card appears once"))
        elif slug not in found:
            problems.append((where, f"there is no card '{slug}'"))
        elif found[slug][1] != "published":
            problems.append((where, f"card '{slug}' is {found[slug][1]}; only published cards can be in a deck"))
        else:
            ids.append(found[slug][0])
        seen.add(slug)
    return ids


def validate_deck(*, session: Session, data: DeckInput, existing: Deck | None = None) -> list[int]:
    """The ids of ``data``'s cards in order; raises DeckInvalid listing every problem."""
    problems: list[tuple[str, str]] = []
    if existing is None:
        if not data.slug:
            problems.append(("slug", "is required"))
        elif len(data.slug) > MAX_SLUG or not SLUG_PATTERN.fullmatch(data.slug):
            problems.append(
                (
                    "slug",
                    f"must be lowercase letters and digits in words joined by hyphens, at most {MAX_SLUG} characters",
                )
            )
        elif session.scalar(select(Deck.id).where(Deck.slug == data.slug)) is not None:
            problems.append(("slug", f"'{data.slug}' is already the slug of another deck"))
    elif data.slug and data.slug != existing.slug:
        # Learners' variants are derived from the slug, so renaming would change the numbers mid-assignment.
        problems.append(("slug", f"cannot be changed (it is '{existing.slug}'): learners' variants depend on it"))
    _check_text(data.title, "title", MAX_TITLE, problems, required=True)
    _check_text(data.description, "description", MAX_DESCRIPTION, problems, required=False)
    _check_policy(data, problems)
    ids = _check_cards(session, data, problems)
    if problems:
        raise DeckInvalid(problems)
    return ids


# --- writing --------------------------------------------------------------------------------------------


def _apply(session: Session, deck: Deck, data: DeckInput, card_ids: Sequence[int]) -> None:
    deck.title = data.title.strip()
    deck.description = data.description
    deck.due_at = None if data.due_at is None else data.due_at.astimezone(UTC)  # as it reads back
    deck.max_attempts = data.max_attempts
    deck.penalty_per_attempt = float(data.penalty_per_attempt)
    deck.show_solution = data.show_solution
    deck.status = data.status
    deck.updated_at = utcnow()  # the cards may be all that changed, which the row's onupdate cannot see
    session.flush()
    session.execute(delete(DeckCard).where(DeckCard.deck_id == deck.id))
    rows = [{"deck_id": deck.id, "position": pos, "card_id": card_id} for pos, card_id in enumerate(card_ids, 1)]
    session.execute(insert(DeckCard), rows)


def _commit(session: Session) -> None:
    try:
        session.commit()
    except BaseException:
        session.rollback()
        raise


def create_deck(*, session: Session, user: User, data: DeckInput) -> DeckView:
    """A new deck owned by ``user`` (an instructor or administrator); raises Forbidden or DeckInvalid."""
    if not is_instructor(user):
        raise Forbidden("only instructors can create decks")
    card_ids = validate_deck(session=session, data=data)
    deck = Deck(slug=data.slug, title=data.title, owner_id=user.id)
    session.add(deck)
    try:
        _apply(session, deck, data, card_ids)
    except BaseException:
        session.rollback()
        raise
    _commit(session)
    return deck_view(session, deck)


def update_deck(*, session: Session, user: User, slug: str, data: DeckInput) -> DeckView:
    """Replace deck ``slug``'s fields and cards; raises NotFound, Forbidden or DeckInvalid.

    Submissions already made stay, and keep counting while their card stays in the deck.
    """
    deck = deck_for_editing(session=session, user=user, slug=slug)
    card_ids = validate_deck(session=session, data=data, existing=deck)
    try:
        _apply(session, deck, data, card_ids)
    except BaseException:
        session.rollback()
        raise
    _commit(session)
    return deck_view(session, deck)


def upsert_builtin_deck(*, session: Session, data: DeckInput) -> str:
    """Bring the built-in deck ``data.slug`` up to ``data`` without committing; "created", "updated" or "unchanged".

    Raises DeckInvalid, also when the slug belongs to an instructor's deck (it is never taken over).
    """
    deck = session.scalars(select(Deck).where(Deck.slug == data.slug)).one_or_none()
    if deck is not None and not deck.builtin:
        raise DeckInvalid([("slug", f"'{data.slug}' is the slug of a deck that is not built in")])
    card_ids = validate_deck(session=session, data=data, existing=deck)
    if deck is None:
        deck = Deck(slug=data.slug, title=data.title, builtin=True, owner_id=None)
        session.add(deck)
        _apply(session, deck, data, card_ids)
        return "created"
    if deck_view(session, deck).to_input() == _normalised(data):
        return "unchanged"
    _apply(session, deck, data, card_ids)
    return "updated"


def _normalised(data: DeckInput) -> DeckInput:
    """``data`` as it reads back once stored (the title trimmed, the penalty a float)."""
    return DeckInput(
        slug=data.slug,
        title=data.title.strip(),
        description=data.description,
        due_at=data.due_at,
        cards=tuple(data.cards),
        max_attempts=data.max_attempts,
        penalty_per_attempt=float(data.penalty_per_attempt),
        show_solution=data.show_solution,
        status=data.status,
    )
