"""SQLite full-text index: stories are indexed after the poll, in one transaction, not row by row.

A per-row insert trigger made FTS5 flush a new segment (prefixes and all) at every source's commit:
the largest single cost of a cold poll. Now the insert trigger only queues the story's id in
`fts_pending`, and `store.search.index_pending` indexes the queue at the end of each poll. The
delete and update triggers touch the index only for stories it holds: deleting a never-indexed row
from an external-content FTS5 table would corrupt it.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_INDEXED = "NOT EXISTS (SELECT 1 FROM fts_pending WHERE story_id = {row}.id)"

_UP = [
    "CREATE TABLE fts_pending (story_id INTEGER PRIMARY KEY)",
    "DROP TRIGGER IF EXISTS stories_fts_ai",
    "DROP TRIGGER IF EXISTS stories_fts_ad",
    "DROP TRIGGER IF EXISTS stories_fts_au",
    """CREATE TRIGGER stories_fts_ai AFTER INSERT ON stories BEGIN
        INSERT INTO fts_pending(story_id) VALUES (new.id);
    END""",
    f"""CREATE TRIGGER stories_fts_ad AFTER DELETE ON stories BEGIN
        INSERT INTO stories_fts(stories_fts, rowid, title, summary)
        SELECT 'delete', old.id, old.title, old.summary WHERE {_INDEXED.format(row="old")};
        DELETE FROM fts_pending WHERE story_id = old.id;
    END""",
    f"""CREATE TRIGGER stories_fts_au AFTER UPDATE OF title, summary ON stories
        WHEN {_INDEXED.format(row="old")} BEGIN
        INSERT INTO stories_fts(stories_fts, rowid, title, summary)
        VALUES ('delete', old.id, old.title, old.summary);
        INSERT INTO stories_fts(rowid, title, summary) VALUES (new.id, new.title, new.summary);
    END""",
]
_DOWN = [
    # Index what is queued, then go back to the per-row triggers of 0003.
    """INSERT INTO stories_fts(rowid, title, summary)
       SELECT s.id, s.title, s.summary FROM fts_pending p JOIN stories s ON s.id = p.story_id""",
    "DROP TRIGGER IF EXISTS stories_fts_ai",
    "DROP TRIGGER IF EXISTS stories_fts_ad",
    "DROP TRIGGER IF EXISTS stories_fts_au",
    "DROP TABLE fts_pending",
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


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for stmt in _UP:
            op.execute(stmt)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for stmt in _DOWN:
            op.execute(stmt)
