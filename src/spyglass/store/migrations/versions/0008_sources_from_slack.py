"""Sources a team adds from Slack (or an OPML file), and each channel's choice of sources and mutes.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sources") as batch:
        batch.add_column(sa.Column("origin", sa.String(10), nullable=False, server_default="config"))
        batch.add_column(sa.Column("url", sa.Text(), nullable=True))
        batch.add_column(sa.Column("added_by", sa.String(40), nullable=True))
        batch.add_column(sa.Column("added_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "channel_sources",
        sa.Column("channel_id", sa.String(40), primary_key=True),
        sa.Column(
            "source_id", sa.Integer(), sa.ForeignKey("sources.id", ondelete="CASCADE"), primary_key=True
        ),
    )
    op.create_table(
        "channel_mutes",
        sa.Column("channel_id", sa.String(40), primary_key=True),
        sa.Column("outlet", sa.String(200), primary_key=True),
    )


def downgrade() -> None:
    op.drop_table("channel_mutes")
    op.drop_table("channel_sources")
    with op.batch_alter_table("sources") as batch:
        for column in ("added_at", "added_by", "url", "origin"):
            batch.drop_column(column)
