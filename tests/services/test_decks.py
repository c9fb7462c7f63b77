import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from users_support import make_user

from app.config import Settings
from app.db.models import Card, Deck, DeckCard, Learner, Submission, SubmissionPart, User
from app.db.session import make_sessionmaker
from app.domain.cards import generate
from app.domain.grading import AnswerFormatError
from app.services.bank import CardFileError, check_card_files, load_cards
from app.services.catalog import get_card
from app.services.deck_editing import create_deck, update_deck
from app.services.decks import (
    DeckInput,
    DeckInvalid,
    SubmissionRefused,
    WrongSeed,
    deck_seed,
    get_deck,
    list_decks,
    solution_visible,
)
from app.services.errors import Forbidden, InvalidSeed, NotFound
from app.services.learners import guest_learner
from app.services.submissions import submit

WriteCard = Callable[..., Path]
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
RIGHT = {"loss_a": "0.0268", "better": "Student A", "reasoning": "A is closer."}
HALF = {"loss_a": "0.0268", "better": "Student B", "reasoning": "B is closer."}


def count(session: Session, model: type[Any]) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


@pytest.fixture
def instructor(session: Session) -> User:
    return make_user(session, "instructor", "ins@example.org")


@pytest.fixture
def other_instructor(session: Session) -> User:
    return make_user(session, "instructor", "other@example.org")


@pytest.fixture
def admin(session: Session) -> User:
    return make_user(session, "admin", "admin@example.org")


def deck_input(**changes: Any) -> DeckInput:
    fields: dict[str, Any] = {
        "slug": "week-1",
        "title": "Week 1",
        "description": "Divergences.",
        "cards": ("two-students", "drawn-kl"),
        "max_attempts": 3,
        "penalty_per_attempt": 0.25,
        "show_solution": "after_correct",
        "status": "published",
    }
    fields.update(changes)
    return DeckInput(**fields)


@pytest.fixture
def deck(session: Session, loaded: Path, instructor: User) -> str:
    return create_deck(session=session, user=instructor, data=deck_input()).slug


def seed_of(learner: Learner, card: str = "two-students", deck_slug: str = "week-1") -> int:
    return deck_seed(learner_id=learner.id, deck_slug=deck_slug, card_slug=card)


def deck_submit(session: Session, learner: Learner, answers: dict[str, Any], **options: Any) -> Any:
    card = options.pop("card", "two-students")
    seed = options.pop("seed", seed_of(learner, card))
    return submit(
        session=session,
        learner_id=learner.id,
        slug=card,
        seed=seed,
        answers=answers,
        deck_slug=options.pop("deck_slug", "week-1"),
        now=options.pop("now", NOW),
    )


# --- creating and editing --------------------------------------------------------------------------------


def test_create_deck_stores_the_policy_and_the_cards_in_order(session: Session, loaded: Path, instructor: User) -> None:
    due = datetime(2026, 12, 24, 17, 0, tzinfo=UTC)
    view = create_deck(
        session=session,
        user=instructor,
        data=deck_input(cards=("drawn-kl", "two-students"), due_at=due, show_solution="after_due"),
    )
    assert (view.slug, view.title, view.owner_id, view.builtin) == ("week-1", "Week 1", instructor.id, False)
    assert (view.max_attempts, view.penalty_per_attempt, view.show_solution, view.due_at) == (3, 0.25, "after_due", due)
    assert [(card.position, card.slug) for card in view.cards] == [(1, "drawn-kl"), (2, "two-students")]
    session.expunge_all()
    assert get_deck(session=session, slug="week-1").to_input() == deck_input(
        cards=("drawn-kl", "two-students"), due_at=due, show_solution="after_due"
    )


