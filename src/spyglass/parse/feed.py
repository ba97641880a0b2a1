"""RSS 0.9x/1.0/2.0 and Atom 0.3/1.0 bytes → ``Story`` objects, via feedparser-rs or feedparser.

feedparser-rs (a Rust parser with feedparser's dict shape) is tried first: it is ~20× faster, which
makes parsing no longer the bulk of a cold poll. It gives up on markup feedparser recovers from (a
bare ``&``, an unclosed tag) and ignores the HTTP charset, so whenever it reports the feed malformed,
finds no entries, or the server names a charset other than UTF-8, feedparser — the robust parser —
parses the feed instead. The benchmark suite measures both on the same bytes.

feedparser is always given the bytes wrapped in a stream: handed a ``str`` or ``bytes`` it will
happily treat the value as a URL to fetch or a local path to open (a response body of
``/etc/passwd`` would read that file), so it never sees anything but a ``BytesIO``. Its own HTML
sanitizing and relative-URI rewriting are off (slow, and we reduce everything to plain text with
``clean_text`` anyway); links are resolved against ``base_url`` here.
"""

from __future__ import annotations

import html
import io
import re
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urljoin, urlsplit

import feedparser

from spyglass.defaults import MAX_GUID, MAX_ITEMS, MAX_PROVIDER, MAX_SUMMARY, MAX_TITLE
from spyglass.errors import FeedError
from spyglass.models import Story
from spyglass.parse.dates import parse_date
from spyglass.text import clean_text, repair_bare_ampersands, truncate
from spyglass.urls import (
    MAX_URL,
    canonical_url,
    domain_of,
    is_google_news,
    link_url,
    strip_outlet_suffix,
    unwrap_redirect,
)

_rs: Any
try:  # optional: the fast path; everything works (slower) without it
    import feedparser_rs as _rs
except ImportError:  # pragma: no cover - depends on the platform having a wheel
    _rs = None

FUTURE_SLACK = timedelta(days=1)

# After one round of cleaning, markup that is still there was escaped twice by the publisher
# (Atom type="html" titles like "&amp;lt;b&amp;gt;"): these common tags get a second round.
_LEFTOVER_TAG = re.compile(
    r"</?(?:a|abbr|b|big|blockquote|br|cite|code|div|em|font|h[1-6]|hr|i|img|li|mark|ol|p|q|s|small|span"
    r"|strike|strong|sub|sup|u|ul)\b[^<>]{0,500}>",
    re.I,
)
_IMAGE_EXT = re.compile(r"\.(?:jpe?g|png|gif|webp|avif)(?:$|[?#])", re.I)


@dataclass
class ParsedFeed:
    stories: list[Story]
    title: str
    bozo: str = ""  # one line when feedparser flagged the feed as malformed but still read it
    version: str = ""  # feedparser's format name, e.g. "rss20", "atom10", "rss10"
    link: str = ""  # the feed's home page, when given
    fast: bool = False  # read by feedparser-rs (the fast path) rather than feedparser
    skips: Counter[str] = field(default_factory=Counter)  # why entries were dropped, with counts
    undated: int = 0  # stories whose date could not be read
    undated_example: str = ""  # one raw date string that could not be read ("" when there was none)

    @property
    def skipped(self) -> int:
        return sum(self.skips.values())


def parse_feed(
    body: bytes,
    *,
    source: str,
    base_url: str,
    headers: Mapping[str, str] | None = None,
    now: datetime | None = None,
    max_items: int = MAX_ITEMS,
) -> ParsedFeed:
    """Parse a feed body into stories (at most ``max_items``). Raises ``FeedError`` if it is not a feed.

    ``base_url`` is where the bytes came from (the final fetch URL, or a ``file:`` URL). Relative links
    resolve against ``xml:base``, else the feed's own ``<link>``, else ``base_url``.
    """
    if not body or not body.strip():
        raise FeedError("empty body")
    now = _aware(now) if now is not None else datetime.now(UTC)
    d, fast = _parse(body, headers or {}, base_url)
    version = str(d.get("version") or "")
    entries = d.get("entries") or []
    bozo = _one_line(d.get("bozo_exception")) if d.get("bozo") else ""
    if not entries and not version:
        raise FeedError(_not_a_feed(body, bozo))

    feed = d.get("feed") or {}
    feed_link = _http_url(feed.get("link"), base_url)
    out = ParsedFeed(
        stories=[],
        title=clean_text(feed.get("title"), MAX_TITLE),
        bozo=bozo,
        version=version,
        link=feed_link,
        fast=fast,
    )
    base = feed_link or base_url
    ids: set[str] = set()
    for i, entry in enumerate(entries):
        if len(out.stories) >= max_items:
            out.skips[f"more than {max_items} entries in one feed"] += len(entries) - i  # the rest, unread
            break
        story, why = _story(entry, source=source, base_url=base, feed_title=out.title, now=now)
        if story is not None and story.guid and story.guid in ids:
            story, why = None, "repeated id within the feed"
        if story is None:
            out.skips[why] += 1
            continue
        if story.guid:
            ids.add(story.guid)
        if not story.dated:
            out.undated += 1
            out.undated_example = out.undated_example or _raw_date(entry)
        out.stories.append(story)
    return out


