"""One poll: fetch → parse → normalize → match → de-duplicate → store → plan deliveries.

Failures stay with their source: a source that cannot be fetched or parsed records its error
(and backs off), and every other source is polled as usual.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial

from sqlalchemy import or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from spyglass import defaults
from spyglass.clock import now_utc
from spyglass.config import SourceConfig
from spyglass.defaults import DUE_TOLERANCE
from spyglass.models import Match, Story
from spyglass.parse.feed import FeedError, ParsedFeed, parse_feed
from spyglass.service import Services
from spyglass.sources.fetch import DEFAULT_USER_AGENT, Fetcher, FetchRequest, FetchResult, redact_url
from spyglass.sources.folder import FolderError, Seen, scan_folder
from spyglass.sources.netguard import AddressGuard
from spyglass.sourcestate import (
    LEASE,
    Lease,
    forget_release,
    give_back,
    record_failure,
    release_lease,
    write_unsaved,
)
from spyglass.store.db import StoreError
from spyglass.store.ingest import IngestResult, Plan, ingest
from spyglass.store.schema import FolderFile, Source

log = logging.getLogger(__name__)


@dataclass
class SourceReport:
    name: str
    status: str  # ok | not_modified | error | disabled | skipped
    stored: int = 0
    duplicates: int = 0
    planned: int = 0
    error: str = ""
    seen: int = 0  # entries (or files) read this poll
    skipped: int = 0  # entries that did not become stories, e.g. no link
    skip_reason: str = ""  # the commonest reason, with its count
    ingest: IngestResult | None = None  # why new stories were not alerted, when any were read


@dataclass
class PollReport:
    sources: list[SourceReport] = field(default_factory=list)

    @property
    def stored(self) -> int:
        return sum(r.stored for r in self.sources)

    @property
    def planned(self) -> int:
        return sum(r.planned for r in self.sources)

    @property
    def seen(self) -> int:
        return sum(r.seen for r in self.sources)

    @property
    def skipped(self) -> int:
        return sum(r.skipped for r in self.sources)

    @property
    def failed(self) -> list[SourceReport]:
        return [r for r in self.sources if r.status in ("error", "disabled")]

    def not_alerted(self) -> tuple[int, int, int, Counter[str], int]:
        """(about no topic, too old, on topics no channel follows, those topics by story, older than
        retention and so not stored), over all sources."""
        results = [r.ingest for r in self.sources if r.ingest is not None]
        unfollowed: Counter[str] = Counter()
        for res in results:
            unfollowed.update(res.unfollowed)
        return (
            sum(r.off_topic for r in results),
            sum(r.too_old for r in results),
            sum(r.unrouted for r in results),
            unfollowed,
            sum(r.past_retention for r in results),
        )


def sync_sources(svc: Services) -> None:
    """Make the sources table match the config file (new rows, changed locations); keep fetch state."""
    with svc.store.session() as s:
        rows = {r.name: r for r in s.scalars(select(Source)).all()}
        missing = [c for c in svc.settings.sources if c.name not in rows]
        if missing:
            # Several workers may start at once: insert-if-absent, never fail on the unique name.
            insert = pg_insert if svc.store.dialect == "postgresql" else sqlite_insert
            s.execute(
                insert(Source)
                .values(
                    [
                        {
                            "name": c.name,
                            "kind": c.kind,
                            "location": _shown(c),
                            "error_count": 0,
                            "stories_seen": 0,
                        }
                        for c in missing
                    ]
                )
                .on_conflict_do_nothing(index_elements=["name"])
            )
        for cfg in svc.settings.sources:
            row = rows.get(cfg.name)
            if row is None:
                continue
            # (Rows written before locations were redacted hold the full URL: not a change.)
            if row.location not in (_shown(cfg), cfg.location) or row.kind != cfg.kind:
                row.kind = cfg.kind
                row.etag = row.last_modified = row.final_url = None
                row.disabled_reason = None  # a fixed URL deserves a fresh start
                row.error_count = 0
            if row.location != _shown(cfg):
                row.location = _shown(cfg)


def _shown(cfg: SourceConfig) -> str:
    """The location as stored and shown (`spyglass sources`): never with a feed URL's user:password@."""
    return redact_url(cfg.location) if cfg.url else cfg.location