def test_every_invalid_field_is_named_and_nothing_is_saved(session: Session, loaded: Path, instructor: User) -> None:
    bad = deck_input(
        slug="Week 1",
        title="  ",
        cards=("two-students", "no-such-card", "two-students"),
        max_attempts=0,
        penalty_per_attempt=1.5,
        show_solution="after_due",
        status="open",
        due_at=datetime(2026, 12, 24, 17, 0),  # no time zone
    )
    with pytest.raises(DeckInvalid) as raised:
        create_deck(session=session, user=instructor, data=bad)
    fields = [where for where, _ in raised.value.problems]
    assert fields == [
        "slug",
        "title",
        "due_at",
        "max_attempts",
        "penalty_per_attempt",
        "status",
        "cards[1]",
        "cards[2]",
    ]
    messages = dict(raised.value.problems)
    assert "no card 'no-such-card'" in messages["cards[1]"]
    assert "already in the deck" in messages["cards[2]"]
    assert count(session, Deck) == 0 and count(session, DeckCard) == 0


def test_a_deck_needs_cards_a_due_date_for_after_due_and_published_cards(
    session: Session, loaded: Path, instructor: User
) -> None:
    with pytest.raises(DeckInvalid) as raised:
        create_deck(session=session, user=instructor, data=deck_input(cards=(), show_solution="after_due"))
    assert raised.value.problems == [
        ("due_at", "is required when the solution is shown after the due date"),
        ("cards", "needs at least one card"),
    ]
    session.execute(Card.__table__.update().where(Card.slug == "drawn-kl").values(status="draft"))
    session.commit()
    with pytest.raises(DeckInvalid) as raised:
        create_deck(session=session, user=instructor, data=deck_input())
    assert raised.value.problems == [("cards[1]", "card 'drawn-kl' is draft; only published cards can be in a deck")]


def test_a_taken_slug_is_refused(session: Session, deck: str, instructor: User) -> None:
    with pytest.raises(DeckInvalid) as raised:
        create_deck(session=session, user=instructor, data=deck_input(title="Again"))
    assert raised.value.problems == [("slug", "'week-1' is already the slug of another deck")]


def test_update_replaces_fields_and_cards_but_never_the_slug(session: Session, deck: str, instructor: User) -> None:
    view = update_deck(
        session=session,
        user=instructor,
        slug=deck,
        data=deck_input(title="Week one", cards=("drawn-kl",), max_attempts=None, status="draft"),
    )
    assert (view.title, view.max_attempts, view.status) == ("Week one", None, "draft")
    assert [card.slug for card in view.cards] == ["drawn-kl"]
    assert count(session, DeckCard) == 1
    with pytest.raises(DeckInvalid) as raised:
        update_deck(session=session, user=instructor, slug=deck, data=deck_input(slug="week-2"))
    assert [where for where, _ in raised.value.problems] == ["slug"]


def test_only_instructors_create_and_only_owners_or_admins_edit(
    session: Session, deck: str, instructor: User, other_instructor: User, admin: User
) -> None:
    learner_user = make_user(session, "learner", "learner@example.org")
    with pytest.raises(Forbidden):
        create_deck(session=session, user=learner_user, data=deck_input(slug="mine"))
    with pytest.raises(Forbidden):
        update_deck(session=session, user=other_instructor, slug=deck, data=deck_input(title="Taken over"))
    with pytest.raises(Forbidden):
        update_deck(session=session, user=learner_user, slug=deck, data=deck_input(title="Taken over"))
    assert get_deck(session=session, slug=deck).title == "Week 1"
    assert update_deck(session=session, user=admin, slug=deck, data=deck_input(title="By the admin")).title == (
        "By the admin"
    )


