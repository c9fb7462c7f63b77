"""Submissions: answer a variant and get it graded; read back the caller's own submissions."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from app.db.models import User, utcnow
from app.services.deck_results import deck_result
from app.services.errors import NotFound
from app.services.idempotency import KeyRaced
from app.services.integrations import CursorInvalid, SubmissionFilter, find_submissions, submission_after
from app.services.submissions import get_submission, grade_submission, submit
from app.web.api.integrations import SubmissionListItem, acting_learner, may_integrate
from app.web.auth import OptionalUserDep
from app.web.db import db_session
from app.web.deps import OptionalLearnerDep, SessionDep, SlugPath, current_learner
from app.web.errors import ApiError
from app.web.idempotency import IdempotencyGuard, IdempotencyKeyHeader, caller_scope
from app.web.pagination import DEFAULT_LIMIT, PAGE_HEADERS, CursorQuery, LimitQuery, bad_cursor, next_page, parse_time
from app.web.rate_limits import RATE_LIMITED, SubmitterDep
from app.web.schemas import ErrorResponse, SubmissionCreate, SubmissionPublic
from app.web.submitting import new_submission_path, store_graded, submitter_and_card

router = APIRouter(tags=["submissions"])

# Ids are 64-bit at most; larger numbers would overflow the database driver rather than find nothing.
SubmissionId = Annotated[int, Path(ge=1, le=2**63 - 1, description="The submission's id")]


def submission_path(request: Request, ident: int) -> str:
    """``/api/v1/submissions/{id}``, the Location of a new submission."""
    return new_submission_path(request, "api_get_submission", ident)


@router.post(
    "/cards/{slug}/submissions",
    status_code=201,
    summary="Submit answers to a variant",
    name="api_create_submission",
    response_model=SubmissionPublic,
    responses={
        201: {"headers": {"Location": {"description": "The new submission's address", "schema": {"type": "string"}}}},
        403: {"model": ErrorResponse, "description": "A `learner` sent by a caller that is not an integration"},
        404: {"model": ErrorResponse, "description": "No published card with this slug"},
        429: RATE_LIMITED,
    },
)
async def create_submission(
    slug: SlugPath,
    body: SubmissionCreate,
    user: SubmitterDep,
    request: Request,
    response: Response,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Response | SubmissionPublic:
    """Grade the answers to variant ``seed``, store them, and return each part's result.

    An answer that cannot be read (``"abc"`` for a number, an option that is not offered, an unknown part)
    is a 422 naming ``answers.<key>``, and nothing is stored. An integration token may name the learner
    (``"learner": "lms-user-123"``). With an ``Idempotency-Key`` a retry returns the first response.
    """
    if idempotency_key is not None or body.learner is not None:
        # All the database work (the learner named, the key, the submission) in one trip to the thread pool.
        return await run_in_threadpool(
            _create,
            slug=slug,
            body=body,
            session=await db_session(request),
            user=user,
            request=request,
            response=response,
            idempotency_key=idempotency_key,
        )
    # The common case: the caller's own answers. What it needs to know (the caller's learner, the card, whether
    # a deck reserves the variant) was most often read moments ago and kept; only what was not is looked up, in
    # one trip to the thread pool. The grading is done here, and the writer stores the submission together with
    # those of other requests arriving meanwhile.
    now = utcnow()
    learner_id, card = await submitter_and_card(request, user, slug=slug, seed=body.seed, now=now)
    graded = grade_submission(card=card, learner_id=learner_id, seed=body.seed, answers=body.answers, now=now)
    view = await store_graded(request, graded)
    response.headers["Location"] = submission_path(request, view.id)
    return SubmissionPublic.build(view)


def _create(
    *,
    slug: str,
    body: SubmissionCreate,
    session: Session,
    user: User | None,
    request: Request,
    response: Response,
    idempotency_key: str | None,
) -> Response | SubmissionPublic:
    learner = current_learner(request, session, user)
    target = acting_learner(request=request, session=session, user=user, caller=learner, external_id=body.learner)
    guard = IdempotencyGuard.open(
        request,
        session,
        key=idempotency_key,
        body=body.model_dump(mode="json") if idempotency_key is not None else {},  # only read with a key
        scope=caller_scope(request, user, learner),
        location=lambda ident: submission_path(request, ident),
    )
    if guard.replay is not None:
        return guard.replay
    try:
        view = submit(
            session=session,
            learner_id=target.id,
            slug=slug,
            seed=body.seed,
            answers=body.answers,
            on_stored=guard.keep(SubmissionPublic.build),
        )
    except KeyRaced:
        return guard.winner()
    response.headers["Location"] = submission_path(request, view.id)
    built = guard.built  # made once, before the commit, for the key's stored copy
    return built if isinstance(built, SubmissionPublic) else SubmissionPublic.build(view)


@router.get(
    "/submissions/{submission_id}",
    summary="One of the caller's submissions",
    name="api_get_submission",
    responses={404: {"model": ErrorResponse, "description": "No such submission of the caller's"}},
)
def read_submission(submission_id: SubmissionId, session: SessionDep, learner: OptionalLearnerDep) -> SubmissionPublic:
    """A submission as graded; another guest's submission is not found, as if it did not exist."""
    if learner is None:
        raise NotFound(f"no submission {submission_id}")
    view = get_submission(session=session, submission_id=submission_id, learner_id=learner.id)
    if view.deck_slug is not None:
        # A deck's policy may still be withholding the answers of this variant.
        view = deck_result(session=session, submission=view, learner_id=learner.id, now=utcnow()).submission
    return SubmissionPublic.build(view)


@router.get(
    "/submissions",
    summary="Submissions, newest first",
    name="api_list_submissions",
    responses={200: {"headers": PAGE_HEADERS}},
)
def list_own(
    request: Request,
    response: Response,
    session: SessionDep,
    learner: OptionalLearnerDep,
    user: OptionalUserDep,
    limit: LimitQuery = DEFAULT_LIMIT,
    cursor: CursorQuery = None,
    card: Annotated[str | None, Query(max_length=100, description="Only this card's (a slug)")] = None,
    deck: Annotated[str | None, Query(max_length=100, description="Only those made in this deck (a slug)")] = None,
    learner_id: Annotated[
        str | None,
        Query(
            alias="learner",
            max_length=255,
            description="Only this learner's, by external id (integration tokens)",
        ),
    ] = None,
    since: Annotated[
        str | None, Query(description="Only those made at or after this ISO 8601 time, e.g. `2026-01-31T00:00:00Z`")
    ] = None,
    until: Annotated[str | None, Query(description="Only those made before this ISO 8601 time")] = None,
) -> list[SubmissionListItem]:
    """The caller's own submissions; an integration token reads every learner's. A page at a time."""
    where = SubmissionFilter(card=card, deck=deck, since=parse_time(since, "since"), until=parse_time(until, "until"))
    if may_integrate(request, user):
        where = replace(where, external_id=learner_id)
    elif learner_id is not None:
        raise ApiError(403, [("learner", "only an integration token (scope 'integrations') may read other learners")])
    elif learner is None:
        try:
            submission_after(cursor)  # nobody to list for, but a cursor that is not one is still refused
        except CursorInvalid as exc:
            raise bad_cursor(exc) from exc
        return []
    else:
        where = replace(where, learner_id=learner.id)
    try:
        page = find_submissions(session=session, where=where, limit=limit, cursor=cursor)
    except CursorInvalid as exc:
        raise bad_cursor(exc) from exc
    next_page(request, response, page.next_cursor)
    return [SubmissionListItem.build(record) for record in page.items]
