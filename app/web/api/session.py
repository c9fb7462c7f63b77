"""``GET /api/v1/session``: who the caller is, and the CSRF token a script with cookies sends on its POSTs."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from app.services.tokens import SCOPES, allowed_scopes
from app.web.auth import OptionalUserDep, token_scopes
from app.web.csrf import HEADER_NAME, csrf_token

router = APIRouter(tags=["session"])


class UserPublic(BaseModel):
    id: int
    email: str
    role: Literal["learner", "instructor", "admin"]


class SessionPublic(BaseModel):
    auth: Literal["session", "token", "guest"] = Field(
        description="How the caller is known: a signed-in session cookie, an API token, or a guest cookie"
    )
    user: UserPublic | None = Field(description="The signed-in user or the token's user; null for a guest")
    scopes: list[str] = Field(description="What the caller may do through the API")
    csrf_token: str | None = Field(
        description=f"Send it as the {HEADER_NAME} header on every POST, PUT, PATCH and DELETE made with cookies; "
        "null for a bearer token, which needs none"
    )


@router.get("/session", summary="The caller and their CSRF token", name="api_session")
def read_session(request: Request, user: OptionalUserDep) -> SessionPublic:
    """A first-time caller becomes a guest (the response sets the cookie the token belongs to)."""
    scopes = token_scopes(request)
    if scopes is not None and user is not None:
        return SessionPublic(
            auth="token",
            user=UserPublic(id=user.id, email=user.email, role=user.role),
            scopes=[scope for scope in SCOPES if scope in scopes],
            csrf_token=None,
        )
    if user is not None:
        return SessionPublic(
            auth="session",
            user=UserPublic(id=user.id, email=user.email, role=user.role),
            scopes=list(allowed_scopes(user.role)),
            csrf_token=csrf_token(request),
        )
    return SessionPublic(
        auth="guest", user=None, scopes=list(allowed_scopes("learner")), csrf_token=csrf_token(request)
    )
