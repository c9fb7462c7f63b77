"""Decks (assignments): ordered cards with a policy for attempts, penalties and when solutions are shown.

Reading decks and answering inside them; creating and changing decks is in ``deck_editing``.
Each learner answers a fixed variant of every card in a deck (``deck_seed``), so
classmates see different numbers and nobody can shop for an easy one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final, Protocol

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from app.db.models import Card, Deck, DeckCard, Learner, Submission, User
from app.domain.cards import MAX_SEED
from app.services.accounts import can_edit, is_admin, is_instructor
from app.services.errors import Forbidden, InvalidSeed, NotFound

MAX_CARDS: Final = 100  # cards in one deck
MAX_ATTEMPTS: Final = 100  # the largest finite attempt limit
MAX_TITLE: Final = 200
MAX_DESCRIPTION: Final = 20_000
MAX_SLUG: Final = 100
LIST_LIMIT: Final = 200
# A submission at full marks: the weighted mean of 1s is exactly 1, so the margin only absorbs manual grades.
CORRECT_AT: Final = 1.0 - 1e-9


class DeckInvalid(ValueError):
    """A deck that cannot be saved; ``problems`` lists every (field, message), not just the first."""

    def __init__(self, problems: Sequence[tuple[str, str]]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(f"{where}: {message}" for where, message in self.problems))


class SubmissionRefused(Exception):
    """A deck submission that is not allowed now (no attempts left, the deck is closed); nothing was stored."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason  # "attempts" or "closed"


class WrongSeed(InvalidSeed):
    """A deck submission for a variant other than the learner's own; ``seed`` is the one to answer."""

    def __init__(self, seed: int) -> None:
        super().__init__(f"in this deck you answer variant {seed} of this card; other variants are not accepted")
        self.seed = seed


class DeckPolicy(Protocol):
    """What ``solution_visible`` reads from a deck: a ``Deck`` row and a ``DeckView`` both have it."""

    @property
    def show_solution(self) -> str: ...

    @property
    def due_at(self) -> datetime | None: ...


@dataclass(frozen=True)
class DeckInput:
    """A deck as an instructor writes it (the API's body, the editor's form, a YAML file)."""

    slug: str
    title: str
    description: str = ""
    due_at: datetime | None = None
    cards: tuple[str, ...] = ()  # card slugs, in order
    max_attempts: int | None = None  # None: unlimited
    penalty_per_attempt: float = 0.0  # credit lost per attempt after the first, 0 to 1
    show_solution: str = "always"  # always | after_correct | after_due
    status: str = "draft"  # draft | published | archived


@dataclass(frozen=True)
class DeckCardView:
    card_id: int
    slug: str
    title: str
    position: int  # 1, 2, ... in the deck's order
    available: bool  # the card is published: learners can answer it


@dataclass(frozen=True)
class DeckView:
    id: int
    slug: str
    title: str
    description: str
    due_at: datetime | None
    max_attempts: int | None
    penalty_per_attempt: float
    show_solution: str
    status: str
    builtin: bool
    owner_id: int | None
    created_at: datetime
    updated_at: datetime
    cards: tuple[DeckCardView, ...] = field(default=())

    def card(self, slug: str) -> DeckCardView | None:
        """The card ``slug`` of this deck, or None when it is not in the deck."""
        return next((card for card in self.cards if card.slug == slug), None)

    def is_open(self, now: datetime) -> bool:
        """Whether answers are still taken: no due date, or it has not passed."""
        return self.due_at is None or now < self.due_at

    def to_input(self) -> DeckInput:
        """The deck as an editor's starting point."""
        return DeckInput(
            slug=self.slug,
            title=self.title,
            description=self.description,
            due_at=self.due_at,
            cards=tuple(card.slug for card in self.cards),
            max_attempts=self.max_attempts,
            penalty_per_attempt=self.penalty_per_attempt,
            show_solution=self.show_solution,
            status=self.status,
        )


@dataclass(frozen=True)
class DeckSummary:
    slug: str
    title: str
    description: str
    due_at: datetime | None
    status: str
    builtin: bool
    owner_id: int | None
    card_count: int


# --- seeds and solutions --------------------------------------------------------------------------------


