"""Writing graded submissions: their rows, the LMS scores and webhook messages they cause, for one or many at once.

``store_submissions`` adds everything to the caller's transaction without committing: the submission rows and
their parts (``submission_rows``: one statement on PostgreSQL, two elsewhere), one query for the LMS links they
touch and one for the webhooks. ``submit`` stores one submission this way; the
submission writer (``submission_writer``) stores the submissions of many concurrent requests in one transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from app.domain.cards import Variant
from app.domain.grading import Grade
from app.metrics import note_stored_submissions
from app.services.catalog import PublishedCard
from app.services.lti.ags import learners_with_card_links, queue_submission_scores
from app.services.submission_rows import insert_submissions
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


def store_submissions(*, session: Session, graded: Sequence[GradedSubmission]) -> list[SubmissionView]:
    """Add ``graded`` to the session's transaction (no commit); the stored submissions, in the same order.

    A learner that does not exist fails the insert with an IntegrityError, which the caller turns into NotFound.
    """
    if not graded:
        return []
    ids = insert_submissions(session, graded)
    # The rows never enter the session (Core inserts, several times cheaper than the ORM's unit of work), so
    # the metrics count them here.
    note_stored_submissions(session, len(ids))
    views = [item.view(ident) for item, ident in zip(graded, ids, strict=True)]
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
