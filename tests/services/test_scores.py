from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session
from users_support import make_user

from app.db.models import Learner, Submission, User
from app.domain.cards import generate
from app.services.catalog import get_card
from app.services.deck_editing import create_deck, update_deck
from app.services.decks import DeckInput, DeckView, deck_seed, get_deck
from app.services.learners import guest_learner
from app.services.scores import card_scores_for_learner, deck_score, deck_score_for_learner, deck_scores
from app.services.submissions import submit

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
RIGHT = {"loss_a": "0.0268", "better": "Student A", "reasoning": "A is closer."}  # score 1
HALF = {"loss_a": "0.0268", "better": "Student B", "reasoning": "B is closer."}  # score 0.5
WRONG = {"loss_a": "1", "better": "Student B", "reasoning": "B is closer."}  # score 0


def credit(score: float, attempt: int, penalty: float) -> float:
    return max(0.0, score - penalty * (attempt - 1))


@pytest.fixture
def instructor(session: Session) -> User:
    return make_user(session, "instructor", "ins@example.org")


def make_deck(session: Session, instructor: User, *, penalty: float) -> DeckView:
    data = DeckInput(
        slug="week-1",
        title="Week 1",
        cards=("two-students", "drawn-kl"),
        max_attempts=None,
        penalty_per_attempt=penalty,
        status="published",
    )
    return create_deck(session=session, user=instructor, data=data)


def answer(session: Session, learner: Learner, answers: dict[str, Any], card: str = "two-students") -> float:
    seed = deck_seed(learner_id=learner.id, deck_slug="week-1", card_slug=card)
    view = submit(
        session=session, learner_id=learner.id, slug=card, seed=seed, answers=answers, deck_slug="week-1", now=NOW
    )
    return view.score


def drawn_right(session: Session, learner: Learner) -> dict[str, str]:
    seed = deck_seed(learner_id=learner.id, deck_slug="week-1", card_slug="drawn-kl")
    return {"kl": str(generate(get_card(session=session, slug="drawn-kl").spec, seed).answers["kl"])}


def test_first_attempt_full_then_minus_the_penalty_and_the_best_counts(
    session: Session, loaded: Path, instructor: User, learner: Learner
) -> None:
    deck = make_deck(session, instructor, penalty=0.25)
    scores = [answer(session, learner, answers) for answers in (HALF, RIGHT, RIGHT, HALF, RIGHT)]
    assert scores == [0.5, 1.0, 1.0, 0.5, 1.0]
    credits = [credit(score, attempt, 0.25) for attempt, score in enumerate(scores, start=1)]
    assert credits == [0.5, 0.75, 0.5, 0.0, 0.0]  # attempt 4 would be −0.25: floored at 0

    first, second = card_scores_for_learner(session=session, deck=deck, learner_id=learner.id)
    assert (first.slug, first.position, first.attempts) == ("two-students", 1, 5)
    assert first.best == pytest.approx(max(credits)) and first.best_attempt == 2
    assert first.pending  # the written part awaits a person
    assert (second.slug, second.attempts, second.best, second.best_attempt) == ("drawn-kl", 0, 0.0, None)
    expected = (max(credits) + 0.0) / 2  # a card not attempted counts 0
    assert deck_score([first, second]) == pytest.approx(expected)
    assert deck_score_for_learner(session=session, deck=deck, learner_id=learner.id) == pytest.approx(expected)


def test_a_large_penalty_floors_each_attempt_at_zero(
    session: Session, loaded: Path, instructor: User, learner: Learner
) -> None:
    deck = make_deck(session, instructor, penalty=0.6)
    answer(session, learner, WRONG)
    answer(session, learner, HALF)  # 0.5 − 0.6 < 0
    answer(session, learner, RIGHT)  # 1 − 1.2 < 0
    (card, _) = card_scores_for_learner(session=session, deck=deck, learner_id=learner.id)
    assert (card.best, card.best_attempt) == (0.0, 1)


