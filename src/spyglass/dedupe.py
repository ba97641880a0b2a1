"""Near-duplicate detection, pure: MinHash signatures and LSH band keys.

Why MinHash/LSH: near-duplicate lookup must not scan the history. A story's 64-value signature
is cut into 16 bands of 4 rows; each band hashes to one 63-bit key kept in the database with
the story id. Stories that share any band key are candidates, confirmed by the estimated
Jaccard similarity of their signatures. Two texts with Jaccard s share at least one band with
probability 1 - (1 - s^4)^16: 0.99 at s = 0.6, 0.9999 at 0.75, while unrelated stories
(s < 0.2) almost never meet.
"""

from __future__ import annotations

import functools
import re
import struct
import zlib

import numpy as np

from spyglass.text import fold
from spyglass.urls import article_key, lookup_key

NUM_PERM = 64
BANDS = 16
ROWS = NUM_PERM // BANDS
# Bump when hashing changes, or shingling so much that old and new signatures' agreement would
# mean nothing: stored signatures of another scheme never compare. Dropping URLs from the text
# (2026-12-05) did not bump it: a URL-free text's signature is unchanged, and one with URLs only
# looks less like its old self, which errs towards a new cluster.
SCHEME = 1
_SHIFT = np.uint64(32)
_rng = np.random.Generator(
    np.random.PCG64(20211307)
)  # fixed: signatures are stored, permutations never change
# Multiply-shift hashing (Dietzfelbinger): ((a*x + b) mod 2^64) >> 32 is strongly universal for 32-bit x.
_A = _rng.integers(0, 2**64, size=NUM_PERM, dtype=np.uint64) | np.uint64(1)
_B = _rng.integers(0, 2**64, size=NUM_PERM, dtype=np.uint64)
_WORD = re.compile(r"\w+")
# A link in an excerpt is an address, not the story's words: Hacker News items are all "Article
# URL: https://… Comments URL: https://news.ycombinator.com/item?id=…", and shingling the addresses
# joined unrelated items of one site (bench/realnews_clusters.py, May 2023).
_URL = re.compile(r"\b(?:https?://|www\.)\S+", re.IGNORECASE)
# What is left of such an excerpt once the addresses are gone ("Article URL: Comments URL: Points:
# 12 # Comments: 3") is furniture shared by every item of the feed: no excerpt at all.
_FURNITURE = frozenset(["article", "url", "comments", "comment", "points", "link", "permalink", "discuss"])
_SIG_BYTES = NUM_PERM * 4
_STOP = frozenset(
    [
        "a",
        "an",
        "the",
        "of",
        "to",
        "in",
        "on",
        "at",
        "for",
        "and",
        "or",
        "by",
        "with",
        "from",
        "as",
        "is",
        "are",
        "was",
        "were",
        "be",
        "has",
        "have",
        "had",
        "it",
        "its",
        "that",
        "this",
        "says",
        "said",
    ]
)

# Confirmation thresholds on estimated Jaccard of word 1- and 2-grams of title + summary.
SAME_SITE_THRESHOLD = 0.5  # an outlet re-publishing its own story under a new URL and headline tweak
CROSS_SITE_THRESHOLD = 0.6  # wire copy syndicated with a different headline, same body
WINDOW_DAYS = 7
# Fewer distinct shingles than this and a similarity estimate means nothing ("The First Item" /
# "This is the first item." against "…second…"): such stories are matched by URL and GUID only.
MIN_SHINGLES = 6


# A wire story syndicated under its own headline, each site trimming the lede its own way, shares
# little text beyond the title: on a month of real feeds (bench/realnews_clusters.py) 3.6 % of such
# pairs met the threshold. The same headline word for word, long enough to name one story, and
# published within HEADLINE_DAYS, is the same story.
MIN_HEADLINE_WORDS = 6
HEADLINE_DAYS = 1
_NUMBER = re.compile(r"\d+")


@functools.lru_cache(maxsize=8192)  # asked of every candidate, as article_of is
def headline_of(title: str) -> str | None:
    """A title's words, folded ("Russia Says It Downed 3 Drones" = "Russia says it downed 3 drones"),
    when there are enough of them to name one story; None for short or generic titles."""
    words = _WORD.findall(fold(title)[:1000])
    return " ".join(words) if len(words) >= MIN_HEADLINE_WORDS else None


def headline_key(title: str) -> int | None:
    """A lookup key (like a band key) shared by stories with the same headline."""
    headline = headline_of(title)
    return None if headline is None else lookup_key(f"headline|{headline}")


def numbers_differ(a: str, b: str) -> bool:
    """Two titles that both carry numbers, not the same ones: one outlet's series ("key events, day
    463" and "day 464", "Wordle #712" and "#719", a daily exchange rate) repeats its text and is
    not one story told twice."""
    x, y = set(_NUMBER.findall(a)), set(_NUMBER.findall(b))
    return bool(x) and bool(y) and x != y


# One outlet reuses an excerpt that is not the story: a file photo's caption (The Epoch Times), a
# standing intro ("Here's a round-up of our coverage this week"). Its stories on different days
# under headlines that share little are different stories (May 2023: about 28 of 30 such joins
# read were wrong). Within HEADLINE_DAYS a rewritten headline over the same lede is the same report.
TITLE_OVERLAP = 0.3


