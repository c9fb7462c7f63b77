"""running tallies of submissions per card, kept by triggers; covering and partial indexes

Revision ID: 9b1c4e7d2a60
Revises: 4de09e0f60c3
Create Date: 2026-11-29 22:20:00.000000+00:00

The tallies (card_tally, card_learner, part_tally, answer_tally) hold what a card's statistics need, so
reading them costs the same at any number of submissions. Triggers on submission and submission_part keep
them exact in the same transaction as each change; the statements are written once below and wrapped as
SQLite triggers or as PL/pgSQL trigger functions.

SQLite drops a table's triggers with the table: a later migration that rebuilds submission or submission_part
in batch mode (copy and rename) must run ``create_triggers`` again.
"""

from collections.abc import Sequence
from typing import Final

import sqlalchemy as sa
from alembic import op

revision: str = "9b1c4e7d2a60"
down_revision: str | Sequence[str] | None = "4de09e0f60c3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SHARDS: Final = 8  # app.db.models.TALLY_SHARDS
THRESHOLDS: Final = range(1, 10)  # at_least_k counts scores >= k/10


def _flag(condition: str) -> str:
    return f"CASE WHEN {condition} THEN 1 ELSE 0 END"


def _at_least(score: str) -> list[str]:
    return [_flag(f"{score} >= {k / 10!r}") for k in THRESHOLDS]


_CARD_COLUMNS: Final = ["submissions", "learners", "score_sum", "pending", *(f"at_least_{k}" for k in THRESHOLDS)]
_PART_COLUMNS: Final = ["answered", "graded", "correct", "score_sum", "sxx", "sy", "syy", "sxy"]


def _card_values(r: str) -> list[str]:
    """A submission row's contributions to card_tally, in ``_CARD_COLUMNS`` order (learners apart)."""
    return ["1", "0", f"{r}.score", _flag(f"{r}.pending"), *_at_least(f"{r}.score")]


def _learner_active(r: str) -> str:
    return (
        f"EXISTS (SELECT 1 FROM card_learner WHERE card_id = {r}.card_id "
        f"AND learner_id = {r}.learner_id AND submissions > 0)"
    )


def add_submission(r: str) -> list[str]:
    values = _card_values(r)
    values[1] = _flag(f"NOT {_learner_active(r)}")  # counted when the learner's first submission arrives
    updates = ", ".join(f"{c} = card_tally.{c} + excluded.{c}" for c in _CARD_COLUMNS)
    return [
        f"INSERT INTO card_tally (card_id, shard, {', '.join(_CARD_COLUMNS)}) "
        f"VALUES ({r}.card_id, {r}.id % {SHARDS}, {', '.join(values)}) "
        f"ON CONFLICT (card_id, shard) DO UPDATE SET {updates}",
        f"INSERT INTO card_learner (card_id, learner_id, submissions) VALUES ({r}.card_id, {r}.learner_id, 1) "
        "ON CONFLICT (card_id, learner_id) DO UPDATE SET submissions = card_learner.submissions + 1",
    ]


def remove_submission(r: str) -> list[str]:
    values = _card_values(r)
    values[1] = _flag(f"NOT {_learner_active(r)}")  # checked after the learner's count went down
    updates = ", ".join(f"{c} = {c} - {v}" for c, v in zip(_CARD_COLUMNS, values, strict=True))
    return [
        f"UPDATE card_learner SET submissions = submissions - 1 "
        f"WHERE card_id = {r}.card_id AND learner_id = {r}.learner_id",
        f"UPDATE card_tally SET {updates} WHERE card_id = {r}.card_id AND shard = {r}.id % {SHARDS}",
        f"DELETE FROM card_learner WHERE card_id = {r}.card_id AND learner_id = {r}.learner_id AND submissions <= 0",
    ]


