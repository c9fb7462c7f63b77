"""A card's statistics read from its running tallies: a few dozen rows, whatever the number of submissions.

Why tallies rather than a cache or a periodic refresh: the statistics must equal what a scan of the submissions
gives at every moment (tests compare both after inserts, manual grades, regrades and deletions), and every
figure of a card's page is a sum: counts, score sums, threshold counts of the histogram, the sums behind
Pearson's r, and counts per wrong answer. A sum can be kept exact by adding each row's share when the row is
written and taking it back out when the row changes or goes. Triggers in the database do that (see the
migration that created the tables), so no write path can forget it. Distinct learners are the one figure that
is not a sum: ``card_learner`` counts each learner's submissions to the card, and the card's learner count moves
when such a count leaves or returns to zero.

Each card's sums are split over a few shards (by submission id) so concurrent submissions to one card do not
queue on one row; the queries below add the shards up.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.db.models import AnswerTally, CardTally, PartTally

AT_LEAST: Final = tuple(getattr(CardTally, f"at_least_{k}") for k in range(1, 10))


@dataclass(frozen=True)
class CardSums:
    submissions: int
    learners: int
    score_sum: float
    pending: int
    at_least: tuple[int, ...]  # scores at or above 0.1, 0.2, ... 0.9


@dataclass(frozen=True)
class PartSums:
    kind: str
    answered: int
    graded: int  # also the number of (part score, submission score) pairs: a submission always has a score
    correct: int
    sx: float
    sxx: float
    sy: float
    syy: float
    sxy: float


def card_sums(session: Session, card_id: int) -> CardSums:
    """The card's totals over its shards."""
    row = session.execute(
        select(
            func.sum(CardTally.submissions),
            func.sum(CardTally.learners),
            func.sum(CardTally.score_sum),
            func.sum(CardTally.pending),
            *(func.sum(column) for column in AT_LEAST),
        ).where(CardTally.card_id == card_id)
    ).one()
    return CardSums(
        submissions=int(row[0] or 0),
        learners=int(row[1] or 0),
        score_sum=float(row[2] or 0.0),
        pending=int(row[3] or 0),
        at_least=tuple(int(value or 0) for value in row[4:]),
    )


def part_sums(session: Session, card_id: int) -> dict[str, PartSums]:
    """Per part key that has answers: its sums over the shards."""
    answered = func.sum(PartTally.answered)
    rows = session.execute(
        select(
            PartTally.part_key,
            func.max(PartTally.kind),
            answered,
            func.sum(PartTally.graded),
            func.sum(PartTally.correct),
            func.sum(PartTally.score_sum),
            func.sum(PartTally.sxx),
            func.sum(PartTally.sy),
            func.sum(PartTally.syy),
            func.sum(PartTally.sxy),
        )
        .where(PartTally.card_id == card_id)
        .group_by(PartTally.part_key)
        .having(answered > 0)
    )
    return {
        key: PartSums(
            kind=str(kind or ""),
            answered=int(n or 0),
            graded=int(graded or 0),
            correct=int(correct or 0),
            sx=float(sx or 0.0),
            sxx=float(sxx or 0.0),
            sy=float(sy or 0.0),
            syy=float(syy or 0.0),
            sxy=float(sxy or 0.0),
        )
        for key, kind, n, graded, correct, sx, sxx, sy, syy, sxy in rows
    }


def top_wrong_answers(session: Session, card_id: int, part_key: str, limit: int) -> list[tuple[str, str | None, int]]:
    """The part's most frequent wrong answers as (answer, misconception or None, count), most frequent first."""
    rows = session.execute(
        select(AnswerTally.answer, AnswerTally.misconception, AnswerTally.times)
        .where(AnswerTally.card_id == card_id, AnswerTally.part_key == part_key, AnswerTally.times > 0)
        # The (card, part, times) index gives the counts in order; only ties are sorted.
        .order_by(AnswerTally.times.desc(), AnswerTally.answer, AnswerTally.misconception)
        .limit(limit)
    )
    return [(answer, misconception or None, int(times)) for answer, misconception, times in rows]