def test_a_draft_is_hidden_from_everyone_but_who_may_edit_it(
    session: Session, loaded: Path, instructor: User, other_instructor: User, admin: User
) -> None:
    create_deck(session=session, user=instructor, data=deck_input(status="draft"))
    create_deck(session=session, user=other_instructor, data=deck_input(slug="theirs", title="Theirs"))
    with pytest.raises(NotFound):
        get_deck(session=session, slug="week-1")
    with pytest.raises(NotFound):
        get_deck(session=session, slug="week-1", user=other_instructor)
    with pytest.raises(NotFound):  # not even told it exists
        update_deck(session=session, user=other_instructor, slug="week-1", data=deck_input())
    assert get_deck(session=session, slug="week-1", user=instructor).status == "draft"
    assert get_deck(session=session, slug="week-1", user=admin).status == "draft"

    def slugs(**options: Any) -> list[str]:
        return [summary.slug for summary in list_decks(session=session, **options)]

    assert slugs() == ["theirs"]
    assert slugs(user=instructor) == ["theirs", "week-1"]
    assert slugs(user=instructor, editable=True) == ["week-1"]
    assert slugs(user=admin, editable=True) == ["theirs", "week-1"]
    assert [s.card_count for s in list_decks(session=session, user=admin)] == [2, 2]


# --- seeds and solutions ---------------------------------------------------------------------------------


def test_each_learner_has_a_fixed_seed_per_card_and_classmates_differ() -> None:
    first = deck_seed(learner_id=1, deck_slug="week-1", card_slug="drawn-kl")
    assert first == deck_seed(learner_id=1, deck_slug="week-1", card_slug="drawn-kl")
    seeds = {deck_seed(learner_id=learner, deck_slug="week-1", card_slug="drawn-kl") for learner in range(1, 201)}
    assert len(seeds) == 200
    assert all(0 <= seed < 2**31 for seed in seeds)
    assert first != deck_seed(learner_id=1, deck_slug="week-2", card_slug="drawn-kl")
    assert first != deck_seed(learner_id=1, deck_slug="week-1", card_slug="two-students")


@pytest.mark.parametrize(
    ("policy", "due", "correct", "now", "visible"),
    [
        ("always", None, False, NOW, True),
        ("after_correct", None, False, NOW, False),
        ("after_correct", None, True, NOW, True),
        ("after_due", NOW, False, NOW - timedelta(seconds=1), False),
        ("after_due", NOW, True, NOW - timedelta(seconds=1), False),
        ("after_due", NOW, False, NOW, True),
        ("after_due", NOW, False, NOW + timedelta(days=1), True),
    ],
)
def test_solution_visibility_follows_the_policy(
    policy: str, due: datetime | None, correct: bool, now: datetime, visible: bool
) -> None:
    deck = Deck(slug="d", title="D", show_solution=policy, due_at=due)
    assert solution_visible(deck=deck, submission_correct=correct, now=now) is visible


# --- answering inside a deck -----------------------------------------------------------------------------


def test_attempts_are_numbered_and_stored_with_the_deck(session: Session, deck: str, learner: Learner) -> None:
    first = deck_submit(session, learner, HALF)
    second = deck_submit(session, learner, RIGHT)
    assert (first.attempt, second.attempt) == (1, 2)
    assert (first.deck_slug, first.seed) == ("week-1", seed_of(learner))
    rows = session.execute(select(Submission.deck_id, Submission.attempt).order_by(Submission.id)).all()
    deck_id = session.scalar(select(Deck.id).where(Deck.slug == deck))
    assert [tuple(row) for row in rows] == [(deck_id, 1), (deck_id, 2)]
    # Free practice is counted apart from the deck, and a format error costs no attempt.
    practice = submit(session=session, learner_id=learner.id, slug="two-students", seed=0, answers=RIGHT)
    assert (practice.deck_slug, practice.attempt) == (None, 1)
    with pytest.raises(AnswerFormatError):
        deck_submit(session, learner, {**RIGHT, "loss_a": "abc"})
    assert deck_submit(session, learner, RIGHT).attempt == 3


