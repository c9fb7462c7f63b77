"""Re-grading after a tolerance change: exactly the submissions within the new margin flip, nothing else moves."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from regrade_support import REVERSE, RIGHT, make_admin, new_tolerance, submit_all
from sqlalchemy import select, update
from sqlalchemy.orm import Session
from tallies_support import same

from app.db.models import Submission, SubmissionPart, User
from app.services.analytics import card_stats, scanned_card_stats
from app.services.errors import NotFound
from app.services.manual_grading import grade_part
from app.services.regrade import regrade_card


def snapshot(session: Session) -> list[Any]:
    session.expire_all()
    rows = session.execute(select(Submission.id, Submission.score, Submission.pending, Submission.results)).all()
    parts = session.execute(
        select(SubmissionPart.submission_id, SubmissionPart.part_key, SubmissionPart.score, SubmissionPart.correct)
    ).all()
    return [sorted(map(tuple, rows)), sorted(map(tuple, parts))]


@pytest.fixture
def admin(session: Session) -> User:
    return make_admin(session)


def test_a_wider_tolerance_flips_exactly_the_answers_within_it_and_keeps_the_rest(
    session: Session, loaded: Path, fixed_card: dict[str, Any], write_card: Any, admin: User
) -> None:
    ids = submit_all(
        session,
        [
            (RIGHT, "Student A"),  # right before and after
            (RIGHT + 0.0010, "Student A"),  # wrong, then right: inside the new margin 0.06·|c| ≈ 0.0016
            (RIGHT + 0.0015, "Student B"),  # the same, with a wrong choice that stays wrong
            (RIGHT + 0.0030, "Student A"),  # wrong either way
            (REVERSE, "Student A"),
        ],
    )
    grade_part(session=session, grader=admin, submission_id=ids[1], part_key="reasoning", score=0.5)
    new_tolerance(session, loaded, fixed_card, write_card, rtol=0.06, atol=0.0)
    before = snapshot(session)

    dry = regrade_card(session=session, slug="two-students", dry_run=True)
    assert (dry.submissions, dry.parts, dry.now_right, dry.now_wrong, dry.changed) == (5, 5, 2, 0, 2)
    assert snapshot(session) == before  # a dry run writes nothing

    report = regrade_card(session=session, slug="two-students")
    assert (report.now_right, report.now_wrong, report.changed, report.dry_run) == (2, 0, 2, False)
    session.expire_all()
    rows = {row.id: row for row in session.scalars(select(Submission))}
    # The person's 0.5 on the written part stays and counts: (1 + 1 + 0.5) / 3.
    assert rows[ids[1]].score == pytest.approx(2.5 / 3)
    assert rows[ids[1]].results["parts"][2]["score"] == 0.5 and not rows[ids[1]].pending
    assert rows[ids[2]].score == pytest.approx(0.5)  # the wrong choice is not touched
    stored = {p["key"]: p for p in rows[ids[2]].results["parts"]}
    assert stored["loss_a"]["correct"] is True and stored["better"]["correct"] is False
    assert "within the tolerance" in stored["loss_a"]["feedback"]
    assert rows[ids[2]].pending  # still waiting for a person
    for unchanged in (ids[0], ids[3], ids[4]):
        assert [r for r in before[0] if r[0] == unchanged] == [
            (r.id, r.score, r.pending, r.results) for r in [rows[unchanged]]
        ]
    part_rows = {
        (p.submission_id, p.part_key): p
        for p in session.scalars(select(SubmissionPart).where(SubmissionPart.kind == "numeric"))
    }
    assert [part_rows[(i, "loss_a")].correct for i in ids] == [True, True, True, False, False]
    assert part_rows[(ids[4], "loss_a")].misconception == "reverse_kl"
    # The running tallies followed the writes.
    same(
        card_stats(session=session, viewer=admin, slug="two-students"),
        scanned_card_stats(session=session, viewer=admin, slug="two-students"),
    )
    # Nothing is left to change.
    assert regrade_card(session=session, slug="two-students").changed == 0


def test_a_narrower_tolerance_makes_answers_wrong_and_names_their_mistake(
    session: Session, loaded: Path, fixed_card: dict[str, Any], write_card: Any
) -> None:
    ids = submit_all(session, [(RIGHT, "Student A"), (RIGHT + 0.0006, "Student A")])
    new_tolerance(session, loaded, fixed_card, write_card, rtol=0.0, atol=0.0001)

    report = regrade_card(session=session, slug="two-students", version=1)
    assert (report.now_right, report.now_wrong, report.changed) == (0, 1, 1)
    session.expire_all()
    wrong = session.get(Submission, ids[1])
    assert wrong is not None and wrong.score == pytest.approx(0.5)
    loss = wrong.results["parts"][0]
    assert (loss["correct"], loss["score"]) == (False, 0.0) and "Not quite" in loss["feedback"]
    admin = make_admin(session)
    stats = card_stats(session=session, viewer=admin, slug="two-students")
    same(stats, scanned_card_stats(session=session, viewer=admin, slug="two-students"))
    assert [w.count for p in stats.parts if p.key == "loss_a" for w in p.wrong_answers] == [1]
    # Writes after a regrade, in the same session, still move the tallies themselves.
    session.execute(update(Submission).where(Submission.id == ids[0]).values(score=0.25))
    session.execute(
        update(SubmissionPart)
        .where(SubmissionPart.submission_id == ids[1], SubmissionPart.part_key == "loss_a")
        .values(score=1.0, correct=True)
    )
    session.commit()
    same(
        card_stats(session=session, viewer=admin, slug="two-students"),
        scanned_card_stats(session=session, viewer=admin, slug="two-students"),
    )
    # Only the submissions of the version asked for: version 2 has none.
    assert regrade_card(session=session, slug="two-students", version=2).submissions == 0


def test_an_unknown_card_or_version_is_not_found(session: Session, loaded: Path) -> None:
    with pytest.raises(NotFound, match="no card 'nope'"):
        regrade_card(session=session, slug="nope")
    with pytest.raises(NotFound, match="has no version 9"):
        regrade_card(session=session, slug="two-students", version=9)
