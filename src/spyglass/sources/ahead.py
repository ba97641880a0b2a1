"""Reading fetched feeds ahead, on the second core: a worker process parses each feed, matches its
stories and signs them (MinHash) while this process stores the feeds before it.

Those three are about a quarter of a cold `poll --once`, and pure: bytes in, stories out, no
database. Storing stays here, in order, one source per transaction, exactly as without the worker.
Whatever goes wrong in the worker (a feed that does not parse, a worker that died) only means that
feed is read here instead, the usual way, with its usual error handling.

Only `poll --once` uses it: its process has no other threads when the worker is forked, so the
worker inherits the loaded modules and the topic matcher without re-importing or rebuilding them.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from spyglass.models import Match
from spyglass.sources.base import Reading
from spyglass.sources.feed import FeedSource
from spyglass.store.ingest import signed
from spyglass.topics import Matcher

if TYPE_CHECKING:
    from concurrent.futures import Future

log = logging.getLogger(__name__)

AHEAD = 8  # feeds handed to the worker before their turn: keeps it busy, bounds what waits in memory
MIN_FEEDS = 8  # fewer changed feeds than this are read here: the worker's start-up would not pay


@dataclass
class Prepared:
    """One feed read in the worker: its reading, and each story's matches and signature, in order."""

    reading: Reading
    matches: Sequence[Sequence[Match]]
    signed: Sequence[tuple[Any, list[int]]]
    pid: int = field(default_factory=os.getpid)  # the process that read it


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


def _prepare(feed: FeedSource) -> Prepared | None:
    assert _matcher is not None
    try:
        reading = feed.read(None, 0)  # type: ignore[arg-type]  # an HTTP feed's read never uses the store
    except Exception:  # noqa: BLE001 - read again in the parent, which reports the error properly
        return None
    matches = [_matcher.match(st.title, st.summary) for st in reading.stories]
    return Prepared(reading, matches, [signed(st) for st in reading.stories])


class ReadAhead:
    """Hands feeds to one worker process, AHEAD at a time, and gives back each one's `Prepared` (or
    None: read it here) when its turn comes. Use as a context manager."""

    def __init__(self, feeds: Sequence[FeedSource], matcher: Matcher) -> None:
        import multiprocessing  # here, not at the top: a poll with nothing new never needs them
        from concurrent.futures import ProcessPoolExecutor

        self._waiting = deque(feeds)
        self._pool = ProcessPoolExecutor(
            1, mp_context=multiprocessing.get_context("fork"), initializer=_start, initargs=(matcher,)
        )
        self._queued: dict[int, Future[Prepared | None]] = {}
        for _ in range(AHEAD):
            self._submit()

    def _submit(self) -> None:
        if self._waiting:
            feed = self._waiting.popleft()
            try:
                self._queued[id(feed)] = self._pool.submit(_prepare, feed)
            except RuntimeError:  # the pool broke (BrokenProcessPool is one): read the rest here
                self._waiting.clear()

    def take(self, feed: FeedSource) -> Prepared | None:
        future = self._queued.pop(id(feed), None)
        self._submit()
        if future is None:
            return None
        try:
            return future.result()
        except Exception as e:  # noqa: BLE001 - e.g. the worker was killed: read here instead
            log.info("read-ahead worker failed (%s); reading feeds in this process", type(e).__name__)
            return None

    def __enter__(self) -> ReadAhead:
        return self

    def __exit__(self, *exc: object) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
