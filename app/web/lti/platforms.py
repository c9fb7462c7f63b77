"""The administrator's page of LMS platforms: the registrations and deployments, and a form to add one."""

from __future__ import annotations

from typing import Annotated, Final

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse
from starlette.responses import Response

from app.services.lti.platforms import PlatformError, list_platforms, register_platform
from app.web.auth import AdminDep
from app.web.db import SessionDep
from app.web.lti.deps import ToolUrlsDep
from app.web.pages.rendering import render_page, url_path

router = APIRouter(include_in_schema=False)

FIELDS: Final = ("name", "issuer", "client_id", "deployment_id", "auth_url", "token_url", "jwks_url")
TextField = Annotated[str, Form(max_length=1000)]


def _page(
    request: Request,
    session: SessionDep,
    tool: ToolUrlsDep,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    saved: int | None = None,
    status_code: int = 200,
) -> Response:
    context = {
        "platforms": list_platforms(session=session),
        "values": values or dict.fromkeys(FIELDS, ""),
        "errors": errors or {},
        "saved": saved,
        "tool": tool,
        "nav": "lti",
    }
    return render_page(request, "lti/platforms.html", context, status_code=status_code)


@router.get("/admin/lti/platforms", name="lti_platforms")
def platforms(
    request: Request, session: SessionDep, admin: AdminDep, tool: ToolUrlsDep, saved: int | None = None
) -> Response:
    return _page(request, session, tool, saved=saved)


@router.post("/admin/lti/platforms", name="lti_platforms_add")
def add_platform(
    request: Request,
    session: SessionDep,
    admin: AdminDep,
    tool: ToolUrlsDep,
    issuer: TextField = "",
    client_id: TextField = "",
    deployment_id: TextField = "",
    auth_url: TextField = "",
    token_url: TextField = "",
    jwks_url: TextField = "",
    name: TextField = "",
) -> Response:
    """Register a platform (or a new deployment of one already registered); errors are shown beside the fields."""
    values = {
        "name": name,
        "issuer": issuer,
        "client_id": client_id,
        "deployment_id": deployment_id,
        "auth_url": auth_url,
        "token_url": token_url,
        "jwks_url": jwks_url,
    }
    try:
        platform = register_platform(
            session=session,
            issuer=issuer,
            client_id=client_id,
            deployment_id=deployment_id,
            auth_url=auth_url,
            token_url=token_url,
            jwks_url=jwks_url,
            name=name,
        )
    except PlatformError as exc:
        return _page(request, session, tool, values=values, errors={exc.field: exc.message}, status_code=422)
    target = url_path(request, "lti_platforms") + f"?saved={platform.id}"
    return RedirectResponse(target, status_code=303)
