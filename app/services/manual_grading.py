"""Manual grading: the queue of written answers awaiting a person, and grading one of them.

``grade_part`` stores the grader's score and comment, re-scores the submission with them and updates the
part's analytics row, all in one transaction, with the new score queued for the LMS gradebooks that show it and
for the webhooks told of re-grades; the learner's result page and deck score follow from the submission's new
score.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from sqlalchemy import ColumnElement, and_, or_, select, true
from sqlalchemy.orm import Session

from app.db.models import Card, CardVersion, Deck, Learner, ManualGrade, Submission, SubmissionPart, User
from app.domain.grading import Grade
from app.services.accounts import is_admin, is_instructor
from app.services.catalog import stored_spec
from app.services.errors import Forbidden, NotFound
from app.services.gradebook import learner_name
from app.services.lti.ags import queue_submission_scores
from app.services.webhooks import queue_regraded_webhooks

MAX_COMMENT: Final = 5_000  # characters: a few paragraphs of feedback
MAX_QUEUE: Final = 200


class GradingError(ValueError):
    """A manual grade that cannot be stored: ``field`` names the input at fault (``score``, ``comment``, ``key``)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class QueueItem:
    """A written answer awaiting a grade, with what the grader compares it against."""

    submission_id: int
    part_id: int  # with submission_id, the item's place in the queue
    part_key: str
    part_label: str
    card_slug: str
    card_title: str
    deck_slug: str | None
    learner: str
    attempt: int
    created_at: datetime
    answer: str  # in full, as the learner wrote it
    model_answer: str | None  # Markdown, filled in for the learner's variant


@dataclass(frozen=True)
class GradedPart:
    """The outcome of a manual grade: the part's grade and the submission's new score."""

    submission_id: int
    part_key: str
    score: float
    comment: str
    submission_score: float
    pending: bool  # another written part of the submission still awaits a grade


def _visible(grader: User) -> list[ColumnElement[bool]]:
    """Conditions limiting submissions to those ``grader`` may grade: its cards and decks (admin: all)."""
    if is_admin(grader):
        return []
    return [or_(Card.owner_id == grader.id, Deck.owner_id == grader.id)]


def _deck_id(session: Session, slug: str) -> int:
    found = session.scalar(select(Deck.id).where(Deck.slug == slug))
    if found is None:
        raise NotFound(f"no deck '{slug}'")
    return found


def grading_queue(
    *,
    session: Session,
    grader: User,
    deck_slug: str | None = None,
    card_slug: str | None = None,
    limit: int = 50,
    after: tuple[int, int] | None = None,
) -> list[QueueItem]:
    """The oldest written answers awaiting a grade on ``grader``'s cards and decks (admin: all), at most ``limit``.

    ``deck_slug`` and ``card_slug`` narrow the queue; an unknown slug raises NotFound. ``after`` is the
    ``(submission_id, part_id)`` of the last item of the previous page; ``limit`` may be one more than
    ``MAX_QUEUE``, so a caller paging can learn whether another page follows.
    """
    if not is_instructor(grader):
        raise Forbidden("only instructors and administrators grade answers")
    # The oldest pending parts are found first on narrow rows; only those few are then joined to their answers,
    # specs and learners, so the sort never carries the JSON columns.
    oldest = (
        select(SubmissionPart.id, SubmissionPart.submission_id)
        .join(Submission, Submission.id == SubmissionPart.submission_id)
        .join(Card, Card.id == SubmissionPart.card_id)
        .outerjoin(Deck, Deck.id == Submission.deck_id)
        # "= true", the predicate a partial index of pending parts would be written with.
        .where(SubmissionPart.pending == true(), SubmissionPart.kind == "text", *_visible(grader))
        # Submission ids grow with time: the oldest first, in an order an index of pending parts can give.
        .order_by(SubmissionPart.submission_id, SubmissionPart.id)
        .limit(max(1, min(limit, MAX_QUEUE + 1)))
    )
    if after is not None:
        last_submission, last_part = after
        oldest = oldest.where(
            or_(
                SubmissionPart.submission_id > last_submission,
                and_(SubmissionPart.submission_id == last_submission, SubmissionPart.id > last_part),
            )
        )
    if deck_slug is not None:
        oldest = oldest.where(Submission.deck_id == _deck_id(session, deck_slug))
    if card_slug is not None:
        card_id = session.scalar(select(Card.id).where(Card.slug == card_slug))
        if card_id is None:
            raise NotFound(f"no card '{card_slug}'")
        oldest = oldest.where(SubmissionPart.card_id == card_id)
    chosen = oldest.subquery()
    query = (
        select(
            SubmissionPart.id,
            SubmissionPart.submission_id,
            SubmissionPart.part_key,
            Submission.answers,
            Submission.results,
            Submission.attempt,
            Submission.created_at,
            CardVersion.spec,
            Card.slug.label("card_slug"),
            Card.title.label("card_title"),
            Deck.slug.label("deck_slug"),
            Learner.id.label("learner_id"),
            Learner.external_id,
            User.email,
        )
        .join(chosen, chosen.c.id == SubmissionPart.id)
        .join(Submission, Submission.id == SubmissionPart.submission_id)
        .join(Card, Card.id == SubmissionPart.card_id)
        .join(CardVersion, CardVersion.id == Submission.card_version_id)
        .join(Learner, Learner.id == Submission.learner_id)
        .outerjoin(User, User.id == Learner.user_id)
        .outerjoin(Deck, Deck.id == Submission.deck_id)
        .order_by(chosen.c.submission_id, chosen.c.id)
    )
    items = []
    for row in session.execute(query):
        spec = stored_spec(row.spec)
        labels = {part.key: part.label for part in spec.parts}
        model_answer = next(
            (part.get("model_answer") for part in row.results.get("parts", ()) if part.get("key") == row.part_key),
            None,
        )
        answer = row.answers.get(row.part_key)
        items.append(
            QueueItem(
                submission_id=row.submission_id,
                part_id=row.id,
                part_key=row.part_key,
                part_label=labels.get(row.part_key, row.part_key),
                card_slug=row.card_slug,
                card_title=row.card_title,
                deck_slug=row.deck_slug,
                learner=learner_name(learner_id=row.learner_id, email=row.email, external_id=row.external_id),
                attempt=row.attempt,
                created_at=row.created_at,
                answer=answer if isinstance(answer, str) else "",
                model_answer=model_answer if isinstance(model_answer, str) else None,
            )
        )
    return items


