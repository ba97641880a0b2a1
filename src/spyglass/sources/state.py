"""Source state in the database, and only here: the rows that mirror the config, the leases that
keep two workers off one source, success, failure and backoff.

The lease a worker holds is passed explicitly (`Lease`): recording a source's outcome releases it
in the same transaction (one commit per source: a warm poll of many sources is mostly commits).

The database can refuse writes for reasons outside Spyglass (a full disk, a read-only file). Then
what could not be written is kept in memory (`Unsaved`) and written at the start of the next
poll, so `spyglass sources` still shows the errors and no source stays leased after space comes
back. Each step is guarded on its own: a failure to record one thing never stops the next.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from spyglass import defaults
from spyglass.clock import now_utc
from spyglass.config import SourceConfig
from spyglass.defaults import DUE_TOLERANCE, FAILING_AFTER, MAX_SOURCE_NAME
from spyglass.errors import StoreError
from spyglass.store.schema import Source
from spyglass.text import strip_controls
from spyglass.urls import redact_url

if TYPE_CHECKING:
    from spyglass.service import Services

log = logging.getLogger(__name__)


@dataclass
class Lease:
    """This worker's claim on one source; `released` once a committed write gave it back."""

    owner: str
    released: bool = False

    def release(self, src: Source) -> None:
        if src.lease_owner == self.owner:
            src.lease_owner = src.lease_until = None
            self.released = True


@dataclass(frozen=True)
class Failure:
    error: str
    retry_after: float | None
    disable: bool
    at: datetime


@dataclass(frozen=True)
class Counts:
    """What the last reading of a source found, for its row and `spyglass sources`."""

    seen: int
    stored: int
    skipped: int
    skip_reason: str


@dataclass(frozen=True)
class HttpState:
    """What a feed's server said that the next conditional request needs."""

    etag: str | None
    last_modified: str | None
    final_url: str | None  # where redirects led, when not the configured URL (redacted)


@dataclass
class Unsaved:
    """Source state the database would not take, per process; written by the next poll."""

    failures: dict[str, Failure] = field(default_factory=dict)
    leases: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def keep_failure(self, name: str, failure: Failure) -> None:
        with self._lock:
            self.failures[name] = failure

    def keep_lease(self, name: str) -> None:
        with self._lock:
            self.leases.add(name)

    def take(self) -> tuple[dict[str, Failure], set[str]]:
        with self._lock:
            taken = self.failures, self.leases
            self.failures, self.leases = {}, set()
            return taken

    def put_back(self, failures: dict[str, Failure], leases: set[str]) -> None:
        with self._lock:
            self.failures = {**failures, **self.failures}  # a newer failure wins
            self.leases |= leases


# ------------------------------------------------------------------------------------ the rows
def shown_location(cfg: SourceConfig) -> str:
    """The location as stored and shown (`spyglass sources`): never with a feed URL's user:password@."""
    return redact_url(cfg.location) if cfg.url else cfg.location


def sync_sources(svc: Services) -> None:
    """Make the sources table match the config file (new rows, changed locations); keep fetch state."""
    with svc.store.session() as s:
        rows = {r.name: r for r in s.scalars(select(Source)).all()}
        missing = [c for c in svc.settings.sources if c.name not in rows]
        if missing:
            # Several workers may start at once: insert-if-absent, never fail on the unique name.
            # Imported only here: the PostgreSQL dialect is ~50 ms of every start on SQLite.
            if svc.store.dialect == "postgresql":
                from sqlalchemy.dialects.postgresql import insert as pg_insert

                insert: Any = pg_insert
            else:
                from sqlalchemy.dialects.sqlite import insert
            values = [
                {
                    "name": c.name,
                    "kind": c.kind,
                    "location": shown_location(c),
                    "error_count": 0,
                    "stories_seen": 0,
                }
                for c in missing
            ]
            s.execute(insert(Source).values(values).on_conflict_do_nothing(index_elements=["name"]))
        for cfg in svc.settings.sources:
            row = rows.get(cfg.name)
            if row is None:
                continue
            # (Rows written before locations were redacted hold the full URL: not a change.)
            if row.location not in (shown_location(cfg), cfg.location) or row.kind != cfg.kind:
                row.kind = cfg.kind
                row.etag = row.last_modified = row.final_url = None
                row.disabled_reason = None  # a fixed URL deserves a fresh start
                row.error_count = 0
            if row.location != shown_location(cfg):
                row.location = shown_location(cfg)
            if row.origin != "config":  # the config file now names it: the operator's, trusted
                row.origin, row.url = "config", None


