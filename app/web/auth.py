"""Who is calling: a signed-in user (session cookie), an API token (``Authorization: Bearer``), or nobody.

Routes declare what they need::

    def page(user: UserDep): ...                 # signed in, else 303 to /signin (pages) or 401 (API)
    def edit(user: InstructorDep): ...           # instructor or admin, else 403
    @router.post("/cards", dependencies=[Depends(require_scope("cards:write"))])

The session cookie ``tutor_session`` holds the user's id, their ``session_version`` and a random session id,
signed with the app's key (HttpOnly, SameSite=Lax, Secure when configured). Every sign-in makes a new session
id, so a cookie planted before sign-in never becomes a signed-in one; signing out records the session id as
ended, so a copy of the cookie kept elsewhere is refused too; bumping the user's session version (a new password,
"sign out everywhere") ends every session at once. A request with a bearer token is judged
by the token alone: its cookies are ignored, and ``request.state.scopes`` holds what the token may do
(None for a cookie session: everything the user's role allows).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Coroutine
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Final
from urllib.parse import quote

import jinja2
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import RedirectResponse
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from app.db.models import User
from app.services.accounts import end_browser_session, is_admin, is_instructor, session_user
from app.services.tokens import TokenUser, authenticate_token, cached_token_user
from app.web import guest
from app.web.db import SessionDep, db_session
from app.web.errors import is_api_request

SESSION_COOKIE: Final = "tutor_session"
SESSION_MAX_AGE: Final = 14 * 24 * 60 * 60  # a fortnight from sign-in; then the user signs in again
SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})

_STATE_RESOLVED: Final = "auth_resolved"

# The request whose page is being rendered: macros of imported templates (``_csrf.html``) do not see the
# page's context, so the template globals find the request here. ``render_page`` sets it.
rendering_request: ContextVar[Request | None] = ContextVar("rendering_request", default=None)


@dataclass(frozen=True)
class SessionPayload:
    user_id: int
    version: int
    session_id: str


class SessionSigner:
    """Writes and reads the session cookie; ``read`` returns None for anything tampered with or too old."""

    def __init__(self, key: str) -> None:
        self._serializer = URLSafeTimedSerializer(key, salt="tutor-session")

    def sign(self, payload: SessionPayload) -> str:
        return self._serializer.dumps({"u": payload.user_id, "v": payload.version, "s": payload.session_id})

    def read(self, cookie: str | None) -> SessionPayload | None:
        if not cookie or len(cookie) > 512:
            return None
        try:
            data: Any = self._serializer.loads(cookie, max_age=SESSION_MAX_AGE)
        except (BadSignature, UnicodeError, ValueError):
            return None
        if not isinstance(data, dict):
            return None
        user_id, version, session_id = data.get("u"), data.get("v"), data.get("s")
        if not (isinstance(user_id, int) and isinstance(version, int) and isinstance(session_id, str)):
            return None
        return SessionPayload(user_id=user_id, version=version, session_id=session_id)


def session_signer(request: Request) -> SessionSigner:
    signer: SessionSigner = request.app.state.session_signer
    return signer


def session_payload(request: Request) -> SessionPayload | None:
    """The genuine session cookie's content (signature and age checked; the user is not looked up)."""
    return session_signer(request).read(request.cookies.get(SESSION_COOKIE))


def bearer_token(request: Request) -> str | None:
    """The token of an ``Authorization: Bearer`` header ("" when the header names Bearer but no token)."""
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, token = header.strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


# --- signing in and out ------------------------------------------------------------------------------------


def _secure(request: Request) -> bool:
    return bool(request.app.state.settings.cookie_secure)


