"""Accounts: argon2 hashes, normalised emails, password rules, roles, and claiming a guest's history."""

from __future__ import annotations

from datetime import timedelta
from functools import partial

import pytest
from argon2 import PasswordHasher
from query_count_support import counted_statements
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from users_support import make_user

from app.db.models import EndedSession, Learner, Submission, User, utcnow
from app.services import accounts
from app.services.accounts import (
    AccountError,
    authenticate,
    can_edit,
    claim_guest_history,
    create_user,
    end_sessions,
    is_admin,
    is_instructor,
    learner_for_user,
    normalise_email,
    set_password,
    verify_password,
)
from app.services.learners import guest_learner
from app.services.submissions import submit

PASSWORD = "correct horse battery"
# Read at import, before the tests' cheaper hasher is put in its place (tests/conftest.py).
PRODUCTION_HASHER = accounts.password_hasher


def test_the_production_hasher_is_argon2id_with_rfc_9106_costs() -> None:
    stored = PRODUCTION_HASHER.hash(PASSWORD)
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert verify_password(stored, PASSWORD)  # the hash carries its costs, so any hasher verifies it
    assert not verify_password(stored, PASSWORD + "!")


def test_a_user_is_stored_with_a_normalised_email_and_a_hash_never_the_password(session: Session) -> None:
    user = create_user(session=session, email="  Ada.Lovelace@Example.ORG ", password=PASSWORD, role="instructor")

    stored = session.scalars(select(User)).one()
    assert stored.id == user.id
    assert stored.email == "ada.lovelace@example.org"
    assert stored.role == "instructor"
    assert stored.session_version == 0
    assert PASSWORD not in stored.password_hash
    assert stored.password_hash.startswith("$argon2id$")
    assert verify_password(stored.password_hash, PASSWORD)


def test_two_users_with_the_same_password_get_different_hashes(session: Session) -> None:
    one = create_user(session=session, email="one@example.org", password=PASSWORD)
    two = create_user(session=session, email="two@example.org", password=PASSWORD)
    assert one.password_hash != two.password_hash  # a salt each


def test_authenticate_takes_the_email_in_any_case_and_refuses_wrong_passwords(session: Session) -> None:
    user = create_user(session=session, email="ada@example.org", password=PASSWORD)

    assert authenticate(session=session, email=" ADA@example.org", password=PASSWORD) == user
    assert authenticate(session=session, email="ada@example.org", password=PASSWORD.upper()) is None
    assert authenticate(session=session, email="ada@example.org", password="") is None
    assert authenticate(session=session, email="nobody@example.org", password=PASSWORD) is None
    assert authenticate(session=session, email="ada@example.org", password="x" * 5000) is None


def test_an_outdated_hash_is_upgraded_at_sign_in(session: Session) -> None:
    user = create_user(session=session, email="ada@example.org", password=PASSWORD)
    user.password_hash = PasswordHasher(time_cost=1, memory_cost=16, parallelism=1).hash(PASSWORD)
    session.commit()
    old = user.password_hash

    assert authenticate(session=session, email="ada@example.org", password=PASSWORD) == user

    session.refresh(user)
    assert user.password_hash != old
    assert not accounts.password_hasher.check_needs_rehash(user.password_hash)
    assert verify_password(user.password_hash, PASSWORD)


def test_a_corrupt_hash_is_a_mismatch_not_a_crash(session: Session) -> None:
    user = create_user(session=session, email="ada@example.org", password=PASSWORD)
    user.password_hash = "not a hash"
    session.commit()
    assert authenticate(session=session, email="ada@example.org", password=PASSWORD) is None


