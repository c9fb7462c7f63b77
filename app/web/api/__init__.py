"""The JSON API, version 1: mounted under ``/api/v1`` by ``create_app``."""

from __future__ import annotations

from fastapi import APIRouter

from app.web.api import cards, divergence, submissions
from app.web.schemas import ErrorResponse

router = APIRouter(
    responses={
        422: {"model": ErrorResponse, "description": "Invalid input: each entry names the field and the problem"}
    }
)
router.include_router(cards.router)
router.include_router(submissions.router)
router.include_router(divergence.router)

__all__ = ["router"]