def claim_sources(svc: Services, names: Sequence[str], owner: str, *, only_due: bool) -> list[str]:
    """Lease sources so that several workers never poll the same source at once."""
    now = now_utc()
    with svc.store.session() as s:
        cond = [
            Source.name.in_(list(names)),
            Source.disabled_reason.is_(None),
            or_(Source.lease_until.is_(None), Source.lease_until < now),
        ]
        if only_due:
            cond.append(or_(Source.next_attempt_at.is_(None), Source.next_attempt_at <= now + DUE_TOLERANCE))
        stmt = select(Source.id).where(*cond)
        if svc.store.dialect == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True)
        ids = list(s.scalars(stmt).all())
        if ids:
            s.execute(
                update(Source)
                .where(Source.id.in_(ids), or_(Source.lease_until.is_(None), Source.lease_until < now))
                .values(lease_owner=owner, lease_until=now + defaults.SOURCE_LEASE, last_attempt_at=now)
            )
        return list(
            s.scalars(select(Source.name).where(Source.id.in_(ids), Source.lease_owner == owner)).all()
        )


def poll(
    svc: Services,
    owner: str,
    *,
    names: Sequence[str] | None = None,
    only_due: bool = False,
    stop: threading.Event | None = None,
) -> PollReport:
    """Poll the (due) sources once. When ``stop`` is set meanwhile (SIGTERM), fetches in progress are
    abandoned, nothing more is stored, and the claims are given back for the next worker."""
    sync_sources(svc)
    write_unsaved(svc, owner)
    configs = {c.name: c for c in svc.settings.sources}
    wanted = list(names) if names is not None else list(configs)
    claimed = claim_sources(svc, wanted, owner, only_due=only_due)
    report = PollReport()
    feeds = [configs[n] for n in claimed if configs[n].kind == "feed"]
    folders = [configs[n] for n in claimed if configs[n].kind == "folder"]
    files = [configs[n] for n in claimed if configs[n].kind == "feedfile"]
    results = asyncio.run(_fetch_all(svc, feeds, stop)) if feeds else []
    if results is None or (stop is not None and stop.is_set()):
        give_back(svc, claimed, owner)
        return report
    work: list[tuple[SourceConfig, Callable[[], SourceReport]]] = [
        *(
            (cfg, partial(_handle_feed, svc, cfg, fetched))
            for cfg, fetched in zip(feeds, results, strict=True)
        ),
        *((cfg, partial(_handle_folder, svc, cfg)) for cfg in folders),
        *((cfg, partial(_handle_feed_file, svc, cfg)) for cfg in files),
    ]
    for i, (cfg, handle) in enumerate(work):
        if stop is not None and stop.is_set():  # each source is stored whole or not at all
            give_back(svc, [c.name for c, _ in work[i:]], owner)
            break
        report.sources.append(_guard(svc, cfg, owner, handle))
    return report


async def _fetch_all(
    svc: Services, feeds: Sequence[SourceConfig], stop: threading.Event | None = None
) -> list[FetchResult] | None:
    """Fetch the feeds; None when ``stop`` was set before they all finished."""
    fc = svc.settings.fetch
    # Sources from the config file are trusted; anything else is checked against internal addresses,
    # except the hosts and networks the operator allows.
    guard = AddressGuard(svc.settings.allow_hosts, svc.settings.allow_networks)
    fetcher = Fetcher(
        timeout=fc.timeout,
        connect_timeout=fc.connect_timeout,
        deadline=fc.deadline,
        max_bytes=fc.max_bytes,
        max_redirects=fc.max_redirects,
        concurrency=fc.concurrency,
        per_host=fc.per_host,
        guard=guard,
        user_agent=fc.user_agent or DEFAULT_USER_AGENT,
    )
    try:
        with svc.store.session() as s:
            state = {
                r.name: r for r in s.scalars(select(Source).where(Source.name.in_([f.name for f in feeds])))
            }
        reqs = [
            FetchRequest(
                url=f.url,
                etag=state[f.name].etag if f.name in state else None,
                last_modified=state[f.name].last_modified if f.name in state else None,
                trusted=f.trusted,
            )
            for f in feeds
        ]
        if stop is None:
            return await fetcher.fetch_many(reqs)
        task = asyncio.ensure_future(fetcher.fetch_many(reqs))
        while not task.done():
            if stop.is_set():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
                return None
            await asyncio.wait({task}, timeout=0.1)
        return task.result()
    finally:
        await fetcher.aclose()


