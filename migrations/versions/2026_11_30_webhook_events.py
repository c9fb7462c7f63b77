"""Webhook events: each webhook names the events it is told of; those registered before keep submission.graded

Revision ID: 3e8a5b1d9c47
Revises: 7c2d9e4f1a38
Create Date: 2026-11-30 09:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "3e8a5b1d9c47"
down_revision: str | Sequence[str] | None = "7c2d9e4f1a38"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("webhook", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "events",
                sa.JSON().with_variant(postgresql.JSONB(), "postgresql"),
                server_default=sa.text("'[\"submission.graded\"]'"),
                nullable=False,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("webhook", schema=None) as batch_op:
        batch_op.drop_column("events")
