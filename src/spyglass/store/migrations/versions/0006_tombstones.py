"""Tombstones: hashes of pruned stories' URLs and GUIDs, so a feed that still lists one never re-adds it.

Also indexes the story id in lsh_bands and deliveries: deleting a story cascades to both, and without
an index each deletion scanned the whole table (pruning 20k stories held the write lock for seconds).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tombstones",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_tombstones_expires_at", "tombstones", ["expires_at"])
    op.create_index("ix_lsh_bands_story_id", "lsh_bands", ["story_id"])
    op.create_index("ix_deliveries_story_id", "deliveries", ["story_id"])


def downgrade() -> None:
    op.drop_index("ix_deliveries_story_id", table_name="deliveries")
    op.drop_index("ix_lsh_bands_story_id", table_name="lsh_bands")
    op.drop_index("ix_tombstones_expires_at", table_name="tombstones")
    op.drop_table("tombstones")
