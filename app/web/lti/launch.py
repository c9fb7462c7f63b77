"""The LMS's way in: OIDC login initiation (``/lti/login``) and the launch (``/lti/launch``).

The launch signs the LMS user in (a session cookie that works inside the LMS's iframe) and sends them to what
the link opens: a deck, a card, or for a deep linking request the page where an instructor picks one.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse
from starlette.responses import Response

from app.db.models import utcnow
from app.services.lti import claims
from app.services.lti.deep_linking import DeepLinkRequest
from app.services.lti.launch import Launch, LaunchError, begin_login, validate_launch
from app.services.lti.provisioning import LaunchResult, complete_launch
from app.web.auth import start_session
from app.web.db import SessionDep
from app.web.lti.deep_linking import sign_request
from app.web.lti.deps import HttpClientDep, PlatformKeysDep, ToolUrlsDep
from app.web.lti.state import pending_logins, store_logins
from app.web.pages.rendering import render_page, url_path

router = APIRouter(include_in_schema=False)

FormFields = dict[str, str]


async def _fields(request: Request) -> FormFields:
    """The query's parameters and, for a POST, the form's (the form wins where both have one)."""
    fields = dict(request.query_params.items())
    if request.method == "POST":
        form = await request.form()
        fields.update({name: value for name, value in form.items() if isinstance(value, str)})
    return fields


FieldsDep = Annotated[FormFields, Depends(_fields)]


def launch_error(request: Request, exc: LaunchError) -> Response:
    """The page a refused login or launch shows: what was wrong, and who can put it right."""
    return render_page(request, "lti/error.html", {"message": exc.message}, status_code=exc.status_code)


@router.api_route("/lti/login", methods=["GET", "POST"], name="lti_login")
def login(request: Request, session: SessionDep, tool: ToolUrlsDep, fields: FieldsDep) -> Response:
    """OIDC login initiation: remember a new state and nonce in this browser, then go to the platform."""
    try:
        redirect = begin_login(session=session, params=fields, tool=tool)
    except LaunchError as exc:
        return launch_error(request, exc)
    response = RedirectResponse(redirect.url, status_code=302)
    store_logins(request, response, [*pending_logins(request), redirect.pending])
    return response


def _destination(request: Request, launch: Launch, result: LaunchResult) -> str:
    if launch.deep_linking is not None:
        token = sign_request(
            request,
            DeepLinkRequest(
                platform_id=launch.platform_id,
                deployment_id=launch.deployment_id,
                return_url=launch.deep_linking.return_url,
                data=launch.deep_linking.data,
                accept_lineitem=launch.deep_linking.accept_lineitem,
                user_id=result.user.id,
            ),
        )
        return url_path(request, "lti_deep_link") + f"?request={token}"
    if result.deck_slug is not None:
        return url_path(request, "page_deck", slug=result.deck_slug)
    if result.card_slug is not None:
        return url_path(request, "page_card", slug=result.card_slug)
    return url_path(request, "lti_unlinked")


@router.post("/lti/launch", name="lti_launch")
def launch(
    request: Request,
    session: SessionDep,
    client: HttpClientDep,
    keys: PlatformKeysDep,
    tool: ToolUrlsDep,
    fields: FieldsDep,
) -> Response:
    """The platform's form post with the id_token: validated, recorded, and the user signed in."""
    if fields.get("error"):
        detail = fields.get("error_description") or fields["error"]
        return launch_error(request, LaunchError(f"The LMS did not authenticate this launch: {detail[:300]}"))
    logins = pending_logins(request)
    state = fields.get("state", "")
    pending = next((login for login in logins if state and hmac.compare_digest(login.state, state)), None)
    try:
        validated = validate_launch(
            session=session,
            client=client,
            keys=keys,
            tool=tool,
            id_token=fields.get("id_token"),
            state=state,
            pending=pending,
            now=utcnow(),
        )
        result = complete_launch(session=session, launch=validated, tool=tool)
    except LaunchError as exc:
        return launch_error(request, exc)
    response = RedirectResponse(_destination(request, validated, result), status_code=303)
    start_session(request, response, result.user, embedded=True)
    store_logins(request, response, [login for login in logins if login is not pending])
    return response


@router.get("/lti/unlinked", name="lti_unlinked")
def unlinked(request: Request) -> Response:
    """Where a link that names no deck or card lands."""
    return render_page(request, "lti/unlinked.html", {"deep_linking": claims.DEEP_LINKING_REQUEST})