def test_a_duplicate_email_is_refused_in_any_case(session: Session) -> None:
    create_user(session=session, email="ada@example.org", password=PASSWORD)

    with pytest.raises(AccountError) as caught:
        create_user(session=session, email="ADA@Example.org", password=PASSWORD + "2")

    assert caught.value.field == "email"
    assert "already registered" in caught.value.message
    assert session.scalar(select(func.count()).select_from(User)) == 1


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "is required"),
        ("   ", "is required"),
        ("ada", "is not an email address"),
        ("ada@", "is not an email address"),
        ("ada@example", "is not an email address"),
        ("ada lovelace@example.org", "is not an email address"),
        ("ada@@example.org", "is not an email address"),
        ("ada@example.org,", "is not an email address"),
        ("ada@example..org", "is not an email address"),
        ("a" * 250 + "@example.org", "longer than 254"),
    ],
)
def test_bad_emails_are_refused_naming_the_field(session: Session, raw: str, message: str) -> None:
    with pytest.raises(AccountError) as caught:
        create_user(session=session, email=raw, password=PASSWORD)
    assert caught.value.field == "email"
    assert message in caught.value.message
    assert session.scalar(select(func.count()).select_from(User)) == 0


def test_emails_are_lower_cased_and_trimmed() -> None:
    assert normalise_email(" Grace.Hopper+Tutor@Navy.MIL\t") == "grace.hopper+tutor@navy.mil"


@pytest.mark.parametrize("password", ["", "short", "123456789"])
def test_passwords_under_ten_characters_are_refused_with_the_rule(session: Session, password: str) -> None:
    with pytest.raises(AccountError) as caught:
        create_user(session=session, email="ada@example.org", password=password)
    assert caught.value.field == "password"
    assert f"is {len(password)} characters long; use at least 10" in caught.value.message
    assert session.scalar(select(func.count()).select_from(User)) == 0


def test_ten_characters_are_enough_and_a_megabyte_is_too_many(session: Session) -> None:
    assert create_user(session=session, email="ada@example.org", password="0123456789").id
    with pytest.raises(AccountError, match="longer than 1024"):
        create_user(session=session, email="bob@example.org", password="x" * 1025)


def test_an_unknown_role_is_refused(session: Session) -> None:
    with pytest.raises(AccountError) as caught:
        create_user(session=session, email="ada@example.org", password=PASSWORD, role="owner")
    assert caught.value.field == "role"


def test_roles_and_who_may_edit_what(session: Session) -> None:
    learner = create_user(session=session, email="l@example.org", password=PASSWORD)
    teacher = create_user(session=session, email="i@example.org", password=PASSWORD, role="instructor")
    other = create_user(session=session, email="o@example.org", password=PASSWORD, role="instructor")
    admin = create_user(session=session, email="a@example.org", password=PASSWORD, role="admin")

    assert [is_instructor(u) for u in (None, learner, teacher, admin)] == [False, False, True, True]
    assert [is_admin(u) for u in (None, learner, teacher, admin)] == [False, False, False, True]
    assert can_edit(teacher, teacher.id)
    assert not can_edit(teacher, other.id)
    assert not can_edit(teacher, None)  # built-in content
    assert not can_edit(learner, learner.id)
    assert not can_edit(None, None)
    assert can_edit(admin, other.id) and can_edit(admin, None)


def test_a_new_password_and_sign_out_everywhere_move_the_session_version(session: Session) -> None:
    user = create_user(session=session, email="ada@example.org", password=PASSWORD)

    end_sessions(session=session, user=user)
    assert user.session_version == 1
    set_password(session=session, user=user, password="another long password")
    assert user.session_version == 2
    assert authenticate(session=session, email="ada@example.org", password="another long password") == user
    assert authenticate(session=session, email="ada@example.org", password=PASSWORD) is None


# --- the guest's history -------------------------------------------------------------------------------------


def _submissions_of(session: Session, learner_id: int) -> list[int]:
    query = select(Submission.id).where(Submission.learner_id == learner_id).order_by(Submission.id)
    return list(session.scalars(query))


def test_an_account_without_a_learner_takes_over_the_guests_row(session: Session, loaded: object) -> None:
    guest = guest_learner(session=session, guest_id="guest-one")
    made = submit(session=session, learner_id=guest.id, slug="two-students", seed=0, answers={"loss_a": "0.0268"})
    user = create_user(session=session, email="ada@example.org", password=PASSWORD)

    claim = claim_guest_history(session=session, user=user, guest_id="guest-one")

    assert (claim.outcome, claim.submissions) == ("linked", 1)
    mine = learner_for_user(session=session, user=user)
    assert mine.id == guest.id and mine.guest_id == "guest-one"
    assert _submissions_of(session, mine.id) == [made.id]


