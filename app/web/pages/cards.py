"""The card pages: the list of cards, one card's question and form, and answering it."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from app.domain.cards import MAX_SEED, Variant, is_drawn
from app.domain.grading import AnswerFormatError
from app.services.catalog import PublishedCard, get_card, list_cards
from app.services.errors import InvalidSeed, NotFound
from app.services.submissions import submit, variant_for
from app.web.deps import GuestIdDep, LearnerDep, OptionalLearnerDep, SessionDep
from app.web.guest import default_seed
from app.web.markdown import to_html
from app.web.pages.forms import SeedError, answer_form, answers_from_form, parse_seed
from app.web.pages.rendering import error_page, not_found_page, render_page, url_path
from app.web.rate_limits import limit_submissions

router = APIRouter()


async def read_form(request: Request) -> FormData:
    """The posted form, read before the (synchronous) route runs on the thread pool."""
    return await request.form()


FormDep = Annotated[FormData, Depends(read_form)]


def new_variant_url(request: Request, slug: str) -> str:
    """A link to a fresh random variant: a plain link, so it works without JavaScript."""
    return url_path(request, "page_card", slug=slug) + f"?seed={secrets.randbelow(MAX_SEED)}"


def _card_page(
    request: Request,
    card: PublishedCard,
    variant: Variant,
    *,
    answers: dict[str, object] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    spec = card.spec
    drawn = is_drawn(spec)
    context = {
        "card": {
            "slug": spec.slug,
            "title": spec.title,
            "tags": spec.tags,
            "drawn": drawn,
            "prompt_html": to_html(variant.prompt),
        },
        "form": answer_form(variant, answers=answers, errors=errors),
        "new_variant_url": new_variant_url(request, spec.slug) if drawn else None,
        "nav": "cards",
    }
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


@router.get("/cards/{slug}", name="page_card")
def card_page(
    request: Request, slug: str, session: SessionDep, guest_id: GuestIdDep, seed: str | None = None
) -> HTMLResponse:
    try:
        card = get_card(session=session, slug=slug)
    except NotFound:
        return not_found_page(request, f"There is no published card called '{slug}'.")
    try:
        chosen = parse_seed(seed)
        if chosen is None:
            chosen = default_seed(guest_id=guest_id, slug=slug, drawn=is_drawn(card.spec))
        variant = variant_for(card.spec, chosen)
    except (SeedError, InvalidSeed) as exc:
        return _bad_seed(request, slug, str(exc))
    return _card_page(request, card, variant)


@router.post("/cards/{slug}", name="page_submit", dependencies=[Depends(limit_submissions)])
def submit_answers(request: Request, slug: str, session: SessionDep, learner: LearnerDep, form: FormDep) -> Response:
    try:
        card = get_card(session=session, slug=slug)
    except NotFound:
        return not_found_page(request, f"There is no published card called '{slug}'.")
    raw_seed = form.get("seed")
    answers = answers_from_form(card.spec, form)
    try:
        seed = _posted_seed(raw_seed if isinstance(raw_seed, str) else None)
        submission = submit(session=session, learner_id=learner.id, slug=slug, seed=seed, answers=answers)
    except (SeedError, InvalidSeed) as exc:
        return _bad_seed(request, slug, str(exc))
    except AnswerFormatError as exc:
        # Nothing was stored: show the same variant again with the learner's answers and what to fix.
        return _card_page(
            request, card, variant_for(card.spec, seed), answers=answers, errors=exc.errors, status_code=422
        )
    except NotFound:
        return not_found_page(request, f"There is no published card called '{slug}'.")
    target = url_path(request, "page_submission", submission_id=submission.id)
    return RedirectResponse(target, status_code=303)