def test_beyond_the_attempt_limit_nothing_is_stored(session: Session, deck: str, learner: Learner) -> None:
    for _ in range(3):
        deck_submit(session, learner, HALF)
    stored = (count(session, Submission), count(session, SubmissionPart))
    with pytest.raises(SubmissionRefused) as raised:
        deck_submit(session, learner, RIGHT)
    assert raised.value.reason == "attempts"
    assert "no attempts left" in str(raised.value) and "3 attempts" in str(raised.value)
    assert (count(session, Submission), count(session, SubmissionPart)) == stored
    # The limit is per card: the deck's other card still has all its attempts.
    card = get_card(session=session, slug="drawn-kl")
    answer = generate(card.spec, seed_of(learner, "drawn-kl")).answers["kl"]
    assert deck_submit(session, learner, {"kl": str(answer)}, card="drawn-kl").attempt == 1


def test_another_learners_seed_or_an_unknown_deck_is_refused(
    session: Session, deck: str, learner: Learner, other_learner: Learner
) -> None:
    with pytest.raises(WrongSeed) as raised:
        deck_submit(session, learner, RIGHT, seed=seed_of(other_learner))
    assert raised.value.seed == seed_of(learner)
    assert f"variant {seed_of(learner)}" in str(raised.value)
    with pytest.raises(NotFound, match="no published deck 'no-deck'"):
        deck_submit(session, learner, RIGHT, deck_slug="no-deck")
    assert count(session, Submission) == 0


def test_a_card_not_in_the_deck_and_an_unpublished_deck_are_not_found(
    session: Session, loaded: Path, instructor: User, learner: Learner
) -> None:
    create_deck(session=session, user=instructor, data=deck_input(cards=("drawn-kl",)))
    with pytest.raises(NotFound, match="not in deck 'week-1'"):
        deck_submit(session, learner, RIGHT)
    update_deck(session=session, user=instructor, slug="week-1", data=deck_input(status="draft"))
    with pytest.raises(NotFound, match="no published deck"):
        deck_submit(session, learner, RIGHT)
    assert count(session, Submission) == 0


def test_a_deck_past_its_due_date_takes_no_answers(
    session: Session, loaded: Path, instructor: User, learner: Learner
) -> None:
    create_deck(session=session, user=instructor, data=deck_input(due_at=NOW))
    deck_submit(session, learner, RIGHT, now=NOW - timedelta(minutes=1))
    with pytest.raises(SubmissionRefused) as raised:
        deck_submit(session, learner, RIGHT, now=NOW)
    assert raised.value.reason == "closed"
    assert count(session, Submission) == 1


def test_free_practice_cannot_reveal_a_deck_variant_whose_solution_is_hidden(
    session: Session, deck: str, learner: Learner, other_learner: Learner
) -> None:
    own = seed_of(learner, "drawn-kl")
    card = get_card(session=session, slug="drawn-kl")
    answer = str(generate(card.spec, own).answers["kl"])
    with pytest.raises(InvalidSeed, match="in the deck 'Week 1'"):
        submit(session=session, learner_id=learner.id, slug="drawn-kl", seed=own, answers={"kl": "0.1"})
    # Another learner may practise that variant: it is not theirs in the deck.
    submit(session=session, learner_id=other_learner.id, slug="drawn-kl", seed=own, answers={"kl": "0.1"})
    # Once answered correctly in the deck, the solution is shown anyway, so practice is open again.
    deck_submit(session, learner, {"kl": answer}, card="drawn-kl")
    practice = submit(session=session, learner_id=learner.id, slug="drawn-kl", seed=own, answers={"kl": answer})
    assert practice.deck_slug is None


