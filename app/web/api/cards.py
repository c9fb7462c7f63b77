"""Cards: the published list (a page at a time), one card, and a seeded variant of it (never its answers)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from app.domain.cards import is_drawn
from app.services.catalog import get_card, list_cards
from app.services.submissions import variant_for
from app.web.deps import GuestIdDep, OptionalLearnerDep, SessionDep, SlugPath
from app.web.guest import default_seed
from app.web.pagination import DEFAULT_LIMIT, PAGED, CursorQuery, LimitQuery, keyset_page
from app.web.schemas import SEED_LIMIT, CardDetailPublic, CardPublic, ErrorResponse, VariantPublic

router = APIRouter(prefix="/cards", tags=["cards"])

_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "No published card with this slug"}
}


@router.get("", summary="List the published cards", name="api_list_cards", responses=PAGED)
def list_all(
    request: Request,
    response: Response,
    session: SessionDep,
    learner: OptionalLearnerDep,
    limit: LimitQuery = DEFAULT_LIMIT,
    cursor: CursorQuery = None,
    tag: Annotated[
        str | None, Query(max_length=40, description="Only the cards with this tag, e.g. `kl-divergence`")
    ] = None,
) -> list[CardPublic]:
    """The published cards by title, each with the caller's best score on it, a page at a time."""
    learner_id = None if learner is None else learner.id
    summaries = keyset_page(
        request,
        response,
        limit=limit,
        cursor=cursor,
        kinds=(str, str),
        fetch=lambda after, size: list_cards(
            session=session, learner_id=learner_id, tag=tag, after=after, limit=size
        ),
        position=lambda summary: [summary.title, summary.slug],
    )
    return [CardPublic.build(summary) for summary in summaries]


@router.get("/{slug}", summary="One card", name="api_get_card", responses=_NOT_FOUND)
def card_detail(slug: SlugPath, session: SessionDep) -> CardDetailPublic:
    """The card's title, tags, current version and the outline of its parts (fetch a variant to answer it)."""
    card = get_card(session=session, slug=slug)
    return CardDetailPublic.build(spec=card.spec, version=card.version, drawn=is_drawn(card.spec))


@router.get("/{slug}/variant", summary="A variant of a card to answer", name="api_get_variant", responses=_NOT_FOUND)
def card_variant(
    slug: SlugPath,
    session: SessionDep,
    guest_id: GuestIdDep,
    seed: Annotated[
        int | None,
        Query(
            ge=0,
            lt=SEED_LIMIT,
            description="Which variant; by default 0 for a fixed card and the caller's own seed for a drawn one",
        ),
    ] = None,
) -> VariantPublic:
    """The prompt and the parts of variant ``seed``: what to answer, never the answers."""
    card = get_card(session=session, slug=slug)
    drawn = is_drawn(card.spec)
    if seed is None:
        seed = default_seed(guest_id=guest_id, slug=slug, drawn=drawn)
    variant = variant_for(card.spec, seed)
    return VariantPublic.build(spec=card.spec, variant=variant, version=card.version, drawn=drawn)