def _guard(svc: Services, cfg: SourceConfig, owner: str, work: Callable[[], SourceReport]) -> SourceReport:
    """Run one source's handling; whatever goes wrong is recorded on that source only."""
    token = LEASE.set(Lease(owner))
    try:
        rep = work()
    except StoreError as e:  # the database refused (disk full, read-only): one line, not a traceback
        forget_release()  # the transaction that released the lease, if any, was rolled back
        rep = SourceReport(cfg.name, "error", error=str(e)[:300])
        record_failure(svc, cfg, rep.error, None)
    except Exception as e:
        forget_release()
        log.exception("source %s: unexpected error", cfg.name)
        rep = SourceReport(cfg.name, "error", error=f"unexpected error: {type(e).__name__}: {e}"[:300])
        record_failure(svc, cfg, rep.error, None)
    finally:
        lease = LEASE.get()
        LEASE.reset(token)
        if lease is None or not lease.released:  # normally released in the same transaction as the state
            give_back(svc, [cfg.name], owner)
    return rep


def _matched(svc: Services, stories: Sequence[Story]) -> tuple[list[tuple[Story, list[Match]]], Plan]:
    plan, matcher = svc.plan_and_matcher()
    return [(st, matcher.match(st.title, st.summary)) for st in stories], plan


def _store(
    svc: Services,
    cfg: SourceConfig,
    source_id: int | None,
    stories: Sequence[Story],
    extra: Callable[[Session, IngestResult], None] | None = None,
) -> IngestResult:
    """Store a source's stories and, in the same transaction, its new state (`extra`)."""
    max_age = svc.settings.max_age if cfg.max_age is None else cfg.max_age
    past_retention = 0
    if svc.settings.retention > 0 and max_age != 0:  # past retention it would only be pruned again
        oldest = now_utc() - timedelta(seconds=svc.settings.retention)
        kept = [st for st in stories if not st.dated or st.published >= oldest]
        past_retention, stories = len(stories) - len(kept), kept
    batch, plan = _matched(svc, stories)
    if cfg.demo and svc.slack_enabled:  # archival samples must never reach real channels as news
        plan = Plan(labels=plan.labels)
    with svc.store.session() as s:
        # Undated stories are not alerted on a source's first poll: they may be years old.
        first = (
            source_id is None
            or s.scalar(select(Source.last_success_at).where(Source.id == source_id)) is None
        )
        res = ingest(s, source_id, batch, plan=plan, now=now_utc(), max_age=max_age, first_poll=first)
        res.past_retention = past_retention
        if extra is not None:
            extra(s, res)
        return res


def _handle_feed(svc: Services, cfg: SourceConfig, fetched: FetchResult) -> SourceReport:
    if fetched.kind in ("error", "gone"):
        disable = fetched.kind == "gone" and fetched.http_status == 410
        msg = fetched.error or f"HTTP {fetched.http_status}"
        record_failure(svc, cfg, msg, fetched.retry_after, disable=disable)
        return SourceReport(cfg.name, "disabled" if disable else "error", error=msg)
    if fetched.kind == "not_modified":
        _record_success(svc, cfg, fetched, 0)
        return SourceReport(cfg.name, "not_modified")
    try:
        parsed = parse_feed(
            fetched.body, source=cfg.name, base_url=fetched.url, headers=fetched.headers, now=now_utc()
        )
    except FeedError as e:
        record_failure(svc, cfg, str(e), None)
        return SourceReport(cfg.name, "error", error=str(e))
    if parsed.bozo:
        log.info("source %s: feed is malformed but readable (%s)", cfg.name, parsed.bozo)
    sid = _source_id(svc, cfg.name)
    res = _store(
        svc,
        cfg,
        sid,
        parsed.stories,
        extra=lambda s, res: _success_update(s, cfg, fetched, len(parsed.stories), _counts(parsed, res)),
    )
    return _feed_report(cfg, parsed, res)


