"""Slack mrkdwn and plain_text helpers: every untrusted string passes through here before Slack sees it.

Slack parses `<...>` as control sequences (links, `<!channel>`, `<@U123>`, `<#C123>`, `<!subteam^S1>`),
so story text must have `&`, `<` and `>` escaped; only this module builds `<url|label>` links, and
only from URLs that `safe_url` has made unable to end the link early.
"""

from __future__ import annotations

import re
import unicodedata

from spyglass.defaults import MAX_URL
from spyglass.models import HIT_END, HIT_START
from spyglass.text import strip_controls, truncate

ELLIPSIS = "…"

_WS = re.compile(r"\s+")
_SCHEME = re.compile(r"^(https?)://", re.I)
# Characters kept as-is in a URL: unreserved and reserved characters minus quotes; `%` is checked apart.
_URL_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~:/?#[]@!$&()*+,;=")
_PCT = re.compile(r"%[0-9A-Fa-f]{2}")
# `&lt;` in a URL would be shown (and followed) as `<` by Slack's entity decoding; encode its `&`.
_ENTITY = re.compile(r"&(?=#?[A-Za-z0-9]+;)")
_HOST = re.compile(r"^[A-Za-z0-9.\-_~:\[\]]+$")


_USER_ID = re.compile(r"[UW][A-Z0-9]{2,20}")


def mention(user_id: str) -> str | None:
    """`<@U123>` for something shaped like a Slack user id, else None (so no text can become a ping)."""
    return f"<@{user_id}>" if _USER_ID.fullmatch(user_id or "") else None


