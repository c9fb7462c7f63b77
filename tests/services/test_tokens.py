"""API tokens: shown once, only a SHA-256 kept, scopes within the role, revocable, last use recorded sparingly."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.models import ApiToken, User, utcnow
from app.services.accounts import create_user
from app.services.errors import NotFound
from app.services.tokens import (
    LAST_USED_RESOLUTION,
    LAST_USED_SPREAD,
    ROLE_SCOPES,
    SCOPES,
    TokenError,
    authenticate_token,
    cached_token_user,
    create_token,
    list_tokens,
    revoke_token,
)

PASSWORD = "correct horse battery"


@pytest.fixture
def learner(session: Session) -> User:
    return create_user(session=session, email="learner@example.org", password=PASSWORD)


@pytest.fixture
def instructor(session: Session) -> User:
    return create_user(session=session, email="teacher@example.org", password=PASSWORD, role="instructor")


def test_a_token_is_dt_and_43_random_characters_and_only_its_hash_is_stored(session: Session, learner: User) -> None:
    made = create_token(session=session, user=learner, name="  grading script ")

    assert re.fullmatch(r"dt_[A-Za-z0-9_-]{43}", made.secret)
    row = session.scalars(select(ApiToken)).one()
    assert row.name == "grading script"
    assert row.token_hash == hashlib.sha256(made.secret.encode()).hexdigest()
    assert row.prefix == made.secret[:10]
    stored = [str(value) for value in row.__dict__.values()]
    assert not any(made.secret in value for value in stored)  # the secret itself is nowhere in the row
    assert create_token(session=session, user=learner, name="another").secret != made.secret


def test_a_new_token_gets_every_scope_the_role_allows(session: Session, learner: User, instructor: User) -> None:
    assert create_token(session=session, user=learner, name="a").token.scopes == ["read", "submit"]
    assert create_token(session=session, user=instructor, name="b").token.scopes == list(ROLE_SCOPES["instructor"])
    admin = create_user(session=session, email="admin@example.org", password=PASSWORD, role="admin")
    assert create_token(session=session, user=admin, name="c").token.scopes == list(SCOPES)


def test_chosen_scopes_are_kept_in_a_fixed_order(session: Session, instructor: User) -> None:
    made = create_token(session=session, user=instructor, name="cards", scopes=["cards:write", "read", "read"])
    assert made.token.scopes == ["read", "cards:write"]


def test_a_learner_cannot_give_a_token_more_than_a_learner_may_do(session: Session, learner: User) -> None:
    with pytest.raises(TokenError) as caught:
        create_token(session=session, user=learner, name="sneaky", scopes=["read", "cards:write"])

    assert caught.value.field == "scopes"
    assert "a learner account cannot give a token cards:write" in caught.value.message
    assert session.scalars(select(ApiToken)).all() == []


def test_unknown_scopes_and_missing_names_are_refused(session: Session, instructor: User) -> None:
    with pytest.raises(TokenError, match="'everything' is not a scope") as caught:
        create_token(session=session, user=instructor, name="x", scopes=["everything"])
    assert caught.value.field == "scopes"
    with pytest.raises(TokenError) as named:
        create_token(session=session, user=instructor, name="   ")
    assert named.value.field == "name"
    with pytest.raises(TokenError, match="longer than 100"):
        create_token(session=session, user=instructor, name="n" * 101)


def test_a_live_token_authenticates_its_user_with_its_scopes(session: Session, instructor: User) -> None:
    made = create_token(session=session, user=instructor, name="cards", scopes=["read", "cards:write"])

    found = authenticate_token(session=session, secret=made.secret)

    assert found is not None
    assert found.user.id == instructor.id
    assert found.scopes == {"read", "cards:write"}
    assert found.token_id == made.token.id


@pytest.mark.parametrize("secret", ["", "dt_", "dt_" + "A" * 42, "xx_" + "A" * 43, "dt_" + "A" * 43 + "\n"])
def test_malformed_and_unknown_tokens_authenticate_nobody(session: Session, secret: str) -> None:
    assert authenticate_token(session=session, secret=secret) is None


def test_a_revoked_token_authenticates_nobody(session: Session, learner: User) -> None:
    made = create_token(session=session, user=learner, name="old")

    revoked = revoke_token(session=session, user_id=learner.id, token_id=made.token.id)

    assert revoked.revoked_at is not None
    assert authenticate_token(session=session, secret=made.secret) is None
    again = revoke_token(session=session, user_id=learner.id, token_id=made.token.id)
    assert again.revoked_at == revoked.revoked_at  # revoking twice keeps the first time


def test_tokens_are_revoked_by_prefix_and_only_by_their_owner(
    session: Session, learner: User, instructor: User
) -> None:
    made = create_token(session=session, user=learner, name="mine")

    with pytest.raises(NotFound):
        revoke_token(session=session, user_id=instructor.id, token_id=made.token.id)
    with pytest.raises(NotFound):
        revoke_token(session=session, user_id=instructor.id, prefix=made.token.prefix)
    assert authenticate_token(session=session, secret=made.secret) is not None

    revoke_token(session=session, user_id=learner.id, prefix=made.secret[:8])
    assert authenticate_token(session=session, secret=made.secret) is None


def test_a_prefix_matching_two_tokens_asks_for_the_id(session: Session, learner: User) -> None:
    create_token(session=session, user=learner, name="one")
    create_token(session=session, user=learner, name="two")
    with pytest.raises(TokenError, match="more than one token"):
        revoke_token(session=session, user_id=learner.id, prefix="dt_")
    # "_" is a wildcard in SQL LIKE; the prefix is matched literally.
    with pytest.raises(NotFound):
        revoke_token(session=session, user_id=learner.id, prefix="dt%")


def test_last_use_is_written_at_most_once_a_minute(session: Session, learner: User) -> None:
    made = create_token(session=session, user=learner, name="busy")
    start = utcnow()

    authenticate_token(session=session, secret=made.secret, now=start)
    authenticate_token(session=session, secret=made.secret, now=start + timedelta(seconds=59))
    session.refresh(made.token)
    assert made.token.last_used_at == start

    later = start + LAST_USED_RESOLUTION + timedelta(seconds=LAST_USED_SPREAD)
    authenticate_token(session=session, secret=made.secret, now=later)
    session.refresh(made.token)
    assert made.token.last_used_at == later


def test_tokens_first_used_together_are_written_again_in_different_seconds(session: Session, learner: User) -> None:
    made = [create_token(session=session, user=learner, name=f"class {n}") for n in range(LAST_USED_SPREAD)]
    start = utcnow()
    for token in made:
        authenticate_token(session=session, secret=token.secret, now=start)

    written_at: dict[int, int] = {}
    for second in range(60, 60 + LAST_USED_SPREAD):
        for token in made:
            authenticate_token(session=session, secret=token.secret, now=start + timedelta(seconds=second))
            session.refresh(token.token)
            if token.token.last_used_at != start:
                written_at.setdefault(token.token.id, second)

    assert len(written_at) == LAST_USED_SPREAD  # each written again within the spread
    assert len(set(written_at.values())) == LAST_USED_SPREAD  # and each in a second of its own


def test_writing_one_tokens_last_use_keeps_the_others_cached(session: Session, learner: User) -> None:
    first = create_token(session=session, user=learner, name="first")
    second = create_token(session=session, user=learner, name="second")
    start = utcnow()
    authenticate_token(session=session, secret=first.secret, now=start)
    authenticate_token(session=session, secret=second.secret, now=start + timedelta(seconds=30))

    # The first's last use is due again and written; the second is still known without a query.
    due = start + LAST_USED_RESOLUTION + timedelta(seconds=LAST_USED_SPREAD)
    authenticate_token(session=session, secret=first.secret, now=due)
    session.refresh(first.token)
    assert first.token.last_used_at == due

    assert cached_token_user(session=None, secret=second.secret, now=start + timedelta(seconds=31)) is not None
    revoke_token(session=session, user_id=learner.id, token_id=first.token.id)
    assert cached_token_user(session=None, secret=second.secret, now=start + timedelta(seconds=31)) is None
    assert authenticate_token(session=session, secret=first.secret, now=due) is None


def test_a_token_deleted_is_forgotten_at_once(session: Session, learner: User) -> None:
    made = create_token(session=session, user=learner, name="gone")
    assert authenticate_token(session=session, secret=made.secret) is not None
    assert cached_token_user(session=None, secret=made.secret) is not None

    session.delete(made.token)
    session.commit()

    assert cached_token_user(session=None, secret=made.secret) is None
    assert authenticate_token(session=session, secret=made.secret) is None


def test_a_token_never_does_more_than_its_users_role_allows_today(session: Session, instructor: User) -> None:
    made = create_token(session=session, user=instructor, name="cards")
    instructor.role = "learner"
    session.commit()

    found = authenticate_token(session=session, secret=made.secret)

    assert found is not None and found.scopes == {"read", "submit"}


def test_tokens_are_listed_newest_first_revoked_included(session: Session, learner: User, instructor: User) -> None:
    first = create_token(session=session, user=learner, name="first")
    second = create_token(session=session, user=learner, name="second")
    create_token(session=session, user=instructor, name="someone else's")
    revoke_token(session=session, user_id=learner.id, token_id=first.token.id)

    listed = list_tokens(session=session, user_id=learner.id)

    assert [token.name for token in listed] == ["second", "first"]
    assert listed[1].revoked_at is not None and listed[0].id == second.token.id
    assert len(list_tokens(session=session, user_id=learner.id, limit=1)) == 1