def test_concurrent_submissions_get_distinct_attempt_numbers(
    engine: Engine, session: Session, deck: str, learner: Learner
) -> None:
    factory = make_sessionmaker(engine)
    barrier = threading.Barrier(4)
    attempts: list[int] = []
    errors: list[BaseException] = []

    def one() -> None:
        with factory() as own_session:
            barrier.wait()
            try:
                attempts.append(deck_submit(own_session, learner, HALF).attempt)
            except SubmissionRefused:
                attempts.append(0)
            except BaseException as exc:  # reported below, with the thread's own traceback
                errors.append(exc)

    threads = [threading.Thread(target=one) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    # Three attempts are allowed: the fourth concurrent submission is refused, never numbered 3 twice.
    assert sorted(attempts) == [0, 1, 2, 3]
    stored = session.scalars(select(Submission.attempt).order_by(Submission.attempt)).all()
    assert stored == [1, 2, 3]


# --- the built-in example deck ---------------------------------------------------------------------------


def test_the_example_deck_is_loaded_with_the_bank_once(session: Session) -> None:
    bank = Settings(_env_file=None).bank_dir
    report = load_cards(session=session, path=bank)
    assert report.decks.created == ("course-foundations",)
    again = load_cards(session=session, path=bank)
    assert (again.decks.created, again.decks.updated, again.decks.unchanged) == ((), (), ("course-foundations",))
    assert count(session, Deck) == 1
    deck = get_deck(session=session, slug="course-foundations")
    assert (deck.status, deck.builtin, deck.owner_id) == ("published", True, None)
    assert [card.slug for card in deck.cards] == [
        "evaluate-student-models",
        "closest-student",
        "reverse-kl-behaviour",
        "distillation-alpha",
    ]
    assert (deck.max_attempts, deck.penalty_per_attempt, deck.show_solution) == (3, 0.1, "after_correct")
    assert count(session, DeckCard) == 4


def test_a_changed_deck_file_updates_the_deck_and_a_bad_one_loads_nothing(
    session: Session, bank: Path, write_card: WriteCard
) -> None:
    decks = bank / "decks"
    write_card(decks, {"slug": "pair", "title": "Pair", "cards": ["two-students"]})
    load_cards(session=session, path=bank)
    write_card(decks, {"slug": "pair", "title": "Pair", "cards": ["drawn-kl", "two-students"], "max_attempts": 2})
    report = load_cards(session=session, path=bank)
    assert report.decks.updated == ("pair",)
    deck = get_deck(session=session, slug="pair")
    assert ([card.slug for card in deck.cards], deck.max_attempts) == (["drawn-kl", "two-students"], 2)
    assert count(session, Deck) == 1

    write_card(decks, {"slug": "pair", "title": "Pair", "cards": ["missing"], "attempts": 2})
    with pytest.raises(CardFileError) as raised:
        load_cards(session=session, path=bank)
    assert raised.value.problems == [
        f"{decks / 'pair.yaml'}: attempts: is not a known field (did you mean 'max_attempts'?)"
    ]
    write_card(decks, {"slug": "pair", "title": "Pair", "cards": ["missing"]})
    with pytest.raises(CardFileError) as raised:
        load_cards(session=session, path=bank)
    assert raised.value.problems == [f"{decks / 'pair.yaml'}: cards[0]: there is no card 'missing'"]
    assert [card.slug for card in get_deck(session=session, slug="pair").cards] == ["drawn-kl", "two-students"]


def test_a_guest_learner_in_a_deck(session: Session, deck: str) -> None:
    guest = guest_learner(session=session, guest_id="guest-three")
    assert deck_submit(session, guest, RIGHT).score == 1.0


def test_checking_the_bank_checks_its_deck_files(bank: Path, write_card: WriteCard) -> None:
    write_card(bank / "decks", {"slug": "pair", "title": "Pair", "cards": "two-students", "max_attempt": 2})
    assert check_card_files(bank, seeds=5) == [
        f"{bank / 'decks' / 'pair.yaml'}: max_attempt: is not a known field (did you mean 'max_attempts'?)",
        f"{bank / 'decks' / 'pair.yaml'}: cards: must be a list of card slugs",
    ]
    assert check_card_files(Settings(_env_file=None).bank_dir, seeds=5) == []
