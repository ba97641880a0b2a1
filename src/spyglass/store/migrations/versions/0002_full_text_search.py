"""Full-text search: SQLite FTS5 (porter, prefixes) or a weighted PostgreSQL tsvector with GIN.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_SQLITE_UP = [
    # External-content table: the text lives once, in `stories`; triggers keep the index in step.
    """CREATE VIRTUAL TABLE stories_fts USING fts5(
        title, summary, content='stories', content_rowid='id',
        tokenize='porter unicode61 remove_diacritics 2', prefix='2 3')""",
    """CREATE TRIGGER stories_fts_ai AFTER INSERT ON stories BEGIN
        INSERT INTO stories_fts(rowid, title, summary) VALUES (new.id, new.title, new.summary);
    END""",
    """CREATE TRIGGER stories_fts_ad AFTER DELETE ON stories BEGIN
        INSERT INTO stories_fts(stories_fts, rowid, title, summary)
        VALUES ('delete', old.id, old.title, old.summary);
    END""",
    """CREATE TRIGGER stories_fts_au AFTER UPDATE OF title, summary ON stories BEGIN
        INSERT INTO stories_fts(stories_fts, rowid, title, summary)
        VALUES ('delete', old.id, old.title, old.summary);
        INSERT INTO stories_fts(rowid, title, summary) VALUES (new.id, new.title, new.summary);
    END""",
]
_SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS stories_fts_au",
    "DROP TRIGGER IF EXISTS stories_fts_ad",
    "DROP TRIGGER IF EXISTS stories_fts_ai",
    "DROP TABLE IF EXISTS stories_fts",
]
_PG_UP = [
    """ALTER TABLE stories ADD COLUMN search tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('english', coalesce(title, '')), 'A') ||
        setweight(to_tsvector('english', coalesce(summary, '')), 'B')) STORED""",
    "CREATE INDEX ix_stories_search ON stories USING GIN (search)",
]
_PG_DOWN = ["DROP INDEX IF EXISTS ix_stories_search", "ALTER TABLE stories DROP COLUMN IF EXISTS search"]


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    for stmt in _SQLITE_UP if dialect == "sqlite" else _PG_UP if dialect == "postgresql" else []:
        op.execute(stmt)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for stmt in _SQLITE_DOWN if dialect == "sqlite" else _PG_DOWN if dialect == "postgresql" else []:
        op.execute(stmt)
