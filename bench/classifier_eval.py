"""Leave-one-SET-out evaluation of a small numpy text classifier as a recall BACKSTOP for the phrase matcher.

The backstop only ADDS topics: a topic goes to a story when the classifier's probability is >= a threshold
AND none of that topic's exclusion phrases occur in the story. For each blind set (blind-1..3, blind2..6)
the classifier is trained on every OTHER labelled set (always including labeled_stories and heldout) and
scored on the held-out set.

The phrase matcher was tuned on every set, so today's matcher is near-perfect in-sample and says little
about unseen stories. For an honest baseline this script ALSO runs the matcher as it was at the commit
where each blind set was first scored (before tuning on it), taken from git history, with that commit's
topics and exclusions; the backstop is then judged on the labels IT adds on top of that matcher.

Run:  .venv/bin/python bench/classifier_eval.py [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path
from typing import Any

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))  # tests/support: the scoring the quality tests use

from spyglass.classify import _TOKEN, MIN_FEATURES, _excl_pattern, tokens  # noqa: E402  (the product's own features)
from spyglass.defaults import MAX_TITLE  # noqa: E402
from spyglass.text import clean_text, fold  # noqa: E402
from spyglass.topics import Matcher, load_topics  # noqa: E402
from support.labels import Score, tolerated  # noqa: E402

FIX = ROOT / "tests" / "fixtures"
# name -> (file, set value, commit at which the set was first (blind) scored, before tuning on it)
BLIND: dict[str, tuple[str, int | None, str]] = {
    "blind-1": ("labeled_stories_blind.yaml", 1, "45859f1"),
    "blind-2": ("labeled_stories_blind.yaml", 2, "45859f1"),
    "blind-3": ("labeled_stories_blind.yaml", 3, "45859f1"),
    "blind2": ("labeled_stories_blind2.yaml", None, "aa013ba"),
    "blind3": ("labeled_stories_blind3.yaml", None, "7f4bc77"),
    "blind4": ("labeled_stories_blind4.yaml", None, "e7867fd"),
    "blind5": ("labeled_stories_blind5.yaml", None, "02da1f1"),
    "blind6": ("labeled_stories_blind6.yaml", None, "9c61a49"),
}
ALWAYS_TRAIN = {"dev": "labeled_stories.yaml", "heldout": "labeled_stories_heldout.yaml"}
THRESHOLDS = [0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 0.97]


# --------------------------------------------------------------------------------------------------
# Data


def load_items(file: str, set_no: int | None = None) -> list[dict[str, Any]]:
    raw = yaml.safe_load((FIX / file).read_text(encoding="utf-8"))
    items = raw["items"] if isinstance(raw, dict) else raw
    out = []
    for item in items:
        if set_no is not None and item.get("set") != set_no:
            continue
        if item.get("dup_of"):
            continue  # a duplicate is scored (and trained on) once, via its original
        out.append(
            {
                "title": clean_text(item["title"], MAX_TITLE),
                "summary": clean_text(item["summary"]),
                "labels": set(item["expected_topics"] or ()),
                "id": item.get("id", ""),
            }
        )
    return out


def all_sets() -> dict[str, list[dict[str, Any]]]:
    sets = {name: load_items(file) for name, file in ALWAYS_TRAIN.items()}
    for name, (file, set_no, _) in BLIND.items():
        sets[name] = load_items(file, set_no)
    return sets


# --------------------------------------------------------------------------------------------------
# Features and model (pure numpy; the same code is shipped in spyglass.classify)


def build_vocab(docs: list[list[str]], min_df: int = 2) -> dict[str, int]:
    df: dict[str, int] = {}
    for doc in docs:
        for f in set(doc):
            df[f] = df.get(f, 0) + 1
    kept = sorted(f for f, n in df.items() if n >= min_df)
    return {f: i for i, f in enumerate(kept)}


def featurize(docs: list[list[str]], vocab: dict[str, int], idf: np.ndarray | None = None) -> np.ndarray:
    x = np.zeros((len(docs), len(vocab)), dtype=np.float64)
    for r, doc in enumerate(docs):
        for f in doc:
            j = vocab.get(f)
            if j is not None:
                x[r, j] = 1.0
    if idf is not None:
        x *= idf
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


def train_lr(
    x: np.ndarray, y: np.ndarray, l2: float = 1e-3, steps: int = 400, lr: float = 0.5, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """One-vs-rest L2 logistic regression, full-batch Adam. y: (n, k) in {0,1}. Deterministic."""
    rng = np.random.default_rng(seed)
    n, d = x.shape
    k = y.shape[1]
    w = rng.normal(0, 1e-3, (d, k))
    prior = np.clip(y.mean(axis=0), 1e-3, 1 - 1e-3)
    b = np.log(prior / (1 - prior))
    m_w = np.zeros_like(w)
    v_w = np.zeros_like(w)
    m_b = np.zeros_like(b)
    v_b = np.zeros_like(b)
    b1, b2, eps = 0.9, 0.999, 1e-8
    for t in range(1, steps + 1):
        p = 1 / (1 + np.exp(-(x @ w + b)))
        g = (p - y) / n
        gw = x.T @ g + l2 * w
        gb = g.sum(axis=0)
        m_w = b1 * m_w + (1 - b1) * gw
        v_w = b2 * v_w + (1 - b2) * gw * gw
        m_b = b1 * m_b + (1 - b1) * gb
        v_b = b2 * v_b + (1 - b2) * gb * gb
        c1, c2 = 1 - b1**t, 1 - b2**t
        w -= lr * (m_w / c1) / (np.sqrt(v_w / c2) + eps)
        b -= lr * (m_b / c1) / (np.sqrt(v_b / c2) + eps)
    return w, b


class Model:
    def __init__(self, slugs: list[str], l2: float = 1e-3, steps: int = 400) -> None:
        self.slugs = slugs
        self.l2 = l2
        self.steps = steps

    def fit(self, items: list[dict[str, Any]]) -> Model:
        docs = [tokens(i["title"], i["summary"]) for i in items]
        self.vocab = build_vocab(docs)
        df = np.zeros(len(self.vocab))
        for doc in docs:
            for f in set(doc):
                j = self.vocab.get(f)
                if j is not None:
                    df[j] += 1
        self.idf = np.log((1 + len(docs)) / (1 + df)) + 1
        x = featurize(docs, self.vocab, self.idf)
        y = np.array([[s in i["labels"] for s in self.slugs] for i in items], dtype=np.float64)
        self.w, self.b = train_lr(x, y, l2=self.l2, steps=self.steps)
        return self

    def predict(self, items: list[dict[str, Any]], min_features: int = 0) -> np.ndarray:
        docs = [tokens(i["title"], i["summary"]) for i in items]
        x = featurize(docs, self.vocab, self.idf)
        probs = 1 / (1 + np.exp(-(x @ self.w + self.b)))
        known = np.array([len({f for f in d if f in self.vocab}) for d in docs])
        probs[known < min_features] = 0.0  # too little evidence: left to the phrase matcher
        return probs


# --------------------------------------------------------------------------------------------------
# Exclusion gate


def exclusion_gate(exclusions: dict[str, list[str]]) -> dict[str, list[re.Pattern[str]]]:
    return {slug: [p for p in map(_excl_pattern, ex) if p is not None] for slug, ex in exclusions.items()}


def excluded(gate: dict[str, list[re.Pattern[str]]], slug: str, title: str, summary: str) -> bool:
    text = " ".join(_TOKEN.findall(fold(title + " . " + summary)))
    return any(p.search(text) for p in gate.get(slug, ()))


# --------------------------------------------------------------------------------------------------
# Historic (blind-time) matcher, via git archive + a subprocess with that commit's package on sys.path

_HIST_SCRIPT = """
import json, sys
from spyglass.topics import Matcher, load_topics
topics = load_topics()
m = Matcher(topics)
items = json.load(sys.stdin)
out = {"pred": [sorted({x.slug for x in m.match(t, s)}) for t, s in items],
       "exclusions": {t.slug: list(t.exclusions) for t in topics}}
