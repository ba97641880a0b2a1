"""Keyword subscriptions ("exact phrase" topics of one channel) and phrases as people read them."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from spyglass.errors import TopicsError
from spyglass.models import Topic
from spyglass.text import fold
from spyglass.topics.load import has_word


def keyword_topic(phrase: str, excludes: Sequence[str] = ()) -> Topic:
    """A user's "exact phrase" subscription as a Topic.

    The phrase matches like a topic phrase (case-insensitive, whole words, last word inflected); any
    exclude anywhere in the story vetoes it. The slug is stable for the same folded phrase and excludes.
    """
    clean = _literal(phrase)
    if not has_word(fold(clean)):
        raise TopicsError(f"keyword {phrase!r}: needs at least one letter or digit")
    excl = tuple(dict.fromkeys(e for e in (_literal(x) for x in excludes) if has_word(fold(e))))
    key = "\x1f".join([fold(clean), *sorted(fold(e) for e in excl)])
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:12]
    return Topic(
        slug=f"kw:{digest}",
        label=f'"{clean}"',
        phrases=(clean,),
        exclusions=excl,
        description=f'Stories containing "{clean}"',
    )


def readable_phrase(phrase: str) -> str:
    """A phrase as a person reads it: no "=" (exact-case marker), "~" (near) shown as "…"."""
    return " … ".join(part.strip().lstrip("=") for part in phrase.split("~")).strip()


def example_phrases(topic: Topic, n: int) -> list[str]:
    """The first ``n`` plain phrases of a topic, for lists people read (no proximity patterns)."""
    return [readable_phrase(p) for p in topic.phrases if "~" not in p][:n]


def _literal(s: str) -> str:
    # Keyword text is taken literally: no "~" proximity operator, no "=" marker, no stray quotes.
    return " ".join(s.replace("~", " ").strip().strip("\"'\u201c\u201d").lstrip("=").split())
