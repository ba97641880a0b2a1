"""One refresh of one source, end to end — read → match → de-duplicate and store → plan
deliveries — and `poll`, which claims the due sources and refreshes each.

Follow a story from here: `sources/` reads it (feed, feed file or folder: one `SourceReader`
protocol), `topics/` matches it, `store/ingest.py` clusters and stores it and plans its
deliveries, `sources/state.py` records how the source did. Failures stay with their source: one
that cannot be read records its error and backs off, and every other source is refreshed as usual.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from spyglass.clock import now_utc
from spyglass.config import SourceConfig
from spyglass.errors import FetchError, SourceError, StoreError
from spyglass.models import Story
from spyglass.service import Services
from spyglass.sources import state
from spyglass.sources.ahead import MIN_FEEDS, Prepared, ReadAhead
from spyglass.sources.base import Reading, SourceReader
from spyglass.sources.feed import FeedFileSource, FeedSource, fetch_feeds
from spyglass.sources.state import Counts, Lease
from spyglass.store.ingest import IngestResult, ingest
from spyglass.store.planning import Plan
from spyglass.store.schema import Source

log = logging.getLogger(__name__)

# Feeds read ahead are stored this many to a transaction (see _store_together). More saves little
# and holds the write lock longer; the read-ahead worker is kept AHEAD feeds in front.
STORE_TOGETHER = 10


@dataclass
class SourceReport:
    name: str
    status: str  # ok | not_modified | error | disabled
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
    claimed: int = 0  # sources this poll leased (a worker polls again at once when it hit its limit)

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


def poll(
    svc: Services,
    owner: str,
    *,
    names: Sequence[str] | None = None,
    only_due: bool = False,
    stop: threading.Event | None = None,
    limit: int | None = None,
    sync: bool = True,
    read_ahead: bool = False,
) -> PollReport:
    """Refresh the (due) sources once: at most ``limit`` of them, the most overdue first. When
    ``stop`` is set meanwhile (SIGTERM), fetches in progress are abandoned, nothing more is stored,
    and the claims are given back for the next worker. ``sync=False`` skips matching the sources
    table to the config file, which a long-running worker did once at start. ``read_ahead`` parses,
    matches and signs feeds in a worker process (`sources/ahead.py`): `poll --once` uses it."""
    if sync:
        state.sync_sources(svc)
    state.write_unsaved(svc, owner)
    configs = {c.name: c for c in state.all_sources(svc)}
    wanted = list(names) if names is not None else list(configs)
    claimed = state.claim(svc, wanted, owner, only_due=only_due, limit=limit)
    report = PollReport(claimed=len(claimed))
    chosen = [configs[n] for n in claimed]
    feeds = fetch_feeds(svc, [c for c in chosen if c.kind == "feed"], stop)
    if feeds is None or (stop is not None and stop.is_set()):
        state.give_back(svc, claimed, owner)
        return report
    # Feeds that answered 304 have nothing to store: all of their bookkeeping is one transaction.
    # A warm poll of many feeds used to be mostly one commit per feed.
    report.sources += _record_unchanged(svc, [f for f in feeds if f.unchanged], owner)
    folders = [c for c in chosen if c.kind == "folder"]
    if folders:  # Markdown and front matter parsing (~50 ms to import) only for polls that need it
        from spyglass.sources.folder import FolderSource
    changed = [f for f in feeds if not f.unchanged]
    readers: list[SourceReader] = [
        *changed,
        *(FolderSource(c) for c in folders),
        *(FeedFileSource(c, svc.settings.fetch.max_bytes) for c in chosen if c.kind == "feedfile"),
    ]
    with contextlib.ExitStack() as stack:
        ahead = None
        if read_ahead and len(changed) >= MIN_FEEDS:
            ahead = stack.enter_context(ReadAhead(changed, svc.plan_and_matcher()[1], wait=False))
        ready: list[tuple[SourceReader, Prepared]] = []  # read ahead, waiting to be stored together

        def store_ready() -> None:
            report.sources.extend(_store_together(svc, ready, owner))
            ready.clear()

        for i, reader in enumerate(readers):
            if stop is not None and stop.is_set():  # each source is stored whole or not at all
                state.give_back(
                    svc, [r.cfg.name for r, _ in ready] + [r.cfg.name for r in readers[i:]], owner
                )
                ready.clear()
                break
            prepared = ahead.take(reader) if ahead and isinstance(reader, FeedSource) else None
            if prepared is not None:
                ready.append((reader, prepared))
                if len(ready) >= STORE_TOGETHER:
                    store_ready()
                continue
            store_ready()  # in order: the feeds before this one first
            report.sources.append(refresh_source(svc, reader, Lease(owner), prepared))
        store_ready()
    if report.stored:
        _index(svc)
    return report


def _index(svc: Services) -> None:
    """Make this poll's stories searchable (see `index_pending`). A failure loses nothing: the
    stories stay queued for the next poll's turn."""
    from spyglass.store.search import index_pending

    try:
        index_pending(svc.store)
    except StoreError as e:
        log.warning("stories stored but not yet searchable: %s", e)


