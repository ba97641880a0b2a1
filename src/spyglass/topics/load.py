"""The taxonomy: topics read from YAML (the packaged `topics.yaml` by default) and validated once,
with every mistake named by file, topic and key. Pure apart from reading the file.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from spyglass.errors import TopicsError
from spyglass.models import Topic
from spyglass.text import fold

_DEFAULT_PATH = Path(__file__).parent.parent / "data" / "topics.yaml"
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
_KEYS = {"slug", "label", "description", "phrases", "context_phrases", "exclusions", "anchors"}
_REQUIRED = ("slug", "label", "phrases")


def load_topics(
    path: Path | None = None, overrides: list[dict[str, Any]] | None = None, overrides_from: str = "overrides"
) -> list[Topic]:
    """Load topics from YAML (default: the packaged topics.yaml), then apply overrides.

    The file is a mapping with a ``topics`` list (a bare list is accepted too). ``overrides`` is a list
    of dicts in the same shape: a known slug is replaced in place, a new slug is appended. Errors in
    them name ``overrides_from`` and the index (e.g. "spyglass.toml: topics.custom[2]").
    """
    src = Path(path) if path is not None else _DEFAULT_PATH
    try:
        # libyaml's C parser when the wheel has it (it does on the usual platforms): the shipped
        # file takes ~0.2 s with the pure-Python one, the largest start-up cost of a command.
        raw = yaml.load(src.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except OSError as exc:
        raise TopicsError(f"{src}: cannot read topics file ({exc.strerror or exc})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise TopicsError(f"{src}: invalid YAML{where}") from None
    if isinstance(raw, dict):
        unknown = set(raw) - {"topics"}
        if unknown:
            raise TopicsError(f"{src}: unknown top-level key {sorted(unknown)[0]!r}")
        raw = raw.get("topics")
    if not isinstance(raw, list):
        raise TopicsError(f"{src}: expected a 'topics' list")
    topics = _parse_list(raw, str(src))
    if overrides:
        if not isinstance(overrides, list):
            raise TopicsError(f"{overrides_from}: expected a list of topics")
        by_slug = {t.slug: i for i, t in enumerate(topics)}
        for topic in _parse_list(overrides, overrides_from, indexed=True):
            if topic.slug in by_slug:
                topics[by_slug[topic.slug]] = topic
            else:
                by_slug[topic.slug] = len(topics)
                topics.append(topic)
    return topics


def _parse_list(items: list[Any], source: str, *, indexed: bool = False) -> list[Topic]:
    topics: list[Topic] = []
    seen: set[str] = set()
    for i, item in enumerate(items):
        topic = _parse_topic(item, f"{source}[{i}]" if indexed else f"{source}: topic #{i + 1}")
        if topic.slug in seen:
            raise TopicsError(f"{source}: topic {topic.slug!r}: duplicate slug")
        seen.add(topic.slug)
        topics.append(topic)
    return topics


def _parse_topic(item: Any, where: str) -> Topic:
    if not isinstance(item, dict):
        raise TopicsError(f"{where}: expected a mapping, got {type(item).__name__}")
    slug = item.get("slug")
    if isinstance(slug, str) and slug:
        where = (
            f"{where.rsplit(': topic #', 1)[0]}: topic {slug!r}"
            if ": topic #" in where
            else f"{where} ({slug!r})"
        )
    for key in item:
        if key not in _KEYS:
            raise TopicsError(f"{where}: unknown key {str(key)!r}")
    for key in _REQUIRED:
        if item.get(key) in (None, "", []):
            raise TopicsError(f"{where}: missing {key!r}")
    if not isinstance(slug, str) or not _SLUG.match(slug):
        raise TopicsError(f"{where}: 'slug' must be lowercase letters, digits and hyphens")
    label = item["label"]
    if not isinstance(label, str) or not label.strip():
        raise TopicsError(f"{where}: 'label' must be a non-empty string")
    description = item.get("description") or ""
    if not isinstance(description, str):
        raise TopicsError(f"{where}: 'description' must be a string")
    lists = {
        k: _phrase_list(item.get(k), where, k)
        for k in ("phrases", "context_phrases", "exclusions", "anchors")
    }
    if not lists["phrases"]:
        raise TopicsError(f"{where}: missing 'phrases'")
    return Topic(
        slug=slug,
        label=label.strip(),
        phrases=lists["phrases"],
        context_phrases=lists["context_phrases"],
        exclusions=lists["exclusions"],
        anchors=lists["anchors"],
        description=description.strip(),
    )


def _phrase_list(value: Any, where: str, key: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise TopicsError(f"{where}: {key!r} must be a list of strings")
    out: list[str] = []
    for phrase in value:
        if not isinstance(phrase, str | int | float) or isinstance(phrase, bool):
            raise TopicsError(f"{where}: {key!r} must be a list of strings")
        phrase = str(phrase).strip()
        parts = [p.strip() for p in phrase.lstrip("=").split("~")]
        if len(parts) > 2 or not all(has_word(fold(p)) for p in parts):
            raise TopicsError(f"{where}: {key!r} has an empty or malformed phrase {phrase!r}")
        out.append(phrase)
    return tuple(out)


def has_word(folded: str) -> bool:
    return any(ch.isalnum() for ch in folded)
