"""Clusters on real syndication (issue 9, item 5): does Spyglass put the copies of one story together?

Reads a month (or more) of rumca-js/RSS-Link-Database-2023's daily per-feed files, writes each feed's
entries as an RSS file, and runs the whole product on them (`spyglass poll --once`, feed-file sources,
no age limit, no retention) into a temporary SQLite file. Then it finds pairs of entries that are
plainly the same story by rules that owe nothing to Spyglass's MinHash:

- same lede: different URLs whose descriptions agree on their first 120 letters and digits (wire
  copies with rewritten headlines, press releases on several sites, one outlet's second URL);
- same headline: different URLs on different sites whose titles agree word for word (6+ words).

and counts how many of each landed in one cluster. It also lists clusters that joined stories no
rule links, for a person to read (possible wrong merges: `--show N` prints N of them).

    git clone https://github.com/rumca-js/RSS-Link-Database-2023 /tmp/rldb-2023
    git -C /tmp/rldb-2023 checkout 08b89dd9b      # the daily files, before the year was zipped
    python bench/realnews_clusters.py --archive /tmp/rldb-2023 --month 2023/06
"""

from __future__ import annotations

import argparse
import contextlib
import html
import json
import re
import sqlite3
import subprocess
import sys
import tempfile
from collections import defaultdict
from datetime import datetime
from email.utils import format_datetime
from itertools import combinations
from pathlib import Path
from urllib.parse import urlsplit
from xml.sax.saxutils import escape

from realnews import _TAG, _TRAILER  # the same cleaning as the topic-quality script

_NOT_WORD = re.compile(r"[^a-z0-9]+")
LEDE = 120  # letters and digits of the description that must agree
MIN_TITLE_WORDS = 6


def entries(root: Path, months: list[str]) -> dict[str, dict[str, str]]:
    """url -> {feed, title, description, published}, the first time each URL appears."""
    out: dict[str, dict[str, str]] = {}
    for month in months:
        for path in sorted((root / month).glob("*/*_entries.json")):
            if "youtube" in path.name:
                continue
            try:
                data = json.loads(path.read_bytes())
            except ValueError:
                continue
            for e in data if isinstance(data, list) else []:
                url = e.get("link") or ""
                if not url.startswith("http") or url in out:
                    continue
                desc = html.unescape(_TAG.sub(" ", e.get("description") or ""))
                out[url] = {
                    "feed": path.name.removesuffix("_entries.json"),
                    "title": html.unescape(e.get("title") or "").strip(),
                    "description": _TRAILER.sub("", " ".join(desc.split())).strip(),
                    "published": e.get("date_published") or "",
                }
    return out


def write_feeds(stories: dict[str, dict[str, str]], folder: Path) -> list[Path]:
    by_feed: dict[str, list[tuple[str, dict[str, str]]]] = defaultdict(list)
    for url, e in stories.items():
        by_feed[e["feed"]].append((url, e))
    paths = []
    for n, (feed, items) in enumerate(sorted(by_feed.items())):
        body = [f"<rss version='2.0'><channel><title>{escape(feed)}</title><link>https://example.org/</link>"]
        for url, e in items:
            date = ""
            with contextlib.suppress(ValueError):
                date = f"<pubDate>{format_datetime(datetime.fromisoformat(e['published']))}</pubDate>"
            body.append(
                f"<item><title>{escape(e['title'])}</title><link>{escape(url)}</link>"
                f"<guid isPermaLink='true'>{escape(url)}</guid>"
                f"<description>{escape(e['description'])}</description>{date}</item>"
            )
        body.append("</channel></rss>")
        path = folder / f"feed{n:03d}.xml"
        path.write_text("".join(body), encoding="utf-8")
        paths.append(path)
    return paths


def run_spyglass(paths: list[Path], folder: Path) -> Path:
    db = folder / "h.db"
    cfg = folder / "spyglass.toml"
    lines = [f'max_age = "0"\n[storage]\nurl = "sqlite:///{db}"\nretention = "0"\n']
    lines += [f'[[sources]]\nname = "{p.stem}"\npath = "{p}"\n' for p in paths]
    cfg.write_text("\n".join(lines), encoding="utf-8")
    cmd = [sys.executable, "-m", "spyglass", "--config", str(cfg), "poll", "--once"]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    print(done.stderr.strip().splitlines()[0] if done.stderr else "", file=sys.stderr)
    if done.returncode != 0:
        sys.exit(f"spyglass failed: {done.stderr[-500:]}")
    return db


def host(url: str) -> str:
    return (urlsplit(url).hostname or "").removeprefix("www.")


def pairs_by(stories: dict[str, dict[str, str]], key, cross_site: bool) -> set[tuple[str, str]]:
    groups: dict[str, list[str]] = defaultdict(list)
    for url, e in stories.items():
        k = key(e)
        if k:
            groups[k].append(url)
    out = set()
    for urls in groups.values():
        for a, b in combinations(sorted(urls), 2):
            if not cross_site or host(a) != host(b):
                out.add((a, b))
    return out


def lede(e: dict[str, str]) -> str:
    letters = _NOT_WORD.sub("", e["description"].lower())
    return letters[:LEDE] if len(letters) >= LEDE else ""


def headline(e: dict[str, str]) -> str:
    words = _NOT_WORD.sub(" ", e["title"].lower()).split()
    return " ".join(words) if len(words) >= MIN_TITLE_WORDS else ""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--archive", type=Path, required=True)
    ap.add_argument("--month", action="append", required=True, help="e.g. 2023/06 (repeatable)")
    ap.add_argument("--show", type=int, default=0, help="print this many clusters no rule explains")
    args = ap.parse_args()
    stories = entries(args.archive, args.month)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        db = run_spyglass(write_feeds(stories, folder), folder)
        with sqlite3.connect(db) as conn:
            rows = conn.execute("SELECT original_url, url, cluster_id FROM stories").fetchall()
    cluster = {}
    for original, url, cid in rows:
        cluster[original] = cid
        cluster.setdefault(url, cid)
    stored = [u for u in stories if u in cluster]
    print(f"{len(stories)} distinct URLs in the archive, {len(stored)} stored as stories")
    kept = {u: stories[u] for u in stored}
    linked: set[tuple[str, str]] = set()
    for name, key, cross in (("same lede", lede, False), ("same headline, another site", headline, True)):
        pairs = pairs_by(kept, key, cross)
        linked |= pairs
        joined = sum(cluster[a] == cluster[b] for a, b in pairs)
        share = f"{joined / len(pairs):.3f}" if pairs else "-"
        print(f"{name}: {len(pairs)} pairs, {joined} in one cluster ({share})")
        for a, b in [p for p in sorted(pairs) if cluster[p[0]] != cluster[p[1]]][: args.show]:
            print(f"   apart: {kept[a]['title'][:90]!r} <{a}>\n          {kept[b]['title'][:90]!r} <{b}>")
    members: dict[int, list[str]] = defaultdict(list)
    for u in stored:
        members[cluster[u]].append(u)
    multi = [m for m in members.values() if len(m) > 1]
    unexplained = [m for m in multi if not any(p in linked for p in combinations(sorted(m), 2))]
    print(
        f"{len(multi)} clusters of 2+ stories ({sum(map(len, multi))} stories); "
        f"{len(unexplained)} of them joined by no rule above (read them: --show)"
    )
    for m in unexplained[: args.show]:
        print("  cluster:")
        for u in m[:4]:
            print(f"    {kept[u]['title'][:80]!r} | {kept[u]['description'][:80]!r} <{host(u)}>")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