def shift_submission_score() -> list[str]:
    """A submission's new score moves the y sums of its graded parts (their x stays)."""
    delta = "(NEW.score - OLD.score)"
    x = "(SELECT p.score FROM submission_part p WHERE p.submission_id = NEW.id AND p.part_key = part_tally.part_key)"
    return [
        f"UPDATE part_tally SET sy = sy + {delta}, syy = syy + (NEW.score * NEW.score - OLD.score * OLD.score), "
        f"sxy = sxy + {x} * {delta} "
        f"WHERE card_id = NEW.card_id AND shard = NEW.id % {SHARDS} AND part_key IN "
        "(SELECT part_key FROM submission_part WHERE submission_id = NEW.id AND score IS NOT NULL)"
    ]


def _part_values(r: str, y: str) -> list[str]:
    """A part row's contributions to part_tally, in ``_PART_COLUMNS`` order; ``y`` is its submission's score."""
    graded = f"{r}.score IS NOT NULL"
    return [
        "1",
        _flag(graded),
        _flag(f"{r}.correct"),
        f"COALESCE({r}.score, 0)",
        f"COALESCE({r}.score * {r}.score, 0)",
        f"CASE WHEN {graded} THEN {y} ELSE 0 END",
        f"CASE WHEN {graded} THEN {y} * {y} ELSE 0 END",
        f"COALESCE({r}.score * {y}, 0)",
    ]


def _submission_score(r: str) -> str:
    return f"COALESCE((SELECT s.score FROM submission s WHERE s.id = {r}.submission_id), 0)"


def _wrong(r: str) -> str:
    return f"{r}.correct IS NOT NULL AND NOT {r}.correct AND {r}.kind <> 'text'"


def _answer_key(r: str) -> str:
    return (
        f"card_id = {r}.card_id AND part_key = {r}.part_key AND answer = {r}.answer "
        f"AND misconception = COALESCE({r}.misconception, '')"
    )


def add_part(r: str) -> list[str]:
    updates = ", ".join(f"{c} = part_tally.{c} + excluded.{c}" for c in _PART_COLUMNS)
    return [
        # The submission's row is read once; it exists (the part's foreign key), and its WHERE clause also
        # keeps SQLite from reading ON CONFLICT as a join's ON.
        f"INSERT INTO part_tally (card_id, part_key, shard, kind, {', '.join(_PART_COLUMNS)}) "
        f"SELECT {r}.card_id, {r}.part_key, {r}.submission_id % {SHARDS}, {r}.kind, "
        f"{', '.join(_part_values(r, 's.score'))} FROM submission s WHERE s.id = {r}.submission_id "
        "ON CONFLICT (card_id, part_key, shard) DO UPDATE SET "
        "kind = CASE WHEN excluded.kind > part_tally.kind THEN excluded.kind ELSE part_tally.kind END, "
        f"{updates}",
        "INSERT INTO answer_tally (card_id, part_key, answer, misconception, times) "
        f"SELECT {r}.card_id, {r}.part_key, {r}.answer, COALESCE({r}.misconception, ''), 1 WHERE {_wrong(r)} "
        "ON CONFLICT (card_id, part_key, answer, misconception) DO UPDATE SET times = answer_tally.times + 1",
    ]


def remove_part(r: str) -> list[str]:
    values = _part_values(r, _submission_score(r))
    updates = ", ".join(f"{c} = {c} - {v}" for c, v in zip(_PART_COLUMNS, values, strict=True))
    return [
        f"UPDATE part_tally SET {updates} "
        f"WHERE card_id = {r}.card_id AND part_key = {r}.part_key AND shard = {r}.submission_id % {SHARDS}",
        f"UPDATE answer_tally SET times = times - 1 WHERE {_answer_key(r)} AND {_wrong(r)}",
        f"DELETE FROM answer_tally WHERE {_answer_key(r)} AND times <= 0",
    ]


_SUBMISSION_CHANGED: Final = ("score", "pending", "card_id", "learner_id")
_PART_CHANGED: Final = ("score", "correct", "kind", "answer", "misconception", "part_key", "card_id", "submission_id")
# A submission's parts go before it does, while its score is still there to take their y sums back out.
_PARTS_FIRST: Final = "DELETE FROM submission_part WHERE submission_id = OLD.id"


