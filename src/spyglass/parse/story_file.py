"""Markdown stories with YAML front matter (the shape of a news-API export) → Story."""

from __future__ import annotations

import json
import re
import tomllib
from datetime import datetime
from typing import Any

import frontmatter
import yaml
from frontmatter.default_handlers import BaseHandler, YAMLHandler
from markdown_it import MarkdownIt

from spyglass.defaults import MAX_RELATED_STORED, MAX_SUMMARY, MAX_TITLE
from spyglass.errors import DraftError, StoryFileError
from spyglass.models import RelatedLink, Story
from spyglass.parse.dates import parse_date
from spyglass.text import clean_text, truncate
from spyglass.urls import canonical_url, domain_of, link_url


class _StrictLoader(yaml.SafeLoader):
    """YAML without the 1.1 surprises: `NO`/`yes`/`on` stay strings, bare dates stay strings.

    A headline of `NO` must not become False, and we parse dates ourselves with time zones.
    """


_StrictLoader.yaml_implicit_resolvers = {
    first: [
        (tag, regexp)
        for tag, regexp in resolvers
        if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:timestamp")
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_StrictLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


class _Handler(YAMLHandler):
    def load(self, fm: str, **kwargs: Any) -> Any:
        return yaml.load(fm, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass


def parse_datetime(value: Any) -> datetime | None:
    """A front-matter date (YAML date or datetime, ISO 8601, RFC 822, `13 July 2021`…) or None."""
    if isinstance(value, bool):  # `published: true` is Jekyll's flag, not a date
        return None
    return parse_date(value)


class _TOMLHandler(BaseHandler):
    """`+++` front matter (Hugo), read with the standard library's TOML parser."""

    FM_BOUNDARY = re.compile(r"^\+{3}\s*$", re.MULTILINE)
    START_DELIMITER = END_DELIMITER = "+++"

    def load(self, fm: str, **kwargs: Any) -> Any:
        return tomllib.loads(fm)


class _JSONHandler(BaseHandler):
    """JSON front matter (Hugo): one JSON object at the top of the file, on one line or many."""

    FM_BOUNDARY = re.compile(r"^[{}]$", re.MULTILINE)  # required by the base class; split() ignores it

    def split(self, text: str) -> tuple[str, str]:
        head = text.lstrip("\ufeff \t\r\n")
        _, end = json.JSONDecoder().raw_decode(head)  # ValueError names the problem
        return head[:end], head[end:]

    def load(self, fm: str, **kwargs: Any) -> Any:
        return json.loads(fm)


def _handler(text: str) -> BaseHandler:
    head = text.lstrip("\ufeff")
    if head.startswith("+++"):
        return _TOMLHandler()
    if head.lstrip().startswith("{"):
        return _JSONHandler()
    return _Handler()


def _text(value: Any) -> str:
    if value is None or isinstance(value, dict | list):
        return ""
    return str(value)


def _http(url: Any) -> str:
    url = _text(url).strip()
    return url if re.match(r"^https?://[^\s/]+", url, re.I) else ""


_DATE_KEYS = ("publishedDateTime", "published", "pubDate", "publishDate", "date", "lastmod")
_LINK_KEYS = ("originalUrl", "webUrl", "url", "link", "permalink", "canonicalURL", "canonical_url")
_BARE_URL = re.compile(r"https?://\S+", re.I)
_markdown = MarkdownIt("commonmark", {"html": True})


def markdown_to_text(body: str) -> str:
    """A Markdown body as the plain text a reader sees: no `#`, `**`, link syntax, nor bare URLs
    (a topic phrase must never fire on a word inside a URL)."""
    return _BARE_URL.sub(" ", clean_text(_markdown.render(body[: MAX_SUMMARY * 4]), MAX_SUMMARY * 2))


def parse_story_text(text: str, *, source: str, file_id: str, now: datetime) -> Story:
    """Parse one front-matter document. Raises StoryFileError with a one-line reason (DraftError for drafts)."""
    try:
        post = frontmatter.loads(text, handler=_handler(text))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or "invalid YAML"
        raise StoryFileError(f"front matter is not valid YAML{where}: {problem}") from None
    except tomllib.TOMLDecodeError as e:
        raise StoryFileError(f"front matter is not valid TOML: {e}") from None
    except ValueError as e:  # JSON
        raise StoryFileError(f"front matter is not valid JSON: {str(e)[:120]}") from None
    meta = post.metadata
    if not isinstance(meta, dict) or not meta:
        raise StoryFileError(
            "no front matter (expected a block between --- lines, +++ for TOML, or {…} JSON)"
        )
    # Jekyll's `published: false` marks a draft; a news export's `published: false` beside its own
    # `publishedDateTime` is that export's flag (the seed story has it), not a draft.
    if meta.get("draft") is True or (meta.get("published") is False and "publishedDateTime" not in meta):
        raise DraftError("a draft (draft is true, or published is false), skipped")
    title = clean_text(_text(meta.get("title")), MAX_TITLE)
    if not title:
        raise StoryFileError("front matter has no title")
    link = next((u for u in (_http(meta.get(k)) for k in _LINK_KEYS) if u), "")
    if not link:
        raise StoryFileError(
            "front matter has no link (originalUrl, webUrl, url, link, permalink or canonicalURL)"
        )
    summary = clean_text(
        _text(meta.get("excerpt") or meta.get("summary") or meta.get("description")), MAX_SUMMARY
    )
    if not summary and post.content.strip():
        summary = truncate(" ".join(markdown_to_text(post.content).split()), MAX_SUMMARY)
    published = None
    for key in _DATE_KEYS:
        published = parse_datetime(meta.get(key))
        if published is not None:
            break
    dated = published is not None
    published = min(published or now, now)
    raw_provider = meta.get("provider")
    provider = (
        raw_provider
        if isinstance(raw_provider, dict)
        else {"name": raw_provider}
        if isinstance(raw_provider, str)
        else {}
    )
    related: list[RelatedLink] = []
    raw_related = meta.get("related")
    for item in raw_related if isinstance(raw_related, list) else []:
        if not isinstance(item, dict) or len(related) >= MAX_RELATED_STORED:
            continue
        url = _http(item.get("webUrl")) or _http(item.get("originalUrl")) or _http(item.get("url"))
        rtitle = clean_text(_text(item.get("title")), MAX_TITLE)
        if url and rtitle:
            rprov = item.get("provider")
            rname = rprov.get("name") if isinstance(rprov, dict) else rprov
            related.append(RelatedLink(rtitle, link_url(url), clean_text(_text(rname), 200)))
    return Story(
        url=canonical_url(link),
        original_url=link_url(link),
        title=title,
        summary=summary,
        published=published,
        source=source,
        guid=_text(meta.get("id")) or file_id,
        provider=clean_text(_text(provider.get("name")), 200),
        provider_domain=_text(provider.get("domain")) or domain_of(link),
        image=_image(meta),
        related=related,
        dated=dated,
    )


def _image(meta: dict[str, Any]) -> str:
    """`image:`/`images:` as a string, a list of strings, or objects with `url`/`src`."""
    for key in ("image", "images", "thumbnail", "featured_image"):
        value = meta.get(key)
        for item in value if isinstance(value, list) else [value]:
            url = _http(item.get("url") or item.get("src")) if isinstance(item, dict) else _http(item)
            if url:
                return url
    return ""
