"""Full-text search over the story history, behind one interface for SQLite FTS5 and PostgreSQL.
The query language and SQLite's statements are in `store/query.py` (no SQLAlchemy there).

Speed: ranking every match of a common term at a million stories costs ~1 s in FTS5, so only the
newest RANK_WINDOW matches are ranked (news search favours the recent anyway). If all words
together find nothing, any word may match.
"""

from __future__ import annotations

from typing import Protocol

from sqlalchemy import func, select, text

from spyglass.models import SearchHit
from spyglass.store.db import Store
from spyglass.store.query import (
    Query,
    QueryError,
    fold_clusters,
    fts5_expr,
    hit,
    parse_query,
    pg_statement,
    pg_tsquery,
    sqlite_statements,
)
from spyglass.store.schema import StoryRow, StoryTopic

__all__ = [
    "Query",
    "QueryError",
    "index_pending",
    "parse_query",
    "search",
    "search_backend",
    "SqliteSearch",
    "PostgresSearch",
]

INDEX_CHUNK = 20_000  # stories per indexing transaction: a big import does not hold the lock for long


def index_pending(store: Store) -> int:
    """Add the stories stored since the last call to SQLite's full-text index; how many it added.

    Storing only queues a story's id (migration 0011): FTS5 writes a new index segment at every
    commit, so indexing each source's stories in its own transaction cost more than storing them.
    A poll calls this once at its end. PostgreSQL indexes as it stores (a generated column)."""
    if store.dialect != "sqlite":
        return 0
    done = 0
    while True:
        with store.write() as conn:
            upto = conn.exec_driver_sql(
                "SELECT max(story_id) FROM (SELECT story_id FROM fts_pending ORDER BY story_id LIMIT ?)",
                (INDEX_CHUNK,),
            ).scalar()
            if upto is None:
                return done
            done += conn.exec_driver_sql(
                "INSERT INTO stories_fts(rowid, title, summary) SELECT s.id, s.title, s.summary "
                "FROM fts_pending p JOIN stories s ON s.id = p.story_id WHERE p.story_id <= ? "
                "ORDER BY p.story_id",
                (upto,),
            ).rowcount
            conn.exec_driver_sql("DELETE FROM fts_pending WHERE story_id <= ?", (upto,))


class SearchBackend(Protocol):
    def search(self, q: Query, limit: int = 10) -> list[SearchHit]: ...


def search(backend: SearchBackend, store: Store, q: Query, limit: int = 10) -> list[SearchHit]:
    """Ranked hits with each story's syndicated copies folded into its best-ranked hit, so the
    same story from five outlets is one result with "+ 4 other outlets", not five results."""
    hits = backend.search(q, limit=limit * 3)
    if not hits:
        return []
    ids = [h.story_id for h in hits]
    with store.read() as s:
        cluster_of = dict(
            s.execute(select(StoryRow.id, StoryRow.cluster_id).where(StoryRow.id.in_(ids))).all()
        )
        sizes = dict(
            s.execute(
                select(StoryRow.cluster_id, func.count())
                .where(StoryRow.cluster_id.in_(set(cluster_of.values())))
                .group_by(StoryRow.cluster_id)
            ).all()
        )
    return fold_clusters(hits, cluster_of, sizes, limit)


class SqliteSearch:
    def __init__(self, store: Store) -> None:
        self.store = store

    def _run(self, expr: str, q: Query, limit: int) -> list[SearchHit]:
        window_sql, rank_sql, params = sqlite_statements(expr, q, limit)
        with self.store.reader.connect() as conn:
            lo = conn.execute(text(window_sql), params).scalar()
            if lo is None:
                return []
            rows = conn.execute(text(rank_sql), {**params, "lo": lo}).all()
        return [hit(r[0], r[1], r[2], r[3], r[4], r[5], -float(r[6])) for r in rows]

    def search(self, q: Query, limit: int = 10) -> list[SearchHit]:
        if q.empty:
            return latest(self.store, q, limit) if q.filters_only else []
        hits = self._run(fts5_expr(q, "AND"), q, limit)
        if not hits and len(q.terms) + len(q.phrases) > 1:
            hits = self._run(fts5_expr(q, "OR"), q, limit)
        return hits


class PostgresSearch:
    def __init__(self, store: Store) -> None:
        self.store = store

    def _run(self, tsq: str, q: Query, limit: int) -> list[SearchHit]:
        sql, params = pg_statement(tsq, q, limit)
        with self.store.reader.connect() as conn:
            rows = conn.exec_driver_sql(sql, params).all()
        return [hit(r[0], r[1], r[2], r[3], r[4], r[5], float(r[6])) for r in rows]

    def search(self, q: Query, limit: int = 10) -> list[SearchHit]:
        if q.empty:
            return latest(self.store, q, limit) if q.filters_only else []
        hits = self._run(pg_tsquery(q, "&"), q, limit)
        if not hits and len(q.terms) + len(q.phrases) > 1:
            hits = self._run(pg_tsquery(q, "|"), q, limit)
        return hits


def latest(store: Store, q: Query, limit: int = 10) -> list[SearchHit]:
    """The newest stories passing the query's filters (`topic:drones`, `since:7d`): no words to rank by."""
    stmt = select(
        StoryRow.id,
        StoryRow.title,
        StoryRow.original_url,
        StoryRow.provider,
        StoryRow.published_at,
        StoryRow.summary,
    )
    if q.topic:
        tagged = select(StoryTopic.story_id).where(
            StoryTopic.story_id == StoryRow.id, StoryTopic.slug == q.topic
        )
        stmt = stmt.where(tagged.exists())
    if q.since:
        stmt = stmt.where(StoryRow.published_at >= q.since)
    stmt = stmt.order_by(StoryRow.published_at.desc(), StoryRow.id.desc()).limit(limit)
    with store.read() as s:
        rows = s.execute(stmt).all()
    return [hit(r[0], r[1], r[2], r[3], r[4], _lead(r[5]), 0.0) for r in rows]


def _lead(summary: str | None, words: int = 30) -> str:
    parts = (summary or "").split()
    return " ".join(parts[:words]) + (" …" if len(parts) > words else "")


def search_backend(store: Store) -> SearchBackend:
    return PostgresSearch(store) if store.dialect == "postgresql" else SqliteSearch(store)
