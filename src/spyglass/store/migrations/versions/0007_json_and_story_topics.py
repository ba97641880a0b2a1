"""JSON as JSON, and an index of story topics.

The JSON columns (stories.matches/related, subscriptions.excludes, deliveries.topics/reasons)
become jsonb on PostgreSQL; SQLite has no JSON type and keeps them as text (SQLAlchemy's JSON
type reads and writes them there). `story_topics` holds one row per (story, topic): the
`topic:` search filter was a LIKE scan over every story's JSON, which could also match a phrase.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_JSON_COLUMNS = (
    ("stories", "matches"),
    ("stories", "related"),
    ("subscriptions", "excludes"),
    ("deliveries", "topics"),
    ("deliveries", "reasons"),
)


def upgrade() -> None:
    pg = op.get_bind().dialect.name == "postgresql"
    if pg:
        for table, column in _JSON_COLUMNS:
            op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} TYPE jsonb USING {column}::jsonb")
    op.create_table(
        "story_topics",
        sa.Column(
            "story_id", sa.Integer(), sa.ForeignKey("stories.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("slug", sa.String(80), primary_key=True),
    )
    op.create_index("ix_story_topics_slug", "story_topics", ["slug", "story_id"])
    if pg:
        op.execute(
            "INSERT INTO story_topics (story_id, slug) "
            "SELECT s.id, k FROM stories s, jsonb_object_keys(s.matches) AS k WHERE length(k) <= 80"
        )
    else:
        op.execute(
            "INSERT INTO story_topics (story_id, slug) "
            "SELECT s.id, j.key FROM stories s, json_each(s.matches) AS j "
            "WHERE json_valid(s.matches) AND length(j.key) <= 80"
        )


def downgrade() -> None:
    op.drop_index("ix_story_topics_slug", table_name="story_topics")
    op.drop_table("story_topics")
    if op.get_bind().dialect.name == "postgresql":
        for table, column in _JSON_COLUMNS:
            op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} TYPE text USING {column}::text")
