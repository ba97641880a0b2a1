"""The topic matcher: one Aho-Corasick scan of a story against every topic and keyword. Pure.

How a story matches a topic
---------------------------
Title and summary are folded (``text.fold``: NFKC, dashes to spaces, curly apostrophes, casefold) and
bounded to ``MAX_MATCH_CHARS``. Every phrase of every topic is folded the same way and expanded into its
surface forms (last word inflected, -ise/-ize and licence/license spellings), and all of them go into
one Aho-Corasick automaton, so a story is scanned once, in linear time, whatever the number of topics
or keyword subscriptions. A hit only counts on word boundaries (no "ice" in "police").

* ``phrases`` fire the topic on their own.
* ``context_phrases`` are ambiguous words ("ring", "pegasus", "flock", "ICE", "stingray"). One counts only
  when, within ``WINDOW`` characters (about 30 words, i.e. the same sentence or the next one), there is
  a phrase of any surveillance topic or one of the ``ANCHORS`` (generic surveillance words such as
  "police", "surveillance", "camera"). Why a window and not the whole story: the summary of a story about
  a beach is allowed to mention the police; what tells the ambiguous word's sense is its neighbourhood.
  The anchors never fire a topic by themselves: "surveillance" alone says nothing about *which* technology.
* A topic's own ``anchors``, when it has them, replace the shared ones for its context phrases: every
  drone carries a camera, so "footage" says nothing about whether one watches people; "police" does.
* ``exclusions`` veto. An exclusion that contains a hit ("boxing ring", "Pegasus Airlines",
  "bagpipe drones") vetoes that hit only. An exclusion that contains no hit of the topic names another
  subject ("prosopagnosia", "aquarium") and vetoes all the topic's hits within ``WINDOW``; for keyword
  subscriptions (the user's "-exclude" words) it vetoes the whole story.
* ``"A ~ B"`` is a proximity phrase: A and B (each inflected) at most ``PAIR_GAP`` characters apart, in
  either order ("recognise ~ faces" matches "recognise pupils' faces").
* A leading ``=`` turns inflection off ("=flock" must not match "a farmer's flocks").
"""

from __future__ import annotations

import itertools
import re
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from typing import Any

import ahocorasick

from spyglass.defaults import MAX_MATCH_CHARS, MAX_REASON_CHARS
from spyglass.models import Match, Topic
from spyglass.text import fold
from spyglass.topics.forms import WORD_CHARS, key, surface_forms
from spyglass.topics.load import has_word

WINDOW = 200  # characters (~30 words) for context anchoring and exclusion vetoes
PAIR_GAP = 40  # characters (~6 words) allowed between the two halves of an "A ~ B" phrase
_MAX_HITS = 200  # per topic and kind: bounds the quadratic-looking veto loops on pathological text

# Generic surveillance vocabulary: never fires a topic, but makes an ambiguous context phrase count.
ANCHORS: tuple[str, ...] = (
    "surveillance",
    "surveil",
    "spy",
    "spying",
    "spied",
    "snooping",
    "privacy",
    "data protection",
    "civil liberties",
    "warrant",
    "warrantless",
    "law enforcement",
    "police",
    "policing",
    "sheriff",
    "FBI",
    "homeland security",
    "immigration",
    "deportation",
    "deport",
    "immigrants",
    "agents",
    "camera",
    "footage",
    "doorbell",
    "hack",
    "hacker",
    "phone",
    "smartphone",
    "iPhone",
    "algorithm",
    "algorithmic",
    "machine learning",
    "artificial intelligence",
    "facial",
    "biometric",
    "monitor",
    "monitoring software",
    "tracking software",
    "licence plate",
    "number plate",
)

_STRONG, _CONTEXT, _EXCL, _ANCHOR, _PAIR = range(5)


_Span = tuple[int, int]  # start, end (inclusive) in the folded text


# Matching


