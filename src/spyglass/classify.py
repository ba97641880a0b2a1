"""A small trained text classifier used as a recall BACKSTOP for the phrase matcher. Pure numpy.

The phrase matcher misses journalists' paraphrases. The backstop only ever ADDS topics: a topic is added
when the classifier's probability is at least the model's threshold AND none of that topic's exclusion
phrases (from the topics file) occurs in the story. It never removes a topic the matcher found.

Model: one-vs-rest L2 logistic regression over folded word unigrams and bigrams (plus title words as
separate features), binary, idf-weighted and L2-normalised. Weights live in ``data/topic_model.json``,
generated reproducibly by ``bench/train_topic_model.py`` from the labelled fixtures; the threshold was
chosen by leave-one-set-out evaluation (``bench/classifier_eval.py``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Sequence
from pathlib import Path

import numpy as np

from spyglass.defaults import MAX_MATCH_CHARS
from spyglass.models import Topic
from spyglass.text import fold

__all__ = ["MIN_FEATURES", "Backstop", "exclusion_patterns", "tokens"]

_DEFAULT_MODEL = Path(__file__).parent / "data" / "topic_model.json"
_TOKEN = re.compile(r"[a-z0-9]+")
# Below this many known features (a bare headline such as "Ring") the L2-normalised input lets one word
# decide; every labelled story has at least 12. Such stories are left to the phrase matcher.
MIN_FEATURES = 8


def tokens(title: str, summary: str) -> list[str]:
    """Features of a story: folded words and adjacent-word bigrams of title and summary, and title words."""
    feats: list[str] = []
    for part, is_title in ((title[:MAX_MATCH_CHARS], True), (summary[:MAX_MATCH_CHARS], False)):
        words = _TOKEN.findall(fold(part).replace("'s ", " ").replace("'", ""))
        feats.extend(words)
        feats.extend(f"{a}_{b}" for a, b in zip(words, words[1:], strict=False))
        if is_title:
            feats.extend(f"T:{w}" for w in words)
    return feats


def _excl_pattern(phrase: str) -> re.Pattern[str] | None:
    parts = [" ".join(_TOKEN.findall(fold(p))) for p in phrase.lstrip("=").split("~")]
    parts = [p for p in parts if p]
    if not parts:
        return None
    if len(parts) == 1:
        return re.compile(rf"\b{re.escape(parts[0])}\w{{0,3}}\b")
    a, b = (re.escape(p) for p in parts[:2])
    return re.compile(rf"\b{a}\w{{0,3}}\b.{{0,40}}\b{b}\w{{0,3}}\b|\b{b}\w{{0,3}}\b.{{0,40}}\b{a}\w{{0,3}}\b")


def exclusion_patterns(topics: Sequence[Topic]) -> dict[str, list[re.Pattern[str]]]:
    """Per topic slug, its exclusion phrases as regexes over the folded word sequence (a phrase's last word
    may carry a short suffix; "A ~ B" means both within about six words)."""
    return {t.slug: [p for p in map(_excl_pattern, t.exclusions) if p is not None] for t in topics}


class Backstop:
    """The trained classifier plus the exclusion gate. Build once, reuse (read-only, thread-safe)."""

    def __init__(
        self, topics: Sequence[Topic], path: Path | None = None, threshold: float | None = None
    ) -> None:
        raw = json.loads((path or _DEFAULT_MODEL).read_text(encoding="utf-8"))
        self.slugs: list[str] = list(raw["slugs"])
        self.threshold = float(raw["threshold"] if threshold is None else threshold)
        self._vocab = {f: i for i, f in enumerate(raw["vocab"])}
        self._idf = np.asarray(raw["idf"], dtype=np.float64)
        self._w = np.asarray(raw["weights"], dtype=np.float64)  # (features, topics)
        self._b = np.asarray(raw["bias"], dtype=np.float64)
        if self._w.shape != (len(self._vocab), len(self.slugs)) or self._idf.shape != (len(self._vocab),):
            raise ValueError(f"{path or _DEFAULT_MODEL}: inconsistent model shapes")
        known = {t.slug for t in topics}
        self._gate = exclusion_patterns(topics)
        self._active = [i for i, s in enumerate(self.slugs) if s in known]

    def predict(self, title: str, summary: str) -> dict[str, float]:
        """Probability of every topic the model knows (and the topics list has), exclusions not applied.

        0.0 for every topic when the story has fewer than ``MIN_FEATURES`` known features."""
        idx = sorted({j for f in tokens(title, summary) if (j := self._vocab.get(f)) is not None})
        if len(idx) < MIN_FEATURES:
            return dict.fromkeys((self.slugs[i] for i in self._active), 0.0)
        vals = self._idf[idx]
        z = vals @ self._w[idx] / float(np.linalg.norm(vals)) + self._b
        probs = 1.0 / (1.0 + np.exp(-z))
        return {self.slugs[i]: float(probs[i]) for i in self._active}

    def topics(self, title: str, summary: str, known: Collection[str] = ()) -> set[str]:
        """Topics the backstop adds: probability >= threshold and none of the topic's exclusions present.

        ``known`` topics (already found by the phrase matcher) are skipped, saving their exclusion checks."""
        hits = [s for s, p in self.predict(title, summary).items() if p >= self.threshold and s not in known]
        if not hits:
            return set()
        text = " ".join(_TOKEN.findall(fold(title[:MAX_MATCH_CHARS] + " . " + summary[:MAX_MATCH_CHARS])))
        return {s for s in hits if not any(p.search(text) for p in self._gate.get(s, ()))}
