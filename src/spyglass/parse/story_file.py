"""Markdown stories with YAML front matter (the shape of a news-API export) → Story."""

from __future__ import annotations

import re
from datetime import date, datetime, timezone
from typing import Any

import frontmatter
import yaml
from frontmatter.default_handlers import YAMLHandler

from spyglass.models import RelatedLink, Story
from spyglass.text import MAX_SUMMARY, MAX_TITLE, clean_text
from spyglass.urls import canonical_url, domain_of, link_url

MAX_RELATED = 20


class StoryFileError(ValueError):
    """The file is not a usable story; str() names the problem in one line."""


class _StrictLoader(yaml.SafeLoader):
    """YAML without the 1.1 surprises: `NO`/`yes`/`on` stay strings, bare dates stay strings.

    A headline of `NO` must not become False, and we parse dates ourselves with time zones.
    """


_StrictLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:timestamp")]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_StrictLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


class _Handler(YAMLHandler):
    def load(self, fm: str, **kwargs: Any) -> Any:
        return yaml.load(fm, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass


def parse_datetime(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=timezone.utc)
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            parsed = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


def _text(value: Any) -> str:
    if value is None or isinstance(value, dict | list):
        return ""
    return str(value)


def _http(url: Any) -> str:
    url = _text(url).strip()
    return url if re.match(r"^https?://[^\s/]+", url, re.I) else ""


def parse_story_text(text: str, *, source: str, file_id: str, now: datetime) -> Story:
    """Parse one front-matter document. Raises StoryFileError with a one-line reason."""
    try:
        post = frontmatter.loads(text, handler=_Handler())
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or "invalid YAML"
        raise StoryFileError(f"front matter is not valid YAML{where}: {problem}") from None
    meta = post.metadata
    if not isinstance(meta, dict) or not meta:
        raise StoryFileError("no YAML front matter (expected a block between --- lines)")
    title = clean_text(_text(meta.get("title")), MAX_TITLE)
    if not title:
        raise StoryFileError("front matter has no title")
    link = _http(meta.get("originalUrl")) or _http(meta.get("webUrl")) or _http(meta.get("url"))
    if not link:
        raise StoryFileError("front matter has no originalUrl or webUrl (an http(s) URL)")
    summary = clean_text(_text(meta.get("excerpt") or meta.get("summary") or meta.get("description")), MAX_SUMMARY)
    if not summary and post.content.strip():
        summary = clean_text(post.content, MAX_SUMMARY)
    published = parse_datetime(meta.get("publishedDateTime") or meta.get("published") or meta.get("date"))
    if published is None or published > now:
        published = min(published or now, now)
    provider = meta.get("provider") if isinstance(meta.get("provider"), dict) else {}
    assert isinstance(provider, dict)
    image = ""
    images = meta.get("images")
    if isinstance(images, list) and images and isinstance(images[0], dict):
        image = _http(images[0].get("url"))
    related: list[RelatedLink] = []
    raw_related = meta.get("related")
    for item in raw_related if isinstance(raw_related, list) else []:
        if not isinstance(item, dict) or len(related) >= MAX_RELATED:
            continue
        url = _http(item.get("webUrl")) or _http(item.get("originalUrl")) or _http(item.get("url"))
        rtitle = clean_text(_text(item.get("title")), MAX_TITLE)
        if url and rtitle:
            rprov = item.get("provider") if isinstance(item.get("provider"), dict) else {}
            assert isinstance(rprov, dict)
            related.append(RelatedLink(rtitle, link_url(url), clean_text(_text(rprov.get("name")), 200)))
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
        image=image,
        related=related,
    )