def _sqlite_trigger(name: str, when: str, table: str, statements: list[str], condition: str = "") -> str:
    body = "".join(f"  {statement};\n" for statement in statements)
    return f"CREATE TRIGGER {name} {when} ON {table} {condition}\nBEGIN\n{body}END"


def _sqlite_changed(columns: Sequence[str]) -> str:
    return "WHEN " + " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in columns)


# A transaction that sets this to 'off' (SET LOCAL, PostgreSQL only) adjusts the tallies for its updates itself,
# in one grouped statement per table (app.services.card_tallies.rescore_in_bulk, used by a regrade): the
# row triggers would update the same few tally rows once per changed row, each time a new row version.
TALLIES_SETTING: Final = "tutor.update_tallies"


def _postgresql_changed(columns: Sequence[str]) -> str:
    changed = " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in columns)
    return f"WHEN (current_setting('{TALLIES_SETTING}', true) IS DISTINCT FROM 'off' AND ({changed}))"


def _plpgsql(name: str, branches: list[tuple[str, list[str]]], returned: str = "NULL") -> str:
    body = "".join(
        f"  IF {test} THEN\n" + "".join(f"    {s};\n" for s in statements) + "  END IF;\n"
        for test, statements in branches
    )
    return (
        f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$\nBEGIN\n{body}  RETURN {returned};\nEND\n$$"
    )


def trigger_statements(dialect: str) -> list[str]:
    """The DDL that creates the tally triggers on ``dialect`` ("sqlite" or "postgresql")."""
    if dialect == "sqlite":
        return [
            _sqlite_trigger("tally_submission_insert", "AFTER INSERT", "submission", add_submission("NEW")),
            _sqlite_trigger("tally_submission_parts_first", "BEFORE DELETE", "submission", [_PARTS_FIRST]),
            _sqlite_trigger("tally_submission_delete", "AFTER DELETE", "submission", remove_submission("OLD")),
            _sqlite_trigger(
                "tally_submission_update",
                f"AFTER UPDATE OF {', '.join(_SUBMISSION_CHANGED)}",
                "submission",
                [*remove_submission("OLD"), *add_submission("NEW"), *shift_submission_score()],
                _sqlite_changed(_SUBMISSION_CHANGED),
            ),
            _sqlite_trigger("tally_part_insert", "AFTER INSERT", "submission_part", add_part("NEW")),
            _sqlite_trigger("tally_part_delete", "AFTER DELETE", "submission_part", remove_part("OLD")),
            _sqlite_trigger(
                "tally_part_update",
                f"AFTER UPDATE OF {', '.join(_PART_CHANGED)}",
                "submission_part",
                [*remove_part("OLD"), *add_part("NEW")],
                _sqlite_changed(_PART_CHANGED),
            ),
        ]
    removing, adding = "TG_OP IN ('UPDATE', 'DELETE')", "TG_OP IN ('INSERT', 'UPDATE')"
    return [
        _plpgsql(
            "tally_submission",
            [
                (removing, remove_submission("OLD")),
                (adding, add_submission("NEW")),
                ("TG_OP = 'UPDATE' AND OLD.score IS DISTINCT FROM NEW.score", shift_submission_score()),
            ],
        ),
        _plpgsql("tally_submission_parts_first", [("TRUE", [_PARTS_FIRST])], returned="OLD"),
        _plpgsql("tally_part", [(removing, remove_part("OLD")), (adding, add_part("NEW"))]),
        "CREATE TRIGGER tally_submission AFTER INSERT OR DELETE ON submission "
        "FOR EACH ROW EXECUTE FUNCTION tally_submission()",
        f"CREATE TRIGGER tally_submission_update AFTER UPDATE ON submission FOR EACH ROW "
        f"{_postgresql_changed(_SUBMISSION_CHANGED)} EXECUTE FUNCTION tally_submission()",
        "CREATE TRIGGER tally_submission_parts_first BEFORE DELETE ON submission "
        "FOR EACH ROW EXECUTE FUNCTION tally_submission_parts_first()",
        "CREATE TRIGGER tally_part AFTER INSERT OR DELETE ON submission_part "
        "FOR EACH ROW EXECUTE FUNCTION tally_part()",
        f"CREATE TRIGGER tally_part_update AFTER UPDATE ON submission_part FOR EACH ROW "
        f"{_postgresql_changed(_PART_CHANGED)} EXECUTE FUNCTION tally_part()",
    ]


