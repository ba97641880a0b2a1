"""Topics: the taxonomy (``load``), the names people type for a topic (``names``), the forms a
phrase takes in text (``forms``), keyword subscriptions (``keywords``) and the matcher (``matcher``).

The names most callers need are re-exported here, lazily: `spyglass search` needs the spelling
table but not the automaton or YAML, and start-up time is what a person waits for.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from spyglass.errors import TopicsError
    from spyglass.topics.forms import spelling_variants
    from spyglass.topics.keywords import example_phrases, keyword_topic, readable_phrase
    from spyglass.topics.load import load_topics
    from spyglass.topics.matcher import ANCHORS, Matcher

_WHERE = {
    "ANCHORS": "spyglass.topics.matcher",
    "Matcher": "spyglass.topics.matcher",
    "TopicsError": "spyglass.errors",
    "example_phrases": "spyglass.topics.keywords",
    "keyword_topic": "spyglass.topics.keywords",
    "load_topics": "spyglass.topics.load",
    "readable_phrase": "spyglass.topics.keywords",
    "spelling_variants": "spyglass.topics.forms",
}
__all__ = [
    "ANCHORS",
    "Matcher",
    "TopicsError",
    "example_phrases",
    "keyword_topic",
    "load_topics",
    "readable_phrase",
    "spelling_variants",
]


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'spyglass.topics' has no attribute {name!r}")