def _counts(parsed: ParsedFeed, res: IngestResult) -> tuple[int, int, int, str]:
    """(seen, stored, skipped, commonest skip reason) for the source's row and `spyglass sources`."""
    reasons = parsed.skips + Counter({"older than [storage] retention": res.past_retention})
    skipped = parsed.skipped + res.past_retention
    return len(parsed.stories) + parsed.skipped, res.stored, skipped, _commonest(reasons)


def _feed_report(cfg: SourceConfig, parsed: ParsedFeed, res: IngestResult) -> SourceReport:
    seen, _, skipped, reason = _counts(parsed, res)
    if parsed.undated:
        log.warning(
            "source %s: %d stor%s without a readable date (e.g. %r): not alerted on a first poll",
            cfg.name,
            parsed.undated,
            "y" if parsed.undated == 1 else "ies",
            parsed.undated_example or "none given",
        )
    if skipped:
        log.info("source %s: %d of %d entries skipped, most for: %s", cfg.name, skipped, seen, reason)
    return SourceReport(
        cfg.name,
        "ok",
        stored=res.stored,
        duplicates=res.duplicates,
        planned=res.planned,
        seen=seen,
        skipped=skipped,
        skip_reason=reason,
        ingest=res,
    )


def _handle_folder(svc: Services, cfg: SourceConfig) -> SourceReport:
    assert cfg.path is not None
    sid = _source_id(svc, cfg.name)
    with svc.store.session() as s:
        seen = {
            f.path: Seen(f.mtime_ns, f.size, f.digest)
            for f in s.scalars(select(FolderFile).where(FolderFile.source_id == sid))
        }
    try:
        files = scan_folder(cfg.path, source=cfg.name, seen=seen, now=now_utc())
    except FolderError as e:
        record_failure(svc, cfg, str(e), None)
        return SourceReport(cfg.name, "error", error=str(e))
    for f in files:
        if f.error:
            log.warning("source %s: %s: %s", cfg.name, f.path, f.error)
    # Why files were skipped, by the first words of their error ("a draft (…)", "front matter has no title").
    errors = Counter(f.error.split(":")[0] for f in files if f.error)

    def remember(s: Session, res: IngestResult) -> None:
        for f in files:
            row = s.get(FolderFile, (sid, f.path))
            if row is None:
                s.add(
                    FolderFile(
                        source_id=sid,
                        path=f.path,
                        mtime_ns=f.mtime_ns,
                        size=f.size,
                        digest=f.digest,
                        error=f.error or None,
                    )
                )
            else:
                row.mtime_ns, row.size, row.digest, row.error = f.mtime_ns, f.size, f.digest, f.error or None
        src = s.get(Source, sid)
        assert src is not None
        now = now_utc()
        started = _started(src, now)
        src.last_attempt_at = src.last_success_at = now
        src.error_count = 0
        src.last_error = None
        src.next_attempt_at = started + timedelta(seconds=cfg.interval)
        src.stories_seen = (src.stories_seen or 0) + sum(1 for f in files if f.story)
        src.last_seen, src.last_stored = len(files), res.stored
        src.last_skipped = sum(errors.values())
        src.last_skip_reason = _commonest(errors) or None
        release_lease(src)

    # Bad files are recorded (with their digest) so they are not re-read until they change.
    res = _store(svc, cfg, sid, [f.story for f in files if f.story], extra=remember)
    bad = sum(1 for f in files if f.error)
    return SourceReport(
        cfg.name,
        "ok",
        stored=res.stored,
        duplicates=res.duplicates,
        planned=res.planned,
        error=f"{bad} file(s) skipped; see the log" if bad else "",
        seen=len(files),
        skipped=sum(errors.values()),
        skip_reason=_commonest(errors),
        ingest=res,
    )


