"""Re-grading at scale: answers shared by many submissions are checked once and counted for each, the new values
reach PostgreSQL by COPY (any text in the stored results intact) and SQLite by its row triggers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from regrade_support import RIGHT, answers, make_admin, new_tolerance, submit_all
from sqlalchemy import select
from sqlalchemy.orm import Session
from tallies_support import same

from app.db.models import Submission, SubmissionPart
from app.services import card_tallies, regrade
from app.services.analytics import card_stats, scanned_card_stats
from app.services.learners import guest_learner
from app.services.manual_grading import grade_part
from app.services.regrade import regrade_card
from app.services.submissions import submit

NEAR = RIGHT + 0.0010  # wrong with the first version's margin, right with rtol 0.06


def test_answers_shared_by_many_submissions_are_checked_once_and_counted_for_each(
    session: Session, loaded: Path, fixed_card: dict[str, Any], write_card: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = submit_all(session, [(NEAR, "Student A")] * 4 + [(RIGHT, "Student A")] * 3 + [(NEAR, "Student B")])
    other = guest_learner(session=session, guest_id="guest-other")
    elsewhere = submit(session=session, learner_id=other.id, slug="two-students", seed=1, answers=answers(NEAR)).id
    new_tolerance(session, loaded, fixed_card, write_card, rtol=0.06, atol=0.0)
    checked: list[int] = []
    flips = regrade._flips

    def counting(groups: Any, *args: Any) -> Any:
        checked.append(len(groups))
        return flips(groups, *args)

    monkeypatch.setattr(regrade, "_flips", counting)

    report = regrade_card(session=session, slug="two-students")
    # Seed 0's two answers and seed 1's one: three groups for nine part rows.
    assert sum(checked) == 3
    assert (report.submissions, report.parts) == (9, 9)
    # Seed 0's five near answers turn right, and seed 1's (the card draws nothing: the same value expected).
    assert (report.now_right, report.now_wrong, report.changed) == (6, 0, 6)
    session.expire_all()
    correct = dict(
        session.execute(
            select(SubmissionPart.submission_id, SubmissionPart.correct).where(SubmissionPart.part_key == "loss_a")
        ).all()
    )
    assert [correct[i] for i in [*ids, elsewhere]] == [True] * 9
    admin = make_admin(session)
    same(
        card_stats(session=session, viewer=admin, slug="two-students"),
        scanned_card_stats(session=session, viewer=admin, slug="two-students"),
    )


def test_the_new_values_reach_postgresql_by_copy_and_sqlite_by_its_row_triggers(
    session: Session, loaded: Path, fixed_card: dict[str, Any], write_card: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = submit_all(session, [(NEAR, "Student A"), (NEAR, "Student B"), (RIGHT, "Student A")])
    admin = make_admin(session)
    # A grader's comment with everything COPY's text format must escape: tab, newline, backslash, \N, quotes.
    comment = 'Good:\tsee "KL"\nC:\\temp\\N ünïcode — 100%'
    grade_part(session=session, grader=admin, submission_id=ids[0], part_key="reasoning", score=0.5, comment=comment)
    session.expire_all()
    before = session.get(Submission, ids[0])
    assert before is not None
    stored_comment = before.results["parts"][2]["feedback"]
    new_tolerance(session, loaded, fixed_card, write_card, rtol=0.06, atol=0.0)
    copied: list[tuple[str, int]] = []
    copy = card_tallies._copy

    def spying(connection: Any, name: str, columns: Any, rows: Any) -> None:
        rows = list(rows)
        copied.append((name, len(rows)))
        copy(connection, name, columns, rows)

    monkeypatch.setattr(card_tallies, "_copy", spying)

    assert regrade_card(session=session, slug="two-students").changed == 2
    if session.get_bind().dialect.name == "postgresql":
        assert copied == [("regrade_submission", 2), ("regrade_part", 2)]
    else:
        assert copied == []
    session.expire_all()
    after = session.get(Submission, ids[0])
    assert after is not None
    assert after.results["parts"][2]["feedback"] == stored_comment and "\\N" in stored_comment
    assert after.results["parts"][0]["correct"] is True and after.score == pytest.approx(2.5 / 3)
    same(
        card_stats(session=session, viewer=admin, slug="two-students"),
        scanned_card_stats(session=session, viewer=admin, slug="two-students"),
    )
