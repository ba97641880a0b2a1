"""`spyglass search` on a SQLite file straight through the standard library's sqlite3: the same
statements, ranking and cluster folding as `store/search.py`, without importing SQLAlchemy, so
the command answers in a fraction of the time (README → Benchmarks).

It opens the file read-only and only when its schema is already at the newest migration; anything
else (PostgreSQL, a missing or older database, a filter-only query, any sqlite3 error) returns
None, and the caller takes the full path, which migrates and explains problems.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from urllib.parse import quote

from spyglass.models import SearchHit
from spyglass.store.query import Query, fold_clusters, fts5_expr, hit, sqlite_statements
from spyglass.store.revision import head_revision

_PREFIX = "sqlite:///"


def sqlite_file(url: str) -> Path | None:
    """The file of a plain `sqlite:///path` URL (no query options), else None."""
    if not url.startswith(_PREFIX) or "?" in url:
        return None
    path = url[len(_PREFIX) :]
    return Path(path) if path and path != ":memory:" else None


def quick_search(url: str, q: Query, limit: int = 10) -> list[SearchHit] | None:
    path = sqlite_file(url)
    if path is None or q.empty or not path.is_file():
        return None
    try:
        conn = sqlite3.connect(f"file:{quote(str(path))}?mode=ro", uri=True, timeout=2.0)
    except sqlite3.Error:
        return None
    try:
        if conn.execute("SELECT version_num FROM alembic_version").fetchone() != (head_revision(),):
            return None
        hits = _run(conn, fts5_expr(q, "AND"), q, limit * 3)
        if not hits and len(q.terms) + len(q.phrases) > 1:
            hits = _run(conn, fts5_expr(q, "OR"), q, limit * 3)
        return _fold(conn, hits, limit)
    except sqlite3.Error:
        return None
    finally:
        conn.close()


def _run(conn: sqlite3.Connection, expr: str, q: Query, limit: int) -> list[SearchHit]:
    window_sql, rank_sql, params = sqlite_statements(expr, q, limit)
    (lo,) = conn.execute(window_sql, params).fetchone()
    if lo is None:
        return []
    rows = conn.execute(rank_sql, {**params, "lo": lo}).fetchall()
    return [hit(r[0], r[1], r[2], r[3], r[4], r[5], -float(r[6])) for r in rows]


def _fold(conn: sqlite3.Connection, hits: list[SearchHit], limit: int) -> list[SearchHit]:
    if not hits:
        return []
    ids = [h.story_id for h in hits]
    marks = ",".join("?" * len(ids))
    cluster_of = dict(
        conn.execute(f"SELECT id, cluster_id FROM stories WHERE id IN ({marks})", ids).fetchall()
    )
    clusters = sorted(set(cluster_of.values()))
    cmarks = ",".join("?" * len(clusters))
    sizes = dict(
        conn.execute(
            f"SELECT cluster_id, count(*) FROM stories WHERE cluster_id IN ({cmarks}) GROUP BY cluster_id",
            clusters,
        ).fetchall()
    )
    return fold_clusters(hits, cluster_of, sizes, limit)