class _TopicPlan:
    __slots__ = ("display", "is_keyword", "topic")

    def __init__(self, topic: Topic) -> None:
        self.topic = topic
        self.display: list[str] = []  # phrase as written (without the "=" marker), by phrase id
        self.is_keyword = topic.slug.startswith("kw:")


class Matcher:
    """Matches stories against topics; build once, reuse (thread-safe for concurrent ``match`` calls)."""

    def __init__(self, topics: Sequence[Topic], anchors: Iterable[str] = ANCHORS) -> None:
        self.topics = list(topics)
        self._plans = [_TopicPlan(t) for t in self.topics]
        # pair id -> (topic index, kind, phrase id)
        self._pairs: list[tuple[int, int, int]] = []
        keys: dict[str, set[tuple[int, int, int, int]]] = {}

        def add(text: str, entry: tuple[int, int, int, int]) -> None:
            for form in surface_forms(text):
                keys.setdefault(form, set()).add(entry)

        for ti, (topic, plan) in enumerate(zip(self.topics, self._plans, strict=True)):
            seen: dict[str, int] = {}
            for kind, phrases in ((_STRONG, topic.phrases), (_CONTEXT, topic.context_phrases)):
                for phrase in phrases:
                    # Phrases that fold alike ("plate reader", "plate-reader") report as the first one.
                    pid = seen.setdefault(key(fold(phrase)), len(plan.display))
                    if pid == len(plan.display):
                        plan.display.append(phrase.lstrip("="))
                    sides = [s.strip() for s in phrase.split("~")] if "~" in phrase else []
                    if len(sides) == 2 and all(has_word(fold(s)) for s in sides):
                        pair = len(self._pairs)
                        self._pairs.append((ti, kind, pid))
                        eq = "=" if phrase.startswith("=") else ""
                        add(eq + sides[0].lstrip("="), (_PAIR, ti, pair, 0))
                        add(eq + sides[1], (_PAIR, ti, pair, 1))
                    elif has_word(fold(phrase.lstrip("=").replace("~", " "))):
                        add(phrase.replace("~", " "), (kind, ti, pid, 0))
            for phrase in topic.exclusions:
                if has_word(fold(phrase.lstrip("="))):
                    add(phrase.replace("~", " "), (_EXCL, ti, 0, 0))
        # A topic with anchors of its own reads its context phrases by those alone: "footage" tells
        # nothing about a drone, and "agents" nothing about Border Patrol watching anyone.
        self._own_anchors = [bool(t.anchors) for t in self.topics]
        owners = [(-1, anchors)] + [(ti, t.anchors) for ti, t in enumerate(self.topics)]
        for owner, words in owners:
            for anchor in words:
                add(anchor, (_ANCHOR, owner, 0, 0))

        self._slugs = [t.slug for t in self.topics]
        self._is_kw = [p.is_keyword for p in self._plans]
        self._automaton: Any = ahocorasick.Automaton()
        for form, entries in keys.items():
            self._automaton.add_word(f" {form} ", (len(form) + 2, tuple(sorted(entries))))
        self._empty = not keys
        if keys:
            self._automaton.make_automaton()

    def _scan(
        self, text: str
    ) -> tuple[
        dict[int, list[tuple[int, int, int]]],
        dict[int, list[tuple[int, int, int]]],
        dict[int, list[_Span]],
        dict[int, list[_Span]],
    ]:
        """One pass of the automaton: every hit by kind, per topic index, as (start, end[, phrase id])."""
        # topic index -> list of (start, end, phrase id), per kind
        strong: dict[int, list[tuple[int, int, int]]] = {}
        context: dict[int, list[tuple[int, int, int]]] = {}
        excl: dict[int, list[_Span]] = {}
        anchors: dict[int, list[_Span]] = {}  # topic index, or -1 for the shared anchors
        pair_sides: dict[int, tuple[list[_Span], list[_Span]]] = {}
        for stop, (length, entries) in self._automaton.iter(text):
            start, end = stop - length + 2, stop - 1  # the words, without the padding spaces
            for kind, ti, ref, side in entries:
                if kind == _STRONG:
                    bucket = strong.get(ti)
                    if bucket is None:
                        strong[ti] = [(start, end, ref)]
                    elif len(bucket) < _MAX_HITS:
                        bucket.append((start, end, ref))
                elif kind == _CONTEXT:
                    context.setdefault(ti, []).append((start, end, ref))
                elif kind == _EXCL:
                    excl.setdefault(ti, []).append((start, end))
                elif kind == _ANCHOR:
                    anchors.setdefault(ti, []).append((start, end))
                else:
                    pair_sides.setdefault(ref, ([], []))[side].append((start, end))
        for pair, (first, second) in pair_sides.items():
            span = _near_pair(first[:_MAX_HITS], second[:_MAX_HITS])
            if span is not None:
                ti, kind, pid = self._pairs[pair]
                (strong if kind == _STRONG else context).setdefault(ti, []).append((span[0], span[1], pid))
        return strong, context, excl, anchors

    def match(self, title: str, summary: str) -> list[Match]:
        """Topics that fire for this story, in the order given, with the words of the story that fired."""
        if self._empty:
            return []
        # One fold call for both; the NUL keeps title and summary words from forming a phrase together.
        raw = (
            title[:MAX_MATCH_CHARS].replace("\x00", " ")
            + " \x00 "
            + summary[:MAX_MATCH_CHARS].replace("\x00", " ")
        )
        text = " " + fold(raw)[: 2 * MAX_MATCH_CHARS].translate(WORD_CHARS) + " "

        strong, context, excl, anchors = self._scan(text)
        if not strong and not context:
            return []
        written = _Written(raw, text)

        # Pass 1: exclusions veto hits; surviving strong hits of surveillance topics become anchors.
        for ti, spans in excl.items():
            s_hits, c_hits = self._veto(
                strong.get(ti, []), context.get(ti, [])[:_MAX_HITS], spans[:_MAX_HITS], self._is_kw[ti]
            )
            strong[ti], context[ti] = s_hits, c_hits
        # Surviving strong hits of surveillance topics anchor every topic's context phrases.
        topic_hits: list[_Span] = []
        if any(context.values()):
            for ti, s_hits in strong.items():
                if not self._is_kw[ti]:
                    topic_hits.extend((s, e) for s, e, _ in s_hits[:_MAX_HITS])
        near: dict[int, tuple[list[_Span], list[int]]] = {}

        def anchors_for(ti: int) -> tuple[list[_Span], list[int]]:
            own = ti if self._own_anchors[ti] else -1
            if own not in near:
                spans = sorted(anchors.get(own, [])[:_MAX_HITS] + topic_hits)
                near[own] = (spans, [s for s, _ in spans])
            return near[own]

        # Pass 2: context hits count only with an anchor nearby.
        out: list[Match] = []
        for ti in sorted(strong.keys() | context.keys()):
            fired = strong.get(ti, [])
            weak = context.get(ti)
            if weak:
                spans = excl.get(ti, [])[:_MAX_HITS]
                fired = fired + [
                    h
                    for h in weak[:_MAX_HITS]
                    # a context word inside a phrase that already fired ("Flock" in "Flock cameras") adds nothing
                    if not any(s <= h[0] and h[1] <= e for s, e, _ in fired)
                    and _anchored(h, *anchors_for(ti), spans)
                ]
            if not fired:
                continue
            if self._is_kw[ti]:  # a keyword subscription: its words are the ones the person typed
                phrases: tuple[str, ...] = (self._plans[ti].display[fired[0][2]],)
            else:
                phrases = written.reasons(fired)
            out.append(Match(slug=self._slugs[ti], phrases=phrases))
        return out

    @staticmethod
    def _veto(
        strong: list[tuple[int, int, int]],
        context: list[tuple[int, int, int]],
        excl: list[_Span],
        story_wide: bool,
    ) -> tuple[list[tuple[int, int, int]], list[tuple[int, int, int]]]:
        if story_wide:  # a keyword subscription's excludes veto the whole story
            return [], []
        all_hits = strong + context
        vetoed: set[tuple[int, int, int]] = set()
        for xs, xe in excl:
            inside = [h for h in all_hits if xs <= h[0] and h[1] <= xe]
            if inside:
                vetoed.update(inside)  # "boxing ring" vetoes the "ring" it contains, nothing else
            elif not any(h[0] <= xe and xs <= h[1] for h in all_hits):
                vetoed.update(h for h in all_hits if h[0] - xe <= WINDOW and xs - h[1] <= WINDOW)
        if not vetoed:
            return strong, context
        return [h for h in strong if h not in vetoed], [h for h in context if h not in vetoed]


