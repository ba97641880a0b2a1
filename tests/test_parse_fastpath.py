"""The fast parser (feedparser-rs) and the robust one (feedparser) must agree wherever the fast one is used."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from spyglass.parse import feed as feedmod
from spyglass.parse.feed import parse_feed

FEEDS = Path(__file__).parent / "fixtures" / "feeds"
NOW = datetime(2026, 11, 26, tzinfo=timezone.utc)


def both(body: bytes, monkeypatch: pytest.MonkeyPatch, headers: dict[str, str] | None = None):
    fast = parse_feed(body, source="s", base_url="https://feeds.example/f.xml", headers=headers, now=NOW)
    monkeypatch.setattr(feedmod, "_rs", None)
    slow = parse_feed(body, source="s", base_url="https://feeds.example/f.xml", headers=headers, now=NOW)
    monkeypatch.undo()
    return fast, slow


@pytest.mark.skipif(feedmod._rs is None, reason="feedparser-rs is not installed on this platform")
@pytest.mark.parametrize(
    "name", sorted(p.name for p in FEEDS.iterdir() if p.suffix in (".xml", ".atom", ".rdf"))
)
def test_fast_and_robust_parsers_agree_on_every_fixture(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    body = (FEEDS / name).read_bytes()
    try:
        fast, slow = both(body, monkeypatch)
    except feedmod.FeedError:
        pytest.skip(f"{name} is not a feed (both parsers must refuse it: see test_parse_feed)")
    key = [
        (s.url, s.title, s.summary, s.published, s.dated, s.guid, s.provider, s.image) for s in slow.stories
    ]
    assert [
        (s.url, s.title, s.summary, s.published, s.dated, s.guid, s.provider, s.image) for s in fast.stories
    ] == key
    # The comparison means something only where the fast parser really read the feed.
    assert fast.fast is (name in FAST_FIXTURES), f"{name}: fast path {'not ' if not fast.fast else ''}taken"
    assert not slow.fast


# Plain, well-formed UTF-8 feeds: the fast parser must be the one that reads them. The others hold
# shapes it misreads (xml:base, markup inside text elements, other encodings, RSS 0.91's entities).
FAST_FIXTURES = {"atom03.xml", "no_encoding.xml", "rss10_rdf.xml", "rss20.xml"}


@pytest.mark.skipif(feedmod._rs is None, reason="feedparser-rs is not installed on this platform")
def test_fallback_cases_use_the_robust_parser(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = feedmod.feedparser.parse

    def counted(*a: Any, **k: Any) -> Any:
        calls.append(1)
        return real(*a, **k)

    monkeypatch.setattr(feedmod.feedparser, "parse", counted)
    ok = b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title><item><title>A</title><link>https://x.example/1</link></item></channel></rss>'
    parse_feed(ok, source="s", base_url="")
    assert calls == []  # clean UTF-8: the fast path
    for body, headers in [
        (ok.replace(b"<title>A</title>", b"<title>A & B</title>"), None),  # bare &: fast parser gives up
        (ok.replace(b"<title>A</title>", "<title>caf\xe9</title>".encode("cp1252")), None),  # not UTF-8
        (ok.replace(b"utf-8", b"iso-8859-1"), None),  # declared another encoding
        (ok, {"Content-Type": "application/rss+xml; charset=windows-1252"}),  # HTTP names another charset
    ]:
        calls.clear()
        parsed = parse_feed(body, source="s", base_url="", headers=headers)
        assert calls == [1] and len(parsed.stories) == 1