def added_sources(svc: Services) -> list[SourceConfig]:
    """Sources added from Slack or an OPML file (rows of origin slack/opml), as the refresh reads them:
    untrusted (every fetch goes through the address guard), polled at the default interval."""
    configured = {c.name for c in svc.settings.sources}
    with svc.store.read() as s:
        rows = s.execute(
            select(Source.name, Source.url, Source.origin).where(
                Source.origin != "config", Source.url.is_not(None)
            )
        ).all()
    return [
        SourceConfig(
            name=name,
            url=url or "",
            trusted=False,
            first_poll_alerts=svc.settings.first_poll_alerts,
            origin=origin,
        )
        for name, url, origin in rows
        if name not in configured
    ]


def all_sources(svc: Services) -> list[SourceConfig]:
    return [*svc.settings.sources, *added_sources(svc)]


def feed_name(given: str, title: str, url: str) -> str:
    """A new source's name: what the person gave, else the feed's own title, else its host; one
    line, no control characters, bounded (both come from outside)."""
    for candidate in (given, title):
        name = " ".join(strip_controls(candidate, keep_newlines=False).split())[:MAX_SOURCE_NAME]
        if name:
            return name
    return urlsplit(url).hostname or "feed"


def add_source(s: Session, name: str, url: str, *, origin: str, added_by: str) -> None:
    """A source added at run time (from Slack or an OPML file): untrusted, removable, polled like any."""
    s.add(
        Source(
            name=name,
            kind="feed",
            location=redact_url(url),
            url=url,
            origin=origin,
            added_by=added_by,
            added_at=now_utc(),
            error_count=0,
            stories_seen=0,
        )
    )


def source_id(svc: Services, name: str) -> int:
    sid = svc.source_ids.get(name)  # ids never change once a source exists
    if sid is None:
        with svc.store.session() as s:
            sid = s.scalar(select(Source.id).where(Source.name == name))
        assert sid is not None
        svc.source_ids[name] = sid
    return sid


# ------------------------------------------------------------------------------------ leases
def claim(
    svc: Services, names: Sequence[str], owner: str, *, only_due: bool, limit: int | None = None
) -> list[str]:
    """Lease sources so that several workers never poll the same source at once. With ``limit``,
    at most that many, the longest overdue first (never polled counts as most overdue), so the
    workers of a deployment share a backlog instead of one of them taking all of it."""
    now = now_utc()
    free = or_(Source.lease_until.is_(None), Source.lease_until < now)
    with svc.store.session() as s:
        cond = [Source.name.in_(list(names)), Source.disabled_reason.is_(None), free]
        if only_due:
            cond.append(or_(Source.next_attempt_at.is_(None), Source.next_attempt_at <= now + DUE_TOLERANCE))
        stmt = select(Source.id).where(*cond)
        if limit is not None:
            stmt = stmt.order_by(Source.next_attempt_at.asc().nulls_first(), Source.id).limit(limit)
        if svc.store.dialect == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True)
        ids = list(s.scalars(stmt).all())
        if ids:
            s.execute(
                update(Source)
                .where(Source.id.in_(ids), free)
                .values(lease_owner=owner, lease_until=now + defaults.SOURCE_LEASE, last_attempt_at=now)
            )
        mine = select(Source.name).where(Source.id.in_(ids), Source.lease_owner == owner)
        return list(s.scalars(mine).all())


def give_back(svc: Services, names: list[str], owner: str) -> None:
    """Release this worker's leases on ``names``; if the database will not take it, remember them."""
    try:
        with svc.store.session() as s:
            s.execute(
                update(Source)
                .where(Source.name.in_(names), Source.lease_owner == owner)
                .values(lease_owner=None, lease_until=None)
            )
    except StoreError as e:
        log.error("could not release %d source lease(s), will retry on the next poll: %s", len(names), e)
        for name in names:
            svc.unsaved.keep_lease(name)