class _Written:
    """Why a topic matched, in the story's own words ("recognise pupils' faces"), not the pattern."""

    __slots__ = ("_lowered", "raw", "text")

    def __init__(self, raw: str, text: str) -> None:
        self.raw, self.text = raw, text
        self._lowered: str | None = None  # made on the first hit

    def reasons(self, fired: list[tuple[int, int, int]]) -> tuple[str, ...]:
        # "facial recognition" inside "live facial recognition" says nothing more.
        if len(fired) > 1:
            fired = sorted(fired, key=lambda h: (h[0], -h[1]))
            fired = [h for i, h in enumerate(fired) if not any(o[1] >= h[1] for o in fired[:i])]
        return tuple(dict.fromkeys(self.words(h[0], h[1]) for h in fired))

    def words(self, start: int, end: int) -> str:
        span = self.text[start : end + 1]
        if "\x00" in span:  # a near pair with one side in the title, one in the summary: each as written
            cut = start + span.index("\x00")
            sides = (self.words(start, cut - 1), self.words(cut + 1, end))
            return " … ".join(side for side in sides if side)[:MAX_REASON_CHARS]
        folded = span.split()
        if self._lowered is None:
            self._lowered = self.raw.lower()
        # Fast path: the story wrote the words with single spaces ("facial recognition").
        joined = " ".join(folded)
        at = self._lowered.find(joined) if len(self._lowered) == len(self.raw) else -1
        if at >= 0:
            return self.raw[at : at + len(joined)][:MAX_REASON_CHARS]
        return _as_written(self.raw, folded)


