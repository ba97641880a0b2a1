"""Text cleaning (for display and storage) and folding (for matching). Pure functions."""

from __future__ import annotations

import html
import re
import unicodedata

_TAG = re.compile(r"<[^>]{0,2000}>")
_SCRIPT = re.compile(r"<(script|style)\b[^>]{0,2000}>.{0,200000}?</\1\s*>", re.I | re.S)
_WS = re.compile(r"\s+")
# Unicode category Cc exactly (C0, DEL, C1), minus tab and newline which fold to spaces below.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# All hyphen and dash variants, plus the no-break and narrow spaces, fold to a plain space for matching.
_DASHES = "\u002d\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d"
_SPACES = "\u00a0\u2007\u202f\u2009\u200a\u3000"
_APOSTROPHES = "\u2018\u2019\u02bc\u2032\uff07`\u00b4"
_FOLD_TABLE = str.maketrans(
    {**{c: " " for c in _DASHES + _SPACES}, **{c: "'" for c in _APOSTROPHES}, "_": " "}
)
# Invisible format characters (zero-width joiners, bidi overrides) are dropped when folding.
_INVISIBLE = re.compile(r"[\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")

MAX_TITLE = 500
MAX_SUMMARY = 5000


def clean_text(raw: str | None, limit: int = MAX_SUMMARY) -> str:
    """HTML to plain text: scripts dropped, tags stripped, entities decoded, whitespace folded, bounded."""
    if not raw:
        return ""
    text = raw[: limit * 20]  # bound the work before any regex touches untrusted input
    if "<" in text:
        text = _SCRIPT.sub(" ", text)
        text = _TAG.sub(" ", text)
    # Entities twice: feeds often double-escape (&amp;rsquo;).
    text = html.unescape(html.unescape(text)) if "&" in text else text
    text = _WS.sub(" ", _CONTROL.sub("", text)).strip()
    return truncate(text, limit)


def truncate(text: str, limit: int, ellipsis: str = "…") -> str:
    """Shorten to at most `limit` characters, on a word boundary when one is near."""
    if len(text) <= limit:
        return text
    cut = text[: max(0, limit - len(ellipsis))]
    space = cut.rfind(" ")
    if space >= len(cut) * 0.6:
        cut = cut[:space]
    return cut.rstrip(" ,.;:-") + ellipsis


def fold(text: str) -> str:
    """Normalize for matching: NFKC, dashes/odd spaces to space, curly apostrophes to ', casefold.

    Both the phrases and the story text go through this, so they meet in the same form.
    """
    if text.isascii():  # most news text: NFKC and the invisible characters cannot apply
        return _WS.sub(" ", text.translate(_FOLD_TABLE).lower()).strip()
    text = unicodedata.normalize("NFKC", text)
    text = _INVISIBLE.sub("", text).translate(_FOLD_TABLE).casefold()
    return _WS.sub(" ", text).strip()