_CHARSET = re.compile(r"charset\s*=\s*[\"']?([\w.:-]+)", re.I)


_XML_ENCODING = re.compile(rb"^\s*<\?xml[^>]{0,200}encoding\s*=\s*[\"']([\w.:-]+)", re.I)
_UTF8 = ("utf-8", "utf8", "us-ascii", "ascii")


def _plain_utf8(body: bytes, headers: Mapping[str, str]) -> bool:
    """Is this feed UTF-8 by every account (header, declaration, bytes)? Only then is the fast parser used."""
    m = _CHARSET.search(str({k.lower(): v for k, v in headers.items()}.get("content-type", "")))
    if m is not None and m.group(1).lower().replace("_", "-") not in _UTF8:
        return False
    d = _XML_ENCODING.match(body)
    if d is not None and d.group(1).decode("ascii", "replace").lower().replace("_", "-") not in _UTF8:
        return False
    try:
        body.decode("utf-8")  # cp1252 bytes declared UTF-8 are common; feedparser repairs them
    except UnicodeDecodeError:
        return False
    return True


# Shapes feedparser-rs 0.7 reads wrongly (each found on real feeds; see tests/test_feed_traps.py). A
# feed showing any of them is parsed by feedparser instead. They are looked for outside CDATA.
_CDATA = re.compile(rb"<!\[CDATA\[.*?\]\]>", re.S)
_UNREAD = (b"xml:base", b"<dcterms:", b"<itunes:image", b"<source")  # ignored, or not read at all
_SELF_CLOSING = re.compile(rb"<[A-Za-z_][\w.:-]*\s*/>")  # an empty element swallows the one after it
_CHILD_MARKUP = re.compile(rb"<(?:description|summary|content|content:encoded|title)\b[^>]*>\s*<[A-Za-z]")
_ATTR_ENTITY = re.compile(rb"=[ \t]*(?:\"[^\"<>]*&|'[^'<>]*&)")  # `&amp;` in an attribute stays encoded
_ITEM = re.compile(rb"<(?:item|entry)[\s>]")


def _misread_shape(outside_cdata: bytes) -> bool:
    """Does the feed (outside CDATA) hold a shape feedparser-rs 0.7 reads wrongly? Cheap tests first."""
    o = outside_cdata
    return (
        any(marker in o for marker in _UNREAD)
        or (b"&" in o and _ATTR_ENTITY.search(o) is not None)
        or _SELF_CLOSING.search(o) is not None
        or _CHILD_MARKUP.search(o) is not None
    )


def _complete(d: Any, outside_cdata: bytes) -> bool:
    """The output checked too: every <item>/<entry> of the raw bytes must have become an entry."""
    return len(d.entries) == len(_ITEM.findall(outside_cdata))


def _parse(body: bytes, headers: Mapping[str, str], base_url: str) -> tuple[Any, bool]:
    """feedparser-rs's reading when it can be trusted, else feedparser's; and which one it was."""
    if _rs is not None and body.lstrip()[:1] == b"<" and _plain_utf8(body, headers):
        outside = _CDATA.sub(b"", body) if b"<![CDATA[" in body else body
        if not _misread_shape(outside):
            try:
                d = _rs.parse(body, sanitize_html=False, resolve_relative_uris=False)
            except Exception:  # any trouble at all: the robust parser decides
                d = None
            if d is not None and not d.bozo and d.entries and _complete(d, outside):
                return d, True
    # No content-location: feedparser would resolve entry ids against it (one GUID rule for both
    # parsers: the id as written); links are resolved here instead. Except under xml:base, whose
    # relative forms (`xml:base=""`, `"#top"`) mean the document's own URL.
    fp_headers = _feedparser_headers(headers)
    if b"xml:base" in body and base_url:
        fp_headers["content-location"] = base_url
    return feedparser.parse(
        io.BytesIO(body),
        response_headers=fp_headers,
        sanitize_html=False,
        resolve_relative_uris=False,
    ), False


