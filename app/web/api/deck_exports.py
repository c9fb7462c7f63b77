"""A deck exported for another system: ``GET /api/v1/decks/{slug}/export?format=qti|gift[&seed=N]``.

Included by the decks router, so it sits beside the deck's other routes. An export holds every answer, so
only those who may see the deck's solutions make one: its owner or an administrator, and a token only with
the scope ``decks:write`` or ``integrations``.
"""

from __future__ import annotations

from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response

from app.services.lms_exports import DEFAULT_SEED, ExportFormat, deck_for_export, export_file, load_export
from app.web.auth import OptionalUserDep, UserDep, token_scopes
from app.web.deps import SessionDep
from app.web.schemas import SEED_LIMIT, ErrorResponse

router = APIRouter(tags=["decks"])

EXPORT_SCOPES: Final = frozenset({"decks:write", "integrations"})

_RESPONSES: Final[dict[int | str, dict[str, Any]]] = {
    200: {
        "content": {
            "application/zip": {"schema": {"type": "string", "format": "binary"}},
            "text/plain": {"schema": {"type": "string"}},
        },
        "description": "`qti`: a QTI 1.2 content package (zip); `gift`: Moodle GIFT text. Sent as an attachment",
    },
    403: {"model": ErrorResponse, "description": "Not the deck's owner or an administrator, or a token without scope"},
    404: {"model": ErrorResponse, "description": "No such deck that the caller can see"},
    422: {"model": ErrorResponse, "description": "An unknown `format`, or a `seed` some card has no variant for"},
}


def require_export_scope(request: Request, user: OptionalUserDep) -> None:
    """A bearer token needs ``decks:write`` or ``integrations``; a cookie session passes to the owner check."""
    scopes = token_scopes(request)
    if scopes is not None and not scopes & EXPORT_SCOPES:
        raise HTTPException(403, "this token lacks the scope 'decks:write' (or 'integrations') that exports need")


@router.get(
    "/{slug}/export",
    summary="Export a deck as QTI 1.2 or Moodle GIFT",
    name="api_export_deck",
    response_class=Response,
    dependencies=[Depends(require_export_scope)],
    responses=_RESPONSES,
)
def export_deck(
    slug: Annotated[str, Path(max_length=100, description="The deck's slug, e.g. `course-foundations`")],
    session: SessionDep,
    user: UserDep,
    export_format: Annotated[
        ExportFormat,
        Query(
            alias="format",
            description="`qti`: a zip that Canvas, Blackboard and D2L import; `gift`: text that Moodle imports",
        ),
    ],
    seed: Annotated[int, Query(ge=0, lt=SEED_LIMIT, description="The variant of every card")] = DEFAULT_SEED,
) -> Response:
    """One fixed variant of every published card of the deck, its numeric tolerances carried over.

    The worked solutions go along as general feedback when the deck shows them to everyone.
    """
    deck = deck_for_export(session=session, user=user, slug=slug)
    found = export_file(load_export(session=session, deck=deck, seed=seed), export_format)
    return Response(
        found.content,
        media_type=found.media_type,
        headers={"Content-Disposition": f'attachment; filename="{found.filename}"'},
    )
