"""CSRF protection for every state-changing request that a cookie authenticates, enforced once for the app.

A POST, PUT, PATCH or DELETE that carries a genuine session or guest cookie must also carry the CSRF token:
the form field ``csrf_token`` or the header ``X-CSRF-Token``; otherwise it is refused with a 403 (JSON on
the API, a page elsewhere). Requests with ``Authorization: Bearer`` need none: a browser never adds that
header to a request another site makes. A request without any of our cookies acts for nobody yet, so there
is nothing to forge.

The token is an HMAC of the caller's secret identity: the random id of their signed-in session (new at every
sign-in) or their guest id. Nothing is stored; another site can neither read it nor compute it. Pages get it
from the template global ``csrf_token()`` (the macro in ``templates/_csrf.html`` writes the hidden field);
scripts and API clients with cookies get it from ``GET /api/v1/session``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Final

import jinja2
from fastapi import HTTPException, Request

from app.web import guest
from app.web.auth import SAFE_METHODS, bearer_token, rendering_request, session_payload
from app.web.errors import ApiError, is_api_request

FIELD_NAME: Final = "csrf_token"
HEADER_NAME: Final = "X-CSRF-Token"
# Calculators change nothing and authenticate nobody: cross-site posts to them gain an attacker nothing.
# An LMS posts LTI logins and launches from its own site; they prove themselves by the signed id_token and the
# state bound to the browser (app.web.lti), not by a token of ours.
EXEMPT_ROUTES: Final = frozenset({"api_divergence", "api_distillation_loss", "lti_login", "lti_launch"})
_FORM_TYPES: Final = ("application/x-www-form-urlencoded", "multipart/form-data")
_MAX_TOKEN_LENGTH: Final = 200


class CsrfTokens:
    """Computes the token of an identity: ``CsrfTokens(key).token_for("guest", guest_id)``."""

    def __init__(self, key: str) -> None:
        self._key = hashlib.sha256(b"tutor-csrf:" + key.encode("utf-8")).digest()

    def token_for(self, kind: str, identity: str) -> str:
        digest = hmac.new(self._key, f"{kind}:{identity}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _tokens(request: Request) -> CsrfTokens:
    tokens: CsrfTokens = request.app.state.csrf_tokens
    return tokens


def expected_tokens(request: Request) -> list[str]:
    """The tokens that the request's genuine cookies vouch for (empty when it carries none)."""
    tokens = _tokens(request)
    found = []
    payload = session_payload(request)
    if payload is not None:
        found.append(tokens.token_for("session", payload.session_id))
    guest_id = guest.known_guest_id(request)
    if guest_id is not None:
        found.append(tokens.token_for("guest", guest_id))
    return found


def csrf_token(request: Request) -> str:
    """The token for the caller's forms; a first-time visitor is issued a guest cookie to tie it to."""
    tokens = _tokens(request)
    payload = session_payload(request)
    if payload is not None:
        return tokens.token_for("session", payload.session_id)
    return tokens.token_for("guest", guest.guest_id_for(request))


async def _sent_token(request: Request) -> str | None:
    header = request.headers.get(HEADER_NAME)
    if header:
        return header
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type in _FORM_TYPES:
        # Starlette keeps the parsed form on the request, so the route reads the same one again for free.
        value = (await request.form()).get(FIELD_NAME)
        return value if isinstance(value, str) else None
    return None


def _refuse(request: Request) -> Exception:
    if is_api_request(request):
        return ApiError(
            403,
            [
                (
                    FIELD_NAME,
                    f"is missing or wrong: a request authenticated by cookie must send the {HEADER_NAME} header "
                    "with the token from GET /api/v1/session (or use an API token)",
                )
            ],
        )
    return HTTPException(
        403,
        "This form has expired or did not come from this site, so nothing was changed. "
        "Go back, reload the page and send it again.",
    )


async def csrf_protect(request: Request) -> None:
    """The app-wide check (``FastAPI(dependencies=[Depends(csrf_protect)])``): raises when a token is due but wrong."""
    if request.method in SAFE_METHODS or bearer_token(request) is not None:
        return
    route = request.scope.get("route")
    if getattr(route, "name", None) in EXEMPT_ROUTES:
        return
    expected = expected_tokens(request)
    if not expected:
        return
    sent = await _sent_token(request)
    if not sent or len(sent) > _MAX_TOKEN_LENGTH:
        raise _refuse(request)
    if not any(hmac.compare_digest(sent.encode(), token.encode()) for token in expected):
        raise _refuse(request)


@jinja2.pass_context
def template_csrf_token(context: jinja2.runtime.Context) -> str:
    """``csrf_token()`` in a template."""
    request = context.get("request")
    if not isinstance(request, Request):
        request = rendering_request.get()
    if request is None:
        raise RuntimeError("csrf_token() needs a page rendered for a request (render_page)")
    return csrf_token(request)