def _as_written(raw: str, folded_words: list[str]) -> str:
    """The words of a hit as the story wrote them ("licence-plate readers"), else as folded."""
    pattern = r"\W+".join(re.escape(w) for w in folded_words)
    found = re.search(rf"(?<!\w){pattern}(?!\w)", raw, re.IGNORECASE) if pattern else None
    text = found.group(0) if found else " ".join(folded_words)
    return " ".join(text.split())[:MAX_REASON_CHARS]


def _near_pair(first: list[_Span], second: list[_Span]) -> _Span | None:
    for a in first:
        for b in second:
            if a[1] < b[0]:
                if b[0] - a[1] - 1 <= PAIR_GAP:
                    return (a[0], b[1])
            elif b[1] < a[0] and a[0] - b[1] - 1 <= PAIR_GAP:
                return (b[0], a[1])
    return None


def _anchored(hit: tuple[int, int, int], anchors: list[_Span], starts: list[int], excl: list[_Span]) -> bool:
    hs, he = hit[0], hit[1]
    i = bisect_left(starts, hs - WINDOW - 500)  # anchor spans are < 500 chars: start a little early
    for s, e in itertools.islice(anchors, i, None):
        if s > he + WINDOW:
            break
        if e < hs - WINDOW or (s <= he and hs <= e):  # too far, or the hit itself
            continue
        if any(xs <= e and s <= xe for xs, xe in excl):  # an anchor inside "spy ring" does not count
            continue
        return True
    return False