def _commonest(reasons: Counter[str]) -> str:
    """The commonest reason for a skip, with its count: "no http(s) link (3)"; "" for none."""
    if not reasons:
        return ""
    why, n = reasons.most_common(1)[0]
    return f"{why} ({n})"


def _handle_feed_file(svc: Services, cfg: SourceConfig) -> SourceReport:
    """A feed saved on disk (the bundled sample, or feeds synced by another tool): parsed when it changes."""
    assert cfg.path is not None
    sid = _source_id(svc, cfg.name)
    try:
        st = cfg.path.stat()
        body = cfg.path.read_bytes()[: svc.settings.fetch.max_bytes + 1]
    except OSError as e:
        record_failure(svc, cfg, f"cannot read {cfg.path}: {e.strerror}", None)
        return SourceReport(cfg.name, "error", error=f"cannot read {cfg.path}: {e.strerror}")
    if len(body) > svc.settings.fetch.max_bytes:
        msg = f"{cfg.path} is larger than the {svc.settings.fetch.max_bytes:,}-byte cap"
        record_failure(svc, cfg, msg, None)
        return SourceReport(cfg.name, "error", error=msg)
    digest = hashlib.sha256(body).hexdigest()
    with svc.store.session() as s:
        prior = s.get(FolderFile, (sid, ""))
        unchanged = prior is not None and prior.digest == digest
    if unchanged:
        _record_success(svc, cfg, None, 0)
        return SourceReport(cfg.name, "not_modified")
    try:
        parsed = parse_feed(body, source=cfg.name, base_url=cfg.path.as_uri(), now=now_utc())
    except FeedError as e:
        record_failure(svc, cfg, str(e), None)
        return SourceReport(cfg.name, "error", error=str(e))

    def remember(s: Session, res: IngestResult) -> None:
        row = s.get(FolderFile, (sid, ""))
        if row is None:
            s.add(FolderFile(source_id=sid, path="", mtime_ns=st.st_mtime_ns, size=st.st_size, digest=digest))
        else:
            row.mtime_ns, row.size, row.digest = st.st_mtime_ns, st.st_size, digest
        _success_update(s, cfg, None, len(parsed.stories), _counts(parsed, res))

    res = _store(svc, cfg, sid, parsed.stories, extra=remember)
    return _feed_report(cfg, parsed, res)


def _source_id(svc: Services, name: str) -> int:
    sid = svc.source_ids.get(name)  # ids never change once a source exists
    if sid is None:
        with svc.store.session() as s:
            sid = s.scalar(select(Source.id).where(Source.name == name))
        assert sid is not None
        svc.source_ids[name] = sid
    return sid


def _success_update(
    s: Session,
    cfg: SourceConfig,
    fetched: FetchResult | None,
    n: int,
    counts: tuple[int, int, int, str] | None = None,
) -> None:
    src = s.scalar(select(Source).where(Source.name == cfg.name))
    assert src is not None
    now = now_utc()
    started = _started(src, now)
    src.last_attempt_at = src.last_success_at = now
    src.error_count = 0
    src.last_error = None
    if fetched is not None:
        src.etag, src.last_modified = fetched.etag, fetched.last_modified
        src.final_url = redact_url(fetched.url) if fetched.url != cfg.url else None
    src.next_attempt_at = started + timedelta(seconds=cfg.interval)
    src.stories_seen = (src.stories_seen or 0) + n
    if counts is not None:  # a 304 or an unchanged file keeps the last reading's counts
        src.last_seen, src.last_stored, src.last_skipped, src.last_skip_reason = counts
        src.last_skip_reason = src.last_skip_reason or None
    release_lease(src)


def _started(src: Source, now: datetime) -> datetime:
    """When this poll of the source began (its claim): the interval counts from there, not from the
    end, or every source would be polled half as often as configured."""
    began = src.last_attempt_at
    return began if began is not None and now - defaults.SOURCE_LEASE <= began <= now else now


def _record_success(svc: Services, cfg: SourceConfig, fetched: FetchResult | None, n: int) -> None:
    with svc.store.session() as s:
        _success_update(s, cfg, fetched, n)
