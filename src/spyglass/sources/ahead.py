"""Reading fetched feeds ahead, on the second core: a worker process parses each feed, matches its
stories and signs them (MinHash) while this process stores the feeds before it.

Those three are about a quarter of a cold `poll --once`, and pure: bytes in, stories out, no
database. Storing stays here, in order, each source as it would be without the worker (though
several to a transaction: see `refresh._store_together`). Whatever goes wrong in the worker (a
feed that does not parse, a worker that died) only means that feed is read here instead, the usual
way, with its usual error handling.

The worker is a fresh interpreter (spawned), not a fork of this process. A fork shared little:
CPython writes a reference count into every object either process touches, so within a second
most of the parent's heap had been copied into the worker, and the job's memory (parent and worker)
went from ~113 to ~160 MB. A spawned worker imports only what it runs (the parser, the matcher,
MinHash; not SQLAlchemy, httpx or Slack) and is handed the matcher pickled. It takes a few tenths of
a second to start; meanwhile this process reads the first feeds itself rather than wait.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from spyglass.models import Match
from spyglass.parse.feed import ParsedFeed, parse_feed

if TYPE_CHECKING:  # the worker imports this module: it must not load the database layer
    from concurrent.futures import Future

    from spyglass.sources.base import Reading
    from spyglass.sources.feed import FeedSource
    from spyglass.topics.matcher import Matcher

log = logging.getLogger(__name__)

# Feeds handed to the worker before their turn: keeps it busy while this process stores the feeds
# before them, ten at a time (refresh.STORE_TOGETHER), and bounds what waits in memory.
AHEAD = 20
MIN_FEEDS = 8  # fewer changed feeds than this are read here: the worker's start-up would not pay


@dataclass
class Prepared:
    """One feed read in the worker: its reading, and each story's matches and signature, in order."""

    reading: Reading
    matches: Sequence[Sequence[Match]]
    signed: Sequence[tuple[Any, list[int]]]
    pid: int  # the process that read it


_Worked = tuple[ParsedFeed, list[list[Match]], list[tuple[Any, list[int]]], int]
_matcher: Matcher | None = None  # the worker's own, set when it starts


def _start(matcher: Matcher) -> None:
    global _matcher
    _matcher = matcher
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the parent, which stops the worker
    parent = os.getppid()

    def orphaned() -> None:  # a parent killed outright (SIGKILL, OOM) never shuts the pool down
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=orphaned, name="orphan-check", daemon=True).start()


def _work(name: str, body: bytes, url: str, headers: Mapping[str, str], now: Any) -> _Worked | None:
    from spyglass.dedupe import signed  # numpy: not for a poll where every feed answered 304

    assert _matcher is not None
    try:
        parsed = parse_feed(body, source=name, base_url=url, headers=headers, now=now)
    except Exception:  # noqa: BLE001 - read again in the parent, which reports the error properly
        return None
    matches = [_matcher.match(st.title, st.summary) for st in parsed.stories]
    return parsed, matches, [signed(st.title, st.summary, st.url) for st in parsed.stories], os.getpid()


class ReadAhead:
    """Hands feeds to one worker process, AHEAD at a time, and gives back each one's `Prepared` (or
    None: read it here) when its turn comes. Use as a context manager.

    ``wait=False``: until the worker has sent its first feed back (it is still starting), a feed
    whose turn comes is read here instead of waited for."""

    def __init__(self, feeds: Sequence[FeedSource], matcher: Matcher, *, wait: bool = True) -> None:
        import multiprocessing  # here, not at the top: a poll with nothing new never needs them
        from concurrent.futures import ProcessPoolExecutor

        from spyglass.clock import now_utc

        self._now = now_utc()
        self._wait, self._started = wait, False
        self._waiting = deque(f for f in feeds if f.fetched.kind == "ok")
        self._pool = ProcessPoolExecutor(
            1, mp_context=multiprocessing.get_context("spawn"), initializer=_start, initargs=(matcher,)
        )
        self._queued: dict[int, Future[_Worked | None]] = {}
        for _ in range(AHEAD):
            self._submit()

    def _submit(self) -> None:
        if self._waiting:
            feed = self._waiting.popleft()
            got = feed.fetched
            try:
                self._queued[id(feed)] = self._pool.submit(
                    _work, feed.cfg.name, got.body, got.url, got.headers, self._now
                )
            except RuntimeError:  # the pool broke (BrokenProcessPool is one): read the rest here
                self._waiting.clear()

    def take(self, feed: FeedSource) -> Prepared | None:
        future = self._queued.pop(id(feed), None)
        self._submit()
        if future is None:
            return None
        if not (self._wait or self._started or future.done()):
            future.cancel()  # spares the worker a feed it has not begun; harmless if it has
            return None
        try:
            worked = future.result()
        except Exception as e:  # noqa: BLE001 - e.g. the worker was killed: read here instead
            log.info("read-ahead worker failed (%s); reading feeds in this process", type(e).__name__)
            return None
        self._started = True
        if worked is None:
            return None
        parsed, matches, sigs, pid = worked
        return Prepared(feed.reading_of(parsed), matches, sigs, pid)

    def __enter__(self) -> ReadAhead:
        return self

    def __exit__(self, *exc: object) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
