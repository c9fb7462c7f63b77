"""The running tallies give the card statistics a scan of the submissions gives, after every kind of change."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.orm import Session
from tallies_support import same

from app.db.migrate import alembic_config, current_is_head
from app.db.models import AnswerTally, CardLearner, CardTally, PartTally, Submission, SubmissionPart, User, utcnow
from app.services.accounts import claim_guest_history, create_user, learner_for_user
from app.services.analytics import CardStats, card_stats, scanned_card_stats
from app.services.card_cache import published_card
from app.services.learners import guest_learner
from app.services.manual_grading import grade_part
from app.services.submission_rows import insert_submissions
from app.services.submissions import grade_submission, submit

ANSWERS = [
    ("0.0216", "Student A"),  # right
    ("0.0201", "Student B"),  # the reverse KL
    ("0.5", "Student A"),
    ("0.0216", "Student B"),
    ("0.5", "Student B"),
    ("0.0312", "Student A"),  # in bits
]
LAST = {"loss_a": "0.5", "better": "Student A", "reasoning": "Because."}


def check(session: Session, admin: User) -> CardStats:
    session.expire_all()
    tallied = card_stats(session=session, viewer=admin, slug="two-students")
    same(tallied, scanned_card_stats(session=session, viewer=admin, slug="two-students"))
    return tallied


def test_tallies_follow_submissions_grades_moves_updates_and_deletions(session: Session, loaded: Path) -> None:
    admin = User(email="admin@example.org", password_hash="not-a-hash", role="admin")
    session.add(admin)
    session.commit()
    assert check(session, admin).submissions == 0

    guests = [guest_learner(session=session, guest_id=f"guest-{i}") for i in range(4)]
    ids = []
    for index, (loss, better) in enumerate(ANSWERS):
        view = submit(
            session=session,
            learner_id=guests[index % 3].id,
            slug="two-students",
            seed=0,
            answers={"loss_a": loss, "better": better, "reasoning": "Because."},
        )
        ids.append(view.id)
    stats = check(session, admin)
    assert (stats.submissions, stats.learners, stats.pending) == (6, 3, 6)

    # Manual grades move the submission's score, its pending flag and the part's own figures.
    for submission_id, score in zip(ids[:4], (1.0, 0.5, 0.0, 0.25), strict=True):
        grade_part(session=session, grader=admin, submission_id=submission_id, part_key="reasoning", score=score)
        check(session, admin)
    grade_part(session=session, grader=admin, submission_id=ids[0], part_key="reasoning", score=0.75)  # again
    assert check(session, admin).pending == 2

    # A guest's history moves to their new account's learner: the learner count follows.
    user = create_user(session=session, email="ada@example.org", password="a long enough password")
    mine = learner_for_user(session=session, user=user)
    submit(session=session, learner_id=mine.id, slug="two-students", seed=0, answers=dict(LAST))
    assert check(session, admin).learners == 4
    assert claim_guest_history(session=session, user=user, guest_id="guest-0").outcome == "moved"
    assert check(session, admin).learners == 3

    # A bulk re-scoring written straight to the tables, as a regrade does.
    session.execute(
        update(SubmissionPart)
        .where(SubmissionPart.submission_id == ids[4], SubmissionPart.part_key == "loss_a")
        .values(score=1.0, correct=True, misconception=None)
    )
    session.execute(update(Submission).where(Submission.id == ids[4]).values(score=0.5))
    session.commit()
    check(session, admin)

    # Deleting submissions takes their share back out, parts included.
    session.execute(delete(Submission).where(Submission.id.in_(ids[1:3])))
    session.commit()
    stats = check(session, admin)
    assert stats.submissions == 5

    session.execute(delete(Submission))
    session.commit()
    assert check(session, admin).submissions == 0
    assert session.scalar(select(func.count()).select_from(CardLearner)) == 0
    assert session.scalar(select(func.count()).select_from(AnswerTally)) == 0
    assert not session.scalar(select(func.sum(CardTally.submissions)))
    assert not session.scalar(select(func.sum(PartTally.answered)))


ROW_TRIGGERS = "9b1c4e7d2a60"  # the revision before migrations/versions/2026_11_30_tallies_per_statement.py


def insert_triggers(session: Session) -> dict[str, str]:
    """The triggers that fire on inserts into the submission tables: name → 'row' or 'statement'."""
    rows = session.execute(
        text(
            "SELECT tgname, tgtype FROM pg_trigger WHERE NOT tgisinternal "
            "AND tgrelid IN ('submission'::regclass, 'submission_part'::regclass)"
        )
    )
    # pg_trigger.tgtype: bit 0 is FOR EACH ROW, bit 2 fires on INSERT.
    return {name: "row" if kind & 1 else "statement" for name, kind in rows if kind & 4}


def test_on_postgresql_the_tallies_follow_inserts_per_statement_before_and_after_the_migration(
    database_url: str, session: Session, loaded: Path
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite has row triggers only")
    admin = User(email="admin@example.org", password_hash="not-a-hash", role="admin")
    session.add(admin)
    session.commit()
    guests = [guest_learner(session=session, guest_id=f"guest-{i}") for i in range(3)]
    answers = {"loss_a": "0.0216", "better": "Student A", "reasoning": "Because."}
    assert insert_triggers(session) == {"tally_submissions_added": "statement", "tally_parts_added": "statement"}
    session.commit()

    config = alembic_config(database_url)
    command.downgrade(config, ROW_TRIGGERS)
    try:
        assert insert_triggers(session) == {"tally_submission": "row", "tally_part": "row"}
        session.commit()
        # Only the submission's own rows: the rest of today's store (outbox, webhooks) may need tables or
        # columns that the old schema does not have yet.
        card = published_card(session=session, slug="two-students")
        graded = grade_submission(card=card, learner_id=guests[0].id, seed=0, answers=answers, now=utcnow())
        insert_submissions(session, [graded])
        session.commit()
        assert check(session, admin).learners == 1
    finally:
        session.rollback()
        command.upgrade(config, "head")
    assert current_is_head(database_url)

    for guest in guests:
        submit(session=session, learner_id=guest.id, slug="two-students", seed=1, answers=answers)
    stats = check(session, admin)
    assert (stats.submissions, stats.learners) == (4, 3)
    # Deleting still takes a submission's share back out, by the row triggers the migration kept.
    session.execute(delete(Submission).where(Submission.learner_id == guests[0].id))
    session.commit()
    assert (check(session, admin).submissions, check(session, admin).learners) == (2, 2)
