"""Plain typed data shared by every layer: no I/O here."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class RelatedLink:
    """Another outlet's coverage of a story (from front matter, or from clustering)."""

    title: str
    url: str
    provider: str = ""


@dataclass
class Story:
    """One news item after parsing and normalization; every source kind becomes this."""

    url: str  # canonical URL (identity)
    original_url: str  # as the source gave it (what we link to)
    title: str  # clean text
    summary: str  # clean text
    published: datetime  # aware, UTC
    source: str  # name of the configured source
    guid: str = ""  # feed GUID / Atom id / file identity; "" when absent
    provider: str = ""  # outlet name, e.g. "The Northern Echo"
    provider_domain: str = ""
    image: str = ""
    related: list[RelatedLink] = field(default_factory=list)
    # False when the source gave no readable date: `published` is then the time it was first seen,
    # and the story is not alerted on a source's first poll (it may be years old).
    dated: bool = True


@dataclass(frozen=True)
class Topic:
    """A subscribable subject: phrases that count on their own, phrases that need context, and exclusions."""

    slug: str
    label: str
    phrases: tuple[str, ...]
    # Ambiguous terms (e.g. "ring", "pegasus", "flock"): count only with another topic term nearby.
    context_phrases: tuple[str, ...] = ()
    # Phrases that veto a hit nearby (e.g. "pegasus airlines", "boxing ring").
    exclusions: tuple[str, ...] = ()
    description: str = ""
    # Words that tell this topic's context phrases are in its sense ("police" near "drone"). Empty: the
    # matcher's shared surveillance anchors.
    anchors: tuple[str, ...] = ()


@dataclass(frozen=True)
class Match:
    """Why a story matched one topic: the phrases that fired, as written in the topic definition."""

    slug: str
    phrases: tuple[str, ...]


@dataclass(frozen=True)
class AlertView:
    """Everything the message builder needs to render one alert (all strings untrusted)."""

    title: str
    url: str
    summary: str
    provider: str
    published: datetime
    topics: tuple[str, ...]  # topic labels (or keyword phrases) this channel matched on
    reasons: tuple[str, ...]  # phrases that fired
    image: str = ""
    related: tuple[RelatedLink, ...] = ()
    update: bool = False  # a thread reply from the alert's own outlet: its republish, not other coverage
    delivery_id: int | None = None  # the outbox row: its buttons (feedback, more like this) name it


# Search snippets mark matched terms with these two control characters; the renderers turn them
# into bold (Slack) or brackets (console) *after* escaping, so story text can never forge a marker.
HIT_START = "\x02"
HIT_END = "\x03"


@dataclass(frozen=True)
class SearchHit:
    """One ranked search result from the story history (strings untrusted)."""

    story_id: int
    title: str
    url: str
    provider: str
    published: datetime
    snippet: str  # plain text with HIT_START/HIT_END around matched terms
    score: float = 0.0
    others: int = 0  # other outlets' copies of the same story (its cluster), folded into this hit


@dataclass
class DigestLine:
    """One story cluster in a channel's digest."""

    title: str
    url: str
    published: datetime
    topics: tuple[str, ...]
    outlets: list[str] = field(default_factory=list)
