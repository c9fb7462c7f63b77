"""Deep linking pages: the instructor picks a deck or a card, and the browser carries the signed answer back.

The request's details (the platform's return URL, its ``data``, the deployment) travel between the launch and
the choice in a signed token, valid for an hour and only for the instructor who launched.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any, Final

from fastapi import APIRouter, Form, Query, Request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.responses import Response

from app.db.models import User, utcnow
from app.services.errors import NotFound
from app.services.lti.deep_linking import DeepLinkRequest, choices, content_item, find_choice, response_token
from app.web.auth import InstructorDep
from app.web.db import SessionDep
from app.web.lti.deps import ToolUrlsDep
from app.web.pages.rendering import render_page
from app.web.security import allow_form_action

router = APIRouter(include_in_schema=False)

MAX_AGE: Final = 60 * 60
_FIELDS: Final[dict[str, type | tuple[type, ...]]] = {
    "platform_id": int,
    "deployment_id": str,
    "return_url": str,
    "data": (str, type(None)),
    "accept_lineitem": bool,
    "user_id": int,
}


def _serializer(request: Request) -> URLSafeTimedSerializer:
    serializer: URLSafeTimedSerializer = request.app.state.lti_deep_link_signer
    return serializer


def sign_request(request: Request, deep_link: DeepLinkRequest) -> str:
    return _serializer(request).dumps(asdict(deep_link))


def read_request(request: Request, token: str) -> DeepLinkRequest | None:
    """The deep linking request in ``token``, or None when it is forged, malformed or older than an hour."""
    if not token or len(token) > 4096:
        return None
    try:
        data: Any = _serializer(request).loads(token, max_age=MAX_AGE)
    except (BadSignature, UnicodeError, ValueError):
        return None
    if not isinstance(data, dict) or set(data) != set(_FIELDS):
        return None
    if not all(isinstance(data[name], kind) for name, kind in _FIELDS.items()):
        return None
    return DeepLinkRequest(**data)


def _error(request: Request, message: str, status_code: int) -> Response:
    return render_page(request, "lti/error.html", {"message": message}, status_code=status_code)


def _checked(request: Request, token: str, user: User) -> DeepLinkRequest | Response:
    deep_link = read_request(request, token)
    if deep_link is None:
        return _error(request, "This deep linking request has expired or was altered; start again from the LMS.", 400)
    if deep_link.user_id != user.id:
        return _error(request, "This deep linking request belongs to another user; start again from the LMS.", 403)
    return deep_link


def _picker(
    request: Request, session: SessionDep, token: str, *, error: str | None = None, status_code: int = 200
) -> Response:
    context = {"token": token, "choices": choices(session=session), "error": error}
    return render_page(request, "lti/deep_link.html", context, status_code=status_code)


@router.get("/lti/deep-link", name="lti_deep_link")
def pick(
    request: Request, session: SessionDep, user: InstructorDep, token: Annotated[str, Query(alias="request")] = ""
) -> Response:
    """The choice of what the new LMS link opens."""
    checked = _checked(request, token, user)
    if isinstance(checked, Response):
        return checked
    return _picker(request, session, token)


@router.post("/lti/deep-link", name="lti_deep_link_choose")
def choose(
    request: Request,
    session: SessionDep,
    user: InstructorDep,
    tool: ToolUrlsDep,
    token: Annotated[str, Form(alias="request")] = "",
    choice: Annotated[str, Form()] = "",
) -> Response:
    """The signed LtiDeepLinkingResponse, in a form the browser posts back to the platform."""
    checked = _checked(request, token, user)
    if isinstance(checked, Response):
        return checked
    kind, _, slug = choice.partition(":")
    if not slug:
        return _picker(request, session, token, error="Choose a deck or a card for the link.", status_code=422)
    try:
        chosen = find_choice(session=session, kind=kind, slug=slug)
    except NotFound as exc:
        return _picker(request, session, token, error=f"That cannot be linked: {exc}.", status_code=422)
    item = content_item(choice=chosen, tool=tool, with_lineitem=checked.accept_lineitem)
    jwt = response_token(session=session, request=checked, items=[item], now=utcnow())
    context = {"return_url": checked.return_url, "jwt": jwt, "chosen": chosen}
    allow_form_action(request, checked.return_url)  # this page's form posts to the platform
    return render_page(request, "lti/deep_link_return.html", context)
