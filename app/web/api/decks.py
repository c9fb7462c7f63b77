"""Decks: list and read them, create and change them (instructors), and answer a card inside one (learners)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Final, Literal

from fastapi import APIRouter, Depends, Path, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from app.db.models import User, utcnow
from app.services.deck_editing import create_deck, update_deck
from app.services.deck_results import attempts_left, deck_result
from app.services.decks import (
    MAX_CARDS,
    DeckInput,
    DeckInvalid,
    DeckView,
    SubmissionRefused,
    deck_seed,
    get_deck,
    list_decks,
    may_edit,
)
from app.services.idempotency import KeyRaced
from app.services.scores import card_scores_for_learner, deck_score
from app.services.submissions import SubmissionView, submit
from app.web.api import deck_exports
from app.web.api.integrations import acting_learner
from app.web.auth import InstructorDep, OptionalUserDep, require_scope
from app.web.deps import LearnerDep, OptionalLearnerDep, SessionDep, SlugPath
from app.web.errors import ApiError
from app.web.idempotency import IdempotencyGuard, IdempotencyKeyHeader, caller_scope
from app.web.pagination import DEFAULT_LIMIT, PAGED, CursorQuery, LimitQuery, keyset_page
from app.web.rate_limits import RATE_LIMITED, SubmitterDep
from app.web.schemas import (
    MAX_ANSWERS,
    SEED_LIMIT,
    Answer,
    DateTimeText,
    ErrorResponse,
    ExternalId,
    SubmissionPublic,
)

router = APIRouter(prefix="/decks", tags=["decks"])
router.include_router(deck_exports.router)  # GET /decks/{slug}/export, in a module of its own

DeckSlugPath = Annotated[str, Path(max_length=100, description="The deck's slug, e.g. `course-foundations`")]
SolutionPolicy = Literal["always", "after_correct", "after_due"]
DeckStatus = Literal["draft", "published", "archived"]

_NOT_FOUND: Final[dict[int | str, dict[str, Any]]] = {
    404: {"model": ErrorResponse, "description": "No such deck that the caller can see"}
}
_WRITE_RESPONSES: Final[dict[int | str, dict[str, Any]]] = {
    403: {
        "model": ErrorResponse,
        "description": "Not an instructor, not the deck's owner, or a token without the scope",
    },
    422: {
        "model": ErrorResponse,
        "description": "Invalid deck: each entry names the field (`cards[2]`, `due_at`, ...)",
    },
}

_EXAMPLE: Final[dict[str, Any]] = {
    "slug": "week-3",
    "title": "Week 3: divergences",
    "description": "KL, its reverse, and the distillation loss.",
    "due_at": "2026-12-11T17:00:00Z",
    "cards": ["evaluate-student-models", "closest-student"],
    "max_attempts": 3,
    "penalty_per_attempt": 0.1,
    "show_solution": "after_correct",
    "status": "published",
}


# --- bodies ---------------------------------------------------------------------------------------------


class _DeckFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(description="Shown to learners")
    description: str = Field(default="", description="Markdown, shown at the top of the deck")
    due_at: DateTimeText | None = Field(
        default=None, description="With a time zone; after it the deck takes no answers. Null: no due date"
    )
    cards: list[str] = Field(max_length=MAX_CARDS * 10, description="Card slugs in order (published cards only)")
    # Strict numbers: `true` is not one attempt, nor `false` a penalty of 0.
    max_attempts: int | None = Field(
        default=None, strict=True, description="Attempts per card, 1 to 100; null for unlimited"
    )
    penalty_per_attempt: float = Field(
        default=0.0,
        strict=True,
        description="Credit lost per attempt after the first, 0 to 1: the best of `max(0, score − p·(n−1))` counts",
    )
    show_solution: SolutionPolicy = Field(
        default="always",
        description="When the solution and expected answers are shown: `always`, `after_correct`, `after_due`",
    )
    status: DeckStatus = Field(default="draft", description="Learners see published decks only")

    def to_input(self, slug: str) -> DeckInput:
        return DeckInput(
            slug=slug,
            title=self.title,
            description=self.description,
            due_at=self.due_at,
            cards=tuple(self.cards),
            max_attempts=self.max_attempts,
            penalty_per_attempt=self.penalty_per_attempt,
            show_solution=self.show_solution,
            status=self.status,
        )


class DeckCreate(_DeckFields):
    """A new deck."""

    model_config = ConfigDict(json_schema_extra={"examples": [_EXAMPLE]})

    slug: str = Field(description="Lowercase words joined by hyphens; fixed once the deck exists")


class DeckUpdate(_DeckFields):
    """The whole deck, replacing what was there (the slug may be repeated, never changed)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{k: v for k, v in _EXAMPLE.items() if k != "slug"}]})

    slug: str | None = Field(default=None, description="If given, the deck's own slug")


