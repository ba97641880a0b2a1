"""`spyglass search` straight through the database's own driver — the standard library's sqlite3,
or psycopg for PostgreSQL — with the same statements, ranking and cluster folding as
`store/search.py`, without importing SQLAlchemy, so the command answers in a fraction of the time
(README → Benchmarks).

It reads only, and only a database whose schema is already at the newest migration; anything
else (a missing or older database, a filter-only query, a URL with options SQLAlchemy would
interpret, any driver error) returns None, and the caller takes the full path, which migrates
and explains problems.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from spyglass.models import SearchHit
from spyglass.store.query import (
    Query,
    fold_clusters,
    fts5_expr,
    hit,
    pg_statement,
    pg_tsquery,
    sqlite_statements,
)
from spyglass.store.revision import head_revision

if TYPE_CHECKING:
    import psycopg

_PREFIX = "sqlite:///"


def sqlite_file(url: str) -> Path | None:
    """The file of a plain `sqlite:///path` URL (no query options), else None."""
    if not url.startswith(_PREFIX) or "?" in url:
        return None
    path = url[len(_PREFIX) :]
    return Path(path) if path and path != ":memory:" else None


_PG_SCHEMES = ("postgresql://", "postgresql+psycopg://")
# Query options libpq itself understands (SQLAlchemy hands them to psycopg as they are); a URL with
# any other option takes the full path, since it may mean something to SQLAlchemy alone.
_LIBPQ_OPTIONS = frozenset(
    [
        "options",
        "sslmode",
        "sslrootcert",
        "sslcert",
        "sslkey",
        "sslpassword",
        "sslcrl",
        "channel_binding",
        "gssencmode",
        "connect_timeout",
        "application_name",
        "target_session_attrs",
        "keepalives",
        "keepalives_idle",
        "keepalives_interval",
        "keepalives_count",
        "tcp_user_timeout",
        "host",
        "port",
        "dbname",
        "user",
        "password",
        "service",
        "passfile",
    ]
)


def postgres_conninfo(url: str) -> str | None:
    """The libpq URI of a SQLAlchemy `postgresql[+psycopg]://` URL, else None. The two spell
    user, password, host, port, database and libpq's own options alike (percent-encoded)."""
    for scheme in _PG_SCHEMES:
        if url.startswith(scheme):
            rest = url[len(scheme) :]
            query = rest.partition("?")[2]
            keys = {kv.partition("=")[0] for kv in query.split("&") if kv}
            return "postgresql://" + rest if keys <= _LIBPQ_OPTIONS else None
    return None


def quick_search(url: str, q: Query, limit: int = 10) -> list[SearchHit] | None:
    if q.empty:
        return None
    conninfo = postgres_conninfo(url)
    if conninfo is not None:
        return _pg_search(conninfo, q, limit)
    path = sqlite_file(url)
    if path is None or not path.is_file():
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


def _pg_search(conninfo: str, q: Query, limit: int) -> list[SearchHit] | None:
    try:
        import psycopg
    except ImportError:  # the [postgres] extra is not installed: the full path says so
        return None
    try:
        with psycopg.connect(conninfo, connect_timeout=5) as conn:
            conn.read_only = True
            version = conn.execute("SELECT version_num FROM alembic_version").fetchone()
            if version != (head_revision(),):
                return None
            hits = _pg_run(conn, pg_tsquery(q, "&"), q, limit * 3)
            if not hits and len(q.terms) + len(q.phrases) > 1:
                hits = _pg_run(conn, pg_tsquery(q, "|"), q, limit * 3)
            if not hits:
                return []
            ids = [h.story_id for h in hits]
            cluster_of: dict[int, int] = dict(
                conn.execute("SELECT id, cluster_id FROM stories WHERE id = ANY(%s)", [ids])
            )
            sizes: dict[int, int] = dict(
                conn.execute(
                    "SELECT cluster_id, count(*) FROM stories WHERE cluster_id = ANY(%s) GROUP BY cluster_id",
                    [sorted(set(cluster_of.values()))],
                )
            )
            return fold_clusters(hits, cluster_of, sizes, limit)
    except psycopg.Error:
        return None


def _pg_run(conn: psycopg.Connection[Any], tsq: str, q: Query, limit: int) -> list[SearchHit]:
    sql, params = pg_statement(tsq, q, limit)
    rows = conn.execute(sql, params).fetchall()
    return [hit(r[0], r[1], r[2], r[3], r[4], r[5], float(r[6])) for r in rows]
