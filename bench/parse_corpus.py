"""Parse time and fast-path share on one corpus, before and after the trust checks, against feedparser.

The corpus: the benchmark's generated feeds, the project's own fixture feeds (tests/fixtures/feeds,
traps included), and any folders given with `--feeds DIR` (e.g. public parser test suites fetched
for a one-off measurement; they are not part of the repository). Three readings of the same bytes:

  (a) feedparser alone, as Spyglass calls it (no sanitizing, no URI rewriting): the baseline;
  (b) "before": feedparser-rs trusted whenever it reports no error and finds entries (the rule
      before the real-feeds work), feedparser otherwise;
  (c) "after": the shipped parse_feed, which also distrusts the shapes feedparser-rs misreads.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import feedparser

import gen

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "feeds"
SUFFIXES = (".xml", ".rss", ".atom", ".rdf")


def corpus(quick: bool, extra: list[Path], seed: int) -> list[bytes]:
    bodies = gen.make_feeds(20 if quick else 100, 50, seed)
    for folder in [FIXTURES, *extra]:
        bodies += [p.read_bytes() for p in sorted(folder.rglob("*")) if p.suffix.lower() in SUFFIXES]
    return bodies


def _time(fn: Callable[[], Any], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def measure(bodies: list[bytes], repeat: int) -> dict[str, float]:
    from spyglass.parse import feed as feedmod

    def shipped() -> tuple[int, int, int]:
        feeds = fast = entries = 0
        for body in bodies:
            try:
                parsed = feedmod.parse_feed(body, source="b", base_url="https://bench.example/feed.xml")
            except feedmod.FeedError:
                continue
            feeds += 1
            fast += parsed.fast
            entries += len(parsed.stories)
        return feeds, fast, entries

    def feedparser_only() -> None:
        for body in bodies:
            feedparser.parse(io.BytesIO(body), sanitize_html=False, resolve_relative_uris=False)

    after_s = _time(shipped, repeat)
    feeds, fast_after, _ = shipped()
    baseline_s = _time(feedparser_only, repeat)
    # "before": no shape checks, no entry count check (the earlier rule), same code otherwise.
    misread, complete = feedmod._misread_shape, feedmod._complete
    feedmod._misread_shape = lambda outside: False  # type: ignore[assignment]
    feedmod._complete = lambda d, outside: True  # type: ignore[assignment]
    try:
        before_s = _time(shipped, repeat)
        _, fast_before, _ = shipped()
    finally:
        feedmod._misread_shape, feedmod._complete = misread, complete
    return {
        "feeds": feeds,
        "baseline_s": baseline_s,
        "before_s": before_s,
        "after_s": after_s,
        "fast_before": fast_before / max(feeds, 1),
        "fast_after": fast_after / max(feeds, 1),
    }