def start_session(request: Request, response: Response, user: User, *, embedded: bool = False) -> str:
    """Sign ``user`` in on ``response`` with a new session id (returned); the guest cookie is dropped.

    ``embedded`` is for a session inside another site's frame (an LTI launch in an LMS): the cookie must then be
    ``SameSite=None; Secure`` for the browser to send it from the frame.
    """
    session_id = secrets.token_urlsafe(24)
    value = session_signer(request).sign(SessionPayload(user.id, user.session_version, session_id))
    response.set_cookie(
        SESSION_COOKIE,
        value,
        max_age=SESSION_MAX_AGE,
        path="/",
        httponly=True,
        samesite="none" if embedded else "lax",
        secure=embedded or _secure(request),
    )
    # The guest's history now belongs to the account; the old guest cookie must not reach it any more.
    response.delete_cookie(guest.COOKIE_NAME, path="/", httponly=True, samesite="lax", secure=_secure(request))
    return session_id


def end_session(request: Request, response: Response, session: Session) -> None:
    """Sign out on ``response``: the session cookie and the guest cookie both go, so nothing of the account stays,
    and the session is recorded as ended, so that a copy of its cookie taken before signs no one in either."""
    payload = session_payload(request)
    if payload is not None:
        ends_at = datetime.now(UTC) + timedelta(seconds=SESSION_MAX_AGE)
        end_browser_session(session=session, session_id=payload.session_id, ends_at=ends_at)
    for name in (SESSION_COOKIE, guest.COOKIE_NAME):
        response.delete_cookie(name, path="/", httponly=True, samesite="lax", secure=_secure(request))


# --- who is calling ------------------------------------------------------------------------------------------


def _unauthorised(message: str) -> HTTPException:
    return HTTPException(401, message, headers={"WWW-Authenticate": 'Bearer realm="api"'})


def _token_caller(request: Request, found: TokenUser | None) -> User:
    if found is None:
        raise HTTPException(
            401,
            "the bearer token is not valid: it is unknown, revoked or malformed",
            headers={"WWW-Authenticate": 'Bearer realm="api", error="invalid_token"'},
        )
    if request.method in SAFE_METHODS and "read" not in found.scopes:
        raise HTTPException(403, "this token lacks the scope 'read'")
    request.state.scopes = found.scopes
    request.state.token_id = found.token_id
    return found.user


def _resolve(request: Request, session: Session) -> User | None:
    token = bearer_token(request)
    if token is not None:
        return _token_caller(request, authenticate_token(session=session, secret=token))
    payload = session_payload(request)
    if payload is None:
        return None
    user = session_user(
        session=session, user_id=payload.user_id, version=payload.version, session_id=payload.session_id
    )
    if user is None:
        return None
    request.state.session_id = payload.session_id
    return user


def current_user(request: Request, session: Session) -> User | None:
    """The signed-in user or the token's user, None for a guest; an invalid bearer token is a 401."""
    state = request.state
    if getattr(state, _STATE_RESOLVED, False):
        cached: User | None = state.user
        return cached
    state.scopes = None
    state.token_id = None
    state.session_id = None
    user = _resolve(request, session)
    state.user = user
    setattr(state, _STATE_RESOLVED, True)
    return user


def _cached_caller(request: Request, session: Session | None) -> User | None:
    """The bearer token's owner when this process knows the token (no query), the request then resolved; else
    None. Without ``session``, the owner is the cached copy shared with other requests, to read only."""
    token = bearer_token(request)
    found = None if token is None else cached_token_user(session=session, secret=token)
    if found is None:
        return None
    state = request.state
    state.session_id = None
    state.scopes = None
    state.token_id = None
    state.user = _token_caller(request, found)
    setattr(state, _STATE_RESOLVED, True)
    return found.user


async def caller(request: Request, session: SessionDep) -> User | None:
    """``current_user`` as a dependency: in the event loop when a token seen in the last seconds answers it.

    Only a lookup in the database needs a thread; a hop to the thread pool and back costs about as much as the
    cached lookup itself, and an API client sends its token with every request.
    """
    state = request.state
    if not getattr(state, _STATE_RESOLVED, False):
        return _cached_caller(request, session) or await run_in_threadpool(current_user, request, session)
    cached: User | None = state.user
    return cached


async def reading_caller(request: Request) -> User | None:
    """``caller`` for a route that only reads who calls (id, role, the token's scopes) and may need no database:
    a token known to this process gives its owner's cached copy, without opening a session to merge it into."""
    state = request.state
    if not getattr(state, _STATE_RESOLVED, False):
        return _cached_caller(request, None) or await caller(request, await db_session(request))
    cached: User | None = state.user
    return cached


