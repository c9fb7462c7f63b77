"""Storing graded submissions many at once: the rows ``submit`` writes, the tallies, webhooks, a fixed cost."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from graded_support import BATCH, NOW, RIGHT, graded
from query_count_support import counted_statements
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from tallies_support import same

from app.db.integrations import OutboxMessage
from app.db.models import Card, Learner, Submission, SubmissionPart, User
from app.services.analytics import card_stats, scanned_card_stats
from app.services.submission_store import store_submissions
from app.services.submission_views import SubmissionView
from app.services.submissions import submit
from app.services.webhooks import add_webhook, remove_webhook, submission_event

SECRET = "a-shared-secret-of-some-length"


def count(session: Session, model: type[Any]) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def submission_rows(session: Session, ids: list[int]) -> list[tuple[Any, ...]]:
    """Each submission's columns but its id, in the order of ``ids``."""
    columns = [column for column in Submission.__table__.c if column.name != "id"]
    found = {row[0]: tuple(row[1:]) for row in session.execute(select(Submission.id, *columns))}
    return [found[ident] for ident in ids]


def part_rows(session: Session, ids: list[int]) -> list[list[tuple[Any, ...]]]:
    """Each submission's parts, all columns but the ids, in the order of ``ids``."""
    columns = [column for column in SubmissionPart.__table__.c if column.name not in ("id", "submission_id")]
    rows = session.execute(select(SubmissionPart.submission_id, *columns).order_by(SubmissionPart.id)).all()
    return [[tuple(row[1:]) for row in rows if row[0] == ident] for ident in ids]


def test_a_batch_gets_distinct_ids_each_on_the_row_of_its_submission(
    session: Session, loaded: Path, learner: Learner, other_learner: Learner
) -> None:
    learners = [learner.id, other_learner.id]
    items = [graded(session, learners[index % 2], *entry) for index, entry in enumerate(BATCH)]

    views = store_submissions(session=session, graded=items)
    session.commit()

    ids = [view.id for view in views]
    assert len(set(ids)) == len(ids) == len(BATCH)
    assert [(view.slug, view.seed, view.score) for view in views] == [
        (item.card.spec.slug, item.seed, item.grade.score) for item in items
    ]
    stored = session.execute(
        select(Submission.id, Submission.learner_id, Card.slug, Submission.seed, Submission.score).join(
            Card, Card.id == Submission.card_id
        )
    ).all()
    by_id = {row.id: (row.learner_id, row.slug, row.seed, row.score) for row in stored}
    assert [by_id[ident] for ident in ids] == [
        (item.learner_id, item.card.spec.slug, item.seed, item.grade.score) for item in items
    ]


def test_the_ids_follow_the_order_of_a_long_batch(session: Session, loaded: Path, learner: Learner) -> None:
    # Long enough for the driver to split the insert; each seed tells which item a row belongs to.
    items = [graded(session, learner.id, "drawn-kl", seed, {"kl": "0.1"}) for seed in range(150)]

    views = store_submissions(session=session, graded=items)
    session.commit()

    seeds = {row.id: row.seed for row in session.execute(select(Submission.id, Submission.seed))}
    assert [seeds[view.id] for view in views] == list(range(150))
    assert [view.seed for view in views] == list(range(150))


def test_the_rows_and_parts_are_those_submit_writes(session: Session, loaded: Path, learner: Learner) -> None:
    batch = store_submissions(session=session, graded=[graded(session, learner.id, *entry) for entry in BATCH])
    session.commit()
    singles = [
        submit(session=session, learner_id=learner.id, slug=slug, seed=seed, answers=answers, now=NOW)
        for slug, seed, answers in BATCH
    ]

    batch_ids, single_ids = [view.id for view in batch], [view.id for view in singles]
    assert submission_rows(session, batch_ids) == submission_rows(session, single_ids)
    batch_parts = part_rows(session, batch_ids)
    assert batch_parts == part_rows(session, single_ids)
    assert [len(parts) for parts in batch_parts] == [3, 3, 1, 1]
    misconceptions = [part[-2] for part in batch_parts[1]]  # columns: card, key, kind, answer, score, correct, ...
    assert "log_base_2" in misconceptions
    for mine, theirs in zip(batch, singles, strict=True):
        assert (mine.score, mine.pending, mine.version, mine.attempt, mine.deck_slug) == (
            theirs.score,
            theirs.pending,
            theirs.version,
            theirs.attempt,
            theirs.deck_slug,
        )
        assert mine.grade.to_dict() == theirs.grade.to_dict()


def test_the_card_tallies_count_a_batch(session: Session, loaded: Path) -> None:
    admin = User(email="admin@example.org", password_hash="not-a-hash", role="admin")
    session.add(admin)
    guests = [Learner(guest_id=f"guest-tally-{n}") for n in range(3)]
    session.add_all(guests)
    session.commit()
    items = [graded(session, guests[index % 3].id, *entry) for index, entry in enumerate(BATCH * 2)]

    store_submissions(session=session, graded=items)
    session.commit()

    session.expire_all()
    for slug in ("two-students", "drawn-kl"):
        tallied = card_stats(session=session, viewer=admin, slug=slug)
        same(tallied, scanned_card_stats(session=session, viewer=admin, slug=slug))
        assert (tallied.submissions, tallied.learners) == (4, 3)

    # A later batch: a returning learner is not counted again, a new one is, once for two submissions.
    newcomer = Learner(guest_id="guest-tally-new")
    session.add(newcomer)
    session.commit()
    later = [
        graded(session, learner.id, "two-students", seed, RIGHT)
        for learner, seed in [(guests[0], 7), (newcomer, 8), (newcomer, 9)]
    ]
    store_submissions(session=session, graded=later)
    session.commit()
    session.expire_all()
    tallied = card_stats(session=session, viewer=admin, slug="two-students")
    same(tallied, scanned_card_stats(session=session, viewer=admin, slug="two-students"))
    assert (tallied.submissions, tallied.learners) == (7, 4)


