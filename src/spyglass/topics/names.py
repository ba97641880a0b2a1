"""The names people type for a topic in `/spyglass subscribe …`: slugs, labels, the parts of a
label ("ALPR", "ANPR", "phone hacking"), and any phrase of the topic's own lists that belongs to
that topic alone ("facial recognition", "FRT", "licence plate readers", "IMSI catcher",
"Pegasus"). Case, spaces, hyphens, quotes and a plural "s" do not matter. A name two topics share
resolves to neither: the caller then suggests, and changes nothing.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from functools import lru_cache

from spyglass.models import Topic
from spyglass.text import fold
from spyglass.topics.forms import spelling_variants

_LABEL_PARTS = re.compile(r"\s*(?:[()/,]|\band\b)\s*")


def norm_name(s: str) -> str:
    """Case, accents, spaces, hyphens, underscores and quotes folded away: 'Face-Recognition' → 'facerecognition'."""
    return re.sub(r"[\s\-_'\"]+", "", fold(s))


def _singular(n: str) -> str:
    return n[:-1] if len(n) > 3 and n.endswith("s") and not n.endswith("ss") else n


def _names(topic: Topic) -> set[str]:
    """Everything this topic answers to, normalised (and in the singular)."""
    raw = [topic.slug, topic.label, *_LABEL_PARTS.split(topic.label)]
    # Phrases with a proximity operator ("face ~ banned") are patterns, not names; "=" marks exact case.
    raw += [p.lstrip("=") for p in (*topic.phrases, *topic.context_phrases) if "~" not in p]
    return {_singular(n) for n in map(norm_name, raw) if len(n) >= 2}


@lru_cache(maxsize=8)
def _index(topics: tuple[Topic, ...]) -> tuple[dict[str, Topic], dict[str, set[str]]]:
    """(exact slug/label → topic, any name → the slugs answering to it)."""
    exact: dict[str, Topic] = {}
    for t in topics:
        exact.setdefault(norm_name(t.slug), t)
        exact.setdefault(norm_name(t.label), t)
    owners: dict[str, set[str]] = {}
    for t in topics:
        for n in _names(t):
            owners.setdefault(n, set()).add(t.slug)
    return exact, owners


def _variants(name: str) -> list[str]:
    """The name with each word in its other spellings too (licence/license, -ise/-ize), normalised."""
    words = fold(name).split()[:6]
    forms = [""]
    for w in words:
        forms = [f + v for f in forms for v in sorted(spelling_variants(w))][:32]
    return [norm_name(f) for f in forms]


def resolve_topic(name: str, topics: Sequence[Topic]) -> Topic | None:
    """The topic called ``name``: its slug or label first, else a name only one topic answers to."""
    want = norm_name(name)
    if not want:
        return None
    exact, owners = _index(tuple(topics))
    if want in exact:
        return exact[want]
    slugs: set[str] = set()
    for form in dict.fromkeys([want, *_variants(name)]):
        slugs |= owners.get(_singular(form), set())
    if len(slugs) != 1:
        return None
    (slug,) = slugs
    return next(t for t in topics if t.slug == slug)


def suggest_topics(name: str, topics: Sequence[Topic], n: int = 3) -> list[Topic]:
    """The topics closest to an unknown name (fuzzy on everything they answer to), best first."""
    want = norm_name(name)
    if not want or n <= 0:
        return []
    scored: list[tuple[float, int, Topic]] = []
    for i, topic in enumerate(topics):
        best = 0.0
        for c in _names(topic):
            ratio = difflib.SequenceMatcher(None, want, c).ratio()
            if len(want) >= 3 and (want in c or c in want):
                ratio = max(ratio, 0.8)
            best = max(best, ratio)
        if best >= 0.6:
            scored.append((best, i, topic))
    scored.sort(key=lambda s: (-s[0], s[1]))
    return [t for _, _, t in scored[:n]]