OptionalUserDep = Annotated[User | None, Depends(caller)]


def token_scopes(request: Request) -> frozenset[str] | None:
    """The bearer token's scopes once ``current_user`` has run; None for a cookie session or a guest."""
    scopes: frozenset[str] | None = getattr(request.state, "scopes", None)
    return scopes


class SignInRequired(Exception):
    """A page needs a signed-in user: answered with a redirect to the sign-in page, coming back to ``next_url``."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


def signin_url(request: Request, next_url: str | None = None) -> str:
    root: str = request.scope.get("root_path", "")
    target = root + str(request.app.url_path_for("page_signin"))
    return target + (f"?next={quote(next_url, safe='/')}" if next_url else "")


def require_user(request: Request, user: OptionalUserDep) -> User:
    if user is not None:
        return user
    if is_api_request(request):
        raise _unauthorised("sign in, or send an API token as 'Authorization: Bearer <token>'")
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    raise SignInRequired(here)


UserDep = Annotated[User, Depends(require_user)]


def require_instructor(user: UserDep) -> User:
    if not is_instructor(user):
        raise HTTPException(403, "only instructors can do this; your account is a learner's")
    return user


def require_admin(user: UserDep) -> User:
    if not is_admin(user):
        raise HTTPException(403, "only administrators can do this")
    return user


InstructorDep = Annotated[User, Depends(require_instructor)]
AdminDep = Annotated[User, Depends(require_admin)]


def require_scope(scope: str) -> Callable[[Request, User | None], Coroutine[Any, Any, None]]:
    """A dependency refusing a bearer token without ``scope`` (403 naming it); cookie sessions pass.

    Use it as ``dependencies=[Depends(require_scope("cards:write"))]``; the role checks stay with the route.
    """

    # Async although it does no I/O: a plain function would cost each request a hop to the thread pool and back.
    async def check_scope(request: Request, user: OptionalUserDep) -> None:
        scopes = token_scopes(request)
        if scopes is not None and scope not in scopes:
            raise HTTPException(403, f"this token lacks the scope '{scope}'")

    check_scope.__name__ = f"require_scope_{scope.replace(':', '_')}"
    return check_scope


def safe_next(raw: str | None) -> str | None:
    """A place to go after signing in: a path on this site only (never ``//evil.example`` or a full URL)."""
    if not raw or not raw.startswith("/") or raw.startswith("//") or "\\" in raw or len(raw) > 2000:
        return None
    if any(ord(ch) < 32 for ch in raw):
        return None
    return raw


# --- the app's wiring and the templates' view of the user -----------------------------------------------


def install_auth(app: FastAPI, *, key: str) -> None:
    """The session signer in the app's state, and the redirect that answers ``SignInRequired``."""
    app.state.session_signer = SessionSigner(key)

    async def to_signin(request: Request, exc: Exception) -> Response:
        next_url = exc.next_url if isinstance(exc, SignInRequired) else None
        return RedirectResponse(signin_url(request, next_url), status_code=303)

    app.add_exception_handler(SignInRequired, to_signin)


def request_user(request: Request) -> User | None:
    """The caller as resolved for this request; resolved here (with a short session of its own) if no route asked.

    For the templates: an error page drawn before any dependency ran still shows who is signed in.
    """
    state = request.state
    if getattr(state, _STATE_RESOLVED, False):
        cached: User | None = state.user
        return cached
    factory: sessionmaker[Session] | None = getattr(request.app.state, "sessionmaker", None)
    if factory is None:
        return None
    try:
        with factory() as session:
            return current_user(request, session)
    except HTTPException:
        return None


@jinja2.pass_context
def template_user(context: jinja2.runtime.Context) -> User | None:
    """``current_user()`` in a template: the signed-in user, or None."""
    request = context.get("request")
    if not isinstance(request, Request):
        request = rendering_request.get()
    return None if request is None else request_user(request)
