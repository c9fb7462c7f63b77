"""The card pages: the list of cards, one card's question and form, and answering it."""

from __future__ import annotations

import secrets
from functools import partial
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from app.db.models import utcnow
from app.domain.cards import MAX_SEED, Variant, is_drawn
from app.domain.grading import AnswerFormatError
from app.services.card_cache import cached_card, published_card
from app.services.catalog import PublishedCard, list_cards
from app.services.errors import InvalidSeed, NotFound
from app.services.submissions import grade_submission, variant_for
from app.web.auth import SESSION_COOKIE, OptionalUserDep, current_user
from app.web.db import db_session
from app.web.deps import OptionalLearnerDep, SessionDep, learner_key
from app.web.guest import default_seed, guest_id_for
from app.web.pages.card_pages import card_context, card_page_response, kept_response, page_cache, page_key, variant_url
from app.web.pages.forms import SeedError, answers_from_form, parse_seed
from app.web.pages.rendering import error_page, not_found_page, render_page, url_path
from app.web.rate_limits import limit_submissions
from app.web.submitting import new_submission_path, store_graded, submitter_and_card

router = APIRouter()
# The card page alone, included by ``create_app`` ahead of the API: the busiest page, and a request is matched
# against every route before its own, which would cost it more than answering from the kept pages does.
page_router = APIRouter(include_in_schema=False)


async def read_form(request: Request) -> FormData:
    """The posted form, read before the (synchronous) route runs on the thread pool."""
    return await request.form()


FormDep = Annotated[FormData, Depends(read_form)]


def new_variant_url(request: Request, slug: str) -> str:
    """A link to a fresh random variant: a plain link, so it works without JavaScript."""
    return variant_url(request, slug, secrets.randbelow(MAX_SEED))


def _card_page(
    request: Request,
    card: PublishedCard,
    variant: Variant,
    *,
    answers: dict[str, object] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
    new_seed: int | None = None,
) -> HTMLResponse:
    """The card page drawn afresh for this request (a form sent back with errors; the check on the kept pages)."""
    seed = secrets.randbelow(MAX_SEED) if new_seed is None else new_seed
    context = card_context(request, card, variant, new_seed=seed, answers=answers, errors=errors)
    return render_page(request, "card.html", context, status_code=status_code)


def _bad_seed(request: Request, slug: str, message: str) -> HTMLResponse:
    return error_page(
        request,
        status_code=422,
        heading="This variant does not exist",
        message=message,
        retry_url=url_path(request, "page_card", slug=slug),
    )


def _posted_seed(raw: str | None) -> int:
    seed = parse_seed(raw)
    if seed is None:
        raise SeedError("The form did not say which variant it answers; open the card again and resubmit.")
    return seed


@router.get("/", name="page_index")
def index(request: Request, session: SessionDep, learner: OptionalLearnerDep) -> HTMLResponse:
    cards = list_cards(session=session, learner_id=None if learner is None else learner.id)
    return render_page(request, "index.html", {"cards": cards, "nav": "cards"})


def _kept_page(request: Request, slug: str, seed: str | None) -> Response | None:
    """A guest's page straight from the kept pages, when the card and the page are both in memory, else None.

    Runs on the event loop, so it must never wait: no database, no drawing. A signed-in user (or a bearer
    token) needs the database to say who they are, so only a request with neither comes this way.
    """
    if SESSION_COOKIE in request.cookies or "authorization" in request.headers:
        return None
    card = cached_card(request.app.state.engine, slug)
    if card is None:
        return None
    try:
        chosen = parse_seed(seed)
    except SeedError:
        return None
    if chosen is None:
        chosen = default_seed(guest_id=guest_id_for(request), slug=slug, drawn=is_drawn(card.spec))
    page = page_cache(request).get(page_key(request, card, chosen, None))
    return None if page is None else kept_response(page, request)


def _card_page_from_database(request: Request, session: Session, slug: str, seed: str | None) -> Response:
    user = current_user(request, session)  # a bearer token that is not valid is a 401 here
    try:
        card = published_card(session=session, slug=slug)
    except NotFound:
        return not_found_page(request, f"There is no published card called '{slug}'.")
    try:
        chosen = parse_seed(seed)
        if chosen is None:
            own = learner_key(request, session, user)
            chosen = default_seed(guest_id=own, slug=slug, drawn=is_drawn(card.spec))
        variant = variant_for(card.spec, chosen)
    except (SeedError, InvalidSeed) as exc:
        return _bad_seed(request, slug, str(exc))
    return card_page_response(request, card, variant, user)


@page_router.get("/cards/{slug}", name="page_card")
async def card_page(request: Request) -> Response:
    """The card's question and form (``?seed=`` picks the variant): a guest's seen lately comes from memory, on
    the event loop; anything else (a signed-in user, a card or page not in memory, a bad seed) is worked out on
    the thread pool. The slug and seed are read here rather than declared: FastAPI's checking of declared
    parameters costs more than the rest of a kept page, and both are plain strings checked below anyway."""
    slug: str = request.path_params["slug"]
    seed = request.query_params.get("seed")
    kept = _kept_page(request, slug, seed)
    if kept is not None:
        return kept
    session = await db_session(request)
    return await run_in_threadpool(_card_page_from_database, request, session, slug, seed)


@router.post("/cards/{slug}", name="page_submit", dependencies=[Depends(limit_submissions)])
async def submit_answers(request: Request, slug: str, user: OptionalUserDep, form: FormDep) -> Response:
    """Grade the form's answers and store them as the API does: with the submissions of other requests arriving
    meanwhile, in one transaction (``app.web.submitting``); then on to the result. A form that cannot be read
    comes back with the learner's answers and what to fix, and nothing is stored."""
    raw_seed = form.get("seed")
    now = utcnow()
    try:
        seed = _posted_seed(raw_seed if isinstance(raw_seed, str) else None)
        learner_id, card = await submitter_and_card(request, user, slug=slug, seed=seed, now=now)
    except (SeedError, InvalidSeed) as exc:
        return _bad_seed(request, slug, str(exc))
    except NotFound:
        return not_found_page(request, f"There is no published card called '{slug}'.")
    answers = answers_from_form(card.spec, form)
    try:
        graded = grade_submission(card=card, learner_id=learner_id, seed=seed, answers=answers, now=now)
    except AnswerFormatError as exc:
        variant = variant_for(card.spec, seed)
        return await run_in_threadpool(
            partial(_card_page, request, card, variant, answers=answers, errors=exc.errors, status_code=422)
        )
    submission = await store_graded(request, graded)
    # Relative to the host, as every page's links are (url_path), so the redirect works behind a proxy.
    root: str = request.scope.get("root_path", "")
    return RedirectResponse(root + new_submission_path(request, "page_submission", submission.id), status_code=303)
