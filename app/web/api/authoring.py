"""Card authoring through the API: create and edit specs (JSON or YAML), preview with answers, publish, archive.

Instructors and admins only (a learner gets 403), with a session cookie or a bearer token; writes need the
token scope ``cards:write``. An invalid spec is a 422 listing every problem with its line in the text sent.
The learner's routes (``GET /cards/{slug}`` and its variant) stay in ``cards``: these add other methods on
the same path and sub-paths of their own, so the two never overlap.
"""

from __future__ import annotations

from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from app.db.models import User
from app.domain.cards import spec_to_dict
from app.services import authoring
from app.services.spec_yaml import InvalidSpec, SpecMedia, spec_to_yaml
from app.web.auth import InstructorDep, require_scope
from app.web.authoring_schemas import (
    EXAMPLE_SPEC,
    EXAMPLE_YAML,
    AuthoredCardPublic,
    CardPreviewPublic,
    CardSavedPublic,
    CardSpecDocument,
    SpecErrorItem,
    SpecErrorResponse,
    VersionPublic,
)
from app.web.deps import SessionDep, SlugPath
from app.web.errors import ApiError
from app.web.pagination import DEFAULT_LIMIT, PAGED, CursorQuery, LimitQuery, keyset_page
from app.web.schemas import SEED_LIMIT, ErrorResponse

router = APIRouter(prefix="/cards", tags=["authoring"])

WRITE: Final = [Depends(require_scope("cards:write"))]
YAML_TYPES: Final = frozenset({"application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml"})
JSON_TYPES: Final = frozenset({"application/json", ""})

_SPEC_BODY: Final[dict[str, Any]] = {
    "requestBody": {
        "required": True,
        "description": "The card spec: JSON, or YAML with `Content-Type: application/yaml` (at most 64 KB)",
        "content": {
            "application/json": {
                "schema": {"$ref": "#/components/schemas/CardSpecDocument"},
                "example": EXAMPLE_SPEC,
            },
            "application/yaml": {"schema": {"type": "string"}, "example": EXAMPLE_YAML},
        },
    }
}
_ERRORS: Final[dict[int | str, dict[str, Any]]] = {
    401: {"model": ErrorResponse, "description": "Not signed in and no bearer token"},
    403: {"model": ErrorResponse, "description": "A learner, a token without the scope, or another's card"},
    404: {"model": ErrorResponse, "description": "No card with this slug"},
}
_INVALID: Final[dict[int | str, dict[str, Any]]] = {
    422: {"model": SpecErrorResponse, "description": "The spec is not valid: every problem, with its line"},
    413: {"model": ErrorResponse, "description": "The body is larger than the server takes at all"},
    415: {"model": ErrorResponse, "description": "A body that is neither JSON nor YAML"},
}
_YAML_SPEC: Final[dict[str, Any]] = {
    "content": {
        "application/json": {"schema": {"$ref": "#/components/schemas/CardSpecDocument"}},
        "application/yaml": {"schema": {"type": "string"}, "example": EXAMPLE_YAML},
    }
}

SeedQuery = Annotated[int, Query(ge=0, lt=SEED_LIMIT, description="Which variant (0 by default)")]
VersionQuery = Annotated[
    int | None, Query(ge=1, le=2**31 - 1, description="An earlier version's number; the current one by default")
]


def _media(request: Request) -> SpecMedia:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type in YAML_TYPES:
        return "yaml"
    if content_type in JSON_TYPES:
        return "json"
    raise ApiError(415, [("content-type", f"'{content_type}' is neither application/json nor application/yaml")])


async def _spec_text(request: Request) -> tuple[str, SpecMedia]:
    """The body as text and its kind (the services judge its size: UTF-8 text encodes back to the bytes sent)."""
    media = _media(request)
    body = await request.body()
    try:
        return body.decode("utf-8"), media
    except UnicodeDecodeError:
        raise ApiError(422, [("body", "is not UTF-8 text")]) from None


SpecText = Annotated[tuple[str, SpecMedia], Depends(_spec_text)]


def invalid_spec_response(exc: InvalidSpec) -> JSONResponse:
    detail = [SpecErrorItem.build(problem).model_dump() for problem in exc.problems]
    return JSONResponse({"detail": detail}, status_code=422)


def _wants_yaml(request: Request) -> bool:
    accept = request.headers.get("accept", "").lower()
    return any(kind in accept for kind in YAML_TYPES)


@router.post(
    "",
    status_code=201,
    summary="Create a card (a draft at version 1)",
    name="api_create_card",
    response_model=CardSavedPublic,
    dependencies=WRITE,
    responses={**_ERRORS, **_INVALID},
    openapi_extra=_SPEC_BODY,
)
def create_card(
    request: Request, response: Response, body: SpecText, session: SessionDep, user: InstructorDep
) -> CardSavedPublic | JSONResponse:
    """The caller owns the new card; it stays a draft, unseen by learners, until published."""
    text, media = body
    try:
        card = authoring.create_card(session=session, user=user, source=text, media=media)
    except InvalidSpec as exc:
        return invalid_spec_response(exc)
    response.headers["Location"] = request.app.url_path_for("api_get_spec", slug=card.slug)
    return CardSavedPublic(**AuthoredCardPublic.build(card).model_dump(), new_version=True)


