"""Looking at a feed before it becomes a source (`/spyglass feed add`, `spyglass feeds import`):
fetched once through the untrusted path (the address guard: no loopback, private, link-local,
multicast or reserved address, checked after DNS, on every redirect and on the connected peer),
parsed, and — when the URL is a web page — followed to the feed it names in
`<link rel="alternate" type="application/rss+xml">` (feed discovery). Every refusal is one line.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urljoin, urlsplit

from selectolax.lexbor import LexborHTMLParser

from spyglass.clock import now_utc
from spyglass.config import Settings
from spyglass.defaults import MAX_URL
from spyglass.errors import FeedError, SourceRefused
from spyglass.parse.feed import ParsedFeed, parse_feed
from spyglass.sources.feed import make_fetcher
from spyglass.sources.fetch import FetchResult
from spyglass.urls import redact_url

_FEED_TYPES = ("application/rss+xml", "application/atom+xml", "application/rdf+xml")


@dataclass(frozen=True)
class Checked:
    url: str  # the feed's own URL (the discovered one when a page was given)
    title: str
    stories: int
    newest: datetime | None
    discovered: bool = False


def valid_url(url: str) -> str:
    """The URL, stripped, if it can be a feed's; else SourceRefused saying why."""
    url = url.strip().strip("<>")  # Slack wraps links it recognises in <…>
    url = url.split("|", 1)[0]
    if len(url) > MAX_URL:
        raise SourceRefused(f"that URL is {len(url):,} characters long; a feed's is under {MAX_URL:,}")
    if not re.match(r"^https?://[^/\s]+", url, re.I):
        raise SourceRefused(f"{url[:200]!r} is not an http(s) URL")
    if "@" in urlsplit(url).netloc:
        raise SourceRefused(
            "URLs with a user name or password cannot be added from Slack; put such a feed in the config file"
        )
    return url


def check_feed(settings: Settings, url: str) -> Checked:
    """Fetch and read ``url`` as an untrusted source would be; follow a web page to its feed once."""
    url = valid_url(url)
    got = _get(settings, url)
    try:
        parsed = _parse(got)
        return _checked(url, parsed)
    except FeedError as e:
        found = discover(got)
        if found is None:
            why = "a web page that names no feed" if _looks_html(got) else f"not an RSS or Atom feed ({e})"
            raise SourceRefused(f"{redact_url(url)} is {why}") from None
    feed = _get(settings, found)
    try:
        return _checked(found, _parse(feed), discovered=True)
    except FeedError as e:
        raise SourceRefused(
            f"{redact_url(url)} names the feed {found}, but that is not a feed either ({e})"
        ) from None


def _get(settings: Settings, url: str) -> FetchResult:
    async def go() -> FetchResult:
        async with make_fetcher(settings) as fetcher:
            return await fetcher.fetch(url, trusted=False)

    got = asyncio.run(go())
    if got.kind != "ok":
        raise SourceRefused(f"cannot fetch {redact_url(url)}: {got.error or f'HTTP {got.http_status}'}")
    return got


def _parse(got: FetchResult) -> ParsedFeed:
    return parse_feed(got.body, source="check", base_url=got.url, headers=got.headers, now=now_utc())


def _checked(url: str, parsed: ParsedFeed, *, discovered: bool = False) -> Checked:
    newest = max((st.published for st in parsed.stories if st.dated), default=None)
    return Checked(url, parsed.title.strip(), len(parsed.stories), newest, discovered)


def _looks_html(got: FetchResult) -> bool:
    head = got.body[:2048].lstrip().lower()
    return "html" in got.headers.get("content-type", "") or head.startswith((b"<!doctype html", b"<html"))


def discover(got: FetchResult) -> str | None:
    """The first feed a web page names in a `<link rel="alternate" type="application/rss+xml">`."""
    if not _looks_html(got):
        return None
    tree = LexborHTMLParser(got.body[: 2 * 2**20].decode("utf-8", "replace"))
    for link in tree.css("link[rel][href]"):
        rel = (link.attributes.get("rel") or "").lower().split()
        kind = (link.attributes.get("type") or "").lower().split(";")[0].strip()
        href = (link.attributes.get("href") or "").strip()
        if "alternate" in rel and kind in _FEED_TYPES and href:
            target = urljoin(got.url, href)
            if re.match(r"^https?://", target, re.I) and len(target) <= MAX_URL:
                return target
    return None
