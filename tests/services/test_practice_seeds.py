"""Free practice on a deck's variant: the decks hiding a card kept for a moment, and known free without a query."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from query_count_support import counted_statements
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from users_support import make_user

from app.db.models import Learner, User
from app.services.catalog import get_card
from app.services.deck_editing import create_deck, update_deck
from app.services.decks import DeckInput, deck_seed
from app.services.errors import InvalidSeed
from app.services.practice_seeds import HidingDeck, hiding_decks, known_free, reserved_practice_seed
from app.services.submissions import check_practice_seed

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
DECK = "week-1"


@pytest.fixture
def instructor(session: Session) -> User:
    return make_user(session, "instructor", "ins@example.org")


@pytest.fixture
def card_id(session: Session, loaded: Path) -> int:
    return get_card(session=session, slug="drawn-kl").card_id


def deck_input(**changes: Any) -> DeckInput:
    fields: dict[str, Any] = {
        "slug": DECK,
        "title": "Week 1",
        "cards": ("two-students", "drawn-kl"),
        "show_solution": "after_correct",
        "status": "published",
    }
    return DeckInput(**{**fields, **changes})


def own_seed(learner: Learner, deck: str = DECK) -> int:
    return deck_seed(learner_id=learner.id, deck_slug=deck, card_slug="drawn-kl")


def free(engine: Engine, card_id: int, learner: Learner, seed: int) -> bool:
    return known_free(engine, card_id=card_id, learner_id=learner.id, card_slug="drawn-kl", seed=seed)


def reserved(session: Session, card_id: int, learner: Learner, seed: int, now: datetime = NOW) -> str | None:
    return reserved_practice_seed(
        session=session, learner_id=learner.id, card_id=card_id, card_slug="drawn-kl", seed=seed, now=now
    )


def test_nothing_is_known_free_until_the_hiding_decks_were_read(
    engine: Engine, session: Session, card_id: int, learner: Learner
) -> None:
    assert not free(engine, card_id, learner, 5)

    with counted_statements(engine) as first:
        assert hiding_decks(session=session, card_id=card_id) == ()
    with counted_statements(engine) as second:
        assert hiding_decks(session=session, card_id=card_id) == ()

    assert len(first) == 1 and second == []
    assert free(engine, card_id, learner, 5)
    assert free(engine, card_id, learner, own_seed(learner))


def test_a_hiding_deck_reserves_only_the_learners_own_variant(
    engine: Engine, session: Session, card_id: int, instructor: User, learner: Learner, other_learner: Learner
) -> None:
    deck = create_deck(session=session, user=instructor, data=deck_input())

    [hiding] = hiding_decks(session=session, card_id=card_id)

    assert hiding == HidingDeck(id=deck.id, slug=DECK, title="Week 1", show_solution="after_correct", due_at=None)
    mine = own_seed(learner)
    assert not free(engine, card_id, learner, mine)
    assert free(engine, card_id, learner, mine + 1)
    assert free(engine, card_id, other_learner, mine) == (own_seed(other_learner) != mine)
    assert reserved(session, card_id, learner, mine) == "Week 1"
    assert reserved(session, card_id, other_learner, mine) is None


@pytest.mark.parametrize(
    "changes", [{"show_solution": "always"}, {"status": "draft"}, {"cards": ("two-students",)}], ids=str
)
def test_decks_that_show_solutions_or_are_not_published_or_lack_the_card_hide_nothing(
    engine: Engine, session: Session, card_id: int, instructor: User, learner: Learner, changes: dict[str, Any]
) -> None:
    create_deck(session=session, user=instructor, data=deck_input(**changes))

    assert hiding_decks(session=session, card_id=card_id) == ()
    assert free(engine, card_id, learner, own_seed(learner))
    assert reserved(session, card_id, learner, own_seed(learner)) is None


@pytest.mark.parametrize(
    "changes", [{"show_solution": "always"}, {"status": "archived"}, {"cards": ("two-students",)}], ids=str
)
def test_a_deck_created_or_changed_here_is_seen_at_once(
    engine: Engine, session: Session, card_id: int, instructor: User, learner: Learner, changes: dict[str, Any]
) -> None:
    assert hiding_decks(session=session, card_id=card_id) == ()
    assert free(engine, card_id, learner, own_seed(learner))

    create_deck(session=session, user=instructor, data=deck_input())

    assert not free(engine, card_id, learner, own_seed(learner))  # forgotten: not known any more
    assert reserved(session, card_id, learner, own_seed(learner)) == "Week 1"

    update_deck(session=session, user=instructor, slug=DECK, data=deck_input(**changes))

    assert not free(engine, card_id, learner, own_seed(learner))
    assert reserved(session, card_id, learner, own_seed(learner)) is None
    assert free(engine, card_id, learner, own_seed(learner))


def test_a_free_variant_needs_no_query_once_the_decks_are_known(
    engine: Engine, session: Session, card_id: int, instructor: User, learner: Learner
) -> None:
    create_deck(session=session, user=instructor, data=deck_input())
    hiding_decks(session=session, card_id=card_id)

    with counted_statements(engine) as sent:
        assert reserved(session, card_id, learner, own_seed(learner) + 1) is None
    assert sent == []


def test_a_variant_hidden_until_the_due_date_is_free_from_then_on(
    session: Session, card_id: int, instructor: User, learner: Learner
) -> None:
    create_deck(session=session, user=instructor, data=deck_input(show_solution="after_due", due_at=NOW))
    mine = own_seed(learner)

    assert reserved(session, card_id, learner, mine, now=NOW - timedelta(seconds=1)) == "Week 1"
    assert reserved(session, card_id, learner, mine, now=NOW) is None


def test_each_deck_reserves_the_learners_own_variant_in_it(
    session: Session, card_id: int, instructor: User, learner: Learner
) -> None:
    # Two decks, each with the card; the learner's variant differs per deck, so each reserves its own.
    create_deck(session=session, user=instructor, data=deck_input())
    create_deck(session=session, user=instructor, data=deck_input(slug="week-2", title="Week 2"))

    assert reserved(session, card_id, learner, own_seed(learner)) == "Week 1"
    assert reserved(session, card_id, learner, own_seed(learner, "week-2")) == "Week 2"
    assert [deck.slug for deck in hiding_decks(session=session, card_id=card_id)] == [DECK, "week-2"]


def test_check_practice_seed_refuses_a_reserved_variant_and_skips_fixed_cards(
    engine: Engine, session: Session, card_id: int, instructor: User, learner: Learner
) -> None:
    create_deck(session=session, user=instructor, data=deck_input())
    drawn = get_card(session=session, slug="drawn-kl")
    fixed = get_card(session=session, slug="two-students")

    with pytest.raises(InvalidSeed, match=f"variant {own_seed(learner)} is your variant of this card in the deck"):
        check_practice_seed(session=session, card=drawn, learner_id=learner.id, seed=own_seed(learner), now=NOW)
    check_practice_seed(session=session, card=drawn, learner_id=learner.id, seed=own_seed(learner) + 1, now=NOW)
    with counted_statements(engine) as sent:
        # A fixed card has one variant for everyone: no deck can make it anyone's own.
        check_practice_seed(session=session, card=fixed, learner_id=learner.id, seed=0, now=NOW)
    assert sent == []
