"""The learner's deck pages: the published decks, one deck's progress, and answering a card inside a deck.

Inside a deck each learner answers their own fixed variant of every card (no "new variant"); the seed is
worked out on the server and never taken from the form.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from app.db.models import Learner, utcnow
from app.domain.cards import is_drawn
from app.domain.grading import AnswerFormatError
from app.services.catalog import PublishedCard, get_card
from app.services.deck_results import Attempt, DeckResult, attempts_left, deck_attempts
from app.services.decks import DeckView, SubmissionRefused, deck_seed, list_decks, published_deck
from app.services.errors import InvalidSeed, NotFound
from app.services.scores import CardScore, card_scores_for_learner, deck_score
from app.services.submissions import submit, variant_for
from app.web.deps import LearnerDep, OptionalLearnerDep, SessionDep
from app.web.markdown import to_html
from app.web.pages.cards import FormDep
from app.web.pages.forms import answer_form, answers_from_form
from app.web.pages.rendering import error_page, not_found_page, percent, render_page, url_path, when
from app.web.rate_limits import limit_submissions

router = APIRouter()


@dataclass(frozen=True)
class CardRow:
    """One card on the deck page, as the learner stands on it."""

    score: CardScore
    available: bool
    attempts_left: int | None
    url: str


def policy_lines(deck: DeckView) -> list[str]:
    """The deck's rules in words, for the deck page and each of its cards."""
    if deck.max_attempts is None:
        attempts = "Unlimited attempts per card"
    else:
        attempts = f"{deck.max_attempts} attempt{'' if deck.max_attempts == 1 else 's'} per card"
    if deck.penalty_per_attempt > 0:
        attempts += f"; each attempt after the first takes another {percent(deck.penalty_per_attempt)} off its score"
    lines = [attempts + ". Your best attempt counts."]
    lines.append(solution_note(deck, visible=deck.show_solution == "always"))
    return lines


def solution_note(deck: DeckView, *, visible: bool) -> str:
    """When the worked solution and the expected answers are shown."""
    if visible or deck.show_solution == "always":
        return "The worked solution and the expected answers are shown with each result."
    if deck.show_solution == "after_correct":
        return "The worked solution and the expected answers are shown once you answer the card correctly."
    due = "" if deck.due_at is None else f" ({when(deck.due_at)})"
    return f"The worked solution and the expected answers are shown after the due date{due}."


def _missing_deck(request: Request, slug: str) -> HTMLResponse:
    return not_found_page(request, f"There is no published deck called '{slug}'.")


@router.get("/decks", name="page_decks")
def decks_page(request: Request, session: SessionDep) -> HTMLResponse:
    decks = list_decks(session=session)
    return render_page(request, "decks.html", {"decks": decks, "nav": "decks", "now": utcnow()})


@router.get("/decks/{slug}", name="page_deck")
def deck_page(request: Request, slug: str, session: SessionDep, learner: OptionalLearnerDep) -> HTMLResponse:
    try:
        deck = published_deck(session=session, slug=slug)
    except NotFound:
        return _missing_deck(request, slug)
    learner_id = None if learner is None else learner.id
    scores = (
        card_scores_for_learner(session=session, deck=deck, learner_id=learner_id)
        if learner_id is not None
        else [CardScore(c.card_id, c.slug, c.title, c.position, 0, 0.0, None, False) for c in deck.cards]
    )
    available = {card.card_id: card.available for card in deck.cards}
    rows = [
        CardRow(
            score=score,
            available=available.get(score.card_id, False),
            attempts_left=attempts_left(deck, score.attempts),
            url=url_path(request, "page_deck_card", slug=slug, card_slug=score.slug),
        )
        for score in scores
    ]
    now = utcnow()
    context = {
        "deck": deck,
        "rows": rows,
        "deck_score": deck_score(scores),
        "attempted": sum(1 for score in scores if score.attempts),
        "policy": policy_lines(deck),
        "closed": not deck.is_open(now),
        "description_html": to_html(deck.description) if deck.description.strip() else None,
        "nav": "decks",
    }
    return render_page(request, "deck.html", context)