def _story(
    entry: Any, *, source: str, base_url: str, feed_title: str, now: datetime
) -> tuple[Story | None, str]:
    """One entry → a Story, or None and the reason it was skipped."""
    link = _entry_link(entry, base_url)
    if not link:  # permalink GUIDs were already promoted to links by the parsers
        return None, "no http(s) link" if not _has_any_link(entry) else "link is not http(s)"
    title = _text(entry.get("title"), entry.get("title_detail"), MAX_TITLE)
    summary_detail = entry.get("summary_detail")
    raw_summary = entry.get("summary")
    if not raw_summary:
        for content in entry.get("content") or []:
            if content.get("value"):
                raw_summary, summary_detail = content.get("value"), content
                break
    summary = _text(raw_summary, summary_detail, MAX_SUMMARY)
    if not title and not summary:
        return None, "no title or text"
    source_el = entry.get("source") or {}
    outlet = clean_text(source_el.get("title"), MAX_PROVIDER) if isinstance(source_el, Mapping) else ""
    outlet_url = _http_url(source_el.get("href"), base_url) if isinstance(source_el, Mapping) else ""
    if is_google_news(link) and outlet:
        # "Headline - Outlet": the outlet is no part of the story (nor of its near-duplicate signature).
        title = strip_outlet_suffix(title, outlet)
        summary = strip_outlet_suffix(summary, outlet)
        if summary.casefold() in (title.casefold(), f"{title} {outlet}".casefold()):
            summary = ""  # Google News' description only repeats the headline and the outlet
    published, dated = _published(entry, now)
    provider = outlet or _provider(entry)
    if not provider and _redirected(entry, link):
        provider = domain_of(link)  # a Google Alert's feed title names the alert, not the outlet
    return Story(
        url=canonical_url(link),
        original_url=link_url(link),
        title=title or truncate(summary, 200),
        summary=summary,
        published=published,
        source=source,
        guid=str(entry.get("id") or "").strip()[:MAX_GUID],
        provider=provider or feed_title,
        provider_domain=domain_of(outlet_url) if outlet_url and is_google_news(link) else domain_of(link),
        image=_image(entry, link),
        dated=dated,
    ), ""


def _text(raw: Any, detail: Any, limit: int) -> str:
    if not raw or not isinstance(raw, str):
        return ""
    kind = str((detail or {}).get("type") or "")
    if kind == "text/plain":
        # Already plain text: protect literal "<" from the tag stripper, still fold stray entities.
        return clean_text(html.escape(repair_bare_ampersands(raw, "&"), quote=False), limit)
    text = clean_text(raw, limit)
    if "<" in text and _LEFTOVER_TAG.search(text):
        text = clean_text(text, limit)
    return text


def _entry_link(entry: Any, base_url: str) -> str:
    candidates: list[Any] = [entry.get("link")]
    for link in entry.get("links") or []:
        if link.get("rel", "alternate") == "alternate":
            candidates.append(link.get("href"))
    for candidate in candidates:
        url = _http_url(candidate, base_url)
        if url:
            return unwrap_redirect(url)  # a Google Alerts link is the story it points to
    return ""


def _redirected(entry: Any, link: str) -> bool:
    raw = entry.get("link") or ""
    return isinstance(raw, str) and bool(raw) and unwrap_redirect(raw) != raw


def _has_any_link(entry: Any) -> bool:
    return bool(entry.get("link") or any(link.get("href") for link in entry.get("links") or []))


def _http_url(value: Any, base_url: str) -> str:
    """An absolute http(s) URL from ``value`` (resolved against ``base_url``), or ""."""
    if not value or not isinstance(value, str):
        return ""
    value = value.strip()
    if len(value) > MAX_URL:
        return ""
    try:
        url = urljoin(base_url, value) if base_url else value
        parts = urlsplit(url)
    except ValueError:
        return ""
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return ""
    return url


_DATE_KEYS = (
    ("published_parsed", "published"),
    ("updated_parsed", "updated"),
    ("created_parsed", "created"),
    ("dc_date_parsed", "dc_date"),
)


