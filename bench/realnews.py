"""Topic quality on real news: the shipped matcher against hand-labelled stories from public archives.

The labels live in bench/realnews/*.yaml (URL and topics per story); the texts do not, their outlets
own them. This script reads them from a local copy of the archive each set names and scores what ships:
the packaged topics, through the same text cleaning as the pipeline, per topic channel, over distinct
stories, with the tolerated broader labels of tests/support/labels.py.

    git clone https://github.com/rumca-js/RSS-Link-Database-2022 /tmp/rldb-2022
    python bench/realnews.py bench/realnews/frozen-2022.yaml --archive /tmp/rldb-2022

    git clone https://github.com/rumca-js/RSS-Link-Database-2023 /tmp/rldb-2023
    git -C /tmp/rldb-2023 checkout 08b89dd9b      # the daily files, before the year was zipped
    python bench/realnews.py bench/realnews/frozen-2023.yaml --archive /tmp/rldb-2023

    git clone https://github.com/rumca-js/RSS-Link-Database /tmp/rldb-bookmarks
    python bench/realnews.py bench/realnews/frozen-bookmarks.yaml --archive /tmp/rldb-bookmarks

    git clone https://github.com/bertmad3400/articleMD /tmp/articlemd
    python bench/realnews.py bench/realnews/frozen-security.yaml --archive /tmp/articlemd

--misses lists every story scored wrong; --json writes the figures.
"""

from __future__ import annotations

import argparse
import html
import json
import re
import sys
import zipfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from spyglass.defaults import MAX_TITLE  # noqa: E402
from spyglass.text import clean_text  # noqa: E402
from spyglass.topics import Matcher, load_topics  # noqa: E402
from support.labels import Score  # noqa: E402

_TAG = re.compile(r"<[^>]+>")
_TRAILER = re.compile(r"The post .* appeared first on .*$")
_MD_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")


def rumca_stories(root: Path) -> dict[str, tuple[str, str]]:
    """url -> (title, description) from the archive's per-feed JSON: its monthly zips, or the daily
    files of a checkout from before they were zipped (<year>/<month>/<day>/<feed>_entries.json)."""
    out: dict[str, tuple[str, str]] = {}
    for name, raw in _rumca_files(root):
        if "youtube" in name:
            continue
        try:
            entries = json.loads(raw)
        except ValueError:
            continue
        for e in entries if isinstance(entries, list) else []:
            url = e.get("link") or ""
            if not url or url in out:
                continue
            desc = html.unescape(_TAG.sub(" ", e.get("description") or ""))
            desc = _TRAILER.sub("", " ".join(desc.split())).strip()
            out[url] = (html.unescape(e.get("title") or "").strip(), desc[:600])
    return out


def _rumca_files(root: Path) -> Iterator[tuple[str, bytes]]:
    zips = sorted(root.glob("*/*.zip"))
    for zpath in zips:
        with zipfile.ZipFile(zpath) as z:
            for name in z.namelist():
                if name.endswith("_entries.json"):
                    yield name, z.read(name)
    if not zips:
        for path in sorted(root.glob("*/*/*/*_entries.json")):
            yield path.name, path.read_bytes()


def bookmarks_stories(root: Path) -> dict[str, tuple[str, str]]:
    """url -> (title, description) from the bookmark archive's yearly <year>/bookmarks_entries.json."""
    out: dict[str, tuple[str, str]] = {}
    for path in sorted(root.glob("*/bookmarks_entries.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        for e in data if isinstance(data, list) else data.get("links", []):
            url = e.get("link") or ""
            if url and url not in out:
                desc = " ".join(html.unescape(_TAG.sub(" ", e.get("description") or "")).split())
                out[url] = (html.unescape(e.get("title") or ""), desc[:600])
    return out


def articlemd_stories(root: Path) -> dict[str, tuple[str, str]]:
    """path -> (title, standfirst) from the archive's Markdown files (the '### ' line is the excerpt)."""
    out: dict[str, tuple[str, str]] = {}
    for path in root.glob("*/*.md"):
        title = summary = None
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            line = line.strip()
            if title is None and line.startswith("# "):
                title = line[2:].strip()
            elif title is not None and line.startswith("### "):
                summary = _MD_LINK.sub(r"\1", line[4:])
                break
        if title and summary:
            out[str(path.relative_to(root))] = (title, summary[:400])
    return out


def score(
    labels: dict[str, Any], texts: dict[str, tuple[str, str]]
) -> tuple[Score, dict[str, Counter[str]], list[str]]:
    matcher = Matcher(load_topics())
    total = Score()
    per: dict[str, Counter[str]] = {}
    misses: list[str] = []
    missing_texts = 0
    for item in labels["items"]:
        if item["url"] not in texts:
            missing_texts += 1
            continue
        title, summary = texts[item["url"]]
        got = {m.slug for m in matcher.match(clean_text(title, MAX_TITLE), clean_text(summary))}
        want = set(item["topics"])
        extra, missing = total.add(got, want)
        for slug in want & got:
            per.setdefault(slug, Counter())["tp"] += 1
        for slug in extra:
            per.setdefault(slug, Counter())["fp"] += 1
        for slug in missing:
            per.setdefault(slug, Counter())["fn"] += 1
        if extra or missing:
            misses.append(f"+{sorted(extra)} -{sorted(missing)}  {title[:100]}")
    if missing_texts:
        print(
            f"warning: {missing_texts} labelled stories are not in this copy of the archive", file=sys.stderr
        )
    return total, per, misses


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("labels", type=Path)
    ap.add_argument("--archive", type=Path, required=True, help="a local copy of the archive the labels name")
    ap.add_argument("--misses", action="store_true")
    ap.add_argument("--json", type=Path)
    opts = ap.parse_args()
    labels = yaml.safe_load(opts.labels.read_text(encoding="utf-8"))
    readers = {"bertmad3400/articleMD": articlemd_stories, "rumca-js/RSS-Link-Database": bookmarks_stories}
    reader = readers.get(labels["source"], rumca_stories)
    texts = reader(opts.archive)
    total, per, misses = score(labels, texts)
    print(f"{opts.labels.name}: {len(labels['items'])} stories")
    print(
        f"  precision {total.precision:.3f}  recall {total.recall:.3f}  (tp {total.tp}, fp {total.fp}, fn {total.fn})"
    )
    for slug in sorted(per):
        c = per[slug]
        print(f"  {slug:<26} tp {c['tp']:>3}  fp {c['fp']:>3}  fn {c['fn']:>3}")
    if opts.misses:
        print("\n".join(misses))
    if opts.json:
        figures = {
            "precision": total.precision,
            "recall": total.recall,
            "per_topic": {s: dict(c) for s, c in per.items()},
        }
        opts.json.write_text(json.dumps(figures, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
