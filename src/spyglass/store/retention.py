"""Keeping the history small: prune old stories, leave tombstones so they never come back.

A story published longer ago than `[storage] retention` is removed with its full-text row (the
SQLite trigger), its LSH band rows and its finished deliveries (foreign-key cascades). A story with
a delivery still pending or held stays until that delivery is settled, and so do the stories of
archival sources (max_age "0"), which keep old stories on purpose. Clusters left with no story
go too. Each pruned story leaves the hashes of its canonical URL and GUID in `tombstones` for
`tombstone_retention`, and ingest treats a tombstoned story as already known. Work goes in small
batches, each its own short transaction, so a slash command never waits long for the write lock.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import Select, delete, exists, func, or_, select, text, update

from spyglass.config import Settings
from spyglass.store.db import Store
from spyglass.store.schema import Cluster, Delivery, Source, StoryRow, Tombstone

BATCH = 500  # stories per transaction: tens of milliseconds of write lock each
# Between batches: SQLite's busy handler sleeps up to 100 ms between tries, so a writer that took the
# lock again at once could starve a waiting slash command past its 2 s (seen: 1 run in 6).
PAUSE = 0.15


def tombstone_key(kind: str, value: str) -> str:
    return hashlib.sha256(f"{kind}\x1f{value}".encode()).hexdigest()


@dataclass
class PruneReport:
    stories: int = 0
    clusters: int = 0
    tombstones_added: int = 0
    tombstones_expired: int = 0
    kept_for_delivery: int = 0  # old stories kept because an alert of theirs is still pending or held


def _prunable(cutoff: datetime, keep_sources: Sequence[int]) -> Select[int, str, str | None]:
    waiting = exists().where(
        Delivery.story_id == StoryRow.id, Delivery.status.in_(("pending", "held", "digest"))
    )
    stmt = select(StoryRow.id, StoryRow.url, StoryRow.guid).where(StoryRow.published_at < cutoff, ~waiting)
    if keep_sources:
        stmt = stmt.where(or_(StoryRow.source_id.is_(None), StoryRow.source_id.not_in(list(keep_sources))))
    return stmt


def archival_source_ids(store: Store, settings: Settings) -> list[int]:
    """Sources whose max_age is "0" (globally or their own): their old stories are there on purpose."""
    names = [c.name for c in settings.sources if (settings.max_age if c.max_age is None else c.max_age) == 0]
    if not names:
        return []
    with store.read() as s:
        return list(s.scalars(select(Source.id).where(Source.name.in_(names))))


def prune(
    store: Store,
    *,
    retention: float,
    tombstone_retention: float,
    now: datetime,
    dry_run: bool = False,
    keep_sources: Sequence[int] = (),
) -> PruneReport:
    """Remove stories older than ``retention`` seconds (0: keep everything), except those of
    ``keep_sources`` (archival sources, see archival_source_ids); see the module docstring."""
    report = PruneReport()
    if retention <= 0:
        return report
    cutoff = now - timedelta(seconds=retention)
    expires = now + timedelta(seconds=tombstone_retention or 2 * retention)
    with store.read() as s:
        owed = exists().where(
            Delivery.story_id == StoryRow.id, Delivery.status.in_(("pending", "held", "digest"))
        )
        report.kept_for_delivery = (
            s.scalar(select(func.count()).select_from(StoryRow).where(StoryRow.published_at < cutoff, owed))
            or 0
        )
        prunable = s.scalar(select(func.count()).select_from(_prunable(cutoff, keep_sources).subquery())) or 0
        if dry_run:
            report.stories = prunable
            report.tombstones_expired = (
                s.scalar(select(func.count()).select_from(Tombstone).where(Tombstone.expires_at < now)) or 0
            )
            return report
    while True:
        with store.session() as s:
            rows = s.execute(
                _prunable(cutoff, keep_sources).limit(BATCH)
            ).all()  # no ORDER BY: it would sort them all
            if not rows:
                break
            keys = {tombstone_key("url", r.url) for r in rows} | {
                tombstone_key("guid", r.guid) for r in rows if r.guid
            }
            known = set(s.scalars(select(Tombstone.key).where(Tombstone.key.in_(keys))))
            s.add_all(Tombstone(key=k, expires_at=expires) for k in keys - known)
            if known:
                s.execute(update(Tombstone).where(Tombstone.key.in_(known)).values(expires_at=expires))
            ids = [r.id for r in rows]
            s.execute(
                delete(Delivery).where(Delivery.story_id.in_(ids))
            )  # finished ones only (see _prunable)
            s.execute(delete(StoryRow).where(StoryRow.id.in_(ids)))  # bands cascade; FTS by trigger
            report.stories += len(ids)
            report.tombstones_added += len(keys - known)
        time.sleep(PAUSE)
    with store.session() as s:
        orphan = ~exists().where(StoryRow.cluster_id == Cluster.id)
        unused = ~exists().where(Delivery.cluster_id == Cluster.id)
        res = s.execute(delete(Cluster).where(orphan, unused))
        report.clusters = int(getattr(res, "rowcount", 0) or 0)
        res = s.execute(delete(Tombstone).where(Tombstone.expires_at < now))
        report.tombstones_expired = int(getattr(res, "rowcount", 0) or 0)
    if store.dialect == "sqlite":  # give the freed pages back; the file shrinks at the checkpoint
        # PASSIVE: a TRUNCATE checkpoint would hold the write lock while it waits for readers.
        _sqlite_outside_transaction(store, "PRAGMA incremental_vacuum", "PRAGMA wal_checkpoint(PASSIVE)")
    return report


def _sqlite_outside_transaction(store: Store, *statements: str) -> None:
    # The raw connection runs in autocommit (see db._sqlite_pragmas), and these PRAGMAs must not be
    # inside the BEGIN IMMEDIATE that SQLAlchemy's sessions issue. executescript steps each one to the
    # end: a plain execute() of incremental_vacuum frees a single page.
    raw = store.engine.raw_connection()
    try:
        raw.driver_connection.executescript(";".join(statements) + ";")  # type: ignore[union-attr]
    finally:
        raw.close()


def vacuum(store: Store) -> None:
    """Rewrite the SQLite file (and turn on incremental vacuum for it): for databases made before
    Spyglass set auto_vacuum, or after a large first prune. PostgreSQL: VACUUM ANALYZE."""
    if store.dialect == "sqlite":
        _sqlite_outside_transaction(
            store, "PRAGMA auto_vacuum = INCREMENTAL", "VACUUM", "PRAGMA wal_checkpoint(TRUNCATE)"
        )
        return
    with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE")


def stats(store: Store) -> dict[str, object]:
    """What the history holds, for `spyglass db stats` and the README's sizing table."""
    with store.read() as s:
        stories = int(s.scalar(select(func.count()).select_from(StoryRow)) or 0)
        out: dict[str, object] = {
            "stories": stories,
            "clusters": s.scalar(select(func.count()).select_from(Cluster)) or 0,
            "tombstones": s.scalar(select(func.count()).select_from(Tombstone)) or 0,
            "oldest story": s.scalar(select(func.min(StoryRow.published_at))),
            "newest story": s.scalar(select(func.max(StoryRow.published_at))),
        }
        for status, n in s.execute(select(Delivery.status, func.count()).group_by(Delivery.status)):
            out[f"deliveries {status}"] = n
        if store.dialect == "sqlite":
            db = store.engine.url.database
            size = (
                sum(p.stat().st_size for p in (Path(f"{db}{x}") for x in ("", "-wal")) if p.exists())
                if db
                else 0
            )
        else:
            size = int(s.scalar(text("SELECT pg_database_size(current_database())")) or 0)
    out["size on disk (bytes)"] = size
    out["bytes per story"] = round(size / stories) if stories else 0
    return out
