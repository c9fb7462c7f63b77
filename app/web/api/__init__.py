"""The JSON API, version 1: mounted under ``/api/v1`` by ``create_app``."""

from __future__ import annotations

from fastapi import APIRouter

from app.web.api import authoring, cards, decks, divergence, integrations, session, stats, submissions
from app.web.schemas import ErrorResponse

router = APIRouter(
    responses={
        422: {"model": ErrorResponse, "description": "Invalid input: each entry names the field and the problem"}
    }
)
router.include_router(cards.router)
router.include_router(authoring.router)
router.include_router(submissions.router)
router.include_router(decks.router)
router.include_router(divergence.router)
router.include_router(session.router)
router.include_router(stats.router)
router.include_router(integrations.router)

__all__ = ["router"]
