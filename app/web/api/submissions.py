"""Submissions: answer a variant and get it graded; read back the caller's own submissions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from app.db.models import utcnow
from app.services.deck_results import deck_result
from app.services.errors import NotFound
from app.services.submissions import get_submission, list_submissions, submit
from app.web.auth import require_scope
from app.web.deps import LearnerDep, OptionalLearnerDep, SessionDep, SlugPath
from app.web.schemas import ErrorResponse, SubmissionCreate, SubmissionPublic, SubmissionSummaryPublic

router = APIRouter(tags=["submissions"])

# Ids are 64-bit at most; larger numbers would overflow the database driver rather than find nothing.
SubmissionId = Annotated[int, Path(ge=1, le=2**63 - 1, description="The submission's id")]


@router.post(
    "/cards/{slug}/submissions",
    status_code=201,
    summary="Submit answers to a variant",
    name="api_create_submission",
    dependencies=[Depends(require_scope("submit"))],
    responses={
        201: {"headers": {"Location": {"description": "The new submission's address", "schema": {"type": "string"}}}},
        404: {"model": ErrorResponse, "description": "No published card with this slug"},
    },
)
def create_submission(
    slug: SlugPath,
    body: SubmissionCreate,
    session: SessionDep,
    learner: LearnerDep,
    request: Request,
    response: Response,
) -> SubmissionPublic:
    """Grade the answers to variant ``seed``, store them, and return each part's result.

    An answer that cannot be read (``"abc"`` for a number, an option that is not offered, an unknown part)
    is a 422 naming ``answers.<key>``, and nothing is stored.
    """
    view = submit(session=session, learner_id=learner.id, slug=slug, seed=body.seed, answers=body.answers)
    response.headers["Location"] = request.app.url_path_for("api_get_submission", submission_id=str(view.id))
    return SubmissionPublic.build(view)


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


@router.get("/submissions", summary="The caller's submissions", name="api_list_submissions")
def list_own(
    session: SessionDep,
    learner: OptionalLearnerDep,
    limit: Annotated[int, Query(ge=1, le=1000, description="At most this many, newest first")] = 100,
) -> list[SubmissionSummaryPublic]:
    if learner is None:
        return []
    summaries = list_submissions(session=session, learner_id=learner.id, limit=limit)
    return [SubmissionSummaryPublic.build(summary) for summary in summaries]