def test_each_submission_queues_one_message_per_active_webhook(session: Session, loaded: Path) -> None:
    gone = add_webhook(session=session, url="https://gone.example/hook", secret=SECRET)
    first = add_webhook(session=session, url="https://a.example/hook", secret=SECRET)
    second = add_webhook(session=session, url="https://b.example/hook", secret=SECRET)
    remove_webhook(session=session, webhook_id=gone.id)
    lms = Learner(guest_id="guest-lms", external_id="lms-user-7")
    guest = Learner(guest_id="guest-plain")
    session.add_all([lms, guest])
    session.commit()
    items = [graded(session, (lms, guest)[index % 2].id, *entry) for index, entry in enumerate(BATCH)]

    views = store_submissions(session=session, graded=items)
    session.commit()

    def canonical(payload: dict[str, Any]) -> str:
        return json.dumps(payload, sort_keys=True)

    messages = session.scalars(select(OutboxMessage)).all()
    assert sorted((m.kind, m.webhook_id, m.target_url, canonical(m.payload)) for m in messages) == sorted(
        (
            "webhook",
            hook.id,
            hook.url,
            canonical(submission_event(submission=view, learner_id=item.learner_id, external_id=external)),
        )
        for view, item, external in zip(views, items, ("lms-user-7", None) * 2, strict=True)
        for hook in (first, second)
    )
    assert {m.payload["submission"]["learner"]["external_id"] for m in messages} == {"lms-user-7", None}
    assert {m.status for m in messages} == {"pending"}


def test_on_stored_sees_each_stored_submission_in_order_before_the_commit(
    session: Session, loaded: Path, learner: Learner
) -> None:
    seen: list[tuple[int, int]] = []

    def keep(view: SubmissionView) -> None:
        # Called inside the transaction: the row is already there for the same session.
        assert session.get(Submission, view.id) is not None
        seen.append((view.id, view.seed))

    items = [graded(session, learner.id, *entry) for entry in BATCH]
    items = [dataclasses.replace(item, on_stored=keep) for item in items]

    views = store_submissions(session=session, graded=items)
    assert seen == [(view.id, view.seed) for view in views]
    session.rollback()  # nothing committed: the submissions go, and with them whatever on_stored wrote
    assert count(session, Submission) == 0


@pytest.mark.parametrize("size", [1, 12])
def test_the_statements_do_not_grow_with_the_batch(
    engine: Engine, session: Session, loaded: Path, learner: Learner, size: int
) -> None:
    add_webhook(session=session, url="https://a.example/hook", secret=SECRET)
    items = [graded(session, learner.id, "drawn-kl", seed, {"kl": "0.1"}) for seed in range(size)]
    session.connection()  # the transaction begun before counting

    with counted_statements(engine) as sent:
        store_submissions(session=session, graded=items)

    session.commit()
    assert count(session, Submission) == size
    assert count(session, OutboxMessage) == size
    # Besides the rows of the submissions and their parts: the LMS links, the webhooks and the learners' external
    # ids.
    others = [statement for statement in sent if not writes_rows(statement)]
    assert len(others) == 3, others


def writes_rows(statement: str) -> bool:
    """Whether ``statement`` inserts submissions or their parts (PostgreSQL's one statement begins WITH)."""
    return statement.startswith(("INSERT INTO submission", "WITH new AS"))


@pytest.mark.parametrize("size", [1, 12])
def test_the_rows_are_one_statement_on_postgresql(
    engine: Engine, session: Session, loaded: Path, learner: Learner, size: int
) -> None:
    items = [graded(session, learner.id, "drawn-kl", seed, {"kl": "0.1"}) for seed in range(size)]
    session.connection()

    with counted_statements(engine) as sent:
        store_submissions(session=session, graded=items)

    writes = [statement for statement in sent if writes_rows(statement)]
    if engine.dialect.name == "postgresql":
        # The submissions and their parts in one round trip.
        assert len(writes) == 1
        assert "INSERT INTO submission " in writes[0] and "INSERT INTO submission_part " in writes[0]
    else:
        # SQLite cannot promise the order of RETURNING rows, so SQLAlchemy sends one INSERT per submission there
        # to keep the ids in order (in-process, that costs no more than one long statement); then the parts.
        tables = [statement.split("(")[0].split()[-1] for statement in writes]
        assert tables == ["submission"] * size + ["submission_part"]


def test_nothing_to_store_sends_nothing(engine: Engine, session: Session) -> None:
    with counted_statements(engine) as sent:
        assert store_submissions(session=session, graded=[]) == []
    assert sent == []


def test_an_unknown_learner_fails_the_whole_batch(session: Session, loaded: Path, learner: Learner) -> None:
    items = [graded(session, learner.id, "two-students", 0, RIGHT), graded(session, 987_654, "two-students", 1, RIGHT)]

    with pytest.raises(IntegrityError):
        store_submissions(session=session, graded=items)
    session.rollback()

    assert count(session, Submission) == 0
    assert count(session, SubmissionPart) == 0
