"""Insight for instructors: card and deck statistics, a deck's gradebook (JSON or CSV), and manual grading.

Every route is for instructors and administrators; an instructor reads the statistics of the cards and decks
it owns, and grades the written answers given to its cards or inside its decks. Learners get a 403.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Final, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from app.services.analytics import CardStats, DeckStats, PartStats, WrongAnswer, card_stats, deck_stats
from app.services.gradebook import Gradebook, csv_filename, deck_gradebook, gradebook_csv
from app.services.manual_grading import (
    MAX_COMMENT,
    MAX_QUEUE,
    GradedPart,
    GradingError,
    QueueItem,
    grade_part,
    grading_queue,
)
from app.services.paging import CursorInvalid
from app.services.stat_formulas import Bucket
from app.web.auth import InstructorDep, require_scope
from app.web.deps import SessionDep, SlugPath
from app.web.errors import ApiError
from app.web.pagination import (
    DEFAULT_LIMIT,
    PAGE_HEADERS,
    PAGED,
    CursorQuery,
    LimitQuery,
    bad_cursor,
    keyset_page,
    next_page,
)
from app.web.schemas import ErrorResponse

router = APIRouter(tags=["insight"])

DeckSlugPath = Annotated[str, Path(max_length=100, description="The deck's slug, e.g. `course-foundations`")]
SubmissionId = Annotated[int, Path(ge=1, le=2**63 - 1, description="The submission's id")]
PartKey = Annotated[str, Path(max_length=64, description="The written part's key, e.g. `reasoning`")]

_DENIED: Final[dict[int | str, dict[str, Any]]] = {
    401: {"model": ErrorResponse, "description": "Not signed in and no API token"},
    403: {"model": ErrorResponse, "description": "Not an instructor, or not the owner of this card or deck"},
    404: {"model": ErrorResponse, "description": "No such card, deck, submission or part"},
}


# --- bodies ---------------------------------------------------------------------------------------------


class BucketPublic(BaseModel):
    low: float = Field(description="Scores from here ...")
    high: float = Field(description="... up to here, not included (the last bucket includes 1)")
    count: int

    @classmethod
    def build(cls, bucket: Bucket) -> BucketPublic:
        return cls(low=bucket.low, high=bucket.high, count=bucket.count)


class WrongAnswerPublic(BaseModel):
    answer: str
    misconception: str | None = Field(description="The code of the usual mistake it matched, e.g. `reverse_kl`")
    count: int

    @classmethod
    def build(cls, wrong: WrongAnswer) -> WrongAnswerPublic:
        return cls(answer=wrong.answer, misconception=wrong.misconception, count=wrong.count)


class PartStatsPublic(BaseModel):
    key: str
    kind: str
    label: str
    answered: int
    graded: int = Field(description="Answers with a score (written ones wait for a person)")
    correct: int
    facility: float | None = Field(description="The mean score of the graded answers, 0 to 1")
    discrimination: float | None = Field(
        description="Pearson's r of the part's score with the total (the submission's score for a card, the "
        "learner's deck score for a deck); null with fewer than two pairs or no spread"
    )
    discrimination_n: int = Field(description="The pairs the correlation is computed over")
    wrong_answers: list[WrongAnswerPublic] = Field(description="The most frequent wrong answers, at most five")

    @classmethod
    def build(cls, part: PartStats) -> PartStatsPublic:
        return cls(
            key=part.key,
            kind=part.kind,
            label=part.label,
            answered=part.answered,
            graded=part.graded,
            correct=part.correct,
            facility=part.facility,
            discrimination=part.discrimination,
            discrimination_n=part.discrimination_n,
            wrong_answers=[WrongAnswerPublic.build(w) for w in part.wrong_answers],
        )


class CardStatsPublic(BaseModel):
    slug: str
    title: str
    submissions: int
    learners: int
    mean_score: float | None
    pending: int = Field(description="Submissions with a written answer awaiting a grade")
    parts: list[PartStatsPublic]
    histogram: list[BucketPublic] = Field(description="Submission scores in ten buckets of 0.1")

    @classmethod
    def build(cls, stats: CardStats) -> CardStatsPublic:
        return cls(
            slug=stats.slug,
            title=stats.title,
            submissions=stats.submissions,
            learners=stats.learners,
            mean_score=stats.mean_score,
            pending=stats.pending,
            parts=[PartStatsPublic.build(p) for p in stats.parts],
            histogram=[BucketPublic.build(b) for b in stats.histogram],
        )


class DeckStatsPublic(BaseModel):
    slug: str
    title: str
    submissions: int
    learners: int
    mean_score: float | None = Field(description="The mean score of the deck's submissions")
    mean_total: float | None = Field(description="The mean deck score of the learners who answered")
    pending: int
    histogram: list[BucketPublic] = Field(description="Submission scores in ten buckets")
    total_histogram: list[BucketPublic] = Field(description="The learners' deck scores in ten buckets")
    cards: list[CardStatsPublic] = Field(description="Each card in deck order, over the deck's submissions only")

    @classmethod
    def build(cls, stats: DeckStats) -> DeckStatsPublic:
        return cls(
            slug=stats.slug,
            title=stats.title,
            submissions=stats.submissions,
            learners=stats.learners,
            mean_score=stats.mean_score,
            mean_total=stats.mean_total,
            pending=stats.pending,
            histogram=[BucketPublic.build(b) for b in stats.histogram],
            total_histogram=[BucketPublic.build(b) for b in stats.total_histogram],
            cards=[CardStatsPublic.build(c) for c in stats.cards],
        )


class GradebookCardPublic(BaseModel):
    slug: str
    title: str


class GradebookRowPublic(BaseModel):
    learner_id: int
    learner: str = Field(description="The account's email, the LMS's external id, or `guest N`")
    scores: dict[str, float] = Field(description="Per card slug: the best attempt after penalties (0: not tried)")
    attempts: dict[str, int] = Field(description="Per card slug: submissions made in the deck")
    total: float = Field(description="The deck score: the mean over the deck's cards")


class GradebookPublic(BaseModel):
    slug: str
    title: str
    penalty_per_attempt: float
    cards: list[GradebookCardPublic]
    rows: list[GradebookRowPublic]
    next_cursor: str | None = Field(default=None, description="The next page's cursor; null on the last page")

    @classmethod
    def build(cls, book: Gradebook) -> GradebookPublic:
        slugs = [card.slug for card in book.cards]
        return cls(
            slug=book.slug,
            title=book.title,
            penalty_per_attempt=book.penalty_per_attempt,
            cards=[GradebookCardPublic(slug=card.slug, title=card.title) for card in book.cards],
            rows=[
                GradebookRowPublic(
                    learner_id=row.learner_id,
                    learner=row.learner,
                    scores=dict(zip(slugs, row.scores, strict=True)),
                    attempts=dict(zip(slugs, row.attempts, strict=True)),
                    total=row.total,
                )
                for row in book.rows
            ],
            next_cursor=book.next_cursor,
        )


class QueueItemPublic(BaseModel):
    submission_id: int
    part_key: str
    part_label: str
    card_slug: str
    card_title: str
    deck_slug: str | None
    learner: str
    attempt: int
    created_at: datetime
    answer: str = Field(description="The learner's written answer, in full")
    model_answer: str | None = Field(description="The card's model answer for this variant (Markdown)")

    @classmethod
    def build(cls, item: QueueItem) -> QueueItemPublic:
        return cls(
            submission_id=item.submission_id,
            part_key=item.part_key,
            part_label=item.part_label,
            card_slug=item.card_slug,
            card_title=item.card_title,
            deck_slug=item.deck_slug,
            learner=item.learner,
            attempt=item.attempt,
            created_at=item.created_at,
            answer=item.answer,
            model_answer=item.model_answer,
        )


class ManualGradeCreate(BaseModel):
    """A person's grade on a written part."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,  # `true` is not full marks
        json_schema_extra={"examples": [{"score": 0.75, "comment": "Right conclusion; say why lower KL is better."}]},
    )

    score: float = Field(description="From 0 to 1; 1 is full marks")
    comment: str = Field(default="", max_length=MAX_COMMENT, description="Shown to the learner with the grade")


