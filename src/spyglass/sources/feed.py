"""Feed sources: RSS/Atom over HTTP (fetched together, politely, before they are read) and feeds
saved on disk (the bundled sample, or feeds another tool syncs), read when their bytes change."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import threading
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from spyglass.clock import now_utc
from spyglass.config import Settings, SourceConfig
from spyglass.errors import FetchError, SourceError
from spyglass.parse.feed import ParsedFeed, parse_feed
from spyglass.service import Services
from spyglass.sources.base import Reading
from spyglass.sources.fetch import DEFAULT_USER_AGENT, Fetcher, FetchRequest, FetchResult
from spyglass.sources.netguard import AddressGuard
from spyglass.sources.state import HttpState
from spyglass.store.db import Store
from spyglass.store.schema import FolderFile, Source
from spyglass.urls import redact_url

log = logging.getLogger(__name__)


def _reading(cfg: SourceConfig, parsed: ParsedFeed) -> Reading:
    if parsed.bozo:
        log.info("source %s: feed is malformed but readable (%s)", cfg.name, parsed.bozo)
    if parsed.undated:
        log.warning(
            "source %s: %d stor%s without a readable date (e.g. %r): not alerted on a first poll",
            cfg.name,
            parsed.undated,
            "y" if parsed.undated == 1 else "ies",
            parsed.undated_example or "none given",
        )
    return Reading(
        stories=list(parsed.stories), seen=len(parsed.stories) + parsed.skipped, skips=parsed.skips
    )


class FeedSource:
    """A feed over HTTP, already fetched (feeds are fetched concurrently: `fetch_feeds`)."""

    def __init__(self, cfg: SourceConfig, fetched: FetchResult) -> None:
        self.cfg, self.fetched = cfg, fetched

    @property
    def unchanged(self) -> bool:
        """The server answered 304: nothing to read or store, only the source's bookkeeping."""
        return self.fetched.kind == "not_modified"

    @property
    def http(self) -> HttpState:
        got = self.fetched
        return HttpState(
            got.etag, got.last_modified, redact_url(got.url) if got.url != self.cfg.url else None
        )

    def read(self, store: Store, source_id: int) -> Reading:
        got = self.fetched
        if got.kind in ("error", "gone"):
            raise FetchError(
                got.error or f"HTTP {got.http_status}",
                retry_after=got.retry_after,
                disable=got.kind == "gone" and got.http_status == 410,
            )
        if self.unchanged:
            return Reading(unchanged=True, http=self.http)
        return self.reading_of(
            parse_feed(got.body, source=self.cfg.name, base_url=got.url, headers=got.headers, now=now_utc())
        )

    def reading_of(self, parsed: ParsedFeed) -> Reading:
        """What this feed gave, once its body is parsed (here, or by the read-ahead worker)."""
        reading = _reading(self.cfg, parsed)
        reading.http = self.http
        return reading


class FeedFileSource:
    """A feed saved on disk: parsed when its bytes change."""

    def __init__(self, cfg: SourceConfig, max_bytes: int) -> None:
        assert cfg.path is not None
        self.cfg, self.path, self.max_bytes = cfg, cfg.path, max_bytes

    def read(self, store: Store, source_id: int) -> Reading:
        try:
            st = self.path.stat()
            body = self.path.read_bytes()[: self.max_bytes + 1]
        except OSError as e:
            raise SourceError(f"cannot read {self.path}: {e.strerror}") from None
        if len(body) > self.max_bytes:
            raise SourceError(f"{self.path} is larger than the {self.max_bytes:,}-byte cap")
        digest = hashlib.sha256(body).hexdigest()
        with store.session() as s:
            prior = s.get(FolderFile, (source_id, ""))
            if prior is not None and prior.digest == digest:
                return Reading(unchanged=True)
        reading = _reading(
            self.cfg, parse_feed(body, source=self.cfg.name, base_url=self.path.as_uri(), now=now_utc())
        )

        def remember(s: Session) -> None:
            row = s.get(FolderFile, (source_id, ""))
            if row is None:
                row = FolderFile(source_id=source_id, path="")
                s.add(row)
            row.mtime_ns, row.size, row.digest = st.st_mtime_ns, st.st_size, digest

        reading.remember = remember
        return reading


def make_fetcher(settings: Settings) -> Fetcher:
    """The fetcher the settings describe. Sources from the config file are trusted; anything else is
    checked against internal addresses, except the hosts and networks the operator allows."""
    fc = settings.fetch
    guard = AddressGuard(settings.allow_hosts, settings.allow_networks)
    return Fetcher(
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


async def _fetch(
    svc: Services, feeds: Sequence[SourceConfig], stop: threading.Event | None
) -> list[FetchResult] | None:
    fetcher = make_fetcher(svc.settings)
    try:
        with svc.store.session() as s:
            rows = s.scalars(select(Source).where(Source.name.in_([f.name for f in feeds])))
            state = {r.name: r for r in rows}
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


def fetch_feeds(
    svc: Services, feeds: Sequence[SourceConfig], stop: threading.Event | None = None
) -> list[FeedSource] | None:
    """Fetch the feeds concurrently (per-host politeness in the `Fetcher`); None when ``stop`` was
    set before they all finished."""
    if not feeds:
        return []
    results = asyncio.run(_fetch(svc, feeds, stop))
    if results is None:
        return None
    return [FeedSource(cfg, got) for cfg, got in zip(feeds, results, strict=True)]
