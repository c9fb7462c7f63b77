import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.db.models import CardVersion, Learner, Submission, SubmissionPart
from app.domain.cards import generate
from app.domain.grading import AnswerFormatError
from app.services.bank import load_cards
from app.services.catalog import get_card
from app.services.errors import InvalidSeed, NotFound
from app.services.submissions import get_submission, list_submissions, submit

WriteCard = Callable[..., Path]
ANSWERS = {"loss_a": " 0,0268 ", "better": "Student A", "reasoning": "Student A is closer to the teacher."}


def submissions(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Submission)) or 0


def test_submit_stores_everything_needed_to_reproduce_the_grade(
    session: Session, loaded: Path, learner: Learner
) -> None:
    view = submit(session=session, learner_id=learner.id, slug="two-students", seed=7, answers=ANSWERS)
    assert view.score == 1.0
    assert view.pending  # the text part waits for a person
    assert (view.slug, view.title, view.version, view.seed) == ("two-students", "Two students", 1, 7)
    assert view.grade.part("loss_a").correct
    assert view.variant.answers["loss_a"] == pytest.approx(0.026812, abs=1e-6)

    session.expunge_all()
    row = session.get_one(Submission, view.id)
    version = session.get_one(CardVersion, row.card_version_id)
    assert row.learner_id == learner.id
    assert (version.number, row.seed) == (1, 7)
    assert row.answers == ANSWERS  # as sent, not as parsed
    assert [part["key"] for part in row.results["parts"]] == ["loss_a", "better", "reasoning"]
    assert [part["correct"] for part in row.results["parts"]] == [True, True, None]
    assert row.results["parts"][0]["given"] == pytest.approx(0.0268)
    assert (row.score, row.pending) == (1.0, True)
    assert row.created_at.tzinfo == UTC
    assert abs(datetime.now(UTC) - row.created_at) < timedelta(minutes=1)


def test_a_misconception_is_stored_with_the_part(session: Session, loaded: Path, learner: Learner) -> None:
    answers = {**ANSWERS, "loss_a": "0.0387"}
    view = submit(session=session, learner_id=learner.id, slug="two-students", seed=0, answers=answers)
    assert view.score == 0.5
    stored = session.get_one(Submission, view.id).results["parts"][0]
    assert stored["correct"] is False
    assert stored["misconception"]["code"] == "log_base_2"


def test_each_part_gets_a_row_for_analytics(session: Session, loaded: Path, learner: Learner) -> None:
    answers = {**ANSWERS, "loss_a": "  0.0387 "}
    view = submit(session=session, learner_id=learner.id, slug="two-students", seed=0, answers=answers)
    rows = session.execute(
        select(SubmissionPart.part_key, SubmissionPart.answer, SubmissionPart.score, SubmissionPart.misconception)
        .where(SubmissionPart.submission_id == view.id)
        .order_by(SubmissionPart.id)
    ).all()
    assert [tuple(r) for r in rows] == [
        ("loss_a", "0.0387", 0.0, "log_base_2"),
        ("better", "Student A", 1.0, None),
        ("reasoning", "Student A is closer to the teacher.", None, None),
    ]


def test_a_format_error_stores_nothing(session: Session, loaded: Path, learner: Learner) -> None:
    with pytest.raises(AnswerFormatError) as raised:
        submit(
            session=session,
            learner_id=learner.id,
            slug="two-students",
            seed=0,
            answers={**ANSWERS, "loss_a": "about a third"},
        )
    assert set(raised.value.errors) == {"loss_a"}
    assert submissions(session) == 0
    assert session.scalar(select(func.count()).select_from(SubmissionPart)) == 0


@pytest.mark.parametrize("seed", [-1, 2**31])
def test_a_bad_seed_stores_nothing(session: Session, loaded: Path, learner: Learner, seed: int) -> None:
    with pytest.raises(InvalidSeed, match="seed"):
        submit(session=session, learner_id=learner.id, slug="two-students", seed=seed, answers=ANSWERS)
    assert submissions(session) == 0


def test_unknown_cards_and_learners_are_not_found(session: Session, loaded: Path, learner: Learner) -> None:
    with pytest.raises(NotFound):
        submit(session=session, learner_id=learner.id, slug="nope", seed=0, answers=ANSWERS)
    with pytest.raises(NotFound):
        submit(session=session, learner_id=learner.id + 100, slug="two-students", seed=0, answers=ANSWERS)
    assert submissions(session) == 0


def test_a_submission_is_shown_again_only_to_its_learner(
    session: Session, loaded: Path, learner: Learner, other_learner: Learner
) -> None:
    made = submit(session=session, learner_id=learner.id, slug="drawn-kl", seed=42, answers={"kl": "0.1"})
    session.expunge_all()

    shown = get_submission(session=session, submission_id=made.id, learner_id=learner.id)
    assert shown.grade == made.grade
    assert shown.variant == made.variant == generate(get_card(session=session, slug="drawn-kl").spec, 42)
    assert (shown.slug, shown.version, shown.seed, shown.answers) == ("drawn-kl", 1, 42, {"kl": "0.1"})
    assert (shown.score, shown.pending, shown.created_at) == (made.score, made.pending, made.created_at)
    assert shown.spec == made.spec

    with pytest.raises(NotFound):
        get_submission(session=session, submission_id=made.id, learner_id=other_learner.id)
    with pytest.raises(NotFound):
        get_submission(session=session, submission_id=made.id + 1, learner_id=learner.id)


def test_infinite_answers_survive_the_round_trip(
    session: Session, tmp_path: Path, drawn_card: dict[str, Any], write_card: WriteCard, learner: Learner
) -> None:
    drawn_card.update(slug="support-mismatch", params={"P": [0.5, 0.5], "Q": [1.0, 0.0]})
    load_cards(session=session, path=write_card(tmp_path, drawn_card))
    made = submit(session=session, learner_id=learner.id, slug="support-mismatch", seed=0, answers={"kl": "∞"})
    assert made.score == 1.0
    session.expunge_all()
    shown = get_submission(session=session, submission_id=made.id, learner_id=learner.id)
    expected = shown.grade.part("kl").expected
    assert isinstance(expected, float) and math.isinf(expected)
    assert shown.grade == made.grade


def test_list_submissions_gives_the_learners_own_newest_first(
    session: Session, loaded: Path, learner: Learner, other_learner: Learner
) -> None:
    first = submit(session=session, learner_id=learner.id, slug="two-students", seed=0, answers=ANSWERS)
    second = submit(session=session, learner_id=learner.id, slug="drawn-kl", seed=3, answers={"kl": "1"})
    submit(session=session, learner_id=other_learner.id, slug="drawn-kl", seed=3, answers={"kl": "1"})

    listed = list_submissions(session=session, learner_id=learner.id)
    assert [s.id for s in listed] == [second.id, first.id]
    newest = listed[0]
    assert (newest.slug, newest.title, newest.version, newest.seed) == ("drawn-kl", "A drawn KL", 1, 3)
    assert (newest.score, newest.pending) == (second.score, False)
    assert listed[1].pending
    assert [s.id for s in list_submissions(session=session, learner_id=learner.id, limit=1)] == [second.id]
    assert list_submissions(session=session, learner_id=other_learner.id + 1) == []
