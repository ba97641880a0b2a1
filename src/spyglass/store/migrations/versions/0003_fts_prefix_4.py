"""SQLite full-text index: prefix index for 4-character prefixes too (`coun*` was a term-range scan).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_TRIGGERS = [
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


def _recreate(prefix: str) -> None:
    for stmt in (
        "DROP TRIGGER IF EXISTS stories_fts_au",
        "DROP TRIGGER IF EXISTS stories_fts_ad",
        "DROP TRIGGER IF EXISTS stories_fts_ai",
        "DROP TABLE IF EXISTS stories_fts",
    ):
        op.execute(stmt)
    op.execute(f"""CREATE VIRTUAL TABLE stories_fts USING fts5(
        title, summary, content='stories', content_rowid='id',
        tokenize='porter unicode61 remove_diacritics 2', prefix='{prefix}')""")
    op.execute("INSERT INTO stories_fts(stories_fts) VALUES ('rebuild')")  # index the stories already stored
    for stmt in _TRIGGERS:
        op.execute(stmt)


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _recreate("2 3 4")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _recreate("2 3")
