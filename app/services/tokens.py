"""API tokens: ``dt_`` and 43 random characters, shown once; only their SHA-256 and a short prefix are kept.

Tokens are long random strings, not passwords people choose, so a fast hash is enough: nobody can guess
one to test against it. Each token carries scopes, never more than its owner's role allows.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import bindparam, event, inspect, select
from sqlalchemy.orm import ORMExecuteState, Session

from app.db.models import ApiToken, User, utcnow
from app.services.accounts import detached_copy
from app.services.engine_cache import kept_for
from app.services.errors import NotFound

TOKEN_PREFIX: Final = "dt_"
PREFIX_LENGTH: Final = 10  # "dt_" and 7 characters: enough to tell a user's tokens apart, useless to guess with
MAX_NAME_LENGTH: Final = 100
MAX_TOKENS_LISTED: Final = 100
# Writing last_used_at on every request would turn each read into a write; once a minute says enough. Each token
# waits up to LAST_USED_SPREAD more, by its id, so that tokens first used together (a class starting at once) are
# not all written again in the same second of every minute.
LAST_USED_RESOLUTION: Final = timedelta(minutes=1)
LAST_USED_SPREAD: Final = 16  # seconds


def _last_use_due(token_id: int, last_used_at: datetime | None, now: datetime) -> bool:
    """Whether a token's last use is to be written again at ``now``."""
    wait = LAST_USED_RESOLUTION + timedelta(seconds=token_id % LAST_USED_SPREAD)
    return last_used_at is None or now - last_used_at >= wait

SCOPES: Final = ("read", "submit", "cards:write", "decks:write", "grades:write", "integrations")
ROLE_SCOPES: Final[dict[str, tuple[str, ...]]] = {
    "learner": ("read", "submit"),
    "instructor": ("read", "submit", "cards:write", "decks:write", "grades:write"),
    "admin": SCOPES,
}

_TOKEN: Final = re.compile(r"dt_[A-Za-z0-9_-]{43}")


class TokenError(ValueError):
    """A token that cannot be made as asked: ``TokenError("scopes", "...")``."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class NewToken:
    """A token just made: ``secret`` is the only copy there will ever be."""

    token: ApiToken
    secret: str


def allowed_scopes(role: str) -> tuple[str, ...]:
    """The scopes a token of a user with ``role`` may carry (and, by default, does)."""
    return ROLE_SCOPES.get(role, ())


def hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def generate_secret() -> str:
    """``dt_`` and 32 random bytes in URL-safe base64 (43 characters)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def check_scopes(role: str, scopes: list[str] | tuple[str, ...] | None) -> list[str]:
    """The scopes to store: all the role allows when None; raises TokenError for unknown or forbidden ones."""
    allowed = allowed_scopes(role)
    if scopes is None:
        return list(allowed)
    wanted = list(dict.fromkeys(scope.strip() for scope in scopes if scope.strip()))
    if not wanted:
        return list(allowed)
    unknown = [scope for scope in wanted if scope not in SCOPES]
    if unknown:
        names = ", ".join(f"'{scope[:40]}'" for scope in unknown)
        raise TokenError(
            "scopes",
            f"{names} {'is not a scope' if len(unknown) == 1 else 'are not scopes'}; "
            f"the scopes are {', '.join(SCOPES)}",
        )
    refused = [scope for scope in wanted if scope not in allowed]
    if refused:
        raise TokenError(
            "scopes",
            f"a {role} account cannot give a token {', '.join(refused)}; it may give {', '.join(allowed)}",
        )
    return [scope for scope in SCOPES if scope in wanted]


def create_token(*, session: Session, user: User, name: str, scopes: list[str] | None = None) -> NewToken:
    """A new token for ``user``, committed; the returned secret is not stored anywhere."""
    label = name.strip()
    if not label:
        raise TokenError("name", "is required: say what the token is for, like 'grading script'")
    if len(label) > MAX_NAME_LENGTH:
        raise TokenError("name", f"is longer than {MAX_NAME_LENGTH} characters")
    chosen = check_scopes(user.role, scopes)
    secret = generate_secret()
    token = ApiToken(
        user_id=user.id, name=label, token_hash=hash_token(secret), prefix=secret[:PREFIX_LENGTH], scopes=chosen
    )
    session.add(token)
    session.commit()
    return NewToken(token=token, secret=secret)


def list_tokens(*, session: Session, user_id: int, limit: int = MAX_TOKENS_LISTED) -> list[ApiToken]:
    """The user's tokens, revoked ones included, newest first."""
    query = (
        select(ApiToken)
        .where(ApiToken.user_id == user_id)
        .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
        .limit(limit)
    )
    return list(session.scalars(query))


def revoke_token(*, session: Session, user_id: int, token_id: int | None = None, prefix: str | None = None) -> ApiToken:
    """Revoke one of the user's tokens, by id or by its prefix; raises NotFound when it is not theirs."""
    query = select(ApiToken).where(ApiToken.user_id == user_id)
    if token_id is not None:
        query = query.where(ApiToken.id == token_id)
    elif prefix:
        query = query.where(ApiToken.prefix.startswith(prefix.strip()[:PREFIX_LENGTH], autoescape=True))
    else:
        raise TokenError("id", "say which token: its id or its prefix")
    found = list(session.scalars(query.limit(2)))
    if not found:
        raise NotFound("no such token of this user")
    if len(found) > 1:
        raise TokenError("prefix", f"'{prefix}' starts more than one token; give its id instead")
    token = found[0]
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        session.commit()
    forget_cached_tokens()  # refused from this process's very next request (the flush has emptied it already)
    return token


