"""initial schema: learner, card, card_version, submission

Revision ID: 082f3502abc5
Revises:
Create Date: 2026-11-29 18:54:45.509697+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "082f3502abc5"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def timestamp(name: str) -> sa.Column[sa.DateTime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False)


def upgrade() -> None:
    op.create_table(
        "learner",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("guest_id", sa.String(length=64), nullable=False),
        timestamp("created_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_learner")),
        sa.UniqueConstraint("guest_id", name=op.f("uq_learner_guest_id")),
    )
    op.create_table(
        "card",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=100), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("tags", JSON, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("builtin", sa.Boolean(), nullable=False),
        sa.Column("current_version_id", sa.Integer(), nullable=True),
        timestamp("created_at"),
        timestamp("updated_at"),
        sa.CheckConstraint("status IN ('published', 'draft', 'archived')", name=op.f("ck_card_status")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_card")),
        sa.UniqueConstraint("slug", name=op.f("uq_card_slug")),
    )
    op.create_table(
        "card_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("card_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("spec", JSON, nullable=False),
        sa.Column("spec_hash", sa.String(length=64), nullable=False),
        timestamp("created_at"),
        sa.ForeignKeyConstraint(["card_id"], ["card.id"], name=op.f("fk_card_version_card_id_card")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_card_version")),
        sa.UniqueConstraint("card_id", "number", name=op.f("uq_card_version_card_id_number")),
    )
    # card and card_version point at each other: the card's constraint can only follow the second table.
    with op.batch_alter_table("card") as batch_op:
        batch_op.create_foreign_key(
            op.f("fk_card_current_version_id_card_version"), "card_version", ["current_version_id"], ["id"]
        )
    op.create_table(
        "submission",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("learner_id", sa.Integer(), nullable=False),
        sa.Column("card_id", sa.Integer(), nullable=False),
        sa.Column("card_version_id", sa.Integer(), nullable=False),
        sa.Column("seed", sa.BigInteger(), nullable=False),
        sa.Column("answers", JSON, nullable=False),
        sa.Column("results", JSON, nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("pending", sa.Boolean(), nullable=False),
        timestamp("created_at"),
        sa.ForeignKeyConstraint(["learner_id"], ["learner.id"], name=op.f("fk_submission_learner_id_learner")),
        sa.ForeignKeyConstraint(["card_id"], ["card.id"], name=op.f("fk_submission_card_id_card")),
        sa.ForeignKeyConstraint(
            ["card_version_id"], ["card_version.id"], name=op.f("fk_submission_card_version_id_card_version")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_submission")),
    )
    op.create_index("ix_submission_learner_id_card_id", "submission", ["learner_id", "card_id"])
    op.create_index("ix_submission_learner_id_created_at", "submission", ["learner_id", "created_at"])
    op.create_index("ix_submission_card_id_created_at", "submission", ["card_id", "created_at"])
    op.create_index(op.f("ix_submission_card_version_id"), "submission", ["card_version_id"])


def downgrade() -> None:
    op.drop_table("submission")
    with op.batch_alter_table("card") as batch_op:
        batch_op.drop_constraint(op.f("fk_card_current_version_id_card_version"), type_="foreignkey")
    op.drop_table("card_version")
    op.drop_table("card")
    op.drop_table("learner")
