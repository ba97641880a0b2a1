"""Precision/recall check of the topic matcher on blind sets #5 and #6 (45 items each).

fixtures/labeled_stories_blind5.yaml and labeled_stories_blind6.yaml were written together, in the shared dev
corpus's style and mix, before either was scored. blind5 scored P=0.958 R=0.793 once and topics.yaml was then
tuned on its misses; blind6 was scored once AFTER that tuning (P=0.913 R=0.750 -- the honest estimate for
unseen stories; see its header) and topics.yaml was then tuned on its misses too. Both are now TUNING sets:
the floors below guard against regressions and say nothing about unseen stories. Scoring follows the
product's rules: per topic channel, micro-averaged, over DISTINCT stories (a duplicate counts as its
original), with the tolerated extra labels. Titles and summaries go through ``clean_text`` as in the pipeline.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from spyglass.matching import Matcher, load_topics
from spyglass.text import MAX_TITLE, clean_text

FIXTURES = Path(__file__).parent / "fixtures"
SETS = {"blind5": ("labeled_stories_blind5.yaml", 45), "blind6": ("labeled_stories_blind6.yaml", 45)}

TOLERATED = {
    "face-recognition": {"biometrics", "cctv"},
    "alpr": {"cctv", "location-tracking"},
    "cell-site-simulators": {"location-tracking"},
    "body-cameras": {"cctv"},
}
KINDS = {"positive", "duplicate", "negative", "hard_negative", "near_miss_distinct", "adversarial"}


def _load(name: str) -> list[dict[str, Any]]:
    return list(yaml.safe_load((FIXTURES / SETS[name][0]).read_text(encoding="utf-8"))["items"])


@pytest.fixture(scope="module")
def matcher() -> Matcher:
    return Matcher(load_topics())


def _got(matcher: Matcher, item: dict[str, Any]) -> set[str]:
    title, summary = clean_text(item["title"], MAX_TITLE), clean_text(item["summary"])
    return {m.slug for m in matcher.match(title, summary)}


@pytest.mark.parametrize("name", sorted(SETS))
def test_fixture_shape(name: str) -> None:
    items = _load(name)
    slugs = {t.slug for t in load_topics()}
    by_id = {item["id"]: item for item in items}
    assert len(by_id) == len(items) == SETS[name][1]
    for item in items:
        assert item["kind"] in KINDS, item["id"]
        assert set(item["expected_topics"]) <= slugs, item["id"]
        if item["kind"] in {"negative", "hard_negative"}:
            assert not item["expected_topics"], item["id"]
        if item["kind"] == "duplicate":
            orig = by_id[item["dup_of"]]
            assert orig["dup_of"] is None, item["id"]
            assert orig["expected_topics"] == item["expected_topics"], item["id"]
        else:
            assert item["dup_of"] is None, item["id"]


@pytest.mark.parametrize("name", sorted(SETS))
def test_precision_and_recall(matcher: Matcher, name: str) -> None:
    tp = fp = fn = 0
    misses: list[str] = []
    for item in _load(name):
        if item["dup_of"] is not None:
            continue  # a duplicate is the same story as its original: scored once
        expected = set(item["expected_topics"])
        got = _got(matcher, item)
        tolerated = set().union(*(TOLERATED.get(e, set()) for e in expected))
        extra, missing = got - expected - tolerated, expected - got
        tp += len(got & expected)
        fp += len(extra)
        fn += len(missing)
        if extra or missing:
            misses.append(f"{item['id']} {item['title']!r}: missing {sorted(missing)}, extra {sorted(extra)}")
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    report = f"{name}: P={precision:.3f} R={recall:.3f}\n" + "\n".join(misses)
    assert precision >= 0.95, report
    assert recall >= 0.95, report


@pytest.mark.parametrize("name", sorted(SETS))
def test_duplicates_match_like_their_original(matcher: Matcher, name: str) -> None:
    items = _load(name)
    by_id = {item["id"]: item for item in items}
    diverging = [
        i["id"] for i in items if i["dup_of"] and _got(matcher, i) != _got(matcher, by_id[i["dup_of"]])
    ]
    assert not diverging, diverging
