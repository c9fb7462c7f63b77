"""The gradebook: a row per learner, the best attempt after penalties per card, the deck score; and its CSV."""

from __future__ import annotations

import csv
import io
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session
from users_support import make_user

from app.db.models import Learner
from app.domain.cards import generate
from app.domain.divergence import kl
from app.services.catalog import get_card
from app.services.deck_editing import create_deck
from app.services.decks import DeckInput, any_deck, deck_seed
from app.services.errors import Forbidden, NotFound
from app.services.gradebook import csv_filename, deck_gradebook, gradebook_csv, learner_name
from app.services.learners import guest_learner
from app.services.manual_grading import grade_part
from app.services.paging import CursorInvalid
from app.services.scores import deck_scores
from app.services.submissions import submit

LOSS_A = f"{kl([0.7, 0.2, 0.1], [0.6, 0.3, 0.1]):.4f}"
START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
PENALTY = 0.25


class Course:
    """A deck of two cards owned by an instructor, and three kinds of learner answering in it."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.instructor = make_user(session, "instructor", "ins@example.org")
        create_deck(
            session=session,
            user=self.instructor,
            data=DeckInput(
                slug="week-1",
                title="Week 1",
                cards=("two-students", "drawn-kl"),
                penalty_per_attempt=PENALTY,
                status="published",
            ),
        )
        account = make_user(session, "learner", "ada@example.org")
        self.ada = Learner(guest_id="ada-guest-id-0000", user_id=account.id)
        self.lms = Learner(guest_id="lms-guest-id-0000", external_id="=HYPERLINK(evil)")
        session.add_all([self.ada, self.lms])
        session.commit()
        self.guest = guest_learner(session=session, guest_id="plain-guest-id-00")
        self.minutes = 0

    def answer(self, learner: Learner, slug: str, answers: dict[str, str]) -> int:
        self.minutes += 1
        view = submit(
            session=self.session,
            learner_id=learner.id,
            slug=slug,
            seed=deck_seed(learner_id=learner.id, deck_slug="week-1", card_slug=slug),
            answers=answers,
            deck_slug="week-1",
            now=START + timedelta(minutes=self.minutes),
        )
        return view.id

    def kl_answer(self, learner: Learner, *, right: bool) -> dict[str, str]:
        spec = get_card(session=self.session, slug="drawn-kl").spec
        value = generate(spec, deck_seed(learner_id=learner.id, deck_slug="week-1", card_slug="drawn-kl")).answers["kl"]
        assert isinstance(value, float)
        return {"kl": f"{value:.6f}" if right else "9"}


@pytest.fixture
def course(session: Session, loaded: Path) -> Course:
    return Course(session)


def test_the_gradebook_takes_the_best_attempt_after_penalties_and_counts_a_missing_card_as_zero(
    session: Session, course: Course
) -> None:
    # Ada: two-students at 1/2, then 1 on attempt 2 (pending); drawn-kl wrong twice, then right on attempt 3.
    course.answer(course.ada, "two-students", {"loss_a": "1", "better": "Student A", "reasoning": ""})
    second = course.answer(course.ada, "two-students", {"loss_a": LOSS_A, "better": "Student A", "reasoning": "x"})
    for right in (False, False, True):
        course.answer(course.ada, "drawn-kl", course.kl_answer(course.ada, right=right))
    # The LMS learner: only drawn-kl, right at once. The guest: only two-students, half right.
    course.answer(course.lms, "drawn-kl", course.kl_answer(course.lms, right=True))
    course.answer(course.guest, "two-students", {"loss_a": LOSS_A, "better": "Student B", "reasoning": "y"})
    # A manual grade counts at once: Ada's second attempt becomes (1 + 1 + 0.5) / 3.
    grade_part(session=session, grader=course.instructor, submission_id=second, part_key="reasoning", score=0.5)

    book = deck_gradebook(session=session, viewer=course.instructor, slug="week-1")

    ada_two = max(0.5, 2.5 / 3 - PENALTY)
    ada_kl = max(0.0, 1.0 - 2 * PENALTY)
    expected = {
        "ada@example.org": ([ada_two, ada_kl], [2, 3]),
        "=HYPERLINK(evil)": ([0.0, 1.0], [0, 1]),
        f"guest {course.guest.id}": ([0.5, 0.0], [1, 0]),
    }
    assert (book.slug, book.title, book.penalty_per_attempt) == ("week-1", "Week 1", PENALTY)
    assert [card.slug for card in book.cards] == ["two-students", "drawn-kl"]
    assert [row.learner for row in book.rows] == list(expected)  # by learner id: the order they appeared
    for row in book.rows:
        scores, attempts = expected[row.learner]
        assert row.scores == pytest.approx(scores)
        assert list(row.attempts) == attempts
        assert math.isclose(row.total, sum(scores) / 2)

    rows = list(csv.reader(io.StringIO(gradebook_csv(book))))
    assert rows[0] == ["learner", "two-students", "drawn-kl", "total"]
    assert rows[1] == ["ada@example.org", f"{ada_two:.4f}", f"{ada_kl:.4f}", f"{(ada_two + ada_kl) / 2:.4f}"]
    assert rows[2] == ["'=HYPERLINK(evil)", "0.0000", "1.0000", "0.5000"]  # never a formula in a spreadsheet
    assert rows[3] == [f"guest {course.guest.id}", "0.5000", "0.0000", "0.2500"]
    assert len(rows) == 4
    assert csv_filename(book) == "gradebook-week-1.csv"


def test_an_empty_deck_has_an_empty_gradebook(session: Session, course: Course) -> None:
    book = deck_gradebook(session=session, viewer=course.instructor, slug="week-1")
    assert book.rows == ()
    assert gradebook_csv(book) == "learner,two-students,drawn-kl,total\r\n"


def test_the_gradebook_is_for_the_decks_owner_and_administrators(session: Session, course: Course) -> None:
    admin = make_user(session, "admin", "admin@example.org")
    assert deck_gradebook(session=session, viewer=admin, slug="week-1").slug == "week-1"
    for outsider in (make_user(session, "instructor", "other@example.org"), make_user(session, "learner", "l@x.org")):
        with pytest.raises(Forbidden):
            deck_gradebook(session=session, viewer=outsider, slug="week-1")
    with pytest.raises(NotFound):
        deck_gradebook(session=session, viewer=admin, slug="no-such-deck")


def test_learner_names() -> None:
    assert learner_name(learner_id=3, email="ada@example.org", external_id="lms-1") == "ada@example.org"
    assert learner_name(learner_id=3, email=None, external_id="lms-1") == "lms-1"
    assert learner_name(learner_id=3, email=None, external_id=None) == "guest 3"


def test_the_gradebook_comes_a_page_of_learners_at_a_time_with_the_same_figures(
    session: Session, course: Course
) -> None:
    for learner in (course.ada, course.lms, course.guest):
        course.answer(learner, "drawn-kl", course.kl_answer(learner, right=learner is not course.lms))
        course.answer(learner, "two-students", {"loss_a": LOSS_A, "better": "Student A", "reasoning": ""})
    whole = deck_gradebook(session=session, viewer=course.instructor, slug="week-1")
    assert whole.next_cursor is None and len(whole.rows) == 3

    first = deck_gradebook(session=session, viewer=course.instructor, slug="week-1", limit=2)
    assert first.rows == whole.rows[:2] and first.next_cursor is not None
    last = deck_gradebook(session=session, viewer=course.instructor, slug="week-1", limit=2, cursor=first.next_cursor)
    assert last.rows == whole.rows[2:] and last.next_cursor is None
    # The same figures as the learners' own deck pages.
    reference = deck_scores(session=session, deck=any_deck(session=session, slug="week-1"))
    assert [(score.learner_id, score.score) for score in reference] == [
        (row.learner_id, row.total) for row in whole.rows
    ]
    with pytest.raises(CursorInvalid):
        deck_gradebook(session=session, viewer=course.instructor, slug="week-1", cursor="not-a-cursor")