class DeckSubmissionCreate(BaseModel):
    """Answers to the caller's own variant of a card in the deck."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={"examples": [{"answers": {"loss_a": "0.0268", "loss_b": "0.0452", "better": "Student A"}}]},
    )

    seed: int | None = Field(
        default=None,
        ge=0,
        lt=SEED_LIMIT,
        description="The caller's variant (the `seed` of their progress on the deck); other variants are refused",
    )
    answers: dict[str, Answer] = Field(max_length=MAX_ANSWERS, description="Part key → answer, as for a card")
    learner: ExternalId | None = Field(
        default=None,
        description="Submit for the learner an integration calls by this id (scope `integrations` only)",
    )


# --- responses ------------------------------------------------------------------------------------------


class DeckCardPublic(BaseModel):
    slug: str
    title: str
    position: int
    available: bool = Field(description="Whether the card is published, so it can be answered")


class CardProgressPublic(BaseModel):
    slug: str
    seed: int = Field(description="The caller's own variant of this card in the deck")
    attempts: int
    attempts_left: int | None = Field(description="null: unlimited")
    best: float = Field(description="The best attempt after penalties; 0 when not attempted")
    pending: bool = Field(description="Whether an attempt waits for a person to grade a written part")


class DeckProgressPublic(BaseModel):
    score: float = Field(description="The mean over the deck's cards of the best attempt after penalties")
    cards: list[CardProgressPublic]


class DeckSummaryPublic(BaseModel):
    slug: str
    title: str
    due_at: datetime | None
    status: DeckStatus
    builtin: bool
    card_count: int


class DeckPublic(BaseModel):
    slug: str
    title: str
    description: str
    due_at: datetime | None
    max_attempts: int | None
    penalty_per_attempt: float
    show_solution: SolutionPolicy
    status: DeckStatus
    builtin: bool
    editable: bool = Field(description="Whether the caller may change the deck")
    cards: list[DeckCardPublic]
    progress: DeckProgressPublic | None = Field(description="The caller's standing; null before they have a learner")

    @classmethod
    def build(cls, deck: DeckView, *, editable: bool, progress: DeckProgressPublic | None) -> DeckPublic:
        # model_validate checks the stored status and policy against their literals rather than trusting them.
        return cls.model_validate(
            {
                "slug": deck.slug,
                "title": deck.title,
                "description": deck.description,
                "due_at": deck.due_at,
                "max_attempts": deck.max_attempts,
                "penalty_per_attempt": deck.penalty_per_attempt,
                "show_solution": deck.show_solution,
                "status": deck.status,
                "builtin": deck.builtin,
                "editable": editable,
                "cards": [
                    DeckCardPublic(slug=c.slug, title=c.title, position=c.position, available=c.available)
                    for c in deck.cards
                ],
                "progress": progress,
            }
        )


class DeckSubmissionPublic(SubmissionPublic):
    """A graded deck submission; expected answers, feedback quoting them and model answers are left out
    until the deck's policy shows the solution."""

    deck: str
    attempt: int = Field(description="1 for the first attempt at this card in this deck, then 2, ...")
    attempts_left: int | None = Field(description="Attempts still open on this card; null: unlimited")
    best: float = Field(description="The best attempt at this card after penalties")
    deck_score: float = Field(description="The caller's deck score now")
    solution_visible: bool = Field(description="Whether expected answers and model answers are included")


# --- routes ---------------------------------------------------------------------------------------------


def _progress(session: SessionDep, deck: DeckView, learner_id: int) -> DeckProgressPublic:
    scores = card_scores_for_learner(session=session, deck=deck, learner_id=learner_id)
    return DeckProgressPublic(
        score=deck_score(scores),
        cards=[
            CardProgressPublic(
                slug=card.slug,
                seed=deck_seed(learner_id=learner_id, deck_slug=deck.slug, card_slug=card.slug),
                attempts=card.attempts,
                attempts_left=attempts_left(deck, card.attempts),
                best=card.best,
                pending=card.pending,
            )
            for card in scores
        ],
    )


def _public(session: SessionDep, deck: DeckView, user: User | None, learner_id: int | None) -> DeckPublic:
    progress = None if learner_id is None or deck.status != "published" else _progress(session, deck, learner_id)
    return DeckPublic.build(deck, editable=may_edit(user, deck), progress=progress)


def _invalid(exc: DeckInvalid) -> ApiError:
    return ApiError(422, [(where, message) for where, message in exc.problems])


@router.get("", summary="The decks the caller can see", name="api_list_decks", responses=PAGED)
def list_all(
    request: Request,
    response: Response,
    session: SessionDep,
    user: OptionalUserDep,
    limit: LimitQuery = DEFAULT_LIMIT,
    cursor: CursorQuery = None,
) -> list[DeckSummaryPublic]:
    """Published decks by title; an instructor also gets their own drafts and archived decks, an administrator
    all. A page at a time."""
    decks = keyset_page(
        request,
        response,
        limit=limit,
        cursor=cursor,
        kinds=(str, str),
        fetch=lambda after, size: list_decks(session=session, user=user, limit=size, after=after),
        position=lambda deck: [deck.title, deck.slug],
    )
    return [
        DeckSummaryPublic.model_validate(
            {
                "slug": d.slug,
                "title": d.title,
                "due_at": d.due_at,
                "status": d.status,
                "builtin": d.builtin,
                "card_count": d.card_count,
            }
        )
        for d in decks
    ]