def _card_page(
    request: Request,
    *,
    deck: DeckView,
    card: PublishedCard,
    learner: Learner,
    session: SessionDep,
    answers: dict[str, object] | None = None,
    errors: dict[str, str] | None = None,
    refusal: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    seed = deck_seed(learner_id=learner.id, deck_slug=deck.slug, card_slug=card.spec.slug)
    variant = variant_for(card.spec, seed)
    attempts: list[Attempt] = deck_attempts(session=session, deck=deck, learner_id=learner.id, card_id=card.card_id)
    left = attempts_left(deck, len(attempts))
    now = utcnow()
    context = {
        "deck": deck,
        "card": {
            "slug": card.spec.slug,
            "title": card.spec.title,
            "drawn": is_drawn(card.spec),
            "prompt_html": to_html(variant.prompt),
            "position": next((c.position for c in deck.cards if c.card_id == card.card_id), 0),
        },
        "form": answer_form(variant, answers=answers, errors=errors),
        "attempts": attempts,
        "next_attempt": len(attempts) + 1,
        "attempts_left": left,
        "closed": not deck.is_open(now),
        "refusal": refusal,
        "policy": policy_lines(deck),
        "action": url_path(request, "page_deck_submit", slug=deck.slug, card_slug=card.spec.slug),
        "nav": "decks",
    }
    return render_page(request, "deck_card.html", context, status_code=status_code)


def _deck_and_card(session: SessionDep, slug: str, card_slug: str) -> tuple[DeckView, PublishedCard]:
    """The published deck and its published card; raises NotFound with a message for the learner."""
    try:
        deck = published_deck(session=session, slug=slug)
    except NotFound as exc:
        raise NotFound(f"There is no published deck called '{slug}'.") from exc
    if deck.card(card_slug) is None:
        raise NotFound(f"The deck '{deck.title}' has no card called '{card_slug}'.")
    try:
        card = get_card(session=session, slug=card_slug)
    except NotFound as exc:
        raise NotFound(f"The card '{card_slug}' of this deck is not available at the moment.") from exc
    return deck, card


@router.get("/decks/{slug}/cards/{card_slug}", name="page_deck_card")
def deck_card_page(
    request: Request, slug: str, card_slug: str, session: SessionDep, learner: LearnerDep
) -> HTMLResponse:
    try:
        deck, card = _deck_and_card(session, slug, card_slug)
    except NotFound as exc:
        return not_found_page(request, str(exc))
    try:
        return _card_page(request, deck=deck, card=card, learner=learner, session=session)
    except InvalidSeed as exc:
        return error_page(request, status_code=422, heading="This card cannot be shown", message=str(exc))


@router.post("/decks/{slug}/cards/{card_slug}", name="page_deck_submit", dependencies=[Depends(limit_submissions)])
def deck_card_submit(
    request: Request, slug: str, card_slug: str, session: SessionDep, learner: LearnerDep, form: FormDep
) -> Response:
    try:
        deck, card = _deck_and_card(session, slug, card_slug)
    except NotFound as exc:
        return not_found_page(request, str(exc))
    answers = answers_from_form(card.spec, form)
    seed = deck_seed(learner_id=learner.id, deck_slug=slug, card_slug=card_slug)
    try:
        submission = submit(
            session=session, learner_id=learner.id, slug=card_slug, seed=seed, answers=answers, deck_slug=slug
        )
    except AnswerFormatError as exc:
        # Nothing was stored and no attempt used: the same variant again, with what to fix beside each field.
        return _card_page(
            request,
            deck=deck,
            card=card,
            learner=learner,
            session=session,
            answers=answers,
            errors=exc.errors,
            status_code=422,
        )
    except SubmissionRefused as exc:
        return _card_page(
            request,
            deck=deck,
            card=card,
            learner=learner,
            session=session,
            answers=answers,
            refusal=exc.message,
            status_code=409,
        )
    except InvalidSeed as exc:
        return error_page(request, status_code=422, heading="This card cannot be answered", message=str(exc))
    except NotFound:
        return _missing_deck(request, slug)
    return RedirectResponse(url_path(request, "page_submission", submission_id=submission.id), status_code=303)


def deck_context(request: Request, found: DeckResult) -> dict[str, Any]:
    """What the result page shows of a submission made in a deck (its ``deck`` entry)."""
    deck = found.deck
    return {
        "title": deck.title,
        "url": url_path(request, "page_deck", slug=deck.slug),
        "card_url": url_path(request, "page_deck_card", slug=deck.slug, card_slug=found.submission.slug),
        "attempt": found.submission.attempt,
        "max_attempts": deck.max_attempts,
        "attempts_left": found.attempts_left,
        "best": found.card.best,
        "deck_score": found.deck_score,
        "solution_visible": found.solution_visible,
        "solution_note": solution_note(deck, visible=found.solution_visible),
    }
