"""accounts, API tokens, card owners, decks, per-part results and manual grades

Revision ID: 316415736a0e
Revises: 082f3502abc5
Create Date: 2026-11-29 19:18:12.327577+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "316415736a0e"
down_revision: str | Sequence[str] | None = "082f3502abc5"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "user_account",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("session_version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("role IN ('learner', 'instructor', 'admin')", name=op.f("ck_user_account_role")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_account")),
        sa.UniqueConstraint("email", name=op.f("uq_user_account_email")),
    )
    op.create_table(
        "api_token",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("scopes", JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["user_account.id"], name=op.f("fk_api_token_user_id_user_account")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_token")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_token_token_hash")),
    )
    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_token_user_id"), ["user_id"], unique=False)

    op.create_table(
        "deck",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=100), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("max_attempts", sa.Integer(), nullable=True),
        sa.Column("penalty_per_attempt", sa.Float(), nullable=False),
        sa.Column("show_solution", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("builtin", sa.Boolean(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "show_solution IN ('always', 'after_correct', 'after_due')", name=op.f("ck_deck_show_solution")
        ),
        sa.CheckConstraint("status IN ('published', 'draft', 'archived')", name=op.f("ck_deck_status")),
        sa.ForeignKeyConstraint(["owner_id"], ["user_account.id"], name=op.f("fk_deck_owner_id_user_account")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deck")),
        sa.UniqueConstraint("slug", name=op.f("uq_deck_slug")),
    )
    with op.batch_alter_table("deck", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_deck_owner_id"), ["owner_id"], unique=False)

    op.create_table(
        "deck_card",
        sa.Column("deck_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("card_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["card_id"], ["card.id"], name=op.f("fk_deck_card_card_id_card")),
        sa.ForeignKeyConstraint(["deck_id"], ["deck.id"], name=op.f("fk_deck_card_deck_id_deck"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("deck_id", "position", name=op.f("pk_deck_card")),
        sa.UniqueConstraint("deck_id", "card_id", name=op.f("uq_deck_card_deck_id_card_id")),
    )
    with op.batch_alter_table("deck_card", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_deck_card_card_id"), ["card_id"], unique=False)

    op.create_table(
        "manual_grade",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("submission_id", sa.Integer(), nullable=False),
        sa.Column("part_key", sa.String(length=64), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("grader_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["grader_id"], ["user_account.id"], name=op.f("fk_manual_grade_grader_id_user_account")
        ),
        sa.ForeignKeyConstraint(
            ["submission_id"],
            ["submission.id"],
            name=op.f("fk_manual_grade_submission_id_submission"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_manual_grade")),
        sa.UniqueConstraint("submission_id", "part_key", name=op.f("uq_manual_grade_submission_id_part_key")),
    )
    op.create_table(
        "submission_part",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("submission_id", sa.Integer(), nullable=False),
        sa.Column("card_id", sa.Integer(), nullable=False),
        sa.Column("part_key", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("answer", sa.String(length=200), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("correct", sa.Boolean(), nullable=True),
        sa.Column("misconception", sa.String(length=64), nullable=True),
        sa.Column("pending", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["card_id"], ["card.id"], name=op.f("fk_submission_part_card_id_card")),
        sa.ForeignKeyConstraint(
            ["submission_id"],
            ["submission.id"],
            name=op.f("fk_submission_part_submission_id_submission"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_submission_part")),
        sa.UniqueConstraint("submission_id", "part_key", name=op.f("uq_submission_part_submission_id_part_key")),
    )
    with op.batch_alter_table("submission_part", schema=None) as batch_op:
        batch_op.create_index("ix_submission_part_card_id_part_key", ["card_id", "part_key"], unique=False)

    with op.batch_alter_table("card", schema=None) as batch_op:
        batch_op.add_column(sa.Column("owner_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_card_owner_id"), ["owner_id"], unique=False)
        batch_op.create_foreign_key(batch_op.f("fk_card_owner_id_user_account"), "user_account", ["owner_id"], ["id"])

    with op.batch_alter_table("card_version", schema=None) as batch_op:
        batch_op.add_column(sa.Column("author_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_card_version_author_id_user_account"), "user_account", ["author_id"], ["id"]
        )

    with op.batch_alter_table("learner", schema=None) as batch_op:
        batch_op.add_column(sa.Column("user_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("external_id", sa.String(length=255), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_learner_external_id"), ["external_id"])
        batch_op.create_unique_constraint(batch_op.f("uq_learner_user_id"), ["user_id"])
        batch_op.create_foreign_key(batch_op.f("fk_learner_user_id_user_account"), "user_account", ["user_id"], ["id"])

    with op.batch_alter_table("submission", schema=None) as batch_op:
        batch_op.add_column(sa.Column("deck_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("attempt", sa.Integer(), nullable=False, server_default="1"))
        batch_op.create_index(
            "ix_submission_deck_id_learner_id_card_id", ["deck_id", "learner_id", "card_id"], unique=False
        )
        batch_op.create_foreign_key(batch_op.f("fk_submission_deck_id_deck"), "deck", ["deck_id"], ["id"])

    _backfill_submission_parts()


def _backfill_submission_parts() -> None:
    """One submission_part row per part of every submission stored before this migration, for analytics."""
    connection = op.get_bind()
    submission = sa.table(
        "submission",
        sa.column("id", sa.Integer),
        sa.column("card_id", sa.Integer),
        sa.column("answers", JSON),
        sa.column("results", JSON),
    )
    part = sa.table(
        "submission_part",
        sa.column("submission_id", sa.Integer),
        sa.column("card_id", sa.Integer),
        sa.column("part_key", sa.String),
        sa.column("kind", sa.String),
        sa.column("answer", sa.String),
        sa.column("score", sa.Float),
        sa.column("correct", sa.Boolean),
        sa.column("misconception", sa.String),
        sa.column("pending", sa.Boolean),
    )
    rows = []
    for sub in connection.execute(sa.select(submission)):
        for result in (sub.results or {}).get("parts", []):
            given = (sub.answers or {}).get(result["key"], "")
            answer = ", ".join(map(str, given)) if isinstance(given, list) else str(given)
            misconception = result.get("misconception") or {}
            rows.append(
                {
                    "submission_id": sub.id,
                    "card_id": sub.card_id,
                    "part_key": result["key"],
                    "kind": result["kind"],
                    "answer": answer.strip()[:200],
                    "score": result.get("score"),
                    "correct": result.get("correct"),
                    "misconception": misconception.get("code"),
                    "pending": bool(result.get("pending")),
                }
            )
    if rows:
        op.bulk_insert(part, rows)


def downgrade() -> None:
    with op.batch_alter_table("submission", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_submission_deck_id_deck"), type_="foreignkey")
        batch_op.drop_index("ix_submission_deck_id_learner_id_card_id")
        batch_op.drop_column("attempt")
        batch_op.drop_column("deck_id")

    with op.batch_alter_table("learner", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_learner_user_id_user_account"), type_="foreignkey")
        batch_op.drop_constraint(batch_op.f("uq_learner_user_id"), type_="unique")
        batch_op.drop_constraint(batch_op.f("uq_learner_external_id"), type_="unique")
        batch_op.drop_column("external_id")
        batch_op.drop_column("user_id")

    with op.batch_alter_table("card_version", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_card_version_author_id_user_account"), type_="foreignkey")
        batch_op.drop_column("author_id")

    with op.batch_alter_table("card", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_card_owner_id_user_account"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_card_owner_id"))
        batch_op.drop_column("owner_id")

    with op.batch_alter_table("submission_part", schema=None) as batch_op:
        batch_op.drop_index("ix_submission_part_card_id_part_key")

    op.drop_table("submission_part")
    op.drop_table("manual_grade")
    with op.batch_alter_table("deck_card", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_deck_card_card_id"))

    op.drop_table("deck_card")
    with op.batch_alter_table("deck", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_deck_owner_id"))

    op.drop_table("deck")
    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_token_user_id"))

    op.drop_table("api_token")
    op.drop_table("user_account")
