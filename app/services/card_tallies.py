"""A card's statistics read from its running tallies: a few dozen rows, whatever the number of submissions.

Why tallies rather than a cache or a periodic refresh: the statistics must equal what a scan of the submissions
gives at every moment (tests compare both after inserts, manual grades, regrades and deletions), and every
figure of a card's page is a sum: counts, score sums, threshold counts of the histogram, the sums behind
Pearson's r, and counts per wrong answer. A sum can be kept exact by adding each row's share when the row is
written and taking it back out when the row changes or goes. Triggers in the database do that (see the
migration that created the tables), so no write path can forget it; the one exception, a regrade on PostgreSQL,
adjusts them itself in one grouped statement per table (``rescore_in_bulk`` below). Distinct learners are the
one figure that is not a sum: ``card_learner`` counts each learner's submissions to the card, and the card's
learner count moves when such a count leaves or returns to zero.

Each card's sums are split over a few shards (by submission id) so concurrent submissions to one card do not
queue on one row; the queries below add the shards up.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import Connection, func, select, text
from sqlalchemy.orm import Session

from app.db.models import TALLY_SHARDS, AnswerTally, CardTally, PartTally

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


# Bulk re-scoring on PostgreSQL (a regrade): the transaction sets TALLIES_SETTING to 'off' so the row triggers
# on updates stay idle, fills the temporary tables regrade_submission (id, score) and regrade_part
# (submission_id, part_key, score, correct, misconception) with the new values, runs these statements while
# the rows still hold the old ones, then updates the rows. Each statement adds, per tally row, the sum of
# (new share − old share) of the rows changed: what the row triggers would add one row at a time. Only the
# score, correctness and misconception change (never the card, learner, answer, kind or pending flag), so
# submission counts, learners and pending counts stay as they are.
TALLIES_SETTING: Final = "tutor.update_tallies"  # the migration's name for it


def _flag(condition: str) -> str:
    return f"CASE WHEN {condition} THEN 1 ELSE 0 END"


def _at_least_delta(new: str, old: str) -> list[tuple[str, str]]:
    return [
        (f"at_least_{k}", f"SUM({_flag(f'{new} >= {k / 10!r}')} - {_flag(f'{old} >= {k / 10!r}')})")
        for k in range(1, 10)
    ]


def _card_adjustment() -> str:
    deltas = [("score_sum", "SUM(n.score - s.score)"), *_at_least_delta("n.score", "s.score")]
    return (
        "UPDATE card_tally t SET "
        + ", ".join(f"{column} = t.{column} + d.{column}" for column, _ in deltas)
        + " FROM (SELECT s.card_id, s.id % "
        + str(TALLY_SHARDS)
        + " AS shard, "
        + ", ".join(f"{sql} AS {column}" for column, sql in deltas)
        + " FROM submission s JOIN regrade_submission n ON n.id = s.id GROUP BY 1, 2) d "
        "WHERE t.card_id = d.card_id AND t.shard = d.shard"
    )


def _part_shares(x: str, correct: str, y: str) -> list[str]:
    """A part row's shares of part_tally's sums (answered apart), as the triggers count them."""
    graded = f"{x} IS NOT NULL"
    return [
        _flag(graded),
        _flag(correct),
        f"COALESCE({x}, 0)",
        f"COALESCE({x} * {x}, 0)",
        f"CASE WHEN {graded} THEN {y} ELSE 0 END",
        f"CASE WHEN {graded} THEN {y} * {y} ELSE 0 END",
        f"COALESCE({x} * {y}, 0)",
    ]


def _part_adjustment() -> str:
    columns = ["graded", "correct", "score_sum", "sxx", "sy", "syy", "sxy"]
    # Every part of a re-scored submission moves (its y does); a part not re-graded keeps its x.
    changed = "q.submission_id IS NOT NULL"
    x1, c1 = (
        f"CASE WHEN {changed} THEN q.score ELSE p.score END",
        f"CASE WHEN {changed} THEN q.correct ELSE p.correct END",
    )
    new, old = _part_shares(f"({x1})", f"({c1})", "n.score"), _part_shares("p.score", "p.correct", "s.score")
    sums = ", ".join(f"SUM({a} - {b}) AS {c}" for c, a, b in zip(columns, new, old, strict=True))
    return (
        "UPDATE part_tally t SET "
        + ", ".join(f"{c} = t.{c} + d.{c}" for c in columns)
        + f" FROM (SELECT p.card_id, p.part_key, p.submission_id % {TALLY_SHARDS} AS shard, {sums} "
        "FROM submission_part p JOIN submission s ON s.id = p.submission_id "
        "JOIN regrade_submission n ON n.id = p.submission_id "
        "LEFT JOIN regrade_part q ON q.submission_id = p.submission_id AND q.part_key = p.part_key "
        "GROUP BY 1, 2, 3) d "
        "WHERE t.card_id = d.card_id AND t.part_key = d.part_key AND t.shard = d.shard"
    )


_PARTS_CHANGED: Final = (
    "FROM submission_part p JOIN regrade_part q ON q.submission_id = p.submission_id AND q.part_key = p.part_key"
)

REGRADE_ADJUSTMENTS: Final = (
    _card_adjustment(),
    _part_adjustment(),
    # Wrong answers: the old ones counted out, the new ones in, per (answer, misconception).
    "INSERT INTO answer_tally (card_id, part_key, answer, misconception, times) "
    "SELECT card_id, part_key, answer, misconception, SUM(times) FROM ("
    f"SELECT p.card_id, p.part_key, p.answer, COALESCE(p.misconception, '') AS misconception, -1 AS times "
    f"{_PARTS_CHANGED} WHERE p.correct IS NOT NULL AND NOT p.correct AND p.kind <> 'text' "
    "UNION ALL "
    f"SELECT p.card_id, p.part_key, p.answer, COALESCE(q.misconception, ''), 1 "
    f"{_PARTS_CHANGED} WHERE q.correct IS NOT NULL AND NOT q.correct AND p.kind <> 'text'"
    ") c GROUP BY 1, 2, 3, 4 HAVING SUM(times) <> 0 "
    "ON CONFLICT (card_id, part_key, answer, misconception) DO UPDATE SET times = answer_tally.times + excluded.times",
    # No other row has a count of zero or less: the triggers remove such rows as they appear.
    "DELETE FROM answer_tally WHERE times <= 0",
)


_PART_COLUMNS: Final = ("submission_id", "part_key", "score", "correct", "misconception")


def _copy(connection: Connection, name: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """``rows`` into the temporary table ``name`` by one COPY stream: a few thousand rows at a fraction of the
    cost of as many INSERTs (each a round of binding and parsing on both sides)."""
    driver: Any = connection.connection.driver_connection
    with driver.cursor() as cursor, cursor.copy(f"COPY {name} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def rescore_in_bulk(
    *, connection: Connection, submissions: Sequence[Mapping[str, Any]], parts: Sequence[Mapping[str, Any]]
) -> None:
    """PostgreSQL: store new scores of ``submissions`` (id, score, results) and of ``parts`` (submission_id,
    part_key, score, correct, misconception), the tallies kept exact, in the connection's transaction. The new
    values go to temporary tables by COPY, the tallies are adjusted by one grouped statement per table, then each
    table is updated by one join; the row triggers stay idle for these updates (they would rewrite the same
    few tally rows once per changed row). The caller holds the submissions' rows locked."""
    connection.execute(text(f"SET LOCAL {TALLIES_SETTING} = 'off'"))
    # A few thousand rows joined to millions: index lookups, never a scan of the whole table per chunk (the
    # planner, knowing little of the temporary tables, would hash the whole of submission_part).
    for setting in ("enable_seqscan", "enable_hashjoin", "enable_mergejoin"):
        connection.execute(text(f"SET LOCAL {setting} = off"))
    connection.execute(
        text(
            "CREATE TEMPORARY TABLE regrade_submission (id bigint PRIMARY KEY, score float8, results jsonb) "
            "ON COMMIT DROP"
        )
    )
    connection.execute(
        text(
            "CREATE TEMPORARY TABLE regrade_part (submission_id bigint, part_key varchar(64), score float8, "
            "correct boolean, misconception varchar(64), PRIMARY KEY (submission_id, part_key)) ON COMMIT DROP"
        )
    )
    _copy(
        connection,
        "regrade_submission",
        ("id", "score", "results"),
        ((row["id"], row["score"], json.dumps(row["results"])) for row in submissions),
    )
    _copy(connection, "regrade_part", _PART_COLUMNS, ([row[name] for name in _PART_COLUMNS] for row in parts))
    connection.execute(text("ANALYZE regrade_submission, regrade_part"))  # a temporary table has no statistics
    for statement in REGRADE_ADJUSTMENTS:  # while the rows still hold their old values
        connection.execute(text(statement))
    connection.execute(
        text("UPDATE submission s SET score = n.score, results = n.results FROM regrade_submission n WHERE s.id = n.id")
    )
    connection.execute(
        text(
            "UPDATE submission_part p SET score = q.score, correct = q.correct, misconception = q.misconception "
            "FROM regrade_part q WHERE p.submission_id = q.submission_id AND p.part_key = q.part_key"
        )
    )
    for setting in (TALLIES_SETTING, "enable_seqscan", "enable_hashjoin", "enable_mergejoin"):
        connection.execute(text(f"RESET {setting}"))
