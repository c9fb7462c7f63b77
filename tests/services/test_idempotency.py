"""Idempotency keys: stored with what they answer, compared by request, one winner when two race."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from app.db.integrations import IdempotencyKey
from app.db.models import Learner, Submission
from app.db.session import make_sessionmaker
from app.services.idempotency import KeyRaced, KeyReused, fingerprint, store_response, stored_response
from app.services.submissions import submit

ANSWERS = {"loss_a": "0.0268", "better": "Student A", "reasoning": "lower KL"}


def test_the_fingerprint_depends_on_the_request_not_on_key_order() -> None:
    one = fingerprint(method="post", path="/x", body={"a": 1, "b": [1, 2]})

    assert one == fingerprint(method="POST", path="/x", body={"b": [1, 2], "a": 1})
    assert one != fingerprint(method="POST", path="/y", body={"a": 1, "b": [1, 2]})
    assert one != fingerprint(method="POST", path="/x", body={"a": 2, "b": [1, 2]})


def test_a_response_is_stored_with_the_submission_and_read_back(
    session: Session, loaded: Path, learner: Learner
) -> None:
    request_hash = fingerprint(method="POST", path="/s", body={"seed": 0})

    def keep(view: object) -> None:
        store_response(
            session=session, scope="user:1", key="k", request_hash=request_hash, status_code=201, body={"id": 7}
        )

    submit(session=session, learner_id=learner.id, slug="two-students", seed=0, answers=ANSWERS, on_stored=keep)

    found = stored_response(session=session, scope="user:1", key="k", request_hash=request_hash)
    assert found is not None and (found.status_code, found.body) == (201, {"id": 7})
    assert stored_response(session=session, scope="user:2", key="k", request_hash=request_hash) is None
    with pytest.raises(KeyReused):
        stored_response(session=session, scope="user:1", key="k", request_hash="0" * 64)


def test_a_submission_that_fails_keeps_no_key(session: Session, loaded: Path, learner: Learner) -> None:
    def keep(view: object) -> None:
        store_response(session=session, scope="s", key="k", request_hash="h", status_code=201, body={})

    with pytest.raises(ValueError):
        submit(
            session=session, learner_id=learner.id, slug="two-students", seed=0, answers={"loss_a": "?"}, on_stored=keep
        )

    assert session.scalar(select(func.count()).select_from(IdempotencyKey)) == 0


def test_the_loser_of_a_race_stores_nothing_and_finds_the_winner(
    engine: Engine, session: Session, loaded: Path, learner: Learner
) -> None:
    # Two requests with one key both looked it up and found nothing; the first to commit wins.
    with make_sessionmaker(engine)() as other:
        store_response(session=other, scope="t", key="k", request_hash="h", status_code=201, body={"id": 1})
        other.commit()

    def keep(view: object) -> None:
        store_response(session=session, scope="t", key="k", request_hash="h", status_code=201, body={"id": 2})

    with pytest.raises(KeyRaced):
        submit(session=session, learner_id=learner.id, slug="two-students", seed=0, answers=ANSWERS, on_stored=keep)

    assert session.scalar(select(func.count()).select_from(Submission)) == 0
    found = stored_response(session=session, scope="t", key="k", request_hash="h")
    assert found is not None and found.body == {"id": 1}
