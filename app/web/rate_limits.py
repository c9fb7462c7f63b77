"""Rate limits on the routes: submissions per learner and per address, sign-in attempts per address.

The policy is here, in one place: which requests count, against which limits, under which keys. Routes that
take submissions declare ``dependencies=[Depends(limit_submissions)]``; the sign-in form calls
``signin_refusal``. Counting (Redis or memory, failing open) is ``app.services.rate_limits``.

- A submission counts once against its learner (the signed-in user or the token's user, else the guest of
  the cookie) and once against its address, in that order: a learner over their own limit is refused
  without using up the budget of a classroom sharing the address. A first request without a guest cookie
  has no learner yet; its address still counts.
- An integration token (scope ``integrations``) is not limited: it relays a whole course's answers from one
  server, many learners at once; it is an administrator's or instructor's, and revoking it stops it.
- The address is ``request.client.host``: behind a proxy, uvicorn's proxy headers option makes it the
  learner's own.

Too many answers 429 with ``Retry-After`` (seconds): the API's usual JSON error, a page saying how long to
wait, or on the sign-in form, the form with the same words.
"""

from __future__ import annotations

from typing import Annotated, Any, Final

from fastapi import Depends, FastAPI, Request
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.responses import Response

from app.config import Settings
from app.db.models import User
from app.services.accounts import is_instructor
from app.services.rate_limits import (
    SIGNIN,
    SUBMISSIONS,
    SUBMISSIONS_IP,
    Check,
    FailOpen,
    RateLimiter,
    RatePolicy,
    Refusal,
    make_storage,
)
from app.services.throttle import MemoryAttemptStore, SignInThrottle, StorageAttemptStore
from app.web.auth import OptionalUserDep, reading_caller, token_scopes
from app.web.errors import error_response, is_api_request
from app.web.guest import known_guest_id
from app.web.schemas import ErrorResponse

# app.web.api.integrations.SCOPE: importing it from there would make a cycle (that package imports this module).
INTEGRATIONS_SCOPE: Final = "integrations"

# The 429 in the API's documentation of a route that counts submissions.
RATE_LIMITED: Final[dict[str, Any]] = {
    "model": ErrorResponse,
    "description": "Too many submissions from this learner or this address; wait and send again",
    "headers": {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}},
}

# Who a limit counts, in the API's words and in a page's.
_SOURCES: Final = {
    SUBMISSIONS: ("submissions from this learner", "answers from you"),
    SUBMISSIONS_IP: ("submissions from this network address", "answers from your network"),
    SIGNIN: ("sign-in attempts from this network address", "sign-in attempts from your network"),
}


class RateLimited(HTTPException):
    """A request over a limit: 429 with ``Retry-After``, answered as JSON on the API and as a page elsewhere."""

    def __init__(self, refusal: Refusal) -> None:
        wait = refusal.retry_after
        what = _SOURCES[refusal.check.name][0]
        detail = f"too many {what}: at most {refusal.rate}; try again in {wait} second{'s' if wait != 1 else ''}"
        super().__init__(429, detail, headers={"Retry-After": str(wait)})
        self.refusal = refusal


def wait_words(seconds: int) -> str:
    """``12`` → "12 seconds", ``90`` → "2 minutes": how long to wait, as a page says it."""
    if seconds < 60:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = -(-seconds // 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def refusal_sentence(refusal: Refusal) -> str:
    """What a page tells the learner: "Too many answers from you (at most 60 per minute). Wait 12 seconds, ..."."""
    what = _SOURCES[refusal.check.name][1]
    return f"Too many {what} in a short time (at most {refusal.rate}). Wait {wait_words(refusal.retry_after)}"


async def _rate_limited(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RateLimited)
    headers = dict(exc.headers or {})
    if is_api_request(request):
        return error_response(429, [(None, str(exc.detail))], headers=headers)
    # Imported here: the pages import this module for its dependency, so a module-level import would be a cycle.
    from app.web.pages.rendering import error_page

    # A form post's address is also its page's (GET /cards/{slug}): the way back to the same question.
    message = refusal_sentence(exc.refusal) + ", then send your answers again."
    response = error_page(
        request, status_code=429, heading="Please wait a moment", message=message, retry_url=request.url.path
    )
    response.headers.update(headers)
    return response


def install_rate_limits(app: FastAPI, settings: Settings) -> None:
    """The limiter and the sign-in throttle in the app's state, counting in Redis when ``REDIS_URL`` is set."""
    storage = make_storage(settings.redis_url, key_prefix=settings.redis_key_prefix)
    guard = FailOpen()  # one for both: an outage is noticed (and logged) once
    policy = RatePolicy.from_text(
        enabled=settings.rate_limit_enabled,
        submissions=settings.rate_limit_submissions,
        submissions_ip=settings.rate_limit_submissions_ip,
        signin=settings.rate_limit_signin,
    )
    app.state.rate_limiter = RateLimiter(storage=storage, policy=policy, guard=guard)
    # With Redis, a lock-out made on one server holds on every other; alone, a server counts in its memory.
    store = StorageAttemptStore(storage, guard=guard) if settings.redis_url else MemoryAttemptStore()
    app.state.signin_throttle = SignInThrottle(store)
    app.add_exception_handler(RateLimited, _rate_limited)


def rate_limiter(request: Request) -> RateLimiter:
    limiter: RateLimiter = request.app.state.rate_limiter
    return limiter


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _learner_key(request: Request, user: User | None) -> str | None:
    if user is not None:
        return f"user:{user.id}"
    guest_id = known_guest_id(request)
    return None if guest_id is None else f"guest:{guest_id}"


def _is_integration(request: Request, user: User | None) -> bool:
    scopes = token_scopes(request)
    return scopes is not None and INTEGRATIONS_SCOPE in scopes and is_instructor(user)


async def _hit(limiter: RateLimiter, *checks: Check) -> Refusal | None:
    # Memory answers in microseconds; a round trip to Redis blocks, so it goes to the thread pool.
    if limiter.shared:
        return await run_in_threadpool(limiter.hit, *checks)
    return limiter.hit(*checks)


async def limit_submissions(request: Request, user: OptionalUserDep) -> None:
    """A route dependency: 429 when the caller's learner or address has sent too many submissions."""
    limiter = rate_limiter(request)
    policy = limiter.policy
    if not policy.enabled or _is_integration(request, user):
        return
    checks = [Check(SUBMISSIONS_IP, policy.submissions_ip, client_address(request))]
    learner = _learner_key(request, user)
    if learner is not None:
        checks.insert(0, Check(SUBMISSIONS, policy.submissions, learner))
    refusal = await _hit(limiter, *checks)
    if refusal is not None:
        raise RateLimited(refusal)


async def submitter(request: Request) -> User | None:
    """The caller of an API submission: a token must have the scope 'submit', and the limits are counted.

    ``require_scope("submit")`` and ``limit_submissions`` in one dependency: FastAPI's solving of each
    dependency costs about as much as its check, and submissions are the busiest route.
    """
    user = await reading_caller(request)
    scopes = token_scopes(request)
    if scopes is not None and "submit" not in scopes:
        raise HTTPException(403, "this token lacks the scope 'submit'")
    await limit_submissions(request, user)
    return user


SubmitterDep = Annotated[User | None, Depends(submitter)]


def signin_refusal(request: Request) -> Refusal | None:
    """Count a sign-in attempt against its address: the refusal when there were too many, else None."""
    limiter = rate_limiter(request)
    return limiter.hit(Check(SIGNIN, limiter.policy.signin, client_address(request)))