@router.put(
    "/{slug}",
    summary="Save a new version of a card",
    name="api_update_card",
    response_model=CardSavedPublic,
    dependencies=WRITE,
    responses={**_ERRORS, **_INVALID},
    openapi_extra=_SPEC_BODY,
)
def update_card(
    slug: SlugPath, body: SpecText, session: SessionDep, user: InstructorDep
) -> CardSavedPublic | JSONResponse:
    """A changed spec becomes the next version (earlier ones stay, with their submissions); the slug cannot change."""
    text, media = body
    try:
        saved = authoring.update_card(session=session, user=user, slug=slug, source=text, media=media)
    except InvalidSpec as exc:
        return invalid_spec_response(exc)
    return CardSavedPublic.saved(saved)


@router.get(
    "/{slug}/spec",
    summary="A card's spec, as JSON or YAML",
    name="api_get_spec",
    response_model=CardSpecDocument,
    response_model_exclude_none=True,  # the spec's own form: a field that does not apply is left out
    responses={**_ERRORS, 200: _YAML_SPEC},
)
def read_spec(
    request: Request, slug: SlugPath, session: SessionDep, user: InstructorDep, version: VersionQuery = None
) -> Any:
    """The current version's spec (or ``version``'s); YAML with `Accept: application/yaml`, ready to edit and PUT."""
    if version is None:
        spec = authoring.get_authored_card(session=session, user=user, slug=slug).spec
    else:
        spec = authoring.version_spec(session=session, user=user, slug=slug, number=version)
    if _wants_yaml(request):
        return Response(spec_to_yaml(spec), media_type="application/yaml; charset=utf-8")
    return spec_to_dict(spec)


@router.get(
    "/{slug}/preview",
    summary="A variant with its answers",
    name="api_preview_card",
    responses={**_ERRORS, 422: {"model": ErrorResponse, "description": "A seed that gives no variant"}},
)
def preview_card(
    slug: SlugPath, session: SessionDep, user: InstructorDep, seed: SeedQuery = 0, version: VersionQuery = None
) -> CardPreviewPublic:
    """What a learner sees for ``seed``, plus the answers and the solution; for instructors who can see the card."""
    preview = authoring.preview(session=session, user=user, slug=slug, seed=seed, version=version)
    return CardPreviewPublic.build(preview)


def _set_status(session: Session, user: User, slug: str, status: authoring.CardStatus) -> AuthoredCardPublic:
    return AuthoredCardPublic.build(authoring.set_status(session=session, user=user, slug=slug, status=status))


@router.post(
    "/{slug}/publish",
    summary="Publish a card",
    name="api_publish_card",
    dependencies=WRITE,
    responses=_ERRORS,
)
def publish(slug: SlugPath, session: SessionDep, user: InstructorDep) -> AuthoredCardPublic:
    """Learners see the current version from now on (an archived card comes back too)."""
    return _set_status(session, user, slug, "published")


@router.post(
    "/{slug}/unpublish",
    summary="Unpublish a card (back to draft)",
    name="api_unpublish_card",
    dependencies=WRITE,
    responses=_ERRORS,
)
def unpublish(slug: SlugPath, session: SessionDep, user: InstructorDep) -> AuthoredCardPublic:
    """Learners no longer see the card; their submissions stay and still show."""
    return _set_status(session, user, slug, "draft")


@router.delete(
    "/{slug}",
    summary="Archive a card",
    name="api_archive_card",
    dependencies=WRITE,
    responses=_ERRORS,
)
def archive(slug: SlugPath, session: SessionDep, user: InstructorDep) -> AuthoredCardPublic:
    """Nothing is deleted: the card leaves the learners' lists, every submission to it stays and still shows."""
    return _set_status(session, user, slug, "archived")


@router.get(
    "/{slug}/versions",
    summary="A card's versions",
    name="api_card_versions",
    responses={**_ERRORS, **PAGED},
)
def versions(
    request: Request,
    response: Response,
    slug: SlugPath,
    session: SessionDep,
    user: InstructorDep,
    limit: LimitQuery = DEFAULT_LIMIT,
    cursor: CursorQuery = None,
) -> list[VersionPublic]:
    """Newest first, each with its author, date and spec hash; a page at a time."""
    found = keyset_page(
        request,
        response,
        limit=min(limit, authoring.HISTORY_LIMIT),
        cursor=cursor,
        kinds=(int,),
        fetch=lambda after, size: authoring.history(
            session=session, user=user, slug=slug, limit=size, before=None if after is None else after[0]
        ),
        position=lambda version: [version.number],
    )
    return [VersionPublic.build(v) for v in found]
