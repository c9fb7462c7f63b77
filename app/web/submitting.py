"""Storing a caller's own answers through the submission writer: the API's submissions and the card page's form.

A submission needs the caller's learner and the card, and a drawn card's variant must not be one a deck
reserves. What this process read moments ago is kept (``cached_submitter``); what it did not is looked up in
one trip to the thread pool, whose connection goes back to the pool before the answers are stored. The request
grades the answers itself, and ``store_graded`` hands them to the writer, which stores them in one transaction
with those of the other requests that arrived meanwhile (``app.services.submission_writer``).
"""

from __future__ import annotations

from datetime import datetime

from fastapi import Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from app.db.models import User
from app.domain.cards import is_drawn
from app.services.accounts import cached_learner_id
from app.services.card_cache import cached_card, published_card
from app.services.catalog import PublishedCard
from app.services.practice_seeds import known_free
from app.services.submission_store import GradedSubmission
from app.services.submission_views import SubmissionView
from app.services.submission_writer import SubmissionWriter
from app.services.submissions import check_practice_seed
from app.web.db import db_session
from app.web.deps import current_learner


def cached_submitter(request: Request, user: User | None, *, slug: str, seed: int) -> tuple[int, PublishedCard] | None:
    """The caller's learner id and the card when this process knows both (and that no deck reserves the seed)."""
    if user is None:
        return None  # a guest's learner comes with its cookie: looked up (or made) in the database
    engine = request.app.state.engine
    learner_id = cached_learner_id(engine, user.id)
    card = cached_card(engine, slug)
    if learner_id is None or card is None:
        return None
    if is_drawn(card.spec) and not known_free(
        engine, card_id=card.card_id, learner_id=learner_id, card_slug=slug, seed=seed
    ):
        return None
    return learner_id, card


def _look_up(
    *, request: Request, session: Session, user: User | None, slug: str, seed: int, now: datetime
) -> tuple[int, PublishedCard]:
    try:
        learner = current_learner(request, session, user)
        card = published_card(session=session, slug=slug)
        check_practice_seed(session=session, card=card, learner_id=learner.id, seed=seed, now=now)
        return learner.id, card
    finally:
        session.close()  # the connection goes back to the pool while the writer stores the submission


async def submitter_and_card(
    request: Request, user: User | None, *, slug: str, seed: int, now: datetime
) -> tuple[int, PublishedCard]:
    """The caller's learner id (a new guest gets a row and a cookie) and the card; NotFound for a card that is not
    published, InvalidSeed for a variant a deck reserves."""
    found = cached_submitter(request, user, slug=slug, seed=seed)
    if found is not None:
        return found
    session = await db_session(request)
    return await run_in_threadpool(_look_up, request=request, session=session, user=user, slug=slug, seed=seed, now=now)


async def store_graded(request: Request, graded: GradedSubmission) -> SubmissionView:
    """The submission stored (by the writer, with others) and returned with its id, once committed."""
    writer: SubmissionWriter = request.app.state.submission_writer
    return await writer.store(graded)


def new_submission_path(request: Request, route: str, submission_id: int) -> str:
    """The path of route ``route`` (``api_get_submission``, ``page_submission``) for a new submission.

    A route is found by name by trying every route in turn, which costs more than the rest of building the
    answer, and each new id would miss a cache of whole paths; the path is looked up once per app and route
    with the id left as a placeholder, then filled in.
    """
    state = request.app.state
    templates: dict[str, str] | None = getattr(state, "submission_paths", None)
    if templates is None:
        templates = state.submission_paths = {}
    template = templates.get(route)
    if template is None:
        template = templates[route] = str(request.app.url_path_for(route, submission_id="{submission_id}"))
    return template.replace("{submission_id}", str(submission_id))
