"""An account's learner id kept in the process: read once, kept through new guests, forgotten when rows change."""

from __future__ import annotations

from sqlalchemy import Engine, delete
from sqlalchemy.orm import Session

from app.db.models import Learner, User
from app.services.accounts import (
    cached_learner_id,
    claim_guest_history,
    create_user,
    learner_for_user,
    user_learner,
)
from app.services.learners import guest_learner

PASSWORD = "a long test password"


def account(session: Session, email: str = "ada@example.org") -> User:
    return create_user(session=session, email=email, password=PASSWORD)


def test_the_learner_of_an_account_is_kept_once_read(engine: Engine, session: Session) -> None:
    user = account(session)
    assert user_learner(session=session, user=user) is None
    assert cached_learner_id(engine, user.id) is None  # nothing to keep yet

    made = learner_for_user(session=session, user=user)
    found = user_learner(session=session, user=user)

    assert found is not None and found.id == made.id
    assert cached_learner_id(engine, user.id) == made.id
    assert cached_learner_id(engine, user.id + 1) is None


def test_new_guests_and_accounts_do_not_empty_it(engine: Engine, session: Session) -> None:
    user = account(session)
    learner = learner_for_user(session=session, user=user)
    user_learner(session=session, user=user)

    guest_learner(session=session, guest_id="guest-new")
    other = account(session, "bob@example.org")
    learner_for_user(session=session, user=other)

    assert cached_learner_id(engine, user.id) == learner.id


def test_a_guest_linked_to_an_account_empties_it(engine: Engine, session: Session) -> None:
    user = account(session)
    kept = account(session, "bob@example.org")
    learner_for_user(session=session, user=kept)
    user_learner(session=session, user=kept)
    guest = guest_learner(session=session, guest_id="guest-one")

    claim = claim_guest_history(session=session, user=user, guest_id="guest-one")

    assert claim.outcome == "linked"
    assert cached_learner_id(engine, kept.id) is None  # everything is forgotten, not just the account's
    assert learner_for_user(session=session, user=user).id == guest.id
    user_learner(session=session, user=user)
    assert cached_learner_id(engine, user.id) == guest.id


def test_a_learner_deleted_here_is_forgotten(engine: Engine, session: Session) -> None:
    user = account(session)
    learner = learner_for_user(session=session, user=user)
    user_learner(session=session, user=user)

    session.execute(delete(Learner).where(Learner.id == learner.id))
    session.commit()

    assert cached_learner_id(engine, user.id) is None
    assert learner_for_user(session=session, user=user).guest_id != learner.guest_id  # a new row for the account