def _checked_score(score: float) -> float:
    if isinstance(score, bool) or not isinstance(score, int | float) or not math.isfinite(score):
        raise GradingError("score", "must be a number from 0 to 1")
    if not 0.0 <= score <= 1.0:
        raise GradingError("score", f"must be from 0 to 1 (1 is full marks), not {score:g}")
    return float(score)


def _checked_comment(comment: str) -> str:
    text = comment.strip()
    if len(text) > MAX_COMMENT:
        raise GradingError("comment", f"has {len(text):,} characters; at most {MAX_COMMENT:,} are allowed")
    return text


def may_grade(grader: User, *, card_owner_id: int | None, deck_owner_id: int | None) -> bool:
    """Whether ``grader`` grades a submission to a card with this owner, in a deck with this owner (or none)."""
    if is_admin(grader):
        return True
    if not is_instructor(grader):
        return False
    return grader.id in (card_owner_id, deck_owner_id)


def grade_part(
    *, session: Session, grader: User, submission_id: int, part_key: str, score: float, comment: str = ""
) -> GradedPart:
    """Store ``grader``'s ``score`` (0 to 1) and ``comment`` on a written part and re-score its submission.

    Raises NotFound (no such submission or part), Forbidden (not the grader's card or deck), or GradingError
    (a score outside [0, 1], a part that is graded automatically, a comment that is too long); nothing is
    written then. Grading a part again replaces the earlier grade.
    """
    value = _checked_score(score)
    text = _checked_comment(comment)
    try:
        found = session.execute(
            select(Submission, CardVersion.spec, Card.owner_id, Deck.owner_id)
            .join(CardVersion, CardVersion.id == Submission.card_version_id)
            .join(Card, Card.id == Submission.card_id)
            .outerjoin(Deck, Deck.id == Submission.deck_id)
            .where(Submission.id == submission_id)
            # Two graders on two parts of one submission must not overwrite each other's re-scoring.
            .with_for_update(of=Submission)
        ).one_or_none()
        if found is None:
            raise NotFound(f"no submission {submission_id}")
        submission, spec_data, card_owner_id, deck_owner_id = found
        if not may_grade(grader, card_owner_id=card_owner_id, deck_owner_id=deck_owner_id):
            raise Forbidden(f"submission {submission_id} is not on a card or deck of yours")
        current = Grade.from_dict(submission.results)
        previous_score = submission.score
        try:
            part = current.part(part_key)
        except KeyError:
            raise NotFound(f"submission {submission_id} has no part '{part_key}'") from None
        if part.kind != "text":
            raise GradingError("key", f"part '{part_key}' is a {part.kind} part, graded automatically, not by hand")
        weights = {spec_part.key: spec_part.weight for spec_part in stored_spec(spec_data).parts}
        regraded = current.with_manual(part_key, value, text, weights=weights)
        _store_manual_grade(session, submission_id, part_key, value, text, grader.id)
        submission.results = regraded.to_dict()
        submission.score = regraded.score
        submission.pending = regraded.pending
        row = session.scalars(
            select(SubmissionPart).where(
                SubmissionPart.submission_id == submission_id, SubmissionPart.part_key == part_key
            )
        ).one_or_none()
        if row is not None:
            row.score, row.correct, row.pending, row.misconception = value, value == 1.0, False, None
        # The learner's new score goes to LMS gradebooks and webhooks with this grade, in the same transaction.
        queue_submission_scores(
            session=session, learner_id=submission.learner_id, card_id=submission.card_id, deck_id=submission.deck_id
        )
        queue_regraded_webhooks(session=session, previous_scores={submission_id: previous_score}, cause="manual_grade")
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return GradedPart(
        submission_id=submission_id,
        part_key=part_key,
        score=value,
        comment=text,
        submission_score=regraded.score,
        pending=regraded.pending,
    )


def _store_manual_grade(
    session: Session, submission_id: int, part_key: str, score: float, comment: str, grader_id: int
) -> None:
    existing = session.scalars(
        select(ManualGrade).where(ManualGrade.submission_id == submission_id, ManualGrade.part_key == part_key)
    ).one_or_none()
    if existing is None:
        session.add(
            ManualGrade(
                submission_id=submission_id, part_key=part_key, score=score, comment=comment, grader_id=grader_id
            )
        )
    else:
        existing.score, existing.comment, existing.grader_id = score, comment, grader_id
    session.flush()
