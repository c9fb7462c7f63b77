"""Signed-out sessions: a session cookie's id, once signed out, is refused until the cookie would expire

Revision ID: 7c2d9e4f1a38
Revises: 5f3a9c2e8b17
Create Date: 2026-11-30 07:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "7c2d9e4f1a38"
down_revision: str | Sequence[str] | None = "5f3a9c2e8b17"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ended_session",
        sa.Column("session_id", sa.String(length=64), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("session_id", name=op.f("pk_ended_session")),
    )
    with op.batch_alter_table("ended_session", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ended_session_ends_at"), ["ends_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("ended_session", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ended_session_ends_at"))
    op.drop_table("ended_session")