@dataclass(frozen=True)
class TokenUser:
    """Who a bearer token speaks for, and what it may do (never more than the user's role allows today)."""

    user: User
    scopes: frozenset[str]
    token_id: int


# Built once, token and owner in one query: every API request runs it, and building a select costs more than
# running this one.
_TOKEN_AND_USER = (
    select(ApiToken, User).join(User, User.id == ApiToken.user_id).where(ApiToken.token_hash == bindparam("hash"))
)

# --- a short cache of live tokens ----------------------------------------------------------------------------
# Looking a token up costs about a millisecond of CPU, as much as the rest of a submission's database work. A
# live token's owner is kept for CACHE_SECONDS in this process. Revoking a token, or any ORM change to a user or
# a token made in this process, empties the cache at once; a change made by another process (another server, a
# `tutor` command) is seen by this one at most CACHE_SECONDS later. Only live tokens are kept, so an unknown or
# revoked token always reaches the database.
CACHE_SECONDS: Final = 2.0
CACHE_SIZE: Final = 10_000


@dataclass(frozen=True)
class _Cached:
    expires: float  # time.monotonic()
    user: User  # detached, never attached itself: a hit merges a copy into the caller's session, or only reads it
    scopes: frozenset[str]
    token_id: int
    last_used_at: datetime | None


_cache: dict[str, _Cached] = {}
_cache_lock = threading.Lock()


def forget_cached_tokens() -> None:
    """Empty this process's cache of live tokens (a token or user changed)."""
    with _cache_lock:
        _cache.clear()


def _remember(token_hash: str, entry: _Cached) -> None:
    with _cache_lock:
        if len(_cache) >= CACHE_SIZE:
            _cache.clear()  # a flood of distinct tokens: start over rather than track ages
        _cache[token_hash] = entry


def _changes_what_a_token_grants(row: object) -> bool:
    """A user or token updated in a way a cached copy must not outlive: anything but a token's last use.

    Each live token's last use is written about once a minute; were that to empty the cache, fifty learners'
    tokens would keep it empty about as often as it fills, and every request would look its token up again.
    """
    if isinstance(row, User):
        return True
    if not isinstance(row, ApiToken):
        return False
    return any(attribute.history.has_changes() for attribute in inspect(row).attrs if attribute.key != "last_used_at")


@event.listens_for(Session, "after_flush")
def _after_flush(session: Session, flush_context: object) -> None:
    deleted = any(isinstance(row, User | ApiToken) for row in session.deleted)
    if deleted or any(_changes_what_a_token_grants(row) for row in session.dirty):
        forget_cached_tokens()


@event.listens_for(Session, "do_orm_execute")
def _on_execute(state: ORMExecuteState) -> None:
    # A bulk UPDATE or DELETE of users or tokens (a role changed, sessions ended) bypasses the flush.
    mapper = state.bind_mapper
    if (state.is_update or state.is_delete) and mapper is not None and mapper.class_ in (User, ApiToken):
        forget_cached_tokens()


def cached_token_user(*, session: Session | None, secret: str, now: datetime | None = None) -> TokenUser | None:
    """The user behind a live token when this process saw it in the last ``CACHE_SECONDS``, else None.

    No query: the owner is merged into ``session`` as it was then, so an async caller needs no thread for it.
    Without a session it is the cached, detached copy itself, shared with other requests: to read only.
    """
    cached = _cache.get(hash_token(secret))
    if cached is None or cached.expires <= time.monotonic():
        return None
    if _last_use_due(cached.token_id, cached.last_used_at, now or utcnow()):
        return None  # its last use is due to be written again
    user = cached.user if session is None else session.merge(cached.user, load=False)
    return TokenUser(user=user, scopes=cached.scopes, token_id=cached.token_id)


def authenticate_token(*, session: Session, secret: str, now: datetime | None = None) -> TokenUser | None:
    """The user behind a live token, or None for a malformed, unknown or revoked one."""
    if not _TOKEN.fullmatch(secret):
        return None
    moment = now or utcnow()
    hit = cached_token_user(session=session, secret=secret, now=moment)
    if hit is not None:
        return hit
    token_hash = hash_token(secret)
    found = session.execute(_TOKEN_AND_USER, {"hash": token_hash}).one_or_none()
    if found is None:
        return None
    token, user = found
    if token.revoked_at is not None:
        return None
    if _last_use_due(token.id, token.last_used_at, moment):
        token.last_used_at = moment
        session.commit()
    scopes = frozenset(token.scopes) & frozenset(allowed_scopes(user.role))
    _remember(
        token_hash,
        _Cached(
            expires=time.monotonic() + kept_for(CACHE_SECONDS),  # spread, so tokens seen together expire apart
            user=detached_copy(user),
            scopes=scopes,
            token_id=token.id,
            last_used_at=token.last_used_at,
        ),
    )
    return TokenUser(user=user, scopes=scopes, token_id=token.id)