def _published(entry: Any, now: datetime) -> tuple[datetime, bool]:
    """The entry's own date (published, else updated, else created/dc:date) and whether it had one.

    A date in the future (a publisher's clock or time zone gone wrong) is clamped to now. An entry
    with no readable date gets now, marked undated, so it is never passed off as fresh news.
    """
    for parsed_key, raw_key in _DATE_KEYS:
        # plain lookup: feedparser's FeedParserDict aliasing is deprecated; feedparser-rs is no dict
        parsed = dict.get(entry, parsed_key) if isinstance(entry, dict) else entry.get(parsed_key)
        when = parse_date(parsed) if isinstance(parsed, time.struct_time) else None
        raw = dict.get(entry, raw_key) if isinstance(entry, dict) else entry.get(raw_key)
        if when is None or _ignored_pm(raw, when):
            when = parse_date(raw) or when  # forms the parser missed (or read without its PM)
        if when is not None:
            return (now if when > now + FUTURE_SLACK else when), True
    return now, False


def _ignored_pm(raw: Any, when: datetime) -> bool:
    """feedparser reads `… 02:02:33 PM` as 02:02:33: re-read such strings ourselves."""
    return isinstance(raw, str) and when.hour < 12 and _PM.search(raw) is not None


_PM = re.compile(r"\d\s*[Pp]\.?[Mm]\.?\s*$")


def _raw_date(entry: Any) -> str:
    for _, raw_key in _DATE_KEYS:
        raw = dict.get(entry, raw_key) if isinstance(entry, dict) else entry.get(raw_key)
        if isinstance(raw, str) and raw.strip():
            return raw.strip()[:100]
    return ""


def _provider(entry: Any) -> str:
    source = entry.get("source") or {}
    detail = entry.get("author_detail") or {}
    for raw in (source.get("title"), detail.get("name"), entry.get("author")):
        name = clean_text(raw, MAX_PROVIDER) if isinstance(raw, str) else ""
        if name:
            return name
    return ""


def _image(entry: Any, link: str) -> str:
    candidates: list[Any] = []
    for thumb in entry.get("media_thumbnail") or []:
        candidates.append(thumb.get("url"))
    for media in entry.get("media_content") or []:
        medium = str(media.get("medium") or "")
        mime = str(media.get("type") or "")
        url = media.get("url")
        if (
            medium == "image"
            or mime.startswith("image/")
            or (not medium and not mime and isinstance(url, str) and _IMAGE_EXT.search(url))
        ):
            candidates.append(url)
    for enclosure in entry.get("enclosures") or []:
        if str(enclosure.get("type") or "").startswith("image/"):
            candidates.append(enclosure.get("href") or enclosure.get("url"))
    image = entry.get("image")
    if isinstance(image, Mapping):
        candidates.append(image.get("href") or image.get("url"))
    for candidate in candidates:
        url = _http_url(candidate, link)
        if url:
            return url
    return ""


def _feedparser_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Response headers for feedparser, with a content type that does not mislead it.

    The charset is what matters. Servers routinely label feeds text/html, text/plain or
    application/octet-stream, and RFC 3023 makes a charset-less text/xml mean US-ASCII; in all those
    cases the document's own declaration (or UTF-8 detection) is a better guide, so the media type
    becomes application/xml and only an explicit charset is kept.
    """
    raw = {k.lower(): v for k, v in headers.items()}.get("content-type", "")
    media, _, params = raw.partition(";")
    media = media.strip().lower()
    charset = ""
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip("'\""):
            charset = value.strip().strip("'\"")
    if not media.endswith("xml") or media == "text/xml":
        media = "application/xml"
    return {"content-type": media + (f"; charset={charset}" if charset else "")}


def _not_a_feed(body: bytes, bozo: str) -> str:
    head = body[:2048].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith((b"<!doctype html", b"<html")) or b"<html" in head or b"<body" in head:
        return "not a feed: looks like an HTML page"
    if head.startswith((b"{", b"[")):
        return "not a feed: looks like JSON"
    if head.startswith(b"%pdf"):
        return "not a feed: looks like a PDF"
    if bozo:
        return f"not a feed: {bozo}"
    return "not a feed: no RSS or Atom root element"


def _one_line(exc: Any) -> str:
    if exc is None:
        return "malformed feed"
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:200]


def _aware(dt: datetime) -> datetime:
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
