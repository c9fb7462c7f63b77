"""The integrator's API: learners named by external ids, every learner's submissions, and webhooks.

An integration (an LMS, a school's student system) holds a token with the scope ``integrations`` made by an
instructor's or administrator's account. With it, it may submit for a learner it names by its own id, read
the learners it has named, and read submissions of any learner with filters. Webhooks are for
administrators: each graded submission is POSTed, signed, to every registered URL.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Final, Literal, get_args

from fastapi import APIRouter, Depends, Path, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from app.db.models import Learner, User
from app.services.accounts import is_instructor
from app.services.integrations import (
    CursorInvalid,
    ExternalLearner,
    SubmissionRecord,
    external_learner,
    list_external_learners,
)
from app.services.webhooks import WebhookInvalid, WebhookView, add_webhook, list_webhooks, remove_webhook
from app.web.auth import AdminDep, UserDep, require_scope, token_scopes
from app.web.deps import SessionDep
from app.web.errors import ApiError
from app.web.pagination import DEFAULT_LIMIT, PAGED, CursorQuery, LimitQuery, bad_cursor, keyset_page, next_page
from app.web.schemas import ErrorResponse

SCOPE: Final = "integrations"

router = APIRouter(tags=["integrations"])

_DENIED: Final[dict[int | str, dict[str, Any]]] = {
    401: {"model": ErrorResponse, "description": "No API token"},
    403: {"model": ErrorResponse, "description": "Not an integration token (scope `integrations`)"},
}
_ADMIN_ONLY: Final[dict[int | str, dict[str, Any]]] = {
    401: {"model": ErrorResponse, "description": "Not signed in and no API token"},
    403: {"model": ErrorResponse, "description": "Not an administrator, or a token without the scope `integrations`"},
}


def may_integrate(request: Request, user: User | None) -> bool:
    """Whether the caller is an integration: a bearer token with the scope, of an instructor or administrator."""
    scopes = token_scopes(request)
    return scopes is not None and SCOPE in scopes and is_instructor(user)


def require_integration(request: Request, user: UserDep) -> User:
    """The token's user, or a 403 for any caller that is not an integration."""
    if not may_integrate(request, user):
        raise ApiError(403, [(None, "only an integration token (an API token with the scope 'integrations') may")])
    return user


IntegrationDep = Annotated[User, Depends(require_integration)]


def acting_learner(
    *, request: Request, session: SessionDep, user: User | None, caller: Learner, external_id: str | None
) -> Learner:
    """The learner a submission is for: ``caller`` itself, or the one an integration names (403 for others)."""
    if external_id is None:
        return caller
    if not may_integrate(request, user):
        raise ApiError(
            403, [("learner", "only an integration token (scope 'integrations') may submit for another learner")]
        )
    return external_learner(session=session, external_id=external_id)


# --- learners ------------------------------------------------------------------------------------------------


class LearnerPublic(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"id": 12, "external_id": "lms-user-123", "created_at": "2026-01-31T12:00:00Z", "submissions": 4}
            ]
        }
    )

    id: int
    external_id: str = Field(description="The id the integration gave this learner")
    created_at: datetime = Field(description="When the learner was first named")
    submissions: int = Field(description="How many submissions the learner has made")

    @classmethod
    def build(cls, learner: ExternalLearner) -> LearnerPublic:
        return cls(
            id=learner.id,
            external_id=learner.external_id,
            created_at=learner.created_at,
            submissions=learner.submissions,
        )


@router.get(
    "/learners",
    summary="The learners known by an external id",
    name="api_list_learners",
    responses={**_DENIED, **PAGED},
)
def list_learners(
    request: Request,
    response: Response,
    session: SessionDep,
    user: IntegrationDep,
    limit: LimitQuery = DEFAULT_LIMIT,
    cursor: CursorQuery = None,
) -> list[LearnerPublic]:
    """Every learner an integration has named, in the order they were first seen, a page at a time."""
    try:
        page = list_external_learners(session=session, limit=limit, cursor=cursor)
    except CursorInvalid as exc:
        raise bad_cursor(exc) from exc
    next_page(request, response, page.next_cursor)
    return [LearnerPublic.build(learner) for learner in page.items]


# --- submissions as listed ---------------------------------------------------------------------------------