def create_triggers() -> None:
    for statement in trigger_statements(op.get_bind().dialect.name):
        op.execute(statement)


def drop_triggers() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in (
            "tally_submission_insert",
            "tally_submission_parts_first",
            "tally_submission_delete",
            "tally_submission_update",
            "tally_part_insert",
            "tally_part_delete",
            "tally_part_update",
        ):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        return
    for name in ("tally_submission", "tally_submission_update", "tally_submission_parts_first"):
        op.execute(f"DROP TRIGGER IF EXISTS {name} ON submission")
    for name in ("tally_part", "tally_part_update"):
        op.execute(f"DROP TRIGGER IF EXISTS {name} ON submission_part")
    for name in ("tally_submission", "tally_submission_parts_first", "tally_part"):
        op.execute(f"DROP FUNCTION IF EXISTS {name}()")


def backfill_statements() -> list[str]:
    """Tallies of the submissions already stored, in a few grouped passes (run before the triggers exist)."""
    at_least = ", ".join(f"SUM({v})" for v in _at_least("score"))
    part_sums = ", ".join(
        [
            "COUNT(*)",
            f"SUM({_flag('p.score IS NOT NULL')})",
            f"SUM({_flag('p.correct')})",
            "COALESCE(SUM(p.score), 0)",
            "COALESCE(SUM(p.score * p.score), 0)",
            "COALESCE(SUM(CASE WHEN p.score IS NOT NULL THEN s.score END), 0)",
            "COALESCE(SUM(CASE WHEN p.score IS NOT NULL THEN s.score * s.score END), 0)",
            "COALESCE(SUM(p.score * s.score), 0)",
        ]
    )
    return [
        "INSERT INTO card_learner (card_id, learner_id, submissions) "
        "SELECT card_id, learner_id, COUNT(*) FROM submission GROUP BY card_id, learner_id",
        f"INSERT INTO card_tally (card_id, shard, {', '.join(_CARD_COLUMNS)}) "
        f"SELECT card_id, id % {SHARDS}, COUNT(*), 0, SUM(score), SUM({_flag('pending')}), {at_least} "
        f"FROM submission GROUP BY card_id, id % {SHARDS}",
        # Each card's learners are counted once, on its lowest shard.
        "UPDATE card_tally SET learners = (SELECT COUNT(*) FROM card_learner l WHERE l.card_id = card_tally.card_id) "
        "WHERE shard = (SELECT MIN(t.shard) FROM card_tally t WHERE t.card_id = card_tally.card_id)",
        f"INSERT INTO part_tally (card_id, part_key, shard, kind, {', '.join(_PART_COLUMNS)}) "
        f"SELECT p.card_id, p.part_key, p.submission_id % {SHARDS}, MAX(p.kind), {part_sums} "
        "FROM submission_part p JOIN submission s ON s.id = p.submission_id "
        f"GROUP BY p.card_id, p.part_key, p.submission_id % {SHARDS}",
        "INSERT INTO answer_tally (card_id, part_key, answer, misconception, times) "
        "SELECT card_id, part_key, answer, COALESCE(misconception, ''), COUNT(*) FROM submission_part p "
        f"WHERE {_wrong('p')} GROUP BY card_id, part_key, answer, COALESCE(misconception, '')",
    ]


