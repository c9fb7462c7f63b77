"""The rows of graded submissions and their parts, and the statements that insert them.

Two ways, for the same rows and the same ids in the same order:

* Anywhere (SQLite): a Core insert of the submission rows, one prepared statement per row so the ids come
  back in the rows' order (SQLite cannot promise the order of a multi-row insert's ids), then the parts as one
  multi-row statement.
* PostgreSQL: one statement for both tables. The rows travel as a few arrays (one per column, unnested on
  the server), the ids are drawn from the sequence in the statement, and the parts join their submission by
  position. One round trip instead of three, one fixed SQL text the driver parses once, and one firing of
  each tally trigger (they run per statement there) whatever the size of the batch. Expanding a multi-row
  insert instead costs more Python time per batch than the database spends on it: hundreds of placeholders
  to rewrite, in a text that changes with the batch size and so is never cached.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import insert, text
from sqlalchemy.orm import Session

from app.db.models import Submission, SubmissionPart

if TYPE_CHECKING:
    from app.services.submission_store import GradedSubmission


def submission_row(item: GradedSubmission) -> dict[str, Any]:
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


def part_rows(item: GradedSubmission) -> list[dict[str, Any]]:
    """The submission_part rows of a graded submission, but for the submission's id."""
    return [
        {
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


def insert_submissions(session: Session, graded: Sequence[GradedSubmission]) -> list[int]:
    """Insert the rows of ``graded`` and their parts in the session's transaction; their ids, in order."""
    if session.get_bind().dialect.name == "postgresql":
        return _insert_in_one_statement(session, graded)
    ids = list(session.execute(_INSERT_SUBMISSIONS, [submission_row(item) for item in graded]).scalars())
    parts = [
        {"submission_id": ident, **row} for item, ident in zip(graded, ids, strict=True) for row in part_rows(item)
    ]
    session.execute(_INSERT_PARTS, parts)
    return ids


# Core inserts, built once: the ORM's unit of work costs several times as much for the same rows.
_INSERT_SUBMISSIONS = insert(Submission.__table__).returning(  # type: ignore[arg-type]  # a Table
    Submission.__table__.c.id, sort_by_parameter_order=True
)
# RETURNING only so that SQLAlchemy sends the parts as one multi-row statement, not one per row.
_INSERT_PARTS = insert(SubmissionPart.__table__).returning(  # type: ignore[arg-type]  # a Table
    SubmissionPart.__table__.c.id
)

# The rows travel as one JSON document (one parameter, serialised by the json module in C, sent as it is) and
# are unpacked on the server, each column to its type: (column, SQL type).
_SUBMISSION_COLUMNS: Final = (
    ("learner_id", "integer"),
    ("card_id", "integer"),
    ("card_version_id", "integer"),
    ("deck_id", "integer"),
    ("attempt", "integer"),
    ("seed", "bigint"),
    ("answers", "jsonb"),
    ("results", "jsonb"),
    ("score", "double precision"),
    ("pending", "boolean"),
    ("created_at", "timestamptz"),
)
_PART_COLUMNS: Final = (
    ("card_id", "integer"),
    ("part_key", "text"),
    ("kind", "text"),
    ("answer", "text"),
    ("score", "double precision"),
    ("correct", "boolean"),
    ("misconception", "text"),
    ("pending", "boolean"),
)


def _names(columns: Sequence[tuple[str, str]], row: str = "") -> str:
    return ", ".join(f"{row}{column}" for column, _ in columns)


def _record(columns: Sequence[tuple[str, str]]) -> str:
    return ", ".join(f"{column} {kind}" for column, kind in [*columns, ("position", "integer")])


# Each submission carries its parts and its position in the batch; ``new`` is read three times and calls
# nextval, so PostgreSQL computes it once and every reader sees the same ids.
_ONE_STATEMENT: Final = text(
    "WITH new AS ("
    " SELECT nextval('submission_id_seq') AS id, r.*"
    f" FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r({_record(_SUBMISSION_COLUMNS)}, parts jsonb)"
    "), submissions AS ("
    f" INSERT INTO submission (id, {_names(_SUBMISSION_COLUMNS)})"
    f" SELECT id, {_names(_SUBMISSION_COLUMNS)} FROM new ORDER BY position"
    "), parts AS ("
    f" INSERT INTO submission_part (submission_id, {_names(_PART_COLUMNS)})"
    f" SELECT new.id, {_names(_PART_COLUMNS, 'p.')}"
    f" FROM new CROSS JOIN LATERAL jsonb_to_recordset(new.parts) AS p({_record(_PART_COLUMNS)})"
    " ORDER BY new.position, p.position"
    ") SELECT id FROM new ORDER BY position"
)


def _insert_in_one_statement(session: Session, graded: Sequence[GradedSubmission]) -> list[int]:
    rows = [
        {
            **submission_row(item),
            "created_at": item.created_at.isoformat(),
            "position": position,
            "parts": [{**part, "position": index} for index, part in enumerate(part_rows(item))],
        }
        for position, item in enumerate(graded)
    ]
    return list(session.execute(_ONE_STATEMENT, {"rows": json.dumps(rows)}).scalars())
