"""Re-grade a card's stored submissions after its tolerances changed, a million in seconds.

A card's versions never change, so a new tolerance comes with a new version; the submissions made on older
versions keep the grades of theirs until they are re-graded here. The rule: each numeric part is graded again
with the tolerance the card's current version gives the part of the same key, against the value the
learner's own variant expects (the variant is rebuilt from the submission's version and seed, as it was
shown). Choice and multiple-choice parts and written parts, with any grade a person gave, are left as they
are; a submission's score is the weighted mean of its parts again, with its own version's weights.

Two passes. The first has the database group the numeric part rows by what their verdict depends on (version,
seed, part key, answer text, stored verdict; learners share variants and answers, so a million rows make a few
thousand groups), computes each distinct variant and parses each distinct answer once, and checks
``|s − c| ≤ atol + rtol·|c|`` for every group at once with numpy. Only the submissions with a part whose
verdict flips (or whose answer text could not be read back) go to the second pass: each flipped part is
graded by the domain's own grader (once per variant and answer) for its feedback and misconception, and the
submissions are written in bulk. A part whose verdict stays keeps its stored result as it was written. Each
chunk of writes is committed on its own: a run that stops half-way can simply be run again. The card's
running tallies follow the writes: through their triggers on SQLite; on PostgreSQL by one grouped adjustment per
table and chunk (``card_tallies.rescore_in_bulk``), as the row triggers would rewrite the same few tally rows once
per changed row. The learners whose grades changed have their new scores queued for the LMS gradebooks that
show them, and a ``submission.regraded`` message for each webhook told of re-grades, in the transaction of the
new grades (``ags.queue_regraded_scores``, ``webhooks.queue_regraded_webhooks``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import Text, and_, bindparam, cast, func, select, text, update
from sqlalchemy.orm import Session

from app.db.models import Card, CardTally, CardVersion, PartTally, Submission, SubmissionPart
from app.domain.grading import parse_number
from app.services.card_tallies import rescore_in_bulk
from app.services.errors import NotFound
from app.services.lti.ags import queue_regraded_scores
from app.services.regrade_versions import Versions, card_versions
from app.services.webhooks import queue_regraded_webhooks

CHUNK: Final = 5_000  # groups of part rows read at a time
WRITE_CHUNK: Final = 2_000  # submissions re-graded and written per transaction

Progress = Callable[[str, int, int], None]  # (stage, done, total): "checking" rows, then "writing" submissions


@dataclass(frozen=True)
class RegradeReport:
    slug: str
    submissions: int  # the submissions looked at
    parts: int  # their numeric parts checked
    now_right: int  # numeric parts that were wrong and are now right
    now_wrong: int  # and the other way
    changed: int  # submissions whose stored grade changed (or would, in a dry run)
    dry_run: bool
    lms_scores: int = 0  # scores queued for LMS gradebooks whose learners' grades changed
    webhook_messages: int = 0  # submission.regraded messages queued for webhooks told of re-grades


def _number(text: str) -> float:
    """A stored answer text read back as a number; NaN when it cannot be (cut at 200 characters, or unreadable)."""
    if len(text) >= 200:
        return math.nan
    try:
        return parse_number(text)
    except ValueError:
        return math.nan


def _flips(
    groups: Sequence[Any], versions: Versions, numbers: dict[str, float]
) -> tuple[list[NDArray[np.int64]], int, int, int]:
    """The submission ids among ``groups`` whose numeric verdict changes (or cannot be told from the answer
    text), how many part rows the groups hold, and how many of them turn right and how many wrong.

    ``groups`` are (version id, seed, part key, answer text, stored verdict, row count, submission ids joined
    by commas): the part rows that share all five are graded alike, so each group is checked once. Each
    distinct answer text is parsed once (``numbers`` is the cache), each distinct variant computed once; the
    rest is columns. Only the groups to grade again have their ids read.
    """
    version_ids, seeds, keys, texts, verdicts, counts, id_lists = zip(*groups, strict=True)
    for answer in set(texts).difference(numbers):
        numbers[answer] = _number(answer)
    for version_id, seed, key in set(zip(version_ids, seeds, keys, strict=True)):
        versions.expected_value(version_id, seed, key)  # fills the cache read below
    for version_id, key in set(zip(version_ids, keys, strict=True)):
        versions.tolerance(version_id, key)
    expected_of, tolerance_of = versions.expected, versions.tolerances
    given = np.array([numbers[text] for text in texts], dtype=float)
    expected = np.array([expected_of[triple] for triple in zip(version_ids, seeds, keys, strict=True)], dtype=float)
    bounds = np.array([tolerance_of[pair] for pair in zip(version_ids, keys, strict=True)], dtype=float)
    atol, rtol = bounds[:, 0], bounds[:, 1]
    stored = np.array([bool(verdict) for verdict in verdicts], dtype=bool)  # NULL as wrong, as it is stored
    rows = np.array(counts, dtype=np.int64)
    known = ~(np.isnan(given) | np.isnan(expected) | np.isnan(atol))
    with np.errstate(invalid="ignore"):
        finite = np.isfinite(given) & np.isfinite(expected)
        close = np.abs(given - expected) <= atol + rtol * np.abs(expected)
        right = np.where(finite, close, given == expected)  # an infinity matches only itself
    flipped = known & (right != stored)
    to_grade = [np.array(id_lists[i].split(","), dtype=np.int64) for i in np.flatnonzero(flipped | ~known)]
    return to_grade, int(rows.sum()), int(rows[flipped & right].sum()), int(rows[flipped & ~right].sum())


def _chunks_of_rows(session: Session, query: Any, size: int) -> Iterable[list[Any]]:
    """The rows of ``query`` as plain tuples straight from the driver, ``size`` at a time (a Row object per row
    would cost more than the check itself); a server-side cursor on PostgreSQL, so memory stays flat."""
    connection = session.connection()
    compiled = query.compile(dialect=connection.dialect, compile_kwargs={"render_postcompile": True})
    params: Any = compiled.params
    if compiled.positional:
        params = tuple(compiled.params[name] for name in compiled.positiontup)
    driver: Any = connection.connection.driver_connection
    cursor = driver.cursor(name="regrade") if connection.dialect.name == "postgresql" else driver.cursor()
    try:
        cursor.execute(str(compiled), params)
        while rows := cursor.fetchmany(size):
            yield rows
    finally:
        cursor.close()


def _numeric_groups(card: Card, version_id: int | None) -> Any:
    """The card's numeric part rows grouped by what their verdict depends on, with each group's submission ids:
    learners share variants and answers, so a million rows make a few thousand groups, and the database, not
    Python, walks the rows."""
    shared = (
        Submission.card_version_id,
        Submission.seed,
        SubmissionPart.part_key,
        SubmissionPart.answer,
        SubmissionPart.correct,
    )
    query = (
        select(*shared, func.count(), func.aggregate_strings(cast(Submission.id, Text), ","))
        .join(Submission, Submission.id == SubmissionPart.submission_id)
        .where(SubmissionPart.card_id == card.id, SubmissionPart.kind == "numeric")
        .group_by(*shared)
    )
    if version_id is not None:
        query = query.where(Submission.card_version_id == version_id)
    return query


def _score(parts: Sequence[Mapping[str, Any]], weights: Mapping[str, float]) -> float:
    """``grading.weighted_score`` over stored part results."""
    graded = [(weights.get(part["key"], 1.0), part["score"]) for part in parts if part.get("score") is not None]
    total = sum(weight for weight, _ in graded)
    return sum(weight * score for weight, score in graded) / total if total > 0 else 0.0


def _write(session: Session, versions: Versions, ids: Sequence[int], *, dry_run: bool) -> tuple[int, int, int]:
    """Grade the numeric parts of submissions ``ids`` again and store those whose grade changed (unless
    ``dry_run``), queueing the LMS scores and webhook messages they cause; returns how many changed, how many
    LMS scores and how many webhook messages were queued. Every other stored part result is kept as it is."""
    query = (
        select(
            Submission.id,
            Submission.score,
            Submission.card_version_id,
            Submission.seed,
            Submission.answers,
            Submission.results,
            Submission.learner_id,
            Submission.card_id,
            Submission.deck_id,
        )
        .where(Submission.id.in_(ids))
        .order_by(Submission.id)
    )
    # Locked until the commit (PostgreSQL; SQLite locks the whole database anyway): the tallies are adjusted
    # from the values read here.
    rows = session.execute(query if dry_run else query.with_for_update()).all()
    submissions: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    graded_again: set[tuple[int, int, int | None]] = set()  # (learner, card, deck) of the submissions changed
    previous_scores: dict[int, float] = {}  # submission id → its score before, of the submissions changed
    for submission_id, old_score, version_id, seed, answers, results, learner_id, card_id, deck_id in rows:
        stored_parts: list[dict[str, Any]] = results.get("parts", [])
        new_parts = []
        for part in stored_parts:
            regraded = None
            if part.get("kind") == "numeric" and versions.flips(version_id, seed, part):
                regraded = versions.numeric_result(version_id, seed, part["key"], answers.get(part["key"]))
            new_parts.append(part if regraded is None else regraded)
        if new_parts == stored_parts:
            continue
        score = _score(new_parts, versions.weights[version_id])
        graded_again.add((learner_id, card_id, deck_id))
        previous_scores[submission_id] = old_score
        submissions.append(
            {"b_id": submission_id, "b_score": score, "b_results": {**results, "score": score, "parts": new_parts}}
        )
        parts += [
            {
                "b_submission": submission_id,
                "b_key": new["key"],
                "b_score": new["score"],
                "b_correct": new["correct"],
                "b_misconception": (new.get("misconception") or {}).get("code"),
            }
            for old, new in zip(stored_parts, new_parts, strict=True)
            if new is not old and (old.get("correct"), old.get("score")) != (new["correct"], new["score"])
        ]
    if submissions and not dry_run and session.get_bind().dialect.name == "postgresql":
        rescore_in_bulk(
            connection=session.connection(),
            submissions=[
                {"id": row["b_id"], "score": row["b_score"], "results": row["b_results"]} for row in submissions
            ],
            parts=[
                {
                    "submission_id": row["b_submission"],
                    "part_key": row["b_key"],
                    "score": row["b_score"],
                    "correct": row["b_correct"],
                    "misconception": row["b_misconception"],
                }
                for row in parts
            ],
        )
    elif submissions and not dry_run:
        connection = session.connection()
        connection.execute(
            update(Submission)
            .where(Submission.id == bindparam("b_id"))
            .values(score=bindparam("b_score"), results=bindparam("b_results")),
            submissions,
        )
        if parts:
            connection.execute(
                update(SubmissionPart)
                .where(
                    and_(
                        SubmissionPart.submission_id == bindparam("b_submission"),
                        SubmissionPart.part_key == bindparam("b_key"),
                    )
                )
                .values(
                    score=bindparam("b_score"),
                    correct=bindparam("b_correct"),
                    misconception=bindparam("b_misconception"),
                ),
                parts,
            )
    if dry_run:
        session.rollback()
        return len(submissions), 0, 0
    # The learners' new scores go to LMS gradebooks and webhooks with the new grades, in the same transaction.
    lms_scores = queue_regraded_scores(session=session, changed=graded_again)
    messages = queue_regraded_webhooks(session=session, previous_scores=previous_scores, cause="regrade")
    session.commit()
    return len(submissions), lms_scores, messages


def _chunks(values: Sequence[int], size: int) -> Iterable[Sequence[int]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _sizes(session: Session, card_id: int, version_id: int | None) -> tuple[int, int]:
    """How many submissions and numeric part rows there are to check: from the card's running tallies when every
    version counts (no scan), counted otherwise."""
    if version_id is None:
        submissions = session.scalar(select(func.sum(CardTally.submissions)).where(CardTally.card_id == card_id))
        parts = session.scalar(
            select(func.sum(PartTally.answered)).where(PartTally.card_id == card_id, PartTally.kind == "numeric")
        )
        return int(submissions or 0), int(parts or 0)
    submissions = session.scalar(
        select(func.count()).where(Submission.card_id == card_id, Submission.card_version_id == version_id)
    )
    parts = session.scalar(
        select(func.count())
        .select_from(SubmissionPart)
        .join(Submission, Submission.id == SubmissionPart.submission_id)
        .where(
            SubmissionPart.card_id == card_id,
            SubmissionPart.kind == "numeric",
            Submission.card_version_id == version_id,
        )
    )
    return int(submissions or 0), int(parts or 0)


def regrade_card(
    *,
    session: Session,
    slug: str,
    version: int | None = None,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> RegradeReport:
    """Re-grade the numeric parts of every submission to card ``slug`` (or only those made on version number
    ``version``) with the current version's tolerances; with ``dry_run`` count what would change, write nothing.

    Raises NotFound for an unknown card or version.
    """
    card = session.scalars(select(Card).where(Card.slug == slug)).one_or_none()
    if card is None:
        raise NotFound(f"no card '{slug}'")
    version_id = None
    if version is not None:
        version_id = session.scalar(
            select(CardVersion.id).where(CardVersion.card_id == card.id, CardVersion.number == version)
        )
        if version_id is None:
            raise NotFound(f"the card '{slug}' has no version {version}")
    versions = card_versions(session, card)
    submissions, total_parts = _sizes(session, card.id, version_id)

    numbers: dict[str, float] = {}
    candidates: list[NDArray[np.int64]] = []
    checked = now_right = now_wrong = 0
    if session.get_bind().dialect.name == "postgresql":
        # Compiling the grouping to machine code costs more than it saves here, and with the default work_mem
        # the grouping spills to disk (the planner expects as many groups as rows); one statement, for this
        # read transaction only.
        session.execute(text("SET LOCAL jit = off"))
        session.execute(text("SET LOCAL work_mem = '64MB'"))
    for chunk in _chunks_of_rows(session, _numeric_groups(card, version_id), CHUNK):
        flagged, rows, right, wrong = _flips(chunk, versions, numbers)
        candidates += flagged
        checked += rows
        now_right += right
        now_wrong += wrong
        if progress is not None:
            progress("checking", checked, total_parts)
    session.rollback()  # the reading transaction (and its server-side cursor) ends before any write
    to_grade: list[int] = np.unique(np.concatenate(candidates)).tolist() if candidates else []

    changed = done = lms_scores = webhook_messages = 0
    for ids in _chunks(to_grade, WRITE_CHUNK):
        chunk_changed, chunk_scores, chunk_messages = _write(session, versions, ids, dry_run=dry_run)
        changed += chunk_changed
        lms_scores += chunk_scores
        webhook_messages += chunk_messages
        done += len(ids)
        if progress is not None:
            progress("writing", done, len(to_grade))
    return RegradeReport(
        slug=slug,
        submissions=submissions,
        parts=checked,
        now_right=now_right,
        now_wrong=now_wrong,
        changed=changed,
        dry_run=dry_run,
        lms_scores=lms_scores,
        webhook_messages=webhook_messages,
    )