def titles_differ(a: str, b: str) -> bool:
    """The titles' words (folded, without stop words) overlap by less than TITLE_OVERLAP (Jaccard)."""
    x, y = set(_title_words(a)), set(_title_words(b))
    return len(x & y) < TITLE_OVERLAP * len(x | y)


@functools.lru_cache(maxsize=8192)  # asked of every candidate, as headline_of is
def _title_words(title: str) -> tuple[str, ...]:
    return tuple(_words(title[:1000]))


def _words(text: str) -> list[str]:
    return [w for w in _WORD.findall(fold(_URL.sub(" ", text[:20000]))) if w not in _STOP]


def shingles(title: str, summary: str) -> set[str]:
    """Word 1- and 2-grams of the summary plus the title's words.

    The body carries the identity: syndicated wire copy and same-outlet republishes keep the
    lede and change the headline, so headline bigrams would only add noise. A story with
    little or no summary falls back to the title's bigrams too.
    """
    body = _words(summary)
    if all(w in _FURNITURE or w.isdigit() for w in body):
        body = []
    head = _words(title)
    grams = set(body) | set(head)
    grams.update(f"{a} {b}" for a, b in zip(body, body[1:], strict=False))
    if len(body) < 12:
        grams.update(f"{a} {b}" for a, b in zip(head, head[1:], strict=False))
    return grams


def signature(title: str, summary: str) -> np.ndarray:
    """64 uint32 minimum hashes over the shingles, one universal hash function per permutation."""
    grams = shingles(title, summary)
    if len(grams) < MIN_SHINGLES:
        return np.full(NUM_PERM, 0xFFFFFFFF, dtype=np.uint32)  # the "too little text" signature
    base = np.fromiter((zlib.crc32(g.encode()) for g in grams), dtype=np.uint64, count=len(grams))
    # every permutation at once; uint64 arithmetic wraps mod 2^64, which is the point
    hashed = (np.outer(_A, base) + _B[:, None]) >> _SHIFT
    return hashed.min(axis=1).astype(np.uint32)


def comparable(sig: np.ndarray) -> bool:
    """False for the signature of a story with too little text to compare (see MIN_SHINGLES)."""
    return bool(sig[0] != 0xFFFFFFFF or np.any(sig != 0xFFFFFFFF))


def band_keys(sig: np.ndarray) -> list[int]:
    """One signed 63-bit key per band (fits a BIGINT); the band index is mixed in so bands never collide.

    None for a story with too little text: it never becomes anyone's near-duplicate candidate."""
    if not comparable(sig):
        return []
    keys = []
    raw = sig.astype("<u4").tobytes()
    step = ROWS * 4
    for band in range(BANDS):
        chunk = raw[band * step : (band + 1) * step]
        h = zlib.crc32(chunk, band * 0x9E3779B1 & 0xFFFFFFFF) | (zlib.adler32(chunk, band + 1) << 32)
        keys.append((h & 0x7FFFFFFFFFFFFFFF) - (1 << 62))
    return keys


def signed(title: str, summary: str, url: str) -> tuple[np.ndarray, list[int]]:
    """A story's signature and the keys it is looked up by: its LSH bands, its article key (the
    same article on another of its outlet's sites) when its URL has one, and its headline key."""
    sig = signature(title, summary)
    extra = [k for k in (article_key(url), headline_key(title)) if k is not None]
    return sig, list(dict.fromkeys([*band_keys(sig), *extra]))


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Estimated Jaccard similarity: the fraction of permutations whose minimum agrees."""
    return float(np.count_nonzero(a == b)) / NUM_PERM


def similarities(sig: np.ndarray, blobs: list[bytes]) -> list[float | None]:
    """``similarity(sig, from_bytes(b))`` for many stored signatures at once (None where unreadable)."""
    ok = [bool(b) and b[0] == SCHEME and len(b) == _SIG_BYTES + 1 for b in blobs]
    good = [b[1:] for b, k in zip(blobs, ok, strict=True) if k]
    if not good:
        return [None] * len(blobs)
    matrix = np.frombuffer(b"".join(good), dtype="<u4").reshape(len(good), NUM_PERM)
    sims = iter((np.count_nonzero(matrix == sig.astype("<u4"), axis=1) / NUM_PERM).tolist())
    return [next(sims) if k else None for k in ok]


class SignatureRows:
    """Signatures gathered one at a time (at most ``capacity``), compared with a new one at once."""

    def __init__(self, capacity: int) -> None:
        self._rows = np.empty((max(capacity, 1), NUM_PERM), dtype=np.uint32)
        self._n = 0

    def add(self, sig: np.ndarray) -> None:
        self._rows[self._n] = sig
        self._n += 1

    def similarities(self, sig: np.ndarray) -> list[float]:
        """``similarity(sig, row)`` for every row, in the order they were added."""
        same = np.count_nonzero(self._rows[: self._n] == sig, axis=1)
        return list((same / NUM_PERM).tolist())


def to_bytes(sig: np.ndarray) -> bytes:
    return struct.pack("<B", SCHEME) + sig.astype("<u4").tobytes()


def from_bytes(data: bytes) -> np.ndarray | None:
    if not data or data[0] != SCHEME or len(data) != _SIG_BYTES + 1:
        return None
    return np.frombuffer(data[1:], dtype="<u4").astype(np.uint32)


def is_near_duplicate(sim: float, same_site: bool) -> bool:
    return sim >= (SAME_SITE_THRESHOLD if same_site else CROSS_SITE_THRESHOLD)
