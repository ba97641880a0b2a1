"""Sources: what the last poll saw, stored and skipped (and the commonest reason for a skip).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sources") as batch:
        batch.add_column(sa.Column("last_seen", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("last_stored", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("last_skipped", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("last_skip_reason", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sources") as batch:
        for name in ("last_skip_reason", "last_skipped", "last_stored", "last_seen"):
            batch.drop_column(name)
