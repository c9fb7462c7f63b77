"""Writing graded submissions: their rows, the LMS scores and webhook messages they cause, for one or many at once.

``store_submissions`` adds everything to the caller's transaction without committing: the submission rows in
one executemany (a multi-row insert on PostgreSQL; on SQLite, which cannot promise the order of the ids a
multi-row insert returns, one prepared insert per row), their parts in one more, one query for the LMS links
they touch and one for the webhooks. ``submit`` stores one submission this way; the
submission writer (``submission_writer``) stores the submissions of many concurrent requests in one transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from app.db.models import Submission, SubmissionPart
from app.domain.cards import Variant
from app.domain.grading import Grade
from app.metrics import note_stored_submissions
from app.services.catalog import PublishedCard
from app.services.lti.ags import learners_with_card_links, queue_submission_scores
from app.services.submission_views import SubmissionView
from app.services.webhooks import queue_submission_webhooks


@dataclass(frozen=True)
class GradedSubmission:
    """A submission graded and ready to store: everything but its id."""

    learner_id: int
    card: PublishedCard
    seed: int
    answers: Mapping[str, Any]  # as the learner sent them, keys as text
    grade: Grade
    variant: Variant
    created_at: datetime
    deck_id: int | None = None
    deck_slug: str | None = None
    attempt: int = 1
    # Called with the stored submission before the commit: what it writes (the response kept for an
    # Idempotency-Key) is stored if and only if the submission is.
    on_stored: Callable[[SubmissionView], None] | None = None

    def view(self, submission_id: int) -> SubmissionView:
        return SubmissionView(
            id=submission_id,
            slug=self.card.spec.slug,
            title=self.card.spec.title,
            version=self.card.version,
            seed=self.seed,
            created_at=self.created_at,
            score=self.grade.score,
            pending=self.grade.pending,
            answers=self.answers,
            grade=self.grade,
            spec=self.card.spec,
            variant=self.variant,
            deck_slug=self.deck_slug,
            attempt=self.attempt,
        )


# Core inserts, built once: the ORM's unit of work costs several times as much for the same rows. The rows are
# not in the session afterwards, so the metrics count them explicitly (note_stored_submissions). The ids come
# back in the order of the rows: SQLAlchemy batches them into multi-row inserts where the database can say
# which id is which row's, and inserts one row at a time where it cannot (SQLite).
_INSERT_SUBMISSIONS = insert(Submission.__table__).returning(  # type: ignore[arg-type]  # a Table
    Submission.__table__.c.id, sort_by_parameter_order=True
)
_INSERT_PARTS = insert(SubmissionPart.__table__)  # type: ignore[arg-type]  # a Table, typed as FromClause


def store_submissions(*, session: Session, graded: Sequence[GradedSubmission]) -> list[SubmissionView]:
    """Add ``graded`` to the session's transaction (no commit); the stored submissions, in the same order.

    A learner that does not exist fails the insert with an IntegrityError, which the caller turns into NotFound.
    """
    if not graded:
        return []
    rows = [_submission_row(item) for item in graded]
    ids = list(session.execute(_INSERT_SUBMISSIONS, rows).scalars())
    note_stored_submissions(session, len(ids))
    stored = list(zip(graded, ids, strict=True))
    session.execute(_INSERT_PARTS, [part for item, ident in stored for part in part_rows(ident, item)])
    views = [item.view(ident) for item, ident in stored]
    _queue_scores(session, graded)
    queue_submission_webhooks(
        session=session, submissions=[(view, item.learner_id) for view, item in zip(views, graded, strict=True)]
    )
    for item, view in zip(graded, views, strict=True):
        if item.on_stored is not None:
            item.on_stored(view)
    return views


def _queue_scores(session: Session, graded: Sequence[GradedSubmission]) -> None:
    """Queue the LMS scores these submissions change, asking once which learners have links to their cards."""
    practice = [item for item in graded if item.deck_id is None]
    linked = learners_with_card_links(
        session, learner_ids={item.learner_id for item in practice}, card_ids={item.card.card_id for item in practice}
    )
    for item in graded:
        if item.deck_id is not None or (item.learner_id, item.card.card_id) in linked:
            queue_submission_scores(
                session=session,
                learner_id=item.learner_id,
                card_id=item.card.card_id,
                deck_id=item.deck_id,
                now=item.created_at,
            )


def _submission_row(item: GradedSubmission) -> dict[str, Any]:
    return {
        "learner_id": item.learner_id,
        "card_id": item.card.card_id,
        "card_version_id": item.card.version_id,
        "deck_id": item.deck_id,
        "attempt": item.attempt,
        "seed": item.seed,
        "answers": dict(item.answers),
        "results": item.grade.to_dict(),
        "score": item.grade.score,
        "pending": item.grade.pending,
        "created_at": item.created_at,
    }


def answer_text(value: Any) -> str:
    """An answer as one line of text, for analytics (the most frequent wrong answers)."""
    text = ", ".join(map(str, value)) if isinstance(value, list | tuple) else str(value)
    return " ".join(text.split())[:200]


def part_rows(submission_id: int, item: GradedSubmission) -> list[dict[str, Any]]:
    """The submission_part rows of a graded submission."""
    return [
        {
            "submission_id": submission_id,
            "card_id": item.card.card_id,
            "part_key": part.key,
            "kind": part.kind,
            "answer": answer_text(item.answers.get(part.key, "")),
            "score": part.score,
            "correct": part.correct,
            "misconception": part.misconception.code if part.misconception else None,
            "pending": part.pending,
        }
        for part in item.grade.parts
    ]
