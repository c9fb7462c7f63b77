"""Analytics for a card and for a deck, computed in SQL so they stay fast with millions of submissions.

A card's figures are read from its running tallies (``app.services.card_tallies``), kept exact by triggers,
so they cost the same at any size; ``scanned_card_stats`` computes the same from the submissions. A deck's
figures are aggregates the database computes over the indexed rows: ``submission(deck_id, learner_id, card_id,
attempt, score, pending)`` covers the deck's scores, ``submission_part(card_id, part_key)`` its parts.
Python receives one row per card, per part or per frequent answer, never the submissions themselves.
The queries are shaped so that SQLite need not sort the rows it reads: histograms are counted as sums of
thresholds in the same pass as the means, and parts are grouped in the order of the index that finds them.

Discrimination is Pearson's r between a part's score and a total: for a card, each graded part of each
submission against that submission's score; for a deck, each graded part of each attempt against the
learner's deck score. The database sums n, Σx, Σy, Σxy, Σx² and Σy²; r is finished here.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, TypeAlias

from sqlalchemy import ColumnElement, Select, Subquery, case, func, literal, select
from sqlalchemy.orm import Session

from app.db.models import Card, CardVersion, Deck, DeckCard, Submission, SubmissionPart, User
from app.services.accounts import can_edit
from app.services.analytics_records import CardStats, DeckStats, PartStats, WrongAnswer
from app.services.card_tallies import card_sums, part_sums, top_wrong_answers
from app.services.catalog import stored_spec
from app.services.errors import Forbidden, NotFound
from app.services.scores import penalised_score
from app.services.stat_formulas import Bucket, at_least_columns, from_thresholds, histogram, merged, pearson

__all__ = [
    "TOP_WRONG",
    "CardStats",
    "DeckStats",
    "PartStats",
    "WrongAnswer",
    "card_stats",
    "deck_stats",
    "scanned_card_stats",
]

# A query of any columns: the helpers below add aggregates to whatever their callers select.
AnySelect: TypeAlias = Select[*tuple[Any, ...]]

TOP_WRONG: Final = 5  # the most frequent wrong answers kept per part


# --- access -----------------------------------------------------------------------------------------------


def _card(session: Session, viewer: User, slug: str) -> Card:
    card = session.scalars(select(Card).where(Card.slug == slug)).one_or_none()
    if card is None:
        raise NotFound(f"no card '{slug}'")
    if not can_edit(viewer, card.owner_id):
        raise Forbidden(f"the card '{slug}' is not yours: its statistics are for its owner and administrators")
    return card


def _deck(session: Session, viewer: User, slug: str) -> Deck:
    deck = session.scalars(select(Deck).where(Deck.slug == slug)).one_or_none()
    if deck is None:
        raise NotFound(f"no deck '{slug}'")
    if not can_edit(viewer, deck.owner_id):
        raise Forbidden(f"the deck '{slug}' is not yours: its statistics are for its owner and administrators")
    return deck


def _labels(session: Session, card_ids: Sequence[int]) -> dict[int, list[tuple[str, str, str]]]:
    """Each card's parts as (key, kind, label) in the order of its current version."""
    rows = session.execute(
        select(Card.id, CardVersion.spec)
        .join(CardVersion, CardVersion.id == Card.current_version_id)
        .where(Card.id.in_(card_ids))
    )
    return {card_id: [(p.key, p.kind, p.label) for p in stored_spec(spec).parts] for card_id, spec in rows}


# --- the queries ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Scored:
    """A pass over scores: how many, their sum, how many pending, and the histogram."""

    count: int
    total: float
    pending: int
    histogram: tuple[Bucket, ...]

    @property
    def mean(self) -> float | None:
        return self.total / self.count if self.count else None


_NO_SCORES: Final = _Scored(0, 0.0, 0, histogram([]))


def _score_columns(score: Any, pending: Any) -> list[ColumnElement[Any]]:
    """One pass over scores: how many, their sum, how many pending, and the threshold counts of a histogram."""
    return [func.count(), func.sum(score), func.sum(pending), *at_least_columns(score)]


def _read_scores(row: Sequence[Any]) -> _Scored:
    """A ``_Scored`` from the values of ``_score_columns``, in order."""
    count = int(row[0] or 0)
    return _Scored(
        count=count,
        total=float(row[1] or 0.0),
        pending=int(row[2] or 0),
        histogram=from_thresholds(count, row[3:]),
    )


