"""A veto over the phrase matcher, trained on real news it is not scored on (issue 9's option 2b).

For each set named, a logistic regression is trained on every other set's (story, matched topic)
pairs: was the topic the matcher found right by the labels? It then vetoes, on the held-out set,
the matches it scores below a threshold. Features: the story's words and word pairs (the title's
apart), each both alone and crossed with the topic, and the match's evidence (a phrase in the title,
two phrases, a surveillance anchor word). Hashed, trained by gradient descent in numpy.

    python bench/realnews_veto.py dev-2021:/tmp/rldb-2021 frozen-2022:/tmp/rldb-2022 \\
        frozen-security:/tmp/articlemd frozen-security-2:/tmp/articlemd \\
        frozen-bookmarks:/tmp/rldb-bookmarks frozen-2023:/tmp/rldb-2023 ...

Each argument is a set of bench/realnews/ and the local copy of its archive. It prints, per held-out
set and pooled, precision and recall of the phrases alone and with the veto at each threshold.
"""

from __future__ import annotations

import argparse
import re
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE))

import realnews  # noqa: E402
from spyglass.defaults import MAX_TITLE  # noqa: E402
from spyglass.text import clean_text  # noqa: E402
from spyglass.topics import Matcher, load_topics  # noqa: E402
from spyglass.topics.matcher import ANCHORS  # noqa: E402
from support.labels import Score, tolerated  # noqa: E402

DIM = 1 << 18
THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7)
_WORD = re.compile(r"[a-z0-9]+")
_READERS = {
    "bertmad3400/articleMD": realnews.articlemd_stories,
    "rumca-js/RSS-Link-Database": realnews.bookmarks_stories,
}


@dataclass
class Pair:
    """One topic the matcher found for one story; ``right`` is None when the labels tolerate it."""

    story: int
    slug: str
    features: np.ndarray
    right: bool | None


@dataclass
class Set:
    name: str
    expected: list[set[str]]
    found: list[set[str]]
    pairs: list[Pair]


def _hash(token: str) -> int:
    return zlib.crc32(token.encode()) % DIM


def features(title: str, summary: str, slug: str, phrases: list[str]) -> np.ndarray:
    tw, sw = _WORD.findall(title.lower()), _WORD.findall(summary.lower())
    tokens = {f"t:{w}" for w in tw} | {f"w:{w}" for w in tw + sw}
    tokens |= {f"b:{a}_{b}" for a, b in zip(tw + sw, (tw + sw)[1:], strict=False)}
    low, text = title.lower(), f" {title} {summary} ".lower()
    evidence = {"bias"}
    if any(p.lower().split(" … ")[0] in low for p in phrases):
        evidence.add("e:title")
    if len(phrases) >= 2:
        evidence.add("e:two")
    if any(f" {a.lower()} " in text for a in ANCHORS):
        evidence.add("e:anchor")
    tokens |= evidence
    return np.array(
        sorted({_hash(t) for t in tokens} | {_hash(f"{slug}|{t}") for t in tokens}), dtype=np.int64
    )


def load(name: str, archive: Path, matcher: Matcher) -> Set:
    labels = yaml.safe_load((HERE / "realnews" / f"{name}.yaml").read_text(encoding="utf-8"))
    texts = _READERS.get(labels["source"], realnews.rumca_stories)(archive)
    out = Set(name, [], [], [])
    for item in labels["items"]:
        if item["url"] not in texts:
            continue
        title, summary = clean_text(texts[item["url"]][0], MAX_TITLE), clean_text(texts[item["url"]][1])
        want = set(item["topics"])
        matches = matcher.match(title, summary)
        out.expected.append(want)
        out.found.append({m.slug for m in matches})
        for m in matches:
            right = True if m.slug in want else None if m.slug in tolerated(want) else False
            feats = features(title, summary, m.slug, list(m.phrases))
            out.pairs.append(Pair(len(out.expected) - 1, m.slug, feats, right))
    return out


def train(pairs: list[Pair], l2: float, steps: int = 400) -> np.ndarray:
    """Logistic regression, full-batch gradient descent with Adagrad steps; L2 on every weight."""
    data = [(p.features, 1.0 if p.right else 0.0) for p in pairs if p.right is not None]
    idx = np.concatenate([f for f, _ in data])
    row = np.repeat(np.arange(len(data)), [len(f) for f, _ in data])
    y = np.array([t for _, t in data])
    w, g2 = np.zeros(DIM), np.full(DIM, 1e-8)
    for _ in range(steps):
        z = np.bincount(row, weights=w[idx], minlength=len(data))
        err = 1 / (1 + np.exp(-z)) - y
        grad = np.bincount(idx, weights=err[row], minlength=DIM) + l2 * w
        g2 += grad * grad
        w -= 0.5 * grad / np.sqrt(g2)
    return w


def scored(s: Set, keep: list[set[str]]) -> Score:
    score = Score()
    for found, want in zip(keep, s.expected, strict=True):
        score.add(found, want)
    return score


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("sets", nargs="+", help="name:archive, e.g. frozen-2022:/tmp/rldb-2022")
    ap.add_argument("--l2", type=float, default=0.3)
    opts = ap.parse_args()
    matcher = Matcher(load_topics())
    sets = [load(arg.split(":", 1)[0], Path(arg.split(":", 1)[1]), matcher) for arg in opts.sets]
    pooled = {th: Score() for th in (None, *THRESHOLDS)}
    for held in sets:
        w = train([p for s in sets if s is not held for p in s.pairs], opts.l2)
        prob = {id(p): 1 / (1 + np.exp(-w[p.features].sum())) for p in held.pairs}
        line = f"{held.name:<20}"
        for th in (None, *THRESHOLDS):
            keep = [set(f) for f in held.found]
            for p in held.pairs:
                if th is not None and prob[id(p)] < th:
                    keep[p.story].discard(p.slug)
            score = scored(held, keep)
            total = pooled[th]
            total.tp, total.fp, total.fn = total.tp + score.tp, total.fp + score.fp, total.fn + score.fn
            line += f"  {'phrases' if th is None else f'veto<{th}'} {score.precision:.3f}/{score.recall:.3f}"
        print(line)
    print(
        f"{'pooled':<20}"
        + "".join(
            f"  {'phrases' if th is None else f'veto<{th}'} {s.precision:.3f}/{s.recall:.3f}"
            for th, s in pooled.items()
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