def deck_seed(*, learner_id: int, deck_slug: str, card_slug: str) -> int:
    """The variant ``learner_id`` answers of card ``card_slug`` in deck ``deck_slug``: fixed, and their own.

    ``int(sha256("learner:deck:card")) mod 2**31``, so it never changes (deck and card slugs are fixed once
    created) and classmates almost surely differ.
    """
    digest = hashlib.sha256(f"{learner_id}:{deck_slug}:{card_slug}".encode()).digest()
    return int.from_bytes(digest, "big") % MAX_SEED


def solution_visible(*, deck: DeckPolicy, submission_correct: bool, now: datetime) -> bool:
    """Whether the worked solution and expected answers may be shown for a submission in ``deck``.

    ``always``: at once; ``after_correct``: once the learner has answered the card correctly;
    ``after_due``: once the due date has passed (a deck with this policy always has one).
    """
    if deck.show_solution == "always":
        return True
    if deck.show_solution == "after_correct":
        return submission_correct
    return deck.due_at is not None and now >= deck.due_at


def answered_correctly(*, session: Session, deck_id: int, learner_id: int, card_id: int) -> bool:
    """Whether ``learner_id`` has a submission at full marks on the card in the deck."""
    found = session.scalar(
        select(Submission.id)
        .where(
            Submission.deck_id == deck_id,
            Submission.learner_id == learner_id,
            Submission.card_id == card_id,
            Submission.score >= CORRECT_AT,
        )
        .limit(1)
    )
    return found is not None


# --- reading --------------------------------------------------------------------------------------------


def _deck_cards(session: Session, deck_id: int) -> tuple[DeckCardView, ...]:
    rows = session.execute(
        select(DeckCard.position, Card.id, Card.slug, Card.title, Card.status)
        .join(Card, Card.id == DeckCard.card_id)
        .where(DeckCard.deck_id == deck_id)
        .order_by(DeckCard.position)
        .limit(MAX_CARDS)
    )
    return tuple(
        DeckCardView(
            card_id=row.id, slug=row.slug, title=row.title, position=index, available=row.status == "published"
        )
        for index, row in enumerate(rows, start=1)
    )


def deck_view(session: Session, deck: Deck) -> DeckView:
    """A deck row with its cards in order."""
    return DeckView(
        id=deck.id,
        slug=deck.slug,
        title=deck.title,
        description=deck.description,
        due_at=deck.due_at,
        max_attempts=deck.max_attempts,
        penalty_per_attempt=deck.penalty_per_attempt,
        show_solution=deck.show_solution,
        status=deck.status,
        builtin=deck.builtin,
        owner_id=deck.owner_id,
        created_at=deck.created_at,
        updated_at=deck.updated_at,
        cards=_deck_cards(session, deck.id),
    )


def may_edit(user: User | None, deck: DeckView | Deck) -> bool:
    """Instructors edit their own decks, administrators every deck (built-in ones have no owner)."""
    return user is not None and can_edit(user, deck.owner_id)


def get_deck(*, session: Session, slug: str, user: User | None = None) -> DeckView:
    """The deck ``slug``: published for everyone, any status for whoever may edit it; else NotFound."""
    deck = session.scalars(select(Deck).where(Deck.slug == slug)).one_or_none()
    if deck is None or (deck.status != "published" and not may_edit(user, deck)):
        raise NotFound(f"no published deck '{slug}'")
    return deck_view(session, deck)


def published_deck(*, session: Session, slug: str) -> DeckView:
    """The published deck ``slug``, whoever asks; raises NotFound otherwise."""
    deck = session.scalars(select(Deck).where(Deck.slug == slug, Deck.status == "published")).one_or_none()
    if deck is None:
        raise NotFound(f"no published deck '{slug}'")
    return deck_view(session, deck)


def any_deck(*, session: Session, slug: str) -> DeckView:
    """The deck ``slug`` whatever its status (a learner's old submission still shows its deck); else NotFound."""
    deck = session.scalars(select(Deck).where(Deck.slug == slug)).one_or_none()
    if deck is None:
        raise NotFound(f"no deck '{slug}'")
    return deck_view(session, deck)


