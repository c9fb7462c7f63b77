"""The learner's HTML pages (Jinja2, no JavaScript): cards, answering, results and progress.

``router`` holds the pages; ``page_error_handlers`` answer errors on any path outside the API with an
HTML page instead of JSON (``install_error_handlers(app, page_handlers=page_error_handlers)``).
"""

from __future__ import annotations

from fastapi import APIRouter

from app.web.pages import (
    account,
    cards,
    decks,
    docs,
    instructor_card_history,
    instructor_cards,
    instructor_decks,
    instructor_grading,
    instructor_stats,
    results,
)
from app.web.pages.errors import page_error_handlers

router = APIRouter(include_in_schema=False)
router.include_router(cards.router)
router.include_router(results.router)
router.include_router(decks.router)
router.include_router(instructor_cards.router)
router.include_router(instructor_card_history.router)
router.include_router(instructor_decks.router)
router.include_router(instructor_grading.router)
router.include_router(instructor_stats.router)
router.include_router(docs.router)
router.include_router(account.router)

__all__ = ["page_error_handlers", "router"]