def test_deck_scores_for_every_learner_match_the_numbers_worked_out_by_hand(
    session: Session, loaded: Path, instructor: User, learner: Learner, other_learner: Learner
) -> None:
    deck = make_deck(session, instructor, penalty=0.1)
    third = guest_learner(session=session, guest_id="guest-three")
    answer(session, learner, HALF)
    answer(session, learner, RIGHT)
    answer(session, learner, drawn_right(session, learner), card="drawn-kl")
    answer(session, other_learner, {"kl": "5"}, card="drawn-kl")
    answer(session, other_learner, {"kl": "5"}, card="drawn-kl")
    answer(session, other_learner, drawn_right(session, other_learner), card="drawn-kl")
    # Free practice never counts towards a deck.
    submit(session=session, learner_id=third.id, slug="two-students", seed=0, answers=RIGHT)

    one = max(credit(0.5, 1, 0.1), credit(1.0, 2, 0.1)), credit(1.0, 1, 0.1)
    two = 0.0, max(credit(0.0, 1, 0.1), credit(0.0, 2, 0.1), credit(1.0, 3, 0.1))
    rows = deck_scores(session=session, deck=deck)
    two_students, drawn = (card.card_id for card in deck.cards)
    assert [row.learner_id for row in rows] == [learner.id, other_learner.id]
    first, second = rows
    assert first.cards == {two_students: pytest.approx(one[0]), drawn: pytest.approx(one[1])}
    assert first.attempts == {two_students: 2, drawn: 1}
    assert first.score == pytest.approx(sum(one) / 2)
    assert second.cards == {drawn: pytest.approx(two[1])}
    assert second.attempts == {drawn: 3}
    assert second.score == pytest.approx(sum(two) / 2)
    for row in rows:
        assert row.score == pytest.approx(deck_score_for_learner(session=session, deck=deck, learner_id=row.learner_id))
    assert len(deck_scores(session=session, deck=deck, limit=1)) == 1


def test_a_changed_score_a_changed_penalty_and_a_removed_card_rescore_the_deck(
    session: Session, loaded: Path, instructor: User, learner: Learner
) -> None:
    deck = make_deck(session, instructor, penalty=0.2)
    answer(session, learner, HALF)
    answer(session, learner, drawn_right(session, learner), card="drawn-kl")
    assert deck_score_for_learner(session=session, deck=deck, learner_id=learner.id) == pytest.approx((0.5 + 1) / 2)

    # A manual grade rewrites the submission's score; the deck score follows at once.
    session.execute(update(Submission).where(Submission.card_id == deck.cards[0].card_id).values(score=0.9))
    session.commit()
    assert deck_score_for_learner(session=session, deck=deck, learner_id=learner.id) == pytest.approx((0.9 + 1) / 2)

    answer(session, learner, RIGHT)  # attempt 2: 1 − 0.2 = 0.8 < 0.9
    assert card_scores_for_learner(session=session, deck=deck, learner_id=learner.id)[0].best == pytest.approx(0.9)
    data = get_deck(session=session, slug="week-1").to_input()
    lenient = update_deck(session=session, user=instructor, slug="week-1", data=replace(data, penalty_per_attempt=0.0))
    assert card_scores_for_learner(session=session, deck=lenient, learner_id=learner.id)[0].best == 1.0

    only_drawn = update_deck(session=session, user=instructor, slug="week-1", data=replace(data, cards=("drawn-kl",)))
    assert deck_score_for_learner(session=session, deck=only_drawn, learner_id=learner.id) == 1.0
    assert [row.cards for row in deck_scores(session=session, deck=only_drawn)] == [{deck.cards[1].card_id: 1.0}]


def test_a_learner_who_never_answered_has_zeros(
    session: Session, loaded: Path, instructor: User, learner: Learner
) -> None:
    deck = make_deck(session, instructor, penalty=0.1)
    cards = card_scores_for_learner(session=session, deck=deck, learner_id=learner.id)
    assert [(card.attempts, card.best, card.best_attempt, card.pending) for card in cards] == [
        (0, 0.0, None, False)
    ] * 2
    assert deck_score_for_learner(session=session, deck=deck, learner_id=learner.id) == 0.0
    assert deck_scores(session=session, deck=deck) == []