def escape(text: str, *, keep_markers: bool = False) -> str:
    """Escape untrusted text for a mrkdwn field: `&`, `<`, `>` become entities; controls and bidi
    overrides are removed (HIT_START/HIT_END survive only when `keep_markers` is set); a feed's own
    `*bold*`, `_italic_`, `~strike~` and `` `code` `` pairs are shown as written, not formatted."""
    text = strip_controls(text or "", keep_markers=keep_markers)
    return _defuse(text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"))


# mrkdwn has no escape for its formatting characters. Inside a pair that Slack would format, they
# become look-alikes that it does not: the text reads the same and stays plain.
_LOOKALIKE = {"*": "\u2217", "_": "\u02cd", "~": "\u223c", "`": "\u02cb"}
_PAIR = re.compile(r"(?<![\w*_~`])([*_~`])(?=\S)([^\n]*?\S)\1(?![\w*_~`])")


def _defuse(text: str) -> str:
    if not any(c in text for c in _LOOKALIKE):
        return text
    return _PAIR.sub(lambda m: _LOOKALIKE[m.group(1)] + m.group(2) + _LOOKALIKE[m.group(1)], text)


def oneline(text: str) -> str:
    """Controls and bidi overrides removed, all whitespace runs folded to one space, trimmed."""
    return _WS.sub(" ", strip_controls(text or "", keep_newlines=False)).strip()


def oneline_markers(text: str) -> str:
    """Like `oneline` but keeping HIT_START/HIT_END (for search snippets)."""
    return _WS.sub(" ", strip_controls(text or "", keep_markers=True, keep_newlines=False)).strip()


def clip(text: str, limit: int) -> str:
    """`truncate` that does not leave half an emoji sequence (ZWJ, variation selector, lone flag half)."""
    if len(text) <= limit:
        return text
    out = truncate(text, limit, ELLIPSIS)
    if not out.endswith(ELLIPSIS):
        return out
    body = out[: -len(ELLIPSIS)]
    while body and (body[-1] in "\u200d\ufe0f\ufe0e" or unicodedata.combining(body[-1])):
        body = body[:-1]
    trailing_ri = len(body) - len(body.rstrip("".join(chr(c) for c in range(0x1F1E6, 0x1F200))))
    if trailing_ri % 2:
        body = body[:-1]
    # A cut in the middle of a ZWJ sequence leaves the joiner's left half; drop it with its ZWJ too.
    while body.endswith("\u200d"):
        body = body[:-1]
    return body + ELLIPSIS


def escape_clip(text: str, limit: int, *, keep_markers: bool = False) -> str:
    """Escape and shorten so the *escaped* result fits `limit`, never cutting an entity in half."""
    text = strip_controls(text or "", keep_markers=keep_markers)
    budget = limit
    while True:
        out = escape(clip(text, budget), keep_markers=keep_markers)
        if len(out) <= limit or budget <= 1:
            return out if len(out) <= limit else ""
        budget = min(budget - 1, budget * limit // len(out))


def plain(text: str, limit: int) -> str:
    """Text for a plain_text object (header, button): no escaping, controls/bidi stripped, one line."""
    return clip(oneline(text), limit)


def safe_url(url: str | None) -> str | None:
    """An http(s) URL that cannot break out of `<url|label>`, or None.

    Non-ASCII hosts become IDNA; every other character outside a conservative ASCII set (spaces,
    quotes, `|`, `<`, `>`, controls, non-ASCII) is percent-encoded. None when longer than 3000.
    """
    if not url:
        return None
    url = url.strip()
    m = _SCHEME.match(url)
    if not m:
        return None
    scheme = m.group(1).lower()
    rest = url[m.end() :]
    split = min((i for i in (rest.find("/"), rest.find("?"), rest.find("#")) if i >= 0), default=len(rest))
    authority, tail = rest[:split], rest[split:]
    if "\\" in authority:  # browsers treat `\` as `/`: the real host would differ from the shown one
        return None
    userinfo, at, hostport = authority.rpartition("@")
    if not hostport:
        return None
    if not hostport.isascii():
        host, colon, port = hostport.partition(":") if not hostport.startswith("[") else (hostport, "", "")
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            return None
        hostport = host + colon + port
    if not _HOST.match(hostport) or hostport.startswith(":"):
        return None
    out = f"{scheme}://{_encode(userinfo + at) if at else ''}{hostport}{_encode(tail)}"
    return out if len(out) <= MAX_URL else None


def _encode(part: str) -> str:
    part = _ENTITY.sub("%26", part)
    out: list[str] = []
    i = 0
    while i < len(part):
        ch = part[i]
        if ch == "%":
            out.append("%" if _PCT.match(part, i) else "%25")
        elif ch in _URL_SAFE:
            out.append(ch)
        else:
            out.append("".join(f"%{b:02X}" for b in ch.encode("utf-8", "surrogatepass")))
        i += 1
        if len(out) > MAX_URL:  # longer than any allowed URL already: stop encoding
            out.append("%" * MAX_URL)
            break
    return "".join(out)


def label(text: str, limit: int = 300) -> str:
    """Escaped one-line link label; `|` (which would split the link) becomes a lookalike."""
    return escape_clip(oneline(text).replace("|", "\u2223"), limit)


def link(url: str | None, text: str, limit: int = 300) -> str:
    """`<safe_url|escaped label>`, or just the escaped label when the URL is unsafe."""
    lab = label(text, limit)
    target = safe_url(url)
    if target is None:
        return lab
    return f"<{target}|{lab}>" if lab else f"<{target}>"


def bold_markers(escaped: str) -> str:
    """Turn HIT_START/HIT_END pairs in already-escaped text into `*bold*`; drop stray markers."""

    def repl(m: re.Match[str]) -> str:
        inner = m.group(1)
        core = inner.strip()
        if not core:
            return inner
        lead = inner[: len(inner) - len(inner.lstrip())]
        trail = inner[len(inner.rstrip()) :]
        return f"{lead}*{core.replace('*', '')}*{trail}"

    out = re.sub(f"{HIT_START}([^{HIT_START}{HIT_END}]*){HIT_END}", repl, escaped)
    return out.replace(HIT_START, "").replace(HIT_END, "")


def other_outlets(n: int) -> str:
    """'+ 3 other outlets' for a search hit standing for a story several outlets carried ('' for none)."""
    return f"+ {n} other outlet{'s' if n != 1 else ''}" if n > 0 else ""
