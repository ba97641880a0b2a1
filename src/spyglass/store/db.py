"""Engine and sessions: SQLite (WAL) by default, PostgreSQL when one machine is not enough."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from spyglass.store.migrate import upgrade

_BUSY_TIMEOUT_MS = 60_000


class StoreError(Exception):
    """The database cannot be used (bad URL, unreachable, not writable); str() is a user-facing line."""


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # Let pysqlite not issue BEGIN itself: we issue BEGIN IMMEDIATE for writers (see `begin` below),
    # so two processes never deadlock upgrading a read lock to a write lock.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA journal_mode = WAL")
    cur.execute("PRAGMA synchronous = NORMAL")
    cur.execute("PRAGMA foreign_keys = ON")
    cur.close()


def _sqlite_begin(conn: Any) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str, *, migrate: bool = True) -> Engine:
    """Create the engine and bring the schema up to date (idempotent, safe with several processes)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StoreError(f"{url!r} is not a database URL") from None
    kwargs: dict[str, Any] = {}
    if parsed.get_backend_name() == "sqlite":
        db = parsed.database
        if db and db != ":memory:":
            parent = Path(db).expanduser().resolve().parent
            if not parent.is_dir():
                raise StoreError(f"cannot open {url}: folder {parent} does not exist")
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": _BUSY_TIMEOUT_MS / 1000}
    else:
        kwargs["pool_pre_ping"] = True
        kwargs["pool_size"] = 5
        kwargs["max_overflow"] = 10
    try:
        engine = create_engine(parsed, **kwargs)
    except Exception as e:  # a missing driver or a bad option: one line, not a traceback
        raise StoreError(f"cannot use {parsed.render_as_string(hide_password=True)}: {e}") from None
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
    if migrate:
        try:
            upgrade(engine)
        except OperationalError as e:
            first = (str(e.orig).strip().splitlines() or ["unknown error"])[0]  # psycopg adds hint lines
            raise StoreError(f"cannot open {parsed.render_as_string(hide_password=True)}: {first}") from None
    return engine


class Store:
    """Owns the engine and hands out transactional sessions."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._factory = sessionmaker(engine, expire_on_commit=False)
        self._local = threading.local()

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One transaction: committed on success, rolled back on any exception."""
        with self._factory() as s, s.begin():
            yield s

    def dispose(self) -> None:
        self.engine.dispose()


def open_store(url: str, *, migrate: bool = True) -> Store:
    return Store(make_engine(url, migrate=migrate))