def _record_unchanged(svc: Services, feeds: Sequence[FeedSource], owner: str) -> list[SourceReport]:
    if not feeds:
        return []
    try:
        with svc.store.session() as s:
            # Every row in one query, so that the updates go out together at the commit (a query per
            # feed would also flush the previous feed's update before it).
            names = [feed.cfg.name for feed in feeds]
            rows = {r.name: r for r in s.scalars(select(Source).where(Source.name.in_(names)))}
            for feed in feeds:
                state.record_success(
                    s,
                    feed.cfg,
                    Lease(owner),
                    stories=0,
                    counts=None,
                    http=feed.http,
                    src=rows.get(feed.cfg.name),
                )
    except StoreError:  # nothing was written: each one the usual way, its failure recorded on it
        return [refresh_source(svc, feed, Lease(owner)) for feed in feeds]
    return [SourceReport(feed.cfg.name, "not_modified") for feed in feeds]


def refresh_source(
    svc: Services, reader: SourceReader, lease: Lease, prepared: Prepared | None = None
) -> SourceReport:
    """Read one source, match and store what it gave, and record how it went — the stories and the
    source's new state in one transaction, which also gives back the lease. Whatever goes wrong is
    recorded on this source only. ``prepared``: the source already read, matched and signed."""
    cfg = reader.cfg
    try:
        sid = state.source_id(svc, cfg.name)
        reading = prepared.reading if prepared is not None else reader.read(svc.store, sid)
        if reading.unchanged:
            with svc.store.session() as s:
                state.record_success(s, cfg, lease, stories=0, counts=None, http=reading.http)
            return SourceReport(cfg.name, "not_modified")
        return _store(svc, cfg, sid, reading, lease, prepared)
    except SourceError as e:
        retry, disable = (e.retry_after, e.disable) if isinstance(e, FetchError) else (None, False)
        state.record_failure(svc, cfg, lease, str(e), retry, disable=disable)
        return SourceReport(cfg.name, "disabled" if disable else "error", error=str(e))
    except StoreError as e:  # the database refused (disk full, read-only): one line, not a traceback
        lease.released = False  # the transaction that released it was rolled back
        state.record_failure(svc, cfg, lease, str(e)[:300])
        return SourceReport(cfg.name, "error", error=str(e)[:300])
    except Exception as e:
        lease.released = False
        log.exception("source %s: unexpected error", cfg.name)
        error = f"unexpected error: {type(e).__name__}: {e}"[:300]
        state.record_failure(svc, cfg, lease, error)
        return SourceReport(cfg.name, "error", error=error)
    finally:
        if not lease.released:  # normally released in the same transaction as the state
            state.give_back(svc, [cfg.name], lease.owner)


