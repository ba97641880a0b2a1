"""Writers in one process share a SQLite file through one lock of the process (`store/db.py`), not
SQLite's sleeping busy handler: they take turns, lose no update, and a Slack command's quick session
still answers "busy" instead of waiting for a long writer."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import select, update

from spyglass.errors import StoreBusy
from spyglass.store.db import open_store
from spyglass.store.schema import Meta


def test_twenty_threads_writing_at_once_lose_no_update(tmp_path: Path) -> None:
    store, other = (
        open_store(f"sqlite:///{tmp_path / 'sg.db'}"),
        open_store(f"sqlite:///{tmp_path / 'sg.db'}"),
    )
    with store.session() as s:
        s.add(Meta(key="counter", value="0"))

    def bump(i: int) -> None:
        for _ in range(10):
            if i % 3 == 0:  # a bare connection (`Store.write`, the outbox's hot path) takes its turn too
                with store.write() as conn:
                    value = int(conn.scalar(select(Meta.value).where(Meta.key == "counter")) or 0)
                    conn.execute(update(Meta).where(Meta.key == "counter").values(value=str(value + 1)))
                continue
            with (store if i % 2 else other).session() as s:  # two stores on one file share the lock
                value = int(s.scalar(select(Meta.value).where(Meta.key == "counter")) or 0)
                s.execute(update(Meta).where(Meta.key == "counter").values(value=str(value + 1)))

    with ThreadPoolExecutor(20) as pool:
        list(pool.map(bump, range(20)))
    with store.read() as s:
        assert s.scalar(select(Meta.value).where(Meta.key == "counter")) == "200"


def test_a_quick_session_answers_busy_while_another_thread_writes(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'sg.db'}")
    holding, release = threading.Event(), threading.Event()

    def long_writer() -> None:
        with store.session() as s:
            s.add(Meta(key="long", value="1"))
            s.flush()
            holding.set()
            release.wait(30)

    writer = threading.Thread(target=long_writer)
    writer.start()
    try:
        assert holding.wait(10)
        with pytest.raises(StoreBusy), store.session(quick=True) as s:
            s.add(Meta(key="quick", value="1"))
        assert not release.is_set()  # it gave up while the writer still held the database
    finally:
        release.set()
        writer.join(10)
    with store.session(quick=True) as s:  # and once the writer is done, it goes through
        s.add(Meta(key="quick", value="1"))
    with store.read() as s:
        assert set(s.scalars(select(Meta.key).where(Meta.key.in_(["long", "quick"])))) == {"long", "quick"}