@router.get("/{slug}", summary="One deck, with the caller's progress", name="api_get_deck", responses=_NOT_FOUND)
def deck_detail(
    slug: DeckSlugPath, session: SessionDep, user: OptionalUserDep, learner: OptionalLearnerDep
) -> DeckPublic:
    """The deck's policy and cards; with the caller's seed, attempts and best score per card once they have any."""
    deck = get_deck(session=session, slug=slug, user=user)
    return _public(session, deck, user, None if learner is None else learner.id)


@router.post(
    "",
    status_code=201,
    summary="Create a deck",
    name="api_create_deck",
    dependencies=[Depends(require_scope("decks:write"))],
    responses=_WRITE_RESPONSES,
)
def create(
    body: DeckCreate, session: SessionDep, user: InstructorDep, request: Request, response: Response
) -> DeckPublic:
    try:
        deck = create_deck(session=session, user=user, data=body.to_input(body.slug))
    except DeckInvalid as exc:
        raise _invalid(exc) from exc
    response.headers["Location"] = request.app.url_path_for("api_get_deck", slug=deck.slug)
    return _public(session, deck, user, None)


@router.put(
    "/{slug}",
    summary="Replace a deck's fields and cards",
    name="api_update_deck",
    dependencies=[Depends(require_scope("decks:write"))],
    responses={**_WRITE_RESPONSES, **_NOT_FOUND},
)
def replace(slug: DeckSlugPath, body: DeckUpdate, session: SessionDep, user: InstructorDep) -> DeckPublic:
    """Submissions already made are kept; the deck's new penalty re-scores them."""
    try:
        deck = update_deck(session=session, user=user, slug=slug, data=body.to_input(body.slug or slug))
    except DeckInvalid as exc:
        raise _invalid(exc) from exc
    return _public(session, deck, user, None)


@router.post(
    "/{slug}/cards/{card_slug}/submissions",
    status_code=201,
    summary="Answer a card inside a deck",
    name="api_create_deck_submission",
    response_model=DeckSubmissionPublic,
    responses={
        403: {"model": ErrorResponse, "description": "A `learner` sent by a caller that is not an integration"},
        404: {"model": ErrorResponse, "description": "No published deck, or the card is not in it"},
        409: {"model": ErrorResponse, "description": "No attempts left on this card, or the deck is past its due date"},
        429: RATE_LIMITED,
    },
)
def create_deck_submission(
    slug: DeckSlugPath,
    card_slug: SlugPath,
    body: DeckSubmissionCreate,
    user: SubmitterDep,  # first: the scope and the limits are checked before anything is looked up
    session: SessionDep,
    learner: LearnerDep,
    request: Request,
    response: Response,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Response | DeckSubmissionPublic:
    """Grade the answers to the caller's own variant and count the attempt.

    Nothing is stored for a refused attempt (409) or an answer that cannot be read (422, no attempt used).
    An integration token may name the learner (``"learner": "lms-user-123"``); with an ``Idempotency-Key``
    a retry returns the first response and uses no attempt.
    """
    target = acting_learner(request=request, session=session, user=user, caller=learner, external_id=body.learner)
    guard = IdempotencyGuard.open(
        request,
        session,
        key=idempotency_key,
        body=body.model_dump(mode="json"),
        scope=caller_scope(request, user, learner),
        location=lambda ident: request.app.url_path_for("api_get_submission", submission_id=str(ident)),
    )
    if guard.replay is not None:
        return guard.replay

    def build(view: SubmissionView) -> DeckSubmissionPublic:
        found = deck_result(session=session, submission=view, learner_id=target.id, now=utcnow())
        return DeckSubmissionPublic(
            **SubmissionPublic.build(found.submission).model_dump(),
            deck=slug,
            attempt=view.attempt,
            attempts_left=found.attempts_left,
            best=found.card.best,
            deck_score=found.deck_score,
            solution_visible=found.solution_visible,
        )

    own = deck_seed(learner_id=target.id, deck_slug=slug, card_slug=card_slug)
    try:
        view = submit(
            session=session,
            learner_id=target.id,
            slug=card_slug,
            seed=own if body.seed is None else body.seed,
            answers=body.answers,
            deck_slug=slug,
            on_stored=guard.keep(build),
        )
    except SubmissionRefused as exc:
        field = "attempt" if exc.reason == "attempts" else "due_at"
        raise ApiError(409, [(field, exc.message)]) from exc
    except KeyRaced:
        return guard.winner()
    response.headers["Location"] = request.app.url_path_for("api_get_submission", submission_id=str(view.id))
    # Made before the commit, from the same rows: what was stored for the key is what the first caller gets.
    assert isinstance(guard.built, DeckSubmissionPublic)
    return guard.built