# ------------------------------------------------------------------------------------ outcomes
def record_success(
    s: Session,
    cfg: SourceConfig,
    lease: Lease,
    *,
    stories: int,
    counts: Counts | None,
    http: HttpState | None = None,
    src: Source | None = None,
) -> None:
    """In the caller's transaction (the one that stored the stories): the source read fine.
    ``src`` is the source's row when the caller has already loaded it."""
    src = src or s.scalar(select(Source).where(Source.name == cfg.name))
    assert src is not None
    now = now_utc()
    started = _started(src, now)
    src.last_attempt_at = src.last_success_at = now
    src.error_count = 0
    src.last_error = None
    if http is not None:
        src.etag, src.last_modified, src.final_url = http.etag, http.last_modified, http.final_url
    src.next_attempt_at = started + timedelta(seconds=cfg.interval)
    src.stories_seen = (src.stories_seen or 0) + stories
    if counts is not None:  # a 304 or an unchanged file keeps the last reading's counts
        src.last_seen, src.last_stored, src.last_skipped = counts.seen, counts.stored, counts.skipped
        src.last_skip_reason = counts.skip_reason or None
    lease.release(src)


def _started(src: Source, now: datetime) -> datetime:
    """When this poll of the source began (its claim): the interval counts from there, not from the
    end, or every source would be polled half as often as configured."""
    began = src.last_attempt_at
    return began if began is not None and now - defaults.SOURCE_LEASE <= began <= now else now


def record_failure(
    svc: Services,
    cfg: SourceConfig,
    lease: Lease | None,
    error: str,
    retry_after: float | None = None,
    *,
    disable: bool = False,
) -> None:
    """Back off exponentially (interval × 2^errors, capped), honour Retry-After, never drop silently.
    If the database will not take it, the failure waits in memory for the next poll."""
    failure = Failure(error, retry_after, disable, now_utc())
    try:
        with svc.store.session() as s:
            _apply(s, svc, cfg, failure, lease)
    except StoreError as e:
        log.error("source %s: could not record its error (%s): %s", cfg.name, error, e)
        svc.unsaved.keep_failure(cfg.name, failure)
        if lease is not None:
            lease.released = False
    # INFO: `run` shows it; `poll --once` (WARNING level) prints each failed source once itself.
    log.info("source %s: %s%s", cfg.name, error, " (disabled)" if disable else "")


def _apply(s: Session, svc: Services, cfg: SourceConfig, f: Failure, lease: Lease | None) -> None:
    src = s.scalar(select(Source).where(Source.name == cfg.name))
    if src is None:
        return
    src.error_count = (src.error_count or 0) + 1
    src.last_error, src.last_error_at, src.last_attempt_at = f.error[:500], f.at, f.at
    delay = min(cfg.interval * 2 ** min(src.error_count, 20), svc.settings.max_backoff)
    if f.retry_after:
        delay = max(
            delay if src.error_count > 1 else cfg.interval, min(f.retry_after, svc.settings.max_backoff)
        )
    src.next_attempt_at = f.at + timedelta(seconds=delay)
    if lease is not None:
        lease.release(src)
    if f.disable:
        src.disabled_reason = f"{f.error} on {f.at:%Y-%m-%d %H:%M} UTC: the feed says it is gone for good; fix its URL in the config"


def write_unsaved(svc: Services, owner: str) -> None:
    """Write what an earlier poll could not (failures, lease releases). Kept for later if it still fails."""
    failures, leases = svc.unsaved.take()
    if not failures and not leases:
        return
    configs = {c.name: c for c in all_sources(svc)}
    try:
        with svc.store.session() as s:
            for name, failure in failures.items():
                if name in configs:
                    _apply(s, svc, configs[name], failure, None)
            if leases:
                s.execute(
                    update(Source)
                    .where(Source.name.in_(sorted(leases)), Source.lease_owner == owner)
                    .values(lease_owner=None, lease_until=None)
                )
    except StoreError as e:
        svc.unsaved.put_back(failures, leases)
        log.error("still cannot write to the database: %s", e)
        return
    log.info(
        "wrote %d source error(s) and %d lease release(s) kept from an earlier poll",
        len(failures),
        len(leases),
    )


# ------------------------------------------------------------------------------------ for people
def health(src: Source) -> str:
    """ok / error / FAILING / DISABLED, as `spyglass sources` and `/spyglass feed list` show it."""
    if src.disabled_reason:
        return "DISABLED"
    if src.error_count >= FAILING_AFTER:
        return "FAILING"
    return "error" if src.error_count else "ok"


def ago(dt: datetime | None, now: datetime) -> str:
    """ "3m ago", "in 12m", "never": rough and short."""
    if dt is None:
        return "never"
    secs = int((dt - now).total_seconds())
    span = abs(secs)
    text = (
        f"{span}s"
        if span < 120
        else f"{span // 60}m"
        if span < 7200
        else f"{span // 3600}h"
        if span < 172800
        else f"{span // 86400}d"
    )
    return f"in {text}" if secs > 0 else f"{text} ago"
