"""Manual grading: the queue of written answers, and a grade that re-scores the submission and the deck score."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session
from users_support import make_user

from app.db.models import Card, Learner, ManualGrade, Submission, SubmissionPart, User
from app.domain.divergence import kl
from app.domain.grading import Grade
from app.services.deck_editing import create_deck
from app.services.decks import DeckInput, deck_seed
from app.services.errors import Forbidden, NotFound
from app.services.manual_grading import GradingError, grade_part, grading_queue
from app.services.scores import deck_score_for_learner
from app.services.submissions import get_submission, submit

LOSS_A = f"{kl([0.7, 0.2, 0.1], [0.6, 0.3, 0.1]):.4f}"
HALF = {"loss_a": LOSS_A, "better": "Student B", "reasoning": "B is closer to the teacher."}
RIGHT = {"loss_a": LOSS_A, "better": "Student A", "reasoning": "A has the lower KL."}
START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def own(session: Session, slug: str, user: User) -> None:
    session.execute(update(Card).where(Card.slug == slug).values(owner_id=user.id))
    session.commit()


def answer(
    session: Session,
    learner: Learner,
    answers: dict[str, Any],
    *,
    minutes: int = 0,
    deck: str | None = None,
    slug: str = "two-students",
) -> int:
    seed = 0 if deck is None else deck_seed(learner_id=learner.id, deck_slug=deck, card_slug=slug)
    view = submit(
        session=session,
        learner_id=learner.id,
        slug=slug,
        seed=seed,
        answers=answers,
        deck_slug=deck,
        now=START + timedelta(minutes=minutes),
    )
    return view.id


@pytest.fixture
def instructor(session: Session, loaded: Path) -> User:
    user = make_user(session, "instructor", "ins@example.org")
    own(session, "two-students", user)
    return user


@pytest.fixture
def other_instructor(session: Session) -> User:
    return make_user(session, "instructor", "other@example.org")


@pytest.fixture
def admin(session: Session) -> User:
    return make_user(session, "admin", "admin@example.org")


def stored(session: Session, submission_id: int) -> tuple[Submission, SubmissionPart]:
    session.expire_all()
    row = session.get(Submission, submission_id)
    assert row is not None
    part = session.scalars(
        select(SubmissionPart).where(
            SubmissionPart.submission_id == submission_id, SubmissionPart.part_key == "reasoning"
        )
    ).one()
    return row, part


# --- grading --------------------------------------------------------------------------------------------


def test_a_grade_rescores_the_submission_its_stored_result_and_its_part_row(
    session: Session, instructor: User, learner: Learner
) -> None:
    submission_id = answer(session, learner, HALF)
    before, _ = stored(session, submission_id)
    assert (before.score, before.pending) == (0.5, True)  # loss_a right, better wrong, reasoning waiting

    graded = grade_part(
        session=session,
        grader=instructor,
        submission_id=submission_id,
        part_key="reasoning",
        score=0.8,
        comment="  Right idea; name the divergence.  ",
    )

    assert math.isclose(graded.submission_score, (1 + 0 + 0.8) / 3)
    assert graded.pending is False and graded.comment == "Right idea; name the divergence."
    row, part = stored(session, submission_id)
    assert math.isclose(row.score, (1 + 0 + 0.8) / 3) and row.pending is False
    result = Grade.from_dict(row.results).part("reasoning")
    assert (result.score, result.correct, result.pending) == (0.8, False, False)
    assert result.feedback == "Right idea; name the divergence."
    assert (part.score, part.correct, part.pending) == (0.8, False, False)
    grades = session.scalars(select(ManualGrade)).all()
    assert [(g.submission_id, g.part_key, g.score, g.grader_id) for g in grades] == [
        (submission_id, "reasoning", 0.8, instructor.id)
    ]


def test_grading_again_replaces_the_grade_and_full_marks_are_correct(
    session: Session, instructor: User, admin: User, learner: Learner
) -> None:
    submission_id = answer(session, learner, HALF)
    grade_part(session=session, grader=instructor, submission_id=submission_id, part_key="reasoning", score=0.0)
    grade_part(
        session=session, grader=admin, submission_id=submission_id, part_key="reasoning", score=1.0, comment="Fine."
    )
    row, part = stored(session, submission_id)
    assert math.isclose(row.score, 2 / 3)
    assert part.correct is True and part.score == 1.0
    grades = session.scalars(select(ManualGrade)).all()
    assert [(g.score, g.comment, g.grader_id) for g in grades] == [(1.0, "Fine.", admin.id)]


def test_the_learner_reads_the_grade_and_comment_on_their_submission(
    session: Session, instructor: User, learner: Learner
) -> None:
    submission_id = answer(session, learner, RIGHT)
    grade_part(
        session=session,
        grader=instructor,
        submission_id=submission_id,
        part_key="reasoning",
        score=0.5,
        comment="Say why lower is better.",
    )
    view = get_submission(session=session, submission_id=submission_id, learner_id=learner.id)
    assert math.isclose(view.score, 2.5 / 3) and not view.pending
    assert view.grade.part("reasoning").feedback == "Say why lower is better."
    assert view.grade.part("reasoning").score == 0.5


def test_a_grade_changes_the_deck_score(
    session: Session, instructor: User, other_instructor: User, learner: Learner
) -> None:
    # The deck belongs to another instructor than the card: its owner grades the answers given in it.
    deck = create_deck(
        session=session,
        user=other_instructor,
        data=DeckInput(
            slug="week-1",
            title="Week 1",
            cards=("two-students", "drawn-kl"),
            penalty_per_attempt=0.1,
            status="published",
        ),
    )
    first = answer(session, learner, HALF, deck="week-1")  # 0.5 on attempt 1
    second = answer(session, learner, RIGHT, deck="week-1", minutes=1)  # 1.0 − 0.1 on attempt 2
    assert math.isclose(deck_score_for_learner(session=session, deck=deck, learner_id=learner.id), 0.9 / 2)

    grade_part(session=session, grader=other_instructor, submission_id=second, part_key="reasoning", score=0.0)
    # Attempt 2 is now 2/3 − 0.1; attempt 1 (0.5) is still below it.
    assert math.isclose(deck_score_for_learner(session=session, deck=deck, learner_id=learner.id), (2 / 3 - 0.1) / 2)

    grade_part(session=session, grader=other_instructor, submission_id=first, part_key="reasoning", score=1.0)
    # Attempt 1 is now 2/3, without penalty: the best of the two.
    assert math.isclose(deck_score_for_learner(session=session, deck=deck, learner_id=learner.id), (2 / 3) / 2)


# --- refusals -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "score", "comment", "error", "field"),
    [
        ("reasoning", 1.5, "", GradingError, "score"),
        ("reasoning", -0.1, "", GradingError, "score"),
        ("reasoning", math.nan, "", GradingError, "score"),
        ("reasoning", 0.5, "x" * 5_001, GradingError, "comment"),
        ("loss_a", 1.0, "", GradingError, "key"),
        ("better", 1.0, "", GradingError, "key"),
        ("nothing", 1.0, "", NotFound, None),
    ],
)
def test_bad_grades_are_refused_naming_the_field_and_nothing_is_written(
    session: Session,
    instructor: User,
    learner: Learner,
    key: str,
    score: float,
    comment: str,
    error: type[Exception],
    field: str | None,
) -> None:
    submission_id = answer(session, learner, HALF)
    with pytest.raises(error) as caught:
        grade_part(
            session=session, grader=instructor, submission_id=submission_id, part_key=key, score=score, comment=comment
        )
    if field is not None:
        assert isinstance(caught.value, GradingError) and caught.value.field == field
    row, part = stored(session, submission_id)
    assert (row.score, row.pending, part.pending, part.score) == (0.5, True, True, None)
    assert session.scalar(select(func.count()).select_from(ManualGrade)) == 0


def test_an_unknown_submission_is_not_found(session: Session, instructor: User) -> None:
    with pytest.raises(NotFound, match="no submission 999"):
        grade_part(session=session, grader=instructor, submission_id=999, part_key="reasoning", score=1.0)


def test_only_the_card_or_deck_owner_and_administrators_grade(
    session: Session, instructor: User, other_instructor: User, admin: User, learner: Learner
) -> None:
    submission_id = answer(session, learner, HALF)
    pupil = make_user(session, "learner", "pupil@example.org")
    for outsider in (other_instructor, pupil):
        with pytest.raises(Forbidden):
            grade_part(session=session, grader=outsider, submission_id=submission_id, part_key="reasoning", score=1.0)
    assert session.scalar(select(func.count()).select_from(ManualGrade)) == 0
    graded = grade_part(session=session, grader=admin, submission_id=submission_id, part_key="reasoning", score=1.0)
    assert math.isclose(graded.submission_score, 2 / 3)


# --- the queue ------------------------------------------------------------------------------------------


def queue_ids(session: Session, grader: User, **filters: Any) -> list[int]:
    return [item.submission_id for item in grading_queue(session=session, grader=grader, **filters)]


def test_the_queue_lists_pending_written_answers_on_the_graders_cards_in_the_order_they_came(
    session: Session, instructor: User, learner: Learner, other_learner: Learner
) -> None:
    essay = "Student A is closer: " + "its KL divergence from the teacher is smaller. " * 10
    older = answer(session, learner, {**RIGHT, "reasoning": essay}, minutes=1)
    answer(session, learner, {"kl": "0.1"}, slug="drawn-kl", minutes=2)  # no written part: never queued
    newer = answer(session, other_learner, HALF, minutes=5)

    items = grading_queue(session=session, grader=instructor)
    assert [item.submission_id for item in items] == [older, newer]
    first = items[0]
    assert first.answer == essay  # in full, not cut like the analytics row
    assert first.model_answer == "Student A has the lower KL."
    assert (first.part_key, first.part_label, first.card_slug, first.card_title) == (
        "reasoning",
        "Why?",
        "two-students",
        "Two students",
    )
    assert first.learner == f"guest {learner.id}" and first.deck_slug is None and first.attempt == 1

    grade_part(session=session, grader=instructor, submission_id=older, part_key="reasoning", score=1.0)
    assert queue_ids(session, instructor) == [newer]
    assert queue_ids(session, instructor, limit=1) == [newer]


def test_the_queue_shows_each_grader_only_what_they_may_grade(
    session: Session, instructor: User, other_instructor: User, admin: User, learner: Learner
) -> None:
    practice = answer(session, learner, HALF)
    assert queue_ids(session, other_instructor) == []

    create_deck(
        session=session,
        user=other_instructor,
        data=DeckInput(slug="week-1", title="Week 1", cards=("two-students",), status="published"),
    )
    in_deck = answer(session, learner, HALF, deck="week-1", minutes=1)
    assert queue_ids(session, other_instructor) == [in_deck]  # the deck's owner, not the card's
    assert queue_ids(session, instructor) == [practice, in_deck]  # the card's owner sees both
    assert queue_ids(session, admin) == [practice, in_deck]
    assert queue_ids(session, instructor, deck_slug="week-1") == [in_deck]
    assert queue_ids(session, admin, card_slug="drawn-kl") == []
    assert queue_ids(session, admin, card_slug="two-students") == [practice, in_deck]
    deck_item = grading_queue(session=session, grader=other_instructor)[0]
    assert deck_item.deck_slug == "week-1"

    with pytest.raises(NotFound):
        grading_queue(session=session, grader=admin, deck_slug="no-such-deck")
    with pytest.raises(NotFound):
        grading_queue(session=session, grader=admin, card_slug="no-such-card")
    with pytest.raises(Forbidden):
        grading_queue(session=session, grader=make_user(session, "learner", "pupil@example.org"))
