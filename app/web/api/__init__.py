"""The JSON API, version 1: mounted under ``/api/v1`` by ``create_app`` (``include_api``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI

from app.web.api import authoring, cards, decks, divergence, integrations, session, stats, submissions
from app.web.schemas import ErrorResponse

RESPONSES: dict[int | str, dict[str, Any]] = {
    422: {"model": ErrorResponse, "description": "Invalid input: each entry names the field and the problem"}
}

# In the order requests are matched against them: the busiest first. Each is included in the app itself rather
# than through one router of routers: a request is matched against every router on its way down, at each level,
# so nesting them costs every API request a second pass over all of their routes.
ROUTERS: tuple[APIRouter, ...] = (
    submissions.router,
    cards.router,
    authoring.router,
    decks.router,
    divergence.router,
    session.router,
    stats.router,
    integrations.router,
)


def include_api(app: FastAPI, *, prefix: str) -> None:
    for router in ROUTERS:
        app.include_router(router, prefix=prefix, responses=RESPONSES)


__all__ = ["include_api"]