class GradedPartPublic(BaseModel):
    submission_id: int
    part_key: str
    score: float
    comment: str
    submission_score: float = Field(description="The submission's score with this grade counted")
    pending: bool = Field(description="Whether another written part of the submission still awaits a grade")

    @classmethod
    def build(cls, graded: GradedPart) -> GradedPartPublic:
        return cls(
            submission_id=graded.submission_id,
            part_key=graded.part_key,
            score=graded.score,
            comment=graded.comment,
            submission_score=graded.submission_score,
            pending=graded.pending,
        )


# --- routes ---------------------------------------------------------------------------------------------


@router.get("/cards/{slug}/stats", summary="A card's statistics", name="api_card_stats", responses=_DENIED)
def read_card_stats(slug: SlugPath, session: SessionDep, user: InstructorDep) -> CardStatsPublic:
    """Submissions, learners, mean score, each part's facility, discrimination and frequent wrong answers,
    and a histogram of scores, over every submission to the card."""
    return CardStatsPublic.build(card_stats(session=session, viewer=user, slug=slug))


@router.get("/decks/{slug}/stats", summary="A deck's statistics", name="api_deck_stats", responses=_DENIED)
def read_deck_stats(slug: DeckSlugPath, session: SessionDep, user: InstructorDep) -> DeckStatsPublic:
    """The deck's figures overall and card by card; discrimination is against each learner's deck score."""
    return DeckStatsPublic.build(deck_stats(session=session, viewer=user, slug=slug))