print(json.dumps(out))
"""


def historic_matcher(commit: str, items: list[dict[str, Any]]) -> tuple[list[set[str]], dict[str, list[str]]]:
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", commit, "src/spyglass", "config"], check=True, capture_output=True
    ).stdout
    with tempfile.TemporaryDirectory() as tmp:
        with tarfile.open(fileobj=BytesIO(archive)) as tar:
            tar.extractall(tmp, filter="data")
        res = subprocess.run(
            [sys.executable, "-c", _HIST_SCRIPT],
            input=json.dumps([(i["title"], i["summary"]) for i in items]),
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONPATH": str(Path(tmp) / "src"), "PATH": "/usr/bin:/bin"},
        )
    out = json.loads(res.stdout)
    return [set(p) for p in out["pred"]], out["exclusions"]


# --------------------------------------------------------------------------------------------------
# Scoring


def score(preds: list[set[str]], items: list[dict[str, Any]]) -> tuple[int, int, int]:
    s = Score()
    for found, item in zip(preds, items, strict=True):
        s.add(found, item["labels"])
    return s.tp, s.fp, s.fn


def pr(tp: int, fp: int, fn: int) -> tuple[float, float]:
    s = Score(tp, fp, fn)
    return s.precision, s.recall


def added(base: list[set[str]], extra: list[set[str]], items: list[dict[str, Any]]) -> tuple[int, int]:
    """Labels the backstop adds on top of `base`: (correct, false). Tolerated extras count as neither."""
    good = bad = 0
    for b, e, item in zip(base, extra, items, strict=True):
        exp = item["labels"]
        tol = tolerated(exp)
        for slug in e - b:
            if slug in exp:
                good += 1
            elif slug not in tol:
                bad += 1
    return good, bad


def gated(
    probs: np.ndarray, slugs: list[str], items: list[dict[str, Any]], gate: dict[str, Any], t: float
) -> list[set[str]]:
    out = []
    for row, item in zip(probs, items, strict=True):
        out.append(
            {
                s
                for s, p in zip(slugs, row, strict=True)
                if p >= t and not excluded(gate, s, item["title"], item["summary"])
            }
        )
    return out


def pick_threshold(rows: list[tuple[float, int, int]]) -> float:
    """The lowest threshold whose pooled added-label precision is >= 0.95 there AND at every higher one."""
    chosen = max(THRESHOLDS)
    for t, good, bad in sorted(rows, reverse=True):
        if good + bad and good / (good + bad) < 0.95:
            break
        chosen = t
    return chosen


def nested(sets: dict[str, list[dict[str, Any]]], folds: dict[str, Any], slugs: list[str], args: Any) -> None:
    """Honest threshold: for each outer blind set, pick it by LOSO over the OTHER blind sets only."""
    print("\nNested LOSO (threshold picked without the outer set)")
    tot_good = tot_bad = 0
    for outer in BLIND:
        counts = {t: [0, 0] for t in THRESHOLDS}
        for inner in BLIND:
            if inner == outer:
                continue
            train = [i for n, s in sets.items() if n not in (outer, inner) for i in s]
            f = folds[inner]
            probs = Model(slugs, l2=args.l2, steps=args.steps).fit(train).predict(f["items"], MIN_FEATURES)
            for t in THRESHOLDS:
                g, b = added(f["hist"], gated(probs, slugs, f["items"], f["gate_hist"], t), f["items"])
                counts[t][0] += g
                counts[t][1] += b
        t_out = pick_threshold([(t, g, b) for t, (g, b) in counts.items()])
        f = folds[outer]
        g, b = added(f["hist"], gated(f["probs"], slugs, f["items"], f["gate_hist"], t_out), f["items"])
        tot_good, tot_bad = tot_good + g, tot_bad + b
        print(f"{outer:7s} threshold {t_out:.2f}: adds {g} good, {b} false")
    print(f"nested pooled: {tot_good} good, {tot_bad} false added labels")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", type=Path)
    ap.add_argument("--l2", type=float, default=1e-6)
    ap.add_argument("--nested", action="store_true", help="also pick the threshold by inner LOSO per fold")
    ap.add_argument("--steps", type=int, default=400)
    args = ap.parse_args()

    topics = load_topics()
    slugs = [t.slug for t in topics]
    matcher = Matcher(topics)
    gate_now = exclusion_gate({t.slug: list(t.exclusions) for t in topics})
    sets = all_sets()

    folds: dict[str, dict[str, Any]] = {}
    for name, (_, _, commit) in BLIND.items():
        test = sets[name]
        train = [i for n, s in sets.items() if n != name for i in s]
        model = Model(slugs, l2=args.l2, steps=args.steps).fit(train)
        probs = model.predict(test, MIN_FEATURES)
        now = [{m.slug for m in matcher.match(i["title"], i["summary"])} for i in test]
        hist, hist_excl = historic_matcher(commit, test)
        folds[name] = {
            "items": test,
            "probs": probs,
            "now": now,
            "hist": hist,
            "gate_hist": exclusion_gate(hist_excl),
        }

    # Pooled, per threshold: classifier alone, and labels added on top of the blind-time matcher.
    rows: list[tuple[Any, ...]] = []
    for t in THRESHOLDS:
        tot = {"clf": [0, 0, 0], "add_hist": [0, 0], "add_now": [0, 0]}
        for f in folds.values():
            clf_hist = gated(f["probs"], slugs, f["items"], f["gate_hist"], t)
            clf_now = gated(f["probs"], slugs, f["items"], gate_now, t)
            for k, v in enumerate(score(clf_now, f["items"])):
                tot["clf"][k] += v
            for k, v in enumerate(added(f["hist"], clf_hist, f["items"])):
                tot["add_hist"][k] += v
            for k, v in enumerate(added(f["now"], clf_now, f["items"])):
                tot["add_now"][k] += v
        p, r = pr(*tot["clf"])
        g, b = tot["add_hist"]
        rows.append((t, p, r, g, b, *tot["add_now"]))
    print("Pooled over the 8 LOSO folds (per threshold)")
    print(
        " thr | clf-alone P   R   | added on blind-time matcher: good bad prec | added on today's: good bad"
    )
    for t, p, r, g, b, g2, b2 in rows:
        ap_ = g / (g + b) if g + b else float("nan")
        print(
            f"{t:4.2f} | {p:5.3f} {r:5.3f}        | {g:4d} {b:4d} {ap_:5.3f}                  | {g2:4d} {b2:4d}"
        )

    chosen = pick_threshold([(t, g, b) for t, _, _, g, b, _, _ in rows])
    print(f"\nchosen threshold (lowest with pooled added precision >= 0.95): {chosen}")

    print("\nPer fold at the chosen threshold")
    print(
        "set      n  | hist matcher P  R   | hist+clf P  R     | clf alone P  R    | "
        "add good bad | today P  R  | today+clf P  R  | add good bad"
    )
    report: dict[str, Any] = {"threshold": chosen, "pooled": rows, "folds": {}}
    for name, f in folds.items():
        items = f["items"]
        clf_h = gated(f["probs"], slugs, items, f["gate_hist"], chosen)
        clf_n = gated(f["probs"], slugs, items, gate_now, chosen)
        hp, hr = pr(*score(f["hist"], items))
        hcp, hcr = pr(*score([a | b for a, b in zip(f["hist"], clf_h, strict=True)], items))
        cp, cr = pr(*score(clf_n, items))
        ag, ab = added(f["hist"], clf_h, items)
        np_, nr = pr(*score(f["now"], items))
        ncp, ncr = pr(*score([a | b for a, b in zip(f["now"], clf_n, strict=True)], items))
        ng, nb = added(f["now"], clf_n, items)
        print(
            f"{name:7s} {len(items):3d} | {hp:5.3f} {hr:5.3f}       | {hcp:5.3f} {hcr:5.3f}     | "
            f"{cp:5.3f} {cr:5.3f}      | {ag:4d} {ab:3d}     | {np_:5.3f} {nr:5.3f} | {ncp:5.3f} {ncr:5.3f}     | "
            f"{ng:4d} {nb:3d}"
        )
        report["folds"][name] = {
            "n": len(items),
            "hist": [hp, hr],
            "hist_plus_clf": [hcp, hcr],
            "clf_alone": [cp, cr],
            "added_on_hist": [ag, ab],
            "today": [np_, nr],
            "today_plus_clf": [ncp, ncr],
            "added_on_today": [ng, nb],
        }
        for base, extra, item in zip(f["hist"], clf_h, items, strict=True):
            bad = extra - base - item["labels"] - tolerated(item["labels"])
            if bad:
                print(f"    FALSE ADD {item['id']} {sorted(bad)}: {item['title'][:90]!r}")
    # pooled hist vs hist+clf
    tot_h = np.zeros(3, int)
    tot_hc = np.zeros(3, int)
    for f in folds.values():
        clf_h = gated(f["probs"], slugs, f["items"], f["gate_hist"], chosen)
        tot_h += score(f["hist"], f["items"])
        tot_hc += score([a | b for a, b in zip(f["hist"], clf_h, strict=True)], f["items"])
    print(f"\npooled blind-time matcher: P={pr(*tot_h)[0]:.3f} R={pr(*tot_h)[1]:.3f}")
    print(f"pooled blind-time matcher + backstop: P={pr(*tot_hc)[0]:.3f} R={pr(*tot_hc)[1]:.3f}")
    if args.nested:
        nested(sets, folds, slugs, args)
    if args.json:
        args.json.write_text(json.dumps(report, indent=1, default=float))


if __name__ == "__main__":
    main()
