"""Draw the pool of a new real-news set, to be labelled before it is ever scored.

From one archive's English stories (titles deduplicated, every story of bench/realnews/*.yaml left out)
it samples stories the shipped matcher fires on, stories with a broad surveillance word it does not
fire on, and the rest, and writes them (URL, title, excerpt) to a JSON file for the labeller. The
labels, not the texts, go into bench/realnews/<set>.yaml.

    python bench/realnews_pool.py /tmp/rldb-2023 --seed 20233 --out /tmp/pool.json
    python bench/realnews_pool.py /tmp/articlemd --reader articlemd --counts    # how many are left
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import realnews  # noqa: E402
from spyglass.defaults import MAX_TITLE  # noqa: E402
from spyglass.text import clean_text  # noqa: E402
from spyglass.topics import Matcher, load_topics  # noqa: E402

READERS = {
    "rumca": realnews.rumca_stories,
    "bookmarks": realnews.bookmarks_stories,
    "articlemd": realnews.articlemd_stories,
}
# An English story has a few of these; the archives mix in Polish, German and other feeds.
_ENGLISH = re.compile(r"\b(the|and|of|to|in|is|for|with)\b", re.I)
# Words a surveillance story is likely to use, so that the pool holds stories the matcher misses.
_BROAD = re.compile(
    r"\b(surveil\w*|camera\w*|cctv|drones?|track(?:ing|ed|s)?|biometric\w*|facial|face|spy\w*|hack\w*"
    r"|privacy|police|fingerprint\w*|dna|monitor\w*|watchlist|encrypt\w*|location data|data brokers?"
    r"|license plate|number plate|border)\b",
    re.I,
)


def strata(texts: dict[str, tuple[str, str]], used: set[str]) -> tuple[list[str], list[str], list[str]]:
    """(fired, broad, rest): the unused English stories the matcher fires on, those with a broad
    surveillance word it does not fire on, and the others."""
    matcher = Matcher(load_topics())
    titles: set[str] = set()
    fired: list[str] = []
    broad: list[str] = []
    rest: list[str] = []
    for url, (title, summary) in texts.items():
        key = title.lower().strip()
        if url in used or not key or key in titles or len(_ENGLISH.findall(f"{title} {summary}")) < 3:
            continue
        titles.add(key)
        if matcher.match(clean_text(title, MAX_TITLE), clean_text(summary)):
            fired.append(url)
        elif _BROAD.search(f"{title} {summary}"):
            broad.append(url)
        else:
            rest.append(url)
    return fired, broad, rest


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("archive", type=Path)
    ap.add_argument("--reader", choices=sorted(READERS), default="rumca")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sizes", default="110,70,20", help="how many fired, broad and other stories")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--counts", action="store_true", help="only print the size of each stratum")
    opts = ap.parse_args()
    used = {
        item["url"]
        for path in sorted((HERE / "realnews").glob("*.yaml"))
        for item in yaml.safe_load(path.read_text(encoding="utf-8"))["items"]
    }
    texts = READERS[opts.reader](opts.archive)
    groups = strata(texts, used)
    print(
        f"{sum(map(len, groups))} English stories: {len(groups[0])} fired, "
        f"{len(groups[1])} broad, {len(groups[2])} others"
    )
    if opts.counts or not opts.out:
        return 0
    rng = random.Random(opts.seed)
    sizes = [int(n) for n in opts.sizes.split(",")]
    if any(n > len(g) for n, g in zip(sizes, groups, strict=True)):
        print("error: a stratum has fewer stories than asked for", file=sys.stderr)
        return 1
    pool = [url for n, group in zip(sizes, groups, strict=True) for url in rng.sample(group, n)]
    rng.shuffle(pool)
    rows = [{"url": u, "title": texts[u][0], "excerpt": texts[u][1]} for u in pool]
    opts.out.write_text(json.dumps(rows, indent=1, ensure_ascii=False), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