def _store_together(
    svc: Services, ready: Sequence[tuple[SourceReader, Prepared]], owner: str
) -> list[SourceReport]:
    """Feeds read ahead, stored in one transaction: each source's stories and state as it would be
    alone, in order, but one commit for all. A cold poll was a commit per feed, and each commit
    wrote the pages its feed had touched in the LSH index again (random keys: most of its leaves).
    Should anything fail, the transaction is rolled back and each feed is stored the usual way, on
    its own, so that a failure is recorded on its own source and the others are kept."""
    if len(ready) < 2:
        return [refresh_source(svc, reader, Lease(owner), prepared) for reader, prepared in ready]
    try:
        sids = [state.source_id(svc, reader.cfg.name) for reader, _ in ready]
        done: list[tuple[SourceReport, Counts]] = []
        with svc.store.session() as s:
            for (reader, prepared), sid in zip(ready, sids, strict=True):
                done.append(_store_in(s, svc, reader.cfg, sid, prepared.reading, Lease(owner), prepared))
    except Exception as e:  # noqa: BLE001 - nothing was kept: each one alone reports its own failure
        log.info("storing %d feeds together failed (%s); storing each on its own", len(ready), e)
        return [refresh_source(svc, reader, Lease(owner), prepared) for reader, prepared in ready]
    for rep, counts in done:
        _log_skips(rep.name, counts)
    return [rep for rep, _ in done]


def _store(
    svc: Services, cfg: SourceConfig, sid: int, reading: Reading, lease: Lease, prepared: Prepared | None
) -> SourceReport:
    with svc.store.session() as s:
        rep, counts = _store_in(s, svc, cfg, sid, reading, lease, prepared)
    _log_skips(cfg.name, counts)
    return rep


def _log_skips(name: str, counts: Counts) -> None:
    if counts.skipped:
        log.info(
            "source %s: %d of %d entries skipped, most for: %s",
            name,
            counts.skipped,
            counts.seen,
            counts.skip_reason,
        )


def _store_in(
    s: Session,
    svc: Services,
    cfg: SourceConfig,
    sid: int,
    reading: Reading,
    lease: Lease,
    prepared: Prepared | None,
) -> tuple[SourceReport, Counts]:
    """One source's stories and its new state, in the caller's transaction."""
    max_age = svc.settings.max_age if cfg.max_age is None else cfg.max_age
    stories, past_retention = _within_retention(svc, reading.stories, max_age)
    plan, matcher = svc.plan_and_matcher()
    if cfg.demo and svc.slack_enabled:  # archival samples must never reach real channels as news
        plan = Plan(labels=plan.labels)
    signatures = None
    if prepared is not None:  # matched and signed in the read-ahead worker
        place = {id(st): k for k, st in enumerate(reading.stories)}
        batch = [(st, prepared.matches[place[id(st)]]) for st in stories]
        signatures = [prepared.signed[place[id(st)]] for st in stories]
    else:
        batch = [(st, matcher.match(st.title, st.summary)) for st in stories]
    skips = reading.skips + Counter({"older than [storage] retention": past_retention})
    skipped = sum(skips.values())
    # Undated stories are not alerted on a source's first poll: they may be years old.
    first = s.scalar(select(Source.last_success_at).where(Source.id == sid)) is None
    res = ingest(
        s,
        sid,
        batch,
        plan=plan,
        now=now_utc(),
        max_age=max_age,
        first_poll=first,
        first_alerts=cfg.first_poll_alerts,
        signatures=signatures,
    )
    res.past_retention = past_retention
    if reading.remember is not None:
        reading.remember(s)
    counts = Counts(reading.seen, res.stored, skipped, _commonest(skips))
    state.record_success(s, cfg, lease, stories=len(reading.stories), counts=counts, http=reading.http)
    report = SourceReport(
        cfg.name,
        "ok",
        stored=res.stored,
        duplicates=res.duplicates,
        planned=res.planned,
        error=reading.note,
        seen=reading.seen,
        skipped=skipped,
        skip_reason=counts.skip_reason,
        ingest=res,
    )
    return report, counts


def _within_retention(svc: Services, stories: list[Story], max_age: float) -> tuple[list[Story], int]:
    """Stories older than [storage] retention are not stored (they would only be pruned again),
    except from archival sources (max_age 0), whose old stories are the point."""
    if svc.settings.retention <= 0 or max_age == 0:
        return stories, 0
    oldest = now_utc() - timedelta(seconds=svc.settings.retention)
    kept = [st for st in stories if not st.dated or st.published >= oldest]
    return kept, len(stories) - len(kept)


def _commonest(reasons: Counter[str]) -> str:
    """The commonest reason for a skip, with its count: "no http(s) link (3)"; "" for none."""
    reasons = +reasons  # drop zero counts
    if not reasons:
        return ""
    why, n = reasons.most_common(1)[0]
    return f"{why} ({n})"
