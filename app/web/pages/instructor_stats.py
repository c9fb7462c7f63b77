"""Statistics pages for instructors: a card's and a deck's figures with SVG charts, and a deck's gradebook.

Each chart is drawn on the server (``app.web.stats_charts``) and followed by a table of the same numbers.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from app.services.analytics import CardStats, card_stats, deck_stats
from app.services.errors import Forbidden, NotFound
from app.services.gradebook import deck_gradebook
from app.web.auth import InstructorDep
from app.web.deps import SessionDep
from app.web.markdown import to_inline_html
from app.web.pages.rendering import error_page, render_page, url_path
from app.web.stats_charts import facility_chart, score_histogram

router = APIRouter(prefix="/instructor")


def _refused(request: Request, exc: Exception) -> HTMLResponse:
    if isinstance(exc, Forbidden):
        return error_page(request, status_code=403, heading="Not yours", message=str(exc))
    return error_page(request, status_code=404, heading="Not found", message=str(exc))


def card_view(stats: CardStats, *, prefix: str) -> dict[str, object]:
    """A card's figures with its charts; ``prefix`` keeps the charts' ids unique on a deck's page."""
    return {
        "stats": stats,
        "prefix": prefix,
        "labels": {part.key: to_inline_html(part.label) for part in stats.parts},
        "histogram_chart": score_histogram(stats.histogram, title=f"Scores of the submissions to {stats.title}"),
        "facility_chart": facility_chart(stats.parts, title=f"Facility of each part of {stats.title}"),
    }


@router.get("/cards/{slug}/stats", name="page_instructor_card_stats")
def card_stats_page(request: Request, slug: str, session: SessionDep, user: InstructorDep) -> HTMLResponse:
    try:
        stats = card_stats(session=session, viewer=user, slug=slug)
    except (NotFound, Forbidden) as exc:
        return _refused(request, exc)
    context = {
        "card": card_view(stats, prefix="card"),
        "api_url": url_path(request, "api_card_stats", slug=slug),
        "nav": "instructor",
        "insight": "card",
    }
    return render_page(request, "instructor/stats_card.html", context)


@router.get("/decks/{slug}/stats", name="page_instructor_deck_stats")
def deck_stats_page(request: Request, slug: str, session: SessionDep, user: InstructorDep) -> HTMLResponse:
    try:
        stats = deck_stats(session=session, viewer=user, slug=slug)
    except (NotFound, Forbidden) as exc:
        return _refused(request, exc)
    context = {
        "deck": stats,
        "cards": [card_view(card, prefix=f"card-{i}") for i, card in enumerate(stats.cards, start=1)],
        "total_chart": score_histogram(stats.total_histogram, title=f"Deck scores of the learners in {stats.title}"),
        "histogram_chart": score_histogram(stats.histogram, title=f"Scores of the submissions in {stats.title}"),
        "api_url": url_path(request, "api_deck_stats", slug=slug),
        "gradebook_url": url_path(request, "page_instructor_gradebook", slug=slug),
        "nav": "instructor",
        "insight": "deck",
    }
    return render_page(request, "instructor/stats_deck.html", context)


@router.get("/decks/{slug}/gradebook", name="page_instructor_gradebook")
def gradebook_page(request: Request, slug: str, session: SessionDep, user: InstructorDep) -> HTMLResponse:
    try:
        book = deck_gradebook(session=session, viewer=user, slug=slug)
    except (NotFound, Forbidden) as exc:
        return _refused(request, exc)
    context = {
        "book": book,
        "csv_url": url_path(request, "api_deck_gradebook", slug=slug) + "?format=csv",
        "json_url": url_path(request, "api_deck_gradebook", slug=slug),
        "stats_url": url_path(request, "page_instructor_deck_stats", slug=slug),
        "nav": "instructor",
        "insight": "gradebook",
    }
    return render_page(request, "instructor/gradebook.html", context)
