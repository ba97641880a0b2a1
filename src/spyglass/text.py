"""Text cleaning (for display and storage) and folding (for matching). Pure functions."""

from __future__ import annotations

import html
import re
import unicodedata
from html.entities import html5 as _HTML5_ENTITIES

from selectolax.lexbor import LexborHTMLParser

from spyglass.defaults import MAX_SUMMARY

# A space goes in front of every block-level or line-breaking tag, so that `<p>a</p><p>b</p>` reads
# "a b", not "ab". Only spaces are added here: the HTML parser does all the removing.
_BLOCK_TAG = re.compile(
    r"<(?=/?(?:p|div|br|li|ul|ol|h[1-6]|tr|td|th|table|blockquote|figure|figcaption|hr|img|section"
    r"|article|header|footer|dd|dt|pre)\b)",
    re.I,
)
# A link glued to the words around it ("submitted by<a …>user</a>to …", as some exports write it)
# still reads as separate words; "see <a>here</a>." keeps its full stop.
_GLUED_LINK = re.compile(r"(?<=\w)(?=<a\b)|(?<=</a>)(?=\w)", re.I)
# Both feed parsers turn a bare `&` into a made-up entity (`AT&T` → `AT&T;`, `Q&A` → `Q&A;`).
_FAKE_ENTITY = re.compile(r"&([A-Za-z][A-Za-z0-9]{0,31});")
# An entity left after one decoding: the publisher escaped twice (`&amp;rsquo;`).
_LEFTOVER_ENTITY = re.compile(r"&(?:[A-Za-z][A-Za-z0-9]{1,31}|#[0-9]{1,7}|#[xX][0-9A-Fa-f]{1,6});")
_WS = re.compile(r"\s+")
# The one control-character rule, for everything shown or stored: C0 controls (tab and newline
# optionally kept; HIT_START/HIT_END, \x02 and \x03, optionally kept), DEL, C1 controls, and the bidi
# embedding/override/isolate characters that can visually reorder the rest of a message.
# Ordinary right-to-left letters are untouched.
_BIDI = "\u202a-\u202e\u2066-\u2069"


def _control_class(keep_markers: bool, keep_newlines: bool) -> re.Pattern[str]:
    kept = ("\x02\x03" if keep_markers else "") + ("\t\n" if keep_newlines else "")
    chars = "".join(chr(c) for c in range(0x20) if chr(c) not in kept)
    return re.compile(f"[{re.escape(chars)}\x7f-\x9f{_BIDI}]")


_CONTROLS = {(km, kn): _control_class(km, kn) for km in (False, True) for kn in (False, True)}
# All hyphen and dash variants, plus the no-break and narrow spaces, fold to a plain space for matching.
_DASHES = "\u002d\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d"
_SPACES = "\u00a0\u2007\u202f\u2009\u200a\u3000"
_APOSTROPHES = "\u2018\u2019\u02bc\u2032\uff07`\u00b4"
_FOLD_TABLE = str.maketrans(
    {**{c: " " for c in _DASHES + _SPACES}, **{c: "'" for c in _APOSTROPHES}, "_": " "}
)
# Invisible format characters (zero-width joiners, bidi overrides) are dropped when folding.
_INVISIBLE = re.compile(r"[\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")


def clean_text(raw: str | None, limit: int = MAX_SUMMARY) -> str:
    """HTML to plain text: scripts dropped, tags stripped, entities decoded, whitespace folded, bounded."""
    if not raw:
        return ""
    text = raw[: limit * 20]  # bound the work before anything touches untrusted input
    text = repair_bare_ampersands(text)
    if "<" in text:
        text = html_to_text(text)  # entities are decoded by the parser
    elif "&" in text:
        text = html.unescape(text)
    if "&" in text and _LEFTOVER_ENTITY.search(text):
        text = html.unescape(text)
    text = _WS.sub(" ", strip_controls(text)).strip()
    return truncate(text, limit)


def strip_controls(text: str, *, keep_markers: bool = False, keep_newlines: bool = True) -> str:
    """Drop control characters and bidi overrides (the rule above). CR and CRLF become newlines when
    newlines are kept, spaces otherwise, so lines and words never run together."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not keep_newlines:
        text = text.replace("\n", " ").replace("\t", " ")
    return _CONTROLS[(keep_markers, keep_newlines)].sub("", text)


def html_to_text(markup: str) -> str:
    """The text a browser would show for an HTML fragment: a real parser (lexbor), not regexes, so
    `5 < 6 and 7 > 3` keeps its words, a 3,000-character `<img srcset>` goes, entities decode once."""
    tree = LexborHTMLParser(_GLUED_LINK.sub(" ", _BLOCK_TAG.sub(" <", markup)))
    tree.strip_tags(["script", "style", "noscript", "template"])
    return tree.text(separator="") or ""


def repair_bare_ampersands(text: str, amp: str = "&amp;") -> str:
    """Undo the parsers' `AT&T` → `AT&T;`: a made-up entity becomes `amp` + the word again
    (`&amp;` in markup, `&` in plain text)."""
    if "&" not in text:
        return text
    return _FAKE_ENTITY.sub(
        lambda m: m.group(0) if m.group(1) + ";" in _HTML5_ENTITIES else amp + m.group(1), text
    )


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
