"""Accounts: users with argon2 password hashes, roles, and the guest history a learner brings when signing in.

``create_user(session=s, email="Ada@Example.org", password="correct horse")`` stores ``ada@example.org``
with an argon2id hash; ``authenticate`` returns the user for a right password and None otherwise, taking
about as long for an unknown email as for a wrong password.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import Engine, bindparam, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, make_transient_to_detached

from app.db.models import ROLES, EndedSession, Learner, Submission, User, utcnow
from app.services.engine_cache import EngineCache, forget_on_change, session_engine

MIN_PASSWORD_LENGTH: Final = 10
# Long enough for any passphrase, short enough that hashing a posted megabyte is not a way to load the server.
MAX_PASSWORD_LENGTH: Final = 1024
MAX_EMAIL_LENGTH: Final = 254

# One address, no spaces, a dot in the domain: deliberately simple (only delivery proves an address),
# but enough to catch the usual slips (a missing @, a trailing comma, a name typed into the field).
_NOT_IN_ADDRESS: Final = r"\s@,;:<>()\[\]\"\\"
_EMAIL: Final = re.compile(rf"[^{_NOT_IN_ADDRESS}]+@(?:[^{_NOT_IN_ADDRESS}.]+\.)+[^{_NOT_IN_ADDRESS}.]{{2,}}")

# RFC 9106's second recommended option (argon2id, 64 MiB, 3 passes, 4 lanes): argon2-cffi's defaults.
password_hasher = PasswordHasher()


class AccountError(ValueError):
    """Input an account cannot be made or changed with: ``AccountError("email", "is already registered")``."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


# --- roles ------------------------------------------------------------------------------------------------


def is_instructor(user: User | None) -> bool:
    """Instructors and administrators: both may author cards and decks and see the instructor pages."""
    return user is not None and user.role in ("instructor", "admin")


def is_admin(user: User | None) -> bool:
    return user is not None and user.role == "admin"


def can_edit(user: User | None, owner_id: int | None) -> bool:
    """Whether ``user`` may change a card or deck owned by ``owner_id`` (None: built-in, administrators only)."""
    if user is None:
        return False
    if user.role == "admin":
        return True
    return user.role == "instructor" and owner_id is not None and owner_id == user.id


# --- input --------------------------------------------------------------------------------------------------


def normalise_email(raw: str) -> str:
    """``"  Ada@Example.ORG "`` → ``"ada@example.org"``; raises AccountError naming ``email`` when not an address."""
    email = raw.strip().lower()
    if not email:
        raise AccountError("email", "is required")
    if len(email) > MAX_EMAIL_LENGTH:
        raise AccountError("email", f"is longer than {MAX_EMAIL_LENGTH} characters")
    if not _EMAIL.fullmatch(email):
        raise AccountError("email", f"'{raw.strip()[:60]}' is not an email address (like name@example.org)")
    return email


def check_password(password: str) -> None:
    """Raises AccountError naming ``password`` when it is too short or too long to accept."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(
            "password",
            f"is {len(password)} characters long; use at least {MIN_PASSWORD_LENGTH} (a few words make a good one)",
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise AccountError("password", f"is longer than {MAX_PASSWORD_LENGTH} characters")


def check_role(role: str) -> str:
    if role not in ROLES:
        raise AccountError("role", f"'{role}' is not a role; choose one of {', '.join(ROLES)}")
    return role


# --- passwords ----------------------------------------------------------------------------------------------


def hash_password(password: str) -> str:
    return password_hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """True when ``password`` matches the stored hash; a corrupt hash is a mismatch, never an exception."""
    try:
        return password_hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


_dummy_hash: str | None = None


def _spend_a_verification(password: str) -> None:
    # An unknown email costs the same argon2 work as a wrong password, so timing does not tell which it was.
    global _dummy_hash
    if _dummy_hash is None:
        _dummy_hash = hash_password(secrets.token_urlsafe(16))
    verify_password(_dummy_hash, password)


# --- users --------------------------------------------------------------------------------------------------


def find_user(*, session: Session, email: str) -> User | None:
    """The user with this address (compared lower-cased), or None."""
    return session.scalars(select(User).where(User.email == email.strip().lower())).one_or_none()


def create_user(*, session: Session, email: str, password: str, role: str = "learner") -> User:
    """A new account, committed; raises AccountError for a bad email, a short password or a taken address."""
    address = normalise_email(email)
    check_password(password)
    check_role(role)
    if find_user(session=session, email=address) is not None:
        raise AccountError("email", f"{address} is already registered; sign in instead")
    user = User(email=address, password_hash=hash_password(password), role=role, session_version=0)
    session.add(user)
    try:
        session.commit()
    except IntegrityError as exc:
        # Two sign-ups with the same address raced; the unique index let only one through.
        session.rollback()
        raise AccountError("email", f"{address} is already registered; sign in instead") from exc
    return user


def authenticate(*, session: Session, email: str, password: str) -> User | None:
    """The user when ``password`` is theirs, else None; an outdated hash is upgraded on the way."""
    user = find_user(session=session, email=email)
    if user is None or len(password) > MAX_PASSWORD_LENGTH:
        _spend_a_verification(password[:MAX_PASSWORD_LENGTH])
        return None
    if not verify_password(user.password_hash, password):
        return None
    if password_hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
        session.commit()
    return user


def set_password(*, session: Session, user: User, password: str) -> None:
    """A new password ends every session of the user (their cookies carry the old session version)."""
    check_password(password)
    user.password_hash = hash_password(password)
    user.session_version += 1
    session.commit()


def end_browser_session(*, session: Session, session_id: str, ends_at: datetime) -> None:
    """Sign one browser session out for good: a copy of its cookie, until it would expire at ``ends_at``, signs
    no one in (the cookie itself is only deleted from the browser that signed out). The sessions whose cookies
    have expired meanwhile are forgotten on the way: a sign-out is rare enough to carry that."""
    session.execute(delete(EndedSession).where(EndedSession.ends_at < utcnow()))
    if session.get(EndedSession, session_id) is None:
        session.add(EndedSession(session_id=session_id, ends_at=ends_at))
    try:
        session.commit()
    except IntegrityError:  # the same session signed out at the same moment from another tab
        session.rollback()


def session_ended(*, session: Session, session_id: str) -> bool:
    """Whether the browser session ``session_id`` was signed out."""
    return session.get(EndedSession, session_id) is not None


# Browser sessions checked a moment ago, with their user as it was then: a signed-in learner's requests come in
# bursts (a page, its form, the result), and each would otherwise read the account and the ended sessions. Any
# write to an account or an ended session through this process forgets them all at once; through another
# server it takes effect within SESSION_CACHE_SECONDS, as a token revoked there does.
SESSION_CACHE_SECONDS: Final = 2.0
session_users: EngineCache[tuple[int, int, str], User] = EngineCache(seconds=SESSION_CACHE_SECONDS, size=4096)
forget_on_change(session_users, User, EndedSession)


def detached_copy(user: User) -> User:
    """A copy of ``user``'s columns attached to no session, to keep between requests and merge into each."""
    copy = User(**{column.key: getattr(user, column.key) for column in User.__mapper__.column_attrs})
    make_transient_to_detached(copy)
    return copy