def _pending_flag() -> ColumnElement[int]:
    return case((Submission.pending.is_(True), 1), else_=0)


def _correct_flag() -> ColumnElement[int]:
    return case((SubmissionPart.correct.is_(True), 1), else_=0)


@dataclass(frozen=True)
class _PartFigures:
    answered: int
    graded: int
    correct: int
    score_sum: float
    kind: str
    pairs: int
    discrimination: float | None

    @property
    def facility(self) -> float | None:
        return self.score_sum / self.graded if self.graded else None


def _only_paired(value: Any, other: Any) -> ColumnElement[Any]:
    """``value`` where ``other`` is known too: the sums behind r count complete pairs only."""
    return case((other.is_not(None), value), else_=None)


def _figures(session: Session, query: AnySelect, *, y: Any) -> dict[tuple[int, str], _PartFigures]:
    """Per (card, part) of ``query``'s part rows: the counts, the score sum, and Pearson's r of the score with ``y``."""
    x = SubmissionPart.score
    rows = session.execute(
        query.add_columns(
            func.count(),
            func.count(x),
            func.sum(_correct_flag()),
            func.sum(x),
            func.max(SubmissionPart.kind),
            func.count(x * y),
            func.sum(_only_paired(x, y)),
            func.sum(_only_paired(y, x)),
            func.sum(x * y),
            func.sum(_only_paired(x * x, y)),
            func.sum(_only_paired(y * y, x)),
        ).group_by(SubmissionPart.card_id, SubmissionPart.part_key)
    )
    figures = {}
    for row in rows:
        pairs = int(row[7] or 0)
        sums = [float(value or 0.0) for value in row[8:]]
        figures[(row[0], row[1])] = _PartFigures(
            answered=int(row[2] or 0),
            graded=int(row[3] or 0),
            correct=int(row[4] or 0),
            score_sum=float(row[5] or 0.0),
            kind=str(row[6] or ""),
            pairs=pairs,
            discrimination=pearson(pairs, *sums),
        )
    return figures


def _wrong_answers(session: Session, query: AnySelect) -> dict[tuple[int, str], list[WrongAnswer]]:
    """Per (card, part) the most frequent wrong answers of an auto-graded part, with the mistake each matched."""
    count = func.count()
    ranked = (
        query.add_columns(
            SubmissionPart.answer,
            SubmissionPart.misconception,
            count.label("n"),
            func.row_number()
            .over(
                partition_by=(SubmissionPart.card_id, SubmissionPart.part_key),
                order_by=(count.desc(), SubmissionPart.answer, func.coalesce(SubmissionPart.misconception, "")),
            )
            .label("rank"),
        )
        .where(SubmissionPart.correct.is_(False), SubmissionPart.kind != "text")
        .group_by(SubmissionPart.card_id, SubmissionPart.part_key, SubmissionPart.answer, SubmissionPart.misconception)
        .subquery()
    )
    card_id, part_key = ranked.c[0], ranked.c[1]
    rows = session.execute(
        select(card_id, part_key, ranked.c.answer, ranked.c.misconception, ranked.c.n)
        .where(ranked.c.rank <= TOP_WRONG)
        .order_by(card_id, part_key, ranked.c.rank)
    )
    found: dict[tuple[int, str], list[WrongAnswer]] = defaultdict(list)
    for card, key, answer, misconception, n in rows:
        found[(card, key)].append(WrongAnswer(answer=answer, misconception=misconception, count=int(n)))
    return found


def _parts(
    card_id: int,
    labels: list[tuple[str, str, str]],
    figures: dict[tuple[int, str], _PartFigures],
    wrong: dict[tuple[int, str], list[WrongAnswer]],
) -> tuple[PartStats, ...]:
    """The card's parts in its current order, then any part only older versions had."""
    known = {key: (kind, label) for key, kind, label in labels}
    keys = [key for key, _, _ in labels]
    keys += sorted(key for card, key in figures if card == card_id and key not in known)
    parts = []
    for key in keys:
        found = figures.get((card_id, key))
        kind, label = known.get(key, (found.kind if found else "", key))
        parts.append(
            PartStats(
                key=key,
                kind=kind,
                label=label,
                answered=found.answered if found else 0,
                graded=found.graded if found else 0,
                correct=found.correct if found else 0,
                facility=found.facility if found else None,
                discrimination=found.discrimination if found else None,
                discrimination_n=found.pairs if found else 0,
                wrong_answers=tuple(wrong.get((card_id, key), ())),
            )
        )
    return tuple(parts)