def upgrade() -> None:
    with op.batch_alter_table("submission", schema=None) as batch_op:
        batch_op.drop_index("ix_submission_learner_id_card_id")
        batch_op.drop_index("ix_submission_deck_id_learner_id_card_id")
        batch_op.create_index("ix_submission_learner_id_card_id_score", ["learner_id", "card_id", "score"])
        batch_op.create_index(
            "ix_submission_deck_id_learner_id_card_id_attempt_score_pending",
            ["deck_id", "learner_id", "card_id", "attempt", "score", "pending"],
        )
    with op.batch_alter_table("submission_part", schema=None) as batch_op:
        batch_op.create_index(
            "ix_submission_part_pending",
            ["submission_id", "id"],
            sqlite_where=sa.text("pending = 1"),
            postgresql_where=sa.text("pending = true"),
        )

    def card_key() -> sa.Column[int]:
        return sa.Column("card_id", sa.Integer(), nullable=False)

    def counts(*names: str) -> list[sa.Column[int]]:
        return [sa.Column(name, sa.Integer(), nullable=False) for name in names]

    def sums(*names: str) -> list[sa.Column[float]]:
        return [sa.Column(name, sa.Float(), nullable=False) for name in names]

    def card_fk(table: str) -> sa.ForeignKeyConstraint:
        return sa.ForeignKeyConstraint(
            ["card_id"], ["card.id"], name=op.f(f"fk_{table}_card_id_card"), ondelete="CASCADE"
        )

    op.create_table(
        "card_tally",
        card_key(),
        sa.Column("shard", sa.Integer(), nullable=False),
        *counts("submissions", "learners"),
        *sums("score_sum"),
        *counts("pending", *(f"at_least_{k}" for k in THRESHOLDS)),
        card_fk("card_tally"),
        sa.PrimaryKeyConstraint("card_id", "shard", name=op.f("pk_card_tally")),
    )
    op.create_table(
        "card_learner",
        card_key(),
        sa.Column("learner_id", sa.Integer(), nullable=False),
        *counts("submissions"),
        card_fk("card_learner"),
        sa.ForeignKeyConstraint(
            ["learner_id"], ["learner.id"], name=op.f("fk_card_learner_learner_id_learner"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("card_id", "learner_id", name=op.f("pk_card_learner")),
    )
    op.create_table(
        "part_tally",
        card_key(),
        sa.Column("part_key", sa.String(length=64), nullable=False),
        sa.Column("shard", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        *counts("answered", "graded", "correct"),
        *sums("score_sum", "sxx", "sy", "syy", "sxy"),
        card_fk("part_tally"),
        sa.PrimaryKeyConstraint("card_id", "part_key", "shard", name=op.f("pk_part_tally")),
    )
    op.create_table(
        "answer_tally",
        card_key(),
        sa.Column("part_key", sa.String(length=64), nullable=False),
        sa.Column("answer", sa.String(length=200), nullable=False),
        sa.Column("misconception", sa.String(length=64), nullable=False),
        *counts("times"),
        card_fk("answer_tally"),
        sa.PrimaryKeyConstraint("card_id", "part_key", "answer", "misconception", name=op.f("pk_answer_tally")),
    )
    with op.batch_alter_table("answer_tally", schema=None) as batch_op:
        batch_op.create_index("ix_answer_tally_card_id_part_key_times", ["card_id", "part_key", "times"])

    for statement in backfill_statements():
        op.execute(statement)
    create_triggers()


def downgrade() -> None:
    drop_triggers()
    with op.batch_alter_table("answer_tally", schema=None) as batch_op:
        batch_op.drop_index("ix_answer_tally_card_id_part_key_times")
    op.drop_table("answer_tally")
    op.drop_table("part_tally")
    op.drop_table("card_learner")
    op.drop_table("card_tally")
    with op.batch_alter_table("submission_part", schema=None) as batch_op:
        batch_op.drop_index("ix_submission_part_pending")
    with op.batch_alter_table("submission", schema=None) as batch_op:
        batch_op.drop_index("ix_submission_deck_id_learner_id_card_id_attempt_score_pending")
        batch_op.drop_index("ix_submission_learner_id_card_id_score")
        batch_op.create_index("ix_submission_deck_id_learner_id_card_id", ["deck_id", "learner_id", "card_id"])
        batch_op.create_index("ix_submission_learner_id_card_id", ["learner_id", "card_id"])