class SubmissionListItem(BaseModel):
    """A submission in a list: the grade without the answers (read one for those)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": 41,
                    "slug": "evaluate-student-models",
                    "title": "Evaluating Student Model Performance",
                    "card_version": 1,
                    "seed": 0,
                    "score": 1.0,
                    "pending": False,
                    "created_at": "2026-01-31T12:00:00Z",
                    "deck": None,
                    "attempt": 1,
                    "learner": "lms-user-123",
                }
            ]
        }
    )

    id: int
    slug: str
    title: str
    card_version: int
    seed: int
    score: float
    pending: bool
    created_at: datetime
    deck: str | None = Field(description="The deck it was answered in; null for free practice")
    attempt: int = Field(description="1, 2, ... per learner, card and deck")
    learner: str | None = Field(description="The learner's external id; null for a learner without one")

    @classmethod
    def build(cls, record: SubmissionRecord) -> SubmissionListItem:
        return cls(
            id=record.id,
            slug=record.slug,
            title=record.title,
            card_version=record.version,
            seed=record.seed,
            score=record.score,
            pending=record.pending,
            created_at=record.created_at,
            deck=record.deck,
            attempt=record.attempt,
            learner=record.external_id,
        )


# --- webhooks ------------------------------------------------------------------------------------------------


# The same as app.services.webhooks.EVENTS (a test keeps them equal), spelled out so the schema lists them.
WebhookEvent = Literal["submission.graded", "submission.regraded"]


class WebhookCreate(BaseModel):
    """A URL to POST graded submissions to, the secret its signature is made with, and the events it hears of."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"url": "https://lms.example.edu/hooks/distill", "secret": "a-long-random-shared-secret"}]
        },
    )

    url: str = Field(max_length=500, description="An absolute http or https URL")
    secret: str = Field(
        max_length=255,
        description="At least 16 characters; each POST carries `X-Distill-Signature: sha256=<hex HMAC-SHA256 of "
        "the body with this secret>`",
    )
    events: list[WebhookEvent] = Field(
        default_factory=lambda: list(get_args(WebhookEvent)),
        min_length=1,
        max_length=len(get_args(WebhookEvent)),
        description="What to be told of: `submission.graded` when a submission is first graded, "
        "`submission.regraded` when its grade changes later (a person's grade of a written part, or a re-grade "
        "after a tolerance change). Default: both",
    )


class WebhookPublic(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": 1,
                    "url": "https://lms.example.edu/hooks/distill",
                    "events": ["submission.graded", "submission.regraded"],
                    "created_at": "2026-01-31T12:00:00Z",
                }
            ]
        }
    )

    id: int
    url: str
    events: list[WebhookEvent]
    created_at: datetime

    @classmethod
    def build(cls, hook: WebhookView) -> WebhookPublic:
        return cls(id=hook.id, url=hook.url, events=list(hook.events), created_at=hook.created_at)


WebhookId = Annotated[int, Path(ge=1, le=2**63 - 1, description="The webhook's id")]
_WEBHOOK_SCOPE: Final = [Depends(require_scope(SCOPE))]


@router.post(
    "/webhooks",
    status_code=201,
    summary="Register a webhook",
    name="api_create_webhook",
    dependencies=_WEBHOOK_SCOPE,
    responses=_ADMIN_ONLY,
)
def create_webhook(body: WebhookCreate, session: SessionDep, user: AdminDep) -> WebhookPublic:
    """From now on each chosen event is POSTed to the URL as JSON, named in `X-Distill-Event`."""
    try:
        hook = add_webhook(session=session, url=body.url, secret=body.secret, events=body.events, created_by_id=user.id)
    except WebhookInvalid as exc:
        raise ApiError(422, [(exc.field, exc.message)]) from exc
    return WebhookPublic.build(hook)


@router.get(
    "/webhooks",
    summary="The webhooks",
    name="api_list_webhooks",
    dependencies=_WEBHOOK_SCOPE,
    responses={**_ADMIN_ONLY, **PAGED},
)
def read_webhooks(
    request: Request,
    response: Response,
    session: SessionDep,
    user: AdminDep,
    limit: LimitQuery = DEFAULT_LIMIT,
    cursor: CursorQuery = None,
) -> list[WebhookPublic]:
    """The active webhooks, oldest first, a page at a time (their secrets are never shown again)."""
    hooks = keyset_page(
        request,
        response,
        limit=limit,
        cursor=cursor,
        kinds=(int,),
        fetch=lambda after, size: list_webhooks(session=session, after=None if after is None else after[0], limit=size),
        position=lambda hook: [hook.id],
    )
    return [WebhookPublic.build(hook) for hook in hooks]


@router.delete(
    "/webhooks/{webhook_id}",
    status_code=204,
    summary="Remove a webhook",
    name="api_delete_webhook",
    dependencies=_WEBHOOK_SCOPE,
    responses={**_ADMIN_ONLY, 404: {"model": ErrorResponse, "description": "No such webhook"}},
)
def delete_webhook(webhook_id: WebhookId, session: SessionDep, user: AdminDep) -> Response:
    """No more calls to it; what was queued for it and not yet sent is dropped."""
    remove_webhook(session=session, webhook_id=webhook_id)
    return Response(status_code=204)
