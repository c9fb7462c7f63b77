"""What an LMS reads to trust the tool: its key set, the Canvas developer-key JSON, and the admin's URL list."""

from __future__ import annotations

from typing import Any, Final
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.responses import Response

from app.services.lti import claims
from app.services.lti.keys import active_key, published_keys
from app.services.lti.platforms import list_platforms
from app.services.lti.tool import ToolUrls
from app.web.auth import AdminDep
from app.web.db import SessionDep
from app.web.lti.deps import ToolUrlsDep
from app.web.pages.rendering import render_page

router = APIRouter(include_in_schema=False)

TITLE: Final = "Distill Tutor"
DESCRIPTION: Final = "Cards and decks on knowledge distillation and the divergences behind it, graded on the server."
# Platforms cache the key set; a short lifetime lets a rotated key reach them soon.
JWKS_CACHE: Final = "public, max-age=300"


@router.get("/.well-known/jwks.json", name="lti_jwks")
def jwks(session: SessionDep) -> Response:
    """The tool's public keys: the active one and those retired recently, so tokens in flight still verify."""
    active_key(session=session)  # the first request makes the key, so the set is never empty
    return JSONResponse(published_keys(session=session), headers={"Cache-Control": JWKS_CACHE})


def canvas_configuration(tool: ToolUrls) -> dict[str, Any]:
    """The JSON a Canvas administrator pastes into a new LTI developer key."""
    placements = [
        {
            "placement": placement,
            "message_type": claims.DEEP_LINKING_REQUEST,
            "target_link_uri": tool.launch_url,
            "text": TITLE,
        }
        for placement in ("link_selection", "assignment_selection")
    ]
    return {
        "title": TITLE,
        "description": DESCRIPTION,
        "oidc_initiation_url": tool.login_url,
        "target_link_uri": tool.launch_url,
        "public_jwk_url": tool.jwks_url,
        "scopes": [claims.AGS_SCORE_SCOPE],
        "extensions": [
            {
                "platform": "canvas.instructure.com",
                "domain": urlsplit(tool.base).hostname or "",
                "privacy_level": "public",  # name and email in the launch, so accounts carry a real address
                "settings": {"text": TITLE, "placements": placements},
            }
        ],
        "custom_fields": {},
    }


@router.get("/lti/config.json", name="lti_canvas_config")
def canvas_config(tool: ToolUrlsDep) -> Response:
    return JSONResponse(canvas_configuration(tool))


@router.get("/admin/lti", name="lti_admin")
def admin_configuration(request: Request, session: SessionDep, admin: AdminDep, tool: ToolUrlsDep) -> Response:
    """Every URL an LMS administrator pastes in, the signing key in use, and the platforms registered."""
    context = {
        "tool": tool,
        "key": active_key(session=session),
        "platforms": list_platforms(session=session),
        "score_scope": claims.AGS_SCORE_SCOPE,
        "public_url_set": bool(request.app.state.settings.public_url),
        "nav": "lti",
    }
    return render_page(request, "lti/admin.html", context)