@router.get(
    "/decks/{slug}/gradebook",
    summary="A deck's gradebook, as JSON or CSV",
    name="api_deck_gradebook",
    responses={
        **_DENIED,
        200: {
            "content": {"text/csv": {"schema": {"type": "string"}}},
            "description": "The gradebook",
            "headers": PAGE_HEADERS,
        },
    },
)
def read_gradebook(
    request: Request,
    response: Response,
    slug: DeckSlugPath,
    session: SessionDep,
    user: InstructorDep,
    format: Annotated[
        Literal["json", "csv"], Query(description="`csv`: one row per learner, one column per card, and the total")
    ] = "json",
    limit: LimitQuery = DEFAULT_LIMIT,
    cursor: CursorQuery = None,
) -> Any:
    """One row per learner: the best attempt after penalties on each card (0 when not tried) and the deck score.

    JSON comes a page of `limit` learners at a time (the next page's cursor in `next_cursor` and the `Link`
    header); CSV is the whole gradebook in one file."""
    try:
        if format == "csv":
            book = deck_gradebook(session=session, viewer=user, slug=slug)
            return Response(
                gradebook_csv(book),
                media_type="text/csv; charset=utf-8",
                headers={"Content-Disposition": f'attachment; filename="{csv_filename(book)}"'},
            )
        book = deck_gradebook(session=session, viewer=user, slug=slug, limit=limit, cursor=cursor)
    except CursorInvalid as exc:
        raise bad_cursor(exc) from exc
    next_page(request, response, book.next_cursor)
    return GradebookPublic.build(book)


@router.get(
    "/grading/queue",
    summary="Written answers awaiting a grade",
    name="api_grading_queue",
    responses={**_DENIED, **PAGED},
)
def read_queue(
    request: Request,
    response: Response,
    session: SessionDep,
    user: InstructorDep,
    deck: Annotated[str | None, Query(max_length=100, description="Only answers given in this deck")] = None,
    card: Annotated[str | None, Query(max_length=100, description="Only answers to this card")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_QUEUE, description="At most this many, oldest first")] = 50,
    cursor: CursorQuery = None,
) -> list[QueueItemPublic]:
    """The oldest pending written answers on the caller's cards and decks (every one, for an administrator),
    a page at a time. Grading an answer takes it out of the queue without moving the pages after it."""
    items = keyset_page(
        request,
        response,
        limit=limit,
        cursor=cursor,
        kinds=(int, int),
        fetch=lambda after, size: grading_queue(
            session=session, grader=user, deck_slug=deck, card_slug=card, limit=size, after=after
        ),
        position=lambda item: [item.submission_id, item.part_id],
    )
    return [QueueItemPublic.build(item) for item in items]


@router.post(
    "/submissions/{submission_id}/parts/{key}/grade",
    summary="Grade a written part",
    name="api_grade_part",
    dependencies=[Depends(require_scope("grades:write"))],
    responses=_DENIED,
)
def create_grade(
    submission_id: SubmissionId, key: PartKey, body: ManualGradeCreate, session: SessionDep, user: InstructorDep
) -> GradedPartPublic:
    """Store the score and comment (grading again replaces them) and re-score the submission, and so the
    learner's deck score. A part that is graded automatically, or a score outside 0 to 1, is a 422."""
    try:
        graded = grade_part(
            session=session,
            grader=user,
            submission_id=submission_id,
            part_key=key,
            score=body.score,
            comment=body.comment,
        )
    except GradingError as exc:
        raise ApiError(422, [(exc.field, exc.message)]) from exc
    return GradedPartPublic.build(graded)