# --- card ------------------------------------------------------------------------------------------------


def card_stats(*, session: Session, viewer: User, slug: str) -> CardStats:
    """Statistics of every submission to the card ``slug``, for its owner or an administrator.

    Read from the card's running tallies (``app.services.card_tallies``): the same figures a scan of the
    submissions gives, at a cost that does not grow with them.
    Raises NotFound for an unknown card and Forbidden for a viewer who may not edit it.
    """
    card = _card(session, viewer, slug)
    sums = card_sums(session, card.id)
    figures = {
        (card.id, key): _PartFigures(
            answered=found.answered,
            graded=found.graded,
            correct=found.correct,
            score_sum=found.sx,
            kind=found.kind,
            pairs=found.graded,
            discrimination=pearson(found.graded, found.sx, found.sy, found.sxy, found.sxx, found.syy),
        )
        for key, found in part_sums(session, card.id).items()
    }
    wrong = {
        (card.id, key): [
            WrongAnswer(answer=answer, misconception=misconception, count=count)
            for answer, misconception, count in top_wrong_answers(session, card.id, key, TOP_WRONG)
        ]
        for (_, key), found in figures.items()
        if found.kind != "text" and found.correct < found.graded
    }
    return CardStats(
        slug=card.slug,
        title=card.title,
        submissions=sums.submissions,
        learners=sums.learners,
        mean_score=sums.score_sum / sums.submissions if sums.submissions else None,
        pending=sums.pending,
        parts=_parts(card.id, _labels(session, [card.id]).get(card.id, []), figures, wrong),
        histogram=from_thresholds(sums.submissions, sums.at_least),
    )


def scanned_card_stats(*, session: Session, viewer: User, slug: str) -> CardStats:
    """``card_stats`` computed from the submissions themselves: the reference the tallies are checked against."""
    card = _card(session, viewer, slug)
    by_card = Submission.card_id == card.id
    summary = _read_scores(
        session.execute(select(*_score_columns(Submission.score, _pending_flag())).where(by_card)).one()
    )
    learners = session.scalar(select(func.count(Submission.learner_id.distinct())).where(by_card)) or 0
    # The part rows carry their card: its index finds them in (card, part) order, ready for the GROUP BY.
    parts_of_card = select(SubmissionPart.card_id, SubmissionPart.part_key).where(SubmissionPart.card_id == card.id)
    figures = _figures(
        session, parts_of_card.join(Submission, Submission.id == SubmissionPart.submission_id), y=Submission.score
    )
    wrong = _wrong_answers(session, parts_of_card)
    return CardStats(
        slug=card.slug,
        title=card.title,
        submissions=summary.count,
        learners=int(learners),
        mean_score=summary.mean,
        pending=summary.pending,
        parts=_parts(card.id, _labels(session, [card.id]).get(card.id, []), figures, wrong),
        histogram=summary.histogram,
    )


# --- deck ------------------------------------------------------------------------------------------------


def _bests(deck: Deck, card_ids: Sequence[int]) -> Subquery:
    """Per learner and card of the deck: the best attempt after penalties, as ``app.services.scores`` counts it."""
    # Grouped in the order of the (deck, learner, card) index, so without a sort.
    return (
        select(
            Submission.learner_id,
            Submission.card_id,
            func.max(penalised_score(penalty=deck.penalty_per_attempt)).label("best"),
        )
        .where(Submission.deck_id == deck.id, Submission.card_id.in_(card_ids))
        .group_by(Submission.learner_id, Submission.card_id)
        .subquery()
    )


def _totals(bests: Subquery, *, card_count: int) -> Subquery:
    """Each learner's deck score: the mean of the bests over the deck's cards, a card not attempted counting 0."""
    return (
        select(bests.c.learner_id, (func.sum(bests.c.best) / float(max(card_count, 1))).label("total"))
        .group_by(bests.c.learner_id)
        .subquery()
    )