def deck_for_editing(*, session: Session, user: User | None, slug: str) -> Deck:
    """The deck row ``user`` is about to change; raises NotFound (or Forbidden for a published deck of another's).

    A draft of someone else's is not found at all, so its existence is not revealed.
    """
    deck = session.scalars(select(Deck).where(Deck.slug == slug)).one_or_none()
    if deck is None or not (deck.status == "published" or may_edit(user, deck)):
        raise NotFound(f"no deck '{slug}'")
    if not may_edit(user, deck):
        whose = "built in: only an administrator" if deck.owner_id is None else "another instructor's: only they"
        raise Forbidden(f"deck '{slug}' is {whose} can change it")
    return deck


def list_decks(
    *,
    session: Session,
    user: User | None = None,
    editable: bool = False,
    limit: int = LIST_LIMIT,
    after: tuple[str, str] | None = None,
) -> list[DeckSummary]:
    """Decks by title: published ones for learners; with ``editable``, those ``user`` may edit.

    Without ``editable`` an instructor also sees their own drafts and archived decks, an administrator all.
    ``after`` is the ``(title, slug)`` of the last deck of the previous page, for paging.
    """
    counts = select(DeckCard.deck_id, func.count().label("card_count")).group_by(DeckCard.deck_id).subquery()
    query = select(Deck, func.coalesce(counts.c.card_count, 0)).outerjoin(counts, counts.c.deck_id == Deck.id)
    admin = user is not None and is_admin(user)
    instructor = user is not None and is_instructor(user)
    if editable:
        if not instructor:
            return []
        if not admin:
            assert user is not None
            query = query.where(Deck.owner_id == user.id)
    elif not admin:
        visible = Deck.status == "published"
        if instructor:
            assert user is not None
            visible = visible | (Deck.owner_id == user.id)
        query = query.where(visible)
    if after is not None:
        title, slug = after
        query = query.where(or_(Deck.title > title, and_(Deck.title == title, Deck.slug > slug)))
    query = query.order_by(Deck.title, Deck.slug).limit(limit)
    return [
        DeckSummary(
            slug=deck.slug,
            title=deck.title,
            description=deck.description,
            due_at=deck.due_at,
            status=deck.status,
            builtin=deck.builtin,
            owner_id=deck.owner_id,
            card_count=int(count),
        )
        for deck, count in session.execute(query)
    ]


# --- answering inside a deck ----------------------------------------------------------------------------


def deck_for_submission(
    *, session: Session, deck_slug: str, card_slug: str, learner_id: int, seed: int, now: datetime
) -> DeckView:
    """The published deck a learner answers ``card_slug`` in, once the seed and the due date are checked.

    Raises NotFound (no such published deck, or the card is not in it), WrongSeed (another variant than the
    learner's own), or SubmissionRefused (past the due date).
    """
    deck = published_deck(session=session, slug=deck_slug)
    if deck.card(card_slug) is None:
        raise NotFound(f"card '{card_slug}' is not in deck '{deck_slug}'")
    own = deck_seed(learner_id=learner_id, deck_slug=deck_slug, card_slug=card_slug)
    if seed != own:
        raise WrongSeed(own)
    if not deck.is_open(now):
        raise SubmissionRefused(
            f"deck '{deck.title}' closed on its due date; answers are no longer taken", reason="closed"
        )
    return deck


def claim_attempt(*, session: Session, deck: DeckView, learner_id: int, card_id: int) -> int:
    """The number of the learner's next attempt at the card in the deck, with the learner's row locked.

    The no-op UPDATE opens the write transaction before counting: PostgreSQL then holds the learner's row
    and SQLite the database's write lock until the submission is committed, so two submissions of the same
    learner at once are numbered one after the other and cannot both pass the attempt limit.
    Raises NotFound (no such learner) or SubmissionRefused (no attempts left); the caller commits.
    """
    locked = session.execute(update(Learner).where(Learner.id == learner_id).values(guest_id=Learner.guest_id))
    if getattr(locked, "rowcount", 1) == 0:
        raise NotFound(f"no learner {learner_id}")
    used = (
        session.scalar(
            select(func.count())
            .select_from(Submission)
            .where(Submission.deck_id == deck.id, Submission.learner_id == learner_id, Submission.card_id == card_id)
        )
        or 0
    )
    if deck.max_attempts is not None and used >= deck.max_attempts:
        raise SubmissionRefused(
            f"no attempts left: this deck allows {deck.max_attempts} attempt"
            f"{'' if deck.max_attempts == 1 else 's'} per card and all have been used",
            reason="attempts",
        )
    return used + 1