def session_user(*, session: Session, user_id: int, version: int, session_id: str) -> User | None:
    """The user of a live browser session; None for an unknown user, an old session version (a new password,
    "sign out everywhere") or a signed-out session. A session checked in the last moments needs no query: its
    user is merged into ``session`` as it was then."""
    engine = session_engine(session)
    key = (user_id, version, session_id)
    kept = session_users.get(engine, key)
    if kept is not None:
        return session.merge(kept, load=False)
    user = session.get(User, user_id)
    if user is None or user.session_version != version or session_ended(session=session, session_id=session_id):
        return None
    session_users.put(engine, key, detached_copy(user))
    return user


def end_sessions(*, session: Session, user: User) -> None:
    """Sign the user out of every browser: session cookies carry the version, which no longer matches."""
    session.execute(update(User).where(User.id == user.id).values(session_version=User.session_version + 1))
    session.commit()
    session.refresh(user)


# --- the learner behind an account ------------------------------------------------------------------------


# Built once: every request of a signed-in learner looks it up, and building a select costs more than running it.
_USER_LEARNER = select(Learner).where(Learner.user_id == bindparam("user_id"))


# Account → learner id, kept a while: the row is made once and kept, and only signing in with a guest's
# history (which links or merges learner rows) or deleting an account changes it, which empties the cache.
learner_ids: EngineCache[int, int] = EngineCache(seconds=300)
forget_on_change(learner_ids, User, Learner, new_rows=False)


def cached_learner_id(engine: Engine, user_id: int) -> int | None:
    """The id of the account's learner row when this process read it lately, else None (no query)."""
    return learner_ids.get(engine, user_id)


def user_learner(*, session: Session, user: User) -> Learner | None:
    learner = session.scalars(_USER_LEARNER, {"user_id": user.id}).one_or_none()
    if learner is not None:
        learner_ids.put(session_engine(session), user.id, learner.id)
    return learner


def learner_for_user(*, session: Session, user: User) -> Learner:
    """The account's learner row, created (and committed) the first time the account answers a card."""
    learner = user_learner(session=session, user=user)
    if learner is not None:
        return learner
    learner = Learner(guest_id=secrets.token_urlsafe(18), user_id=user.id)
    session.add(learner)
    try:
        session.commit()
    except IntegrityError:
        # Two first requests of the same account raced; the other one created the row.
        session.rollback()
        return session.scalars(select(Learner).where(Learner.user_id == user.id)).one()
    return learner


@dataclass(frozen=True)
class Claim:
    """What signing in did with the guest's history: linked the guest's row, moved its submissions, or nothing."""

    outcome: str  # "linked" | "moved" | "none"
    submissions: int


def claim_guest_history(*, session: Session, user: User, guest_id: str | None) -> Claim:
    """Give the account the history of the guest who just signed in or up, in one transaction.

    An account without a learner takes over the guest's row (and so its seeds); an account that already
    has one receives the guest's submissions. A guest row that belongs to an account already is left alone.
    """
    if guest_id is None:
        return Claim("none", 0)
    guest = session.scalars(select(Learner).where(Learner.guest_id == guest_id)).one_or_none()
    if guest is None or guest.user_id is not None:
        return Claim("none", 0)
    count = session.scalar(select(func.count()).select_from(Submission).where(Submission.learner_id == guest.id)) or 0
    mine = user_learner(session=session, user=user)
    try:
        if mine is None:
            guest.user_id = user.id
            outcome = "linked"
        else:
            session.execute(update(Submission).where(Submission.learner_id == guest.id).values(learner_id=mine.id))
            outcome = "moved"
        session.commit()
    except IntegrityError:
        # The account got a learner in a concurrent request: move the submissions to it instead.
        session.rollback()
        mine = user_learner(session=session, user=user)
        if mine is None:
            raise
        session.execute(update(Submission).where(Submission.learner_id == guest.id).values(learner_id=mine.id))
        session.commit()
        outcome = "moved"
    return Claim(outcome, count)
