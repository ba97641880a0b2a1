"""Engine and sessions: SQLite (WAL) by default, PostgreSQL when one machine is not enough."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from spyglass.defaults import COMMAND_WAIT
from spyglass.errors import StoreBusy, StoreError, StoreUnwritable
from spyglass.store.migrate import upgrade

_BUSY_TIMEOUT_MS = 60_000


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # Let pysqlite not issue BEGIN itself: we issue BEGIN IMMEDIATE for writers (see `begin` below),
    # so two processes never deadlock upgrading a read lock to a write lock.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
    # Takes effect only while the file is still empty: new databases give pruned pages back
    # (retention.py); older ones need one `spyglass db prune --vacuum`.
    cur.execute("PRAGMA auto_vacuum = INCREMENTAL")
    cur.execute("PRAGMA journal_mode = WAL")
    cur.execute("PRAGMA synchronous = NORMAL")
    cur.execute("PRAGMA foreign_keys = ON")
    # A checkpoint (copying the WAL back into the file, with two fsyncs) every 1,000 pages, SQLite's
    # default, was half of all commit time of a cold poll; every 8,000 (32 MB) it is a few per poll.
    # The WAL file is cut back to 32 MB after each, so a big poll does not leave a big file behind.
    cur.execute("PRAGMA wal_autocheckpoint = 8000")
    cur.execute("PRAGMA journal_size_limit = 33554432")
    cur.close()


def _sqlite_begin(conn: Any) -> None:
    opts = conn.get_execution_options()
    if opts.get("spyglass_read"):
        conn.exec_driver_sql("BEGIN")  # deferred: in WAL mode a reader never waits for a writer
        return
    wait_ms = int(opts.get("spyglass_wait_ms", _BUSY_TIMEOUT_MS))
    info = conn.connection.info  # per pooled DB-API connection: set the timeout only when it changes
    if info.get("busy_ms") != wait_ms:
        conn.exec_driver_sql(f"PRAGMA busy_timeout = {wait_ms}")
        info["busy_ms"] = wait_ms
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def _pg_begin(conn: Any) -> None:
    wait_ms = conn.get_execution_options().get("spyglass_wait_ms")
    if wait_ms is not None:  # row locks are PostgreSQL's only waits here; SET LOCAL ends with the transaction
        conn.exec_driver_sql(f"SET LOCAL lock_timeout = {int(wait_ms)}")


# What SQLite and PostgreSQL say when the storage, not the statement, is the problem, and what to do.
_STORAGE_FAILURES = (
    ("database or disk is full", "the disk is full; free some space (what is already stored is kept)"),
    (
        "attempt to write a readonly database",
        "the database is read-only; check the permissions of the file and its folder, and that the file system is mounted read-write",
    ),
    ("disk i/o error", "a disk I/O error; check the disk and the file system"),
    (
        "unable to open database file",
        "the database file cannot be opened; check that its folder exists and is writable",
    ),
)
_PG_STORAGE_FAILURES = {
    "53100": "PostgreSQL's disk is full; free some space on the server",
    "25006": "the PostgreSQL server is read-only (a standby?); point DATABASE_URL at the primary",
}


def storage_failure(e: BaseException, url: str | None = None) -> str | None:
    """A one-line explanation when ``e`` is the storage refusing work, else None.

    With the SQLite URL, a full disk is recognised even where SQLite only says "disk I/O error"
    (it does when it cannot create its -wal or -shm file)."""
    orig = getattr(e, "orig", e)
    said = str(orig).lower()
    for needle, reason in _STORAGE_FAILURES:
        if needle in said:
            return _DISK_FULL if _no_room(url) else reason
    return _PG_STORAGE_FAILURES.get(str(getattr(orig, "sqlstate", "") or ""))


_DISK_FULL = _STORAGE_FAILURES[0][1]


def _no_room(url: str | None) -> bool:
    if not url:
        return False
    try:
        db = make_url(url).database
        if not db or db == ":memory:":
            return False
        return shutil.disk_usage(Path(db).expanduser().parent).free < 64 * 1024
    except (ArgumentError, OSError):
        return False


def _is_busy(e: DBAPIError) -> bool:
    orig = e.orig
    return (
        "database is locked" in str(orig) or getattr(orig, "sqlstate", None) == "55P03"
    )  # lock_not_available


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
    else:
        event.listen(engine, "begin", _pg_begin)
    if migrate:
        try:
            upgrade(engine)
        except OperationalError as e:
            first = (str(e.orig).strip().splitlines() or ["unknown error"])[0]  # psycopg adds hint lines
            first = storage_failure(e, url) or first
            raise StoreError(f"cannot open {parsed.render_as_string(hide_password=True)}: {first}") from None
    return engine


# One lock per SQLite file per process, taken around every write session. Threads of one process
# (the outbox drains 20 channels at once) then queue here and take turns at once, instead of in
# SQLite's busy handler, which sleeps up to 100 ms between tries: 20 threads posting to the stand-in
# Slack managed 86 posts a second that way. Other processes still meet SQLite's own lock.
_WRITE_LOCKS: dict[str, threading.RLock] = {}
_WRITE_LOCKS_GUARD = threading.Lock()


def _write_lock(engine: Engine) -> threading.RLock | None:
    db = engine.url.database
    if engine.dialect.name != "sqlite" or not db or db == ":memory:":
        return None
    key = str(Path(db).expanduser().resolve())
    with _WRITE_LOCKS_GUARD:
        return _WRITE_LOCKS.setdefault(key, threading.RLock())


class Store:
    """Owns the engine and hands out transactional sessions."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._writing = _write_lock(engine)
        # The same pool under other options, read by the begin listeners above.
        self.reader = engine.execution_options(spyglass_read=True)
        self._factory = sessionmaker(engine, expire_on_commit=False)
        self._read_factory = sessionmaker(self.reader, expire_on_commit=False)
        self._quick_factory = sessionmaker(
            engine.execution_options(spyglass_wait_ms=int(COMMAND_WAIT * 1000)), expire_on_commit=False
        )

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def session(self, *, quick: bool = False) -> Iterator[Session]:
        """One write transaction: committed on success, rolled back on any exception.

        quick: wait at most COMMAND_WAIT for another writer, then raise StoreBusy (for Slack commands)."""
        with self._turn(quick):
            try:
                with (self._quick_factory if quick else self._factory)() as s, s.begin():
                    yield s
            except DBAPIError as e:
                if quick and _is_busy(e):
                    raise StoreBusy("the database is busy with another writer") from e
                self._explain(e)
                raise

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One write transaction on a bare connection, for a hot statement that needs no ORM (a
        session's bookkeeping is most of the cost of a one-row UPDATE: ~0.9 ms against ~0.1)."""
        with self._turn(False):
            try:
                with self.engine.begin() as conn:
                    yield conn
            except DBAPIError as e:
                self._explain(e)
                raise

    @contextmanager
    def _turn(self, quick: bool) -> Iterator[None]:
        """This process's turn at writing an SQLite file (see `_write_lock`); PostgreSQL: always."""
        lock = self._writing
        if lock is not None and not lock.acquire(timeout=COMMAND_WAIT if quick else _BUSY_TIMEOUT_MS / 1000):
            if quick:
                raise StoreBusy("the database is busy with another writer")
            raise StoreError(f"the database stayed busy with another writer for {_BUSY_TIMEOUT_MS // 1000} s")
        try:
            yield
        finally:
            if lock is not None:
                lock.release()

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only transaction that never waits for writers (SQLite: deferred, under WAL)."""
        try:
            with self._read_factory() as s, s.begin():
                yield s
        except DBAPIError as e:
            self._explain(e)
            raise

    def _explain(self, e: DBAPIError) -> None:
        reason = storage_failure(e, self.engine.url.render_as_string(hide_password=False))
        if reason is not None:
            where = self.engine.url.render_as_string(hide_password=True)
            raise StoreUnwritable(f"cannot use the database {where}: {reason}") from e

    def dispose(self) -> None:
        self.engine.dispose()


def open_store(url: str, *, migrate: bool = True) -> Store:
    return Store(make_engine(url, migrate=migrate))
