"""PostgreSQL: the tallies follow inserted submissions once per statement, not once per row

Revision ID: 5f3a9c2e8b17
Revises: 9b1c4e7d2a60
Create Date: 2026-11-30 04:00:00.000000+00:00

The row triggers of the tally migration ran one PL/pgSQL call and two upserts for every submission and for every
part, so a batch of twenty submissions with four parts each made two hundred upserts of the same few tally
rows. Here an INSERT into submission or submission_part fires one statement trigger, which reads the rows it
added from its transition table and makes one grouped upsert per tally table, taking the tally rows' locks in
key order: two transactions that add submissions to the same cards wait for each other but cannot deadlock.
Deleting and updating keep their row triggers (rare: a learner deleted, a regrade, which switches them off and
adjusts the tallies itself). SQLite has no statement triggers; its row triggers stay as they are.
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from alembic import op

revision: str = "5f3a9c2e8b17"
down_revision: str | Sequence[str] | None = "9b1c4e7d2a60"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _tally_migration() -> ModuleType:
    """The tally migration's module: the per-row contributions it defined are the ones summed here."""
    path = Path(__file__).with_name("2026_11_29_running_tallies_covering_indexes.py")
    spec = importlib.util.spec_from_file_location("running_tallies_migration", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_tallies = _tally_migration()
SHARDS = _tallies.SHARDS


def _sums(values: Sequence[str]) -> str:
    return ", ".join(f"SUM({value})" for value in values)


def _added(table: str, updates: str) -> str:
    return ", ".join(f"{column} = {table}.{column} + excluded.{column}" for column in updates.split(", "))


def submissions_added() -> list[str]:
    """The statements adding a transition table ``added`` of submission rows to card_tally and card_learner.

    A learner counts once per card, on the shard of their first submission in the statement, when they had
    none before (the same test as the row trigger's, so the same answer).
    """
    columns = ", ".join(_tallies._CARD_COLUMNS)
    values = _tallies._card_values("a")
    values[1] = _tallies._flag(f"a.id = a.first_id AND NOT {_tallies._learner_active('a')}")
    return [
        f"INSERT INTO card_tally (card_id, shard, {columns}) "
        f"SELECT a.card_id, a.id % {SHARDS}, {_sums(values)} "
        "FROM (SELECT added.*, MIN(id) OVER (PARTITION BY card_id, learner_id) AS first_id FROM added) a "
        f"GROUP BY a.card_id, a.id % {SHARDS} ORDER BY 1, 2 "
        f"ON CONFLICT (card_id, shard) DO UPDATE SET {_added('card_tally', columns)}",
        "INSERT INTO card_learner (card_id, learner_id, submissions) "
        "SELECT card_id, learner_id, COUNT(*) FROM added GROUP BY card_id, learner_id ORDER BY 1, 2 "
        "ON CONFLICT (card_id, learner_id) DO UPDATE SET submissions = card_learner.submissions + excluded.submissions",
    ]


def parts_added() -> list[str]:
    """The statements adding a transition table ``added`` of submission_part rows to part_tally and answer_tally."""
    columns = ", ".join(_tallies._PART_COLUMNS)
    return [
        # Each part's submission score is looked up by its id, as a subquery per row: a join would let the
        # planner scan every submission to hash a few dozen.
        f"INSERT INTO part_tally (card_id, part_key, shard, kind, {columns}) "
        f"SELECT p.card_id, p.part_key, p.submission_id % {SHARDS}, MAX(p.kind), "
        f"{_sums(_tallies._part_values('p', 'p.y'))} "
        "FROM (SELECT added.*, (SELECT s.score FROM submission s WHERE s.id = added.submission_id) AS y "
        "FROM added) p "
        f"GROUP BY p.card_id, p.part_key, p.submission_id % {SHARDS} ORDER BY 1, 2, 3 "
        "ON CONFLICT (card_id, part_key, shard) DO UPDATE SET "
        "kind = CASE WHEN excluded.kind > part_tally.kind THEN excluded.kind ELSE part_tally.kind END, "
        f"{_added('part_tally', columns)}",
        "INSERT INTO answer_tally (card_id, part_key, answer, misconception, times) "
        "SELECT card_id, part_key, answer, COALESCE(misconception, ''), COUNT(*) FROM added p "
        f"WHERE {_tallies._wrong('p')} GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4 "
        "ON CONFLICT (card_id, part_key, answer, misconception) DO UPDATE SET "
        "times = answer_tally.times + excluded.times",
    ]


def _statement_trigger(table: str, name: str, statements: list[str]) -> list[str]:
    body = "".join(f"  {statement};\n" for statement in statements)
    return [
        f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$\nBEGIN\n{body}  RETURN NULL;\nEND\n$$",
        f"CREATE TRIGGER {name} AFTER INSERT ON {table} REFERENCING NEW TABLE AS added "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {name}()",
    ]


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    # The row triggers' functions stay: they still serve deletes and updates, for which TG_OP tells them apart.
    op.execute("DROP TRIGGER tally_submission ON submission")
    op.execute(
        "CREATE TRIGGER tally_submission AFTER DELETE ON submission FOR EACH ROW EXECUTE FUNCTION tally_submission()"
    )
    op.execute("DROP TRIGGER tally_part ON submission_part")
    op.execute("CREATE TRIGGER tally_part AFTER DELETE ON submission_part FOR EACH ROW EXECUTE FUNCTION tally_part()")
    for statement in [
        *_statement_trigger("submission", "tally_submissions_added", submissions_added()),
        *_statement_trigger("submission_part", "tally_parts_added", parts_added()),
    ]:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER tally_submissions_added ON submission")
    op.execute("DROP TRIGGER tally_parts_added ON submission_part")
    op.execute("DROP FUNCTION tally_submissions_added()")
    op.execute("DROP FUNCTION tally_parts_added()")
    op.execute("DROP TRIGGER tally_submission ON submission")
    op.execute(
        "CREATE TRIGGER tally_submission AFTER INSERT OR DELETE ON submission "
        "FOR EACH ROW EXECUTE FUNCTION tally_submission()"
    )
    op.execute("DROP TRIGGER tally_part ON submission_part")
    op.execute(
        "CREATE TRIGGER tally_part AFTER INSERT OR DELETE ON submission_part FOR EACH ROW EXECUTE FUNCTION tally_part()"
    )