def _through_cards(session: Session, deck: Deck, card_ids: Sequence[int]) -> bool:
    """Whether to read the deck's rows through its cards' indexes rather than the deck's own.

    The part rows have no deck: reached from the deck's submissions they come in learner order and must be
    sorted to be grouped by part, while reached through their card's index they come grouped already but
    include the card's answers in other decks. Through the cards, then, when the deck holds a good share of them.
    """
    in_deck = session.scalar(
        select(func.count())
        .select_from(Submission)
        .where(Submission.deck_id == deck.id, Submission.card_id.in_(card_ids))
    )
    on_cards = session.scalar(select(func.count()).select_from(Submission).where(Submission.card_id.in_(card_ids)))
    return bool(on_cards) and 4 * (in_deck or 0) >= (on_cards or 0)


def deck_stats(*, session: Session, viewer: User, slug: str) -> DeckStats:
    """Statistics of the deck ``slug``'s submissions to its cards, overall and card by card, for its owner or an
    administrator.

    Raises NotFound for an unknown deck and Forbidden for a viewer who may not edit it.
    """
    deck = _deck(session, viewer, slug)
    cards = session.execute(
        select(Card.id, Card.slug, Card.title)
        .join(DeckCard, DeckCard.card_id == Card.id)
        .where(DeckCard.deck_id == deck.id)
        .order_by(DeckCard.position)
    ).all()
    card_ids = [card_id for card_id, _, _ in cards]
    if _through_cards(session, deck, card_ids):
        # "+ 0" keeps the planner on the card indexes: the deck is then checked row by row.
        in_deck = [Submission.card_id.in_(card_ids), Submission.deck_id + 0 == deck.id]
        parts_in_deck = [SubmissionPart.card_id.in_(card_ids), Submission.deck_id + 0 == deck.id]
    else:
        # And here "+ 0" keeps it on the deck's index, the part rows then found by their submission.
        in_deck = [Submission.deck_id == deck.id, (Submission.card_id + 0).in_(card_ids)]
        parts_in_deck = [Submission.deck_id == deck.id, (SubmissionPart.card_id + 0).in_(card_ids)]

    by_card = {
        row[0]: _read_scores(tuple(row[1:]))
        for row in session.execute(
            select(Submission.card_id, *_score_columns(Submission.score, _pending_flag()))
            .where(*in_deck)
            .group_by(Submission.card_id)
        )
    }
    # Distinct learners per card come from the (deck, learner, card) index alone.
    learners = {
        card_id: int(count)
        for card_id, count in session.execute(
            select(Submission.card_id, func.count(Submission.learner_id.distinct()))
            .where(Submission.deck_id == deck.id, Submission.card_id.in_(card_ids))
            .group_by(Submission.card_id)
        )
    }
    totals = _totals(_bests(deck, card_ids), card_count=len(cards))
    overall = _read_scores(session.execute(select(*_score_columns(totals.c.total, literal(0)))).one())

    parts = select(SubmissionPart.card_id, SubmissionPart.part_key).join(
        Submission, Submission.id == SubmissionPart.submission_id
    )
    figures = _figures(
        session,
        parts.outerjoin(totals, totals.c.learner_id == Submission.learner_id).where(*parts_in_deck),
        y=totals.c.total,
    )
    wrong = _wrong_answers(session, parts.where(*parts_in_deck))

    labels = _labels(session, card_ids)
    card_stats_list = []
    for card_id, card_slug, card_title in cards:
        summary = by_card.get(card_id, _NO_SCORES)
        card_stats_list.append(
            CardStats(
                slug=card_slug,
                title=card_title,
                submissions=summary.count,
                learners=learners.get(card_id, 0),
                mean_score=summary.mean,
                pending=summary.pending,
                parts=_parts(card_id, labels.get(card_id, []), figures, wrong),
                histogram=summary.histogram,
            )
        )
    submissions = sum(found.count for found in by_card.values())
    return DeckStats(
        slug=deck.slug,
        title=deck.title,
        submissions=submissions,
        learners=overall.count,
        mean_score=sum(found.total for found in by_card.values()) / submissions if submissions else None,
        mean_total=overall.mean,
        pending=sum(found.pending for found in by_card.values()),
        histogram=merged(found.histogram for found in by_card.values()),
        total_histogram=overall.histogram,
        cards=tuple(card_stats_list),
    )