def test_an_account_with_a_learner_receives_the_guests_submissions(session: Session, loaded: object) -> None:
    user = create_user(session=session, email="ada@example.org", password=PASSWORD)
    mine = learner_for_user(session=session, user=user)
    before = submit(session=session, learner_id=mine.id, slug="two-students", seed=0, answers={"loss_a": "1"})
    guest = guest_learner(session=session, guest_id="guest-one")
    guest_made = [
        submit(session=session, learner_id=guest.id, slug="two-students", seed=0, answers={"loss_a": "0.0268"}).id
        for _ in range(2)
    ]

    claim = claim_guest_history(session=session, user=user, guest_id="guest-one")

    assert (claim.outcome, claim.submissions) == ("moved", 2)
    assert _submissions_of(session, mine.id) == sorted([before.id, *guest_made])
    assert _submissions_of(session, guest.id) == []
    assert session.get(Learner, guest.id) is not None  # the empty guest row stays, unclaimed


def test_a_guest_already_claimed_by_another_account_is_left_alone(session: Session, loaded: object) -> None:
    first = create_user(session=session, email="ada@example.org", password=PASSWORD)
    second = create_user(session=session, email="bob@example.org", password=PASSWORD)
    guest = guest_learner(session=session, guest_id="guest-one")
    submit(session=session, learner_id=guest.id, slug="two-students", seed=0, answers={"loss_a": "0.0268"})
    claim_guest_history(session=session, user=first, guest_id="guest-one")

    claim = claim_guest_history(session=session, user=second, guest_id="guest-one")

    assert claim.outcome == "none"
    assert session.get(Learner, guest.id).user_id == first.id  # type: ignore[union-attr]
    assert claim_guest_history(session=session, user=second, guest_id=None).outcome == "none"
    assert claim_guest_history(session=session, user=second, guest_id="never-seen").outcome == "none"


def test_an_accounts_learner_is_made_once(session: Session) -> None:
    user = create_user(session=session, email="ada@example.org", password=PASSWORD)
    assert learner_for_user(session=session, user=user).id == learner_for_user(session=session, user=user).id
    assert session.scalar(select(func.count()).select_from(Learner)) == 1


def test_a_signed_out_session_is_kept_until_its_cookie_would_have_expired(session: Session) -> None:
    now = utcnow()
    accounts.end_browser_session(session=session, session_id="expired", ends_at=now - timedelta(seconds=1))
    accounts.end_browser_session(session=session, session_id="tab", ends_at=now + timedelta(days=14))
    accounts.end_browser_session(session=session, session_id="tab", ends_at=now + timedelta(days=14))  # twice

    assert accounts.session_ended(session=session, session_id="tab")
    assert not accounts.session_ended(session=session, session_id="still-signed-in")
    # The next sign-out forgot the session whose cookie had expired anyway.
    assert session.scalars(select(EndedSession.session_id)).all() == ["tab"]


def test_a_browser_session_checked_a_moment_ago_needs_no_query_until_an_account_or_a_sign_out_changes(
    session: Session,
) -> None:
    user = make_user(session, "learner", "kept@example.org")
    engine = session.get_bind()
    assert isinstance(engine, Engine)
    check = partial(accounts.session_user, session=session, user_id=user.id, session_id="tab")

    assert check(version=0) is not None
    with counted_statements(engine) as sent:
        again = check(version=0)
    assert again is not None and again.email == "kept@example.org" and sent == []
    assert check(version=1) is None  # a version the account does not have

    accounts.end_sessions(session=session, user=user)  # "sign out of every browser": a bulk update
    assert check(version=0) is None
    assert check(version=1) is not None
    accounts.end_browser_session(session=session, session_id="tab", ends_at=utcnow() + timedelta(days=1))
    assert check(version=1) is None  # signed out, though kept a moment ago
