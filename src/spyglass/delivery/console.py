"""Plain-text renderings for a terminal (dry runs, `spyglass search`): no I/O, no colours.

Every untrusted string is stripped of escape sequences, C0/C1 controls and bidi overrides, so a
feed cannot move the cursor, retitle the window or recolour the terminal.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Sequence
from datetime import UTC, datetime

from spyglass.defaults import MAX_HITS, MAX_RELATED
from spyglass.delivery.mrkdwn import other_outlets, safe_url
from spyglass.models import HIT_END, HIT_START, AlertView, SearchHit
from spyglass.text import strip_controls, truncate
from spyglass.topics import readable_phrase

WIDTH = 78
SUMMARY_LIMIT = 1200
SNIPPET_LIMIT = 400

# ESC-introduced sequences: CSI (ESC [ ... final), OSC/DCS/SOS/PM/APC strings (ESC ] ... BEL or ST),
# and two-character escapes. C1 equivalents (U+009B CSI, U+009D OSC, ...) are removed as controls.
_ESC_SEQ = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]?"
    r"|\x1b[\]PX^_][^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
    r"|\x1b[ -/]*[0-~]?"
    r"|\x9b[0-?]*[ -/]*[@-~]?"
    r"|[\x9d\x90\x98\x9e\x9f][^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
)
_MARKERS = re.compile(f"[{HIT_START}{HIT_END}]")
_WS = re.compile(r"\s+")


def clean(text: str | None, *, keep_markers: bool = False) -> str:
    """One line of terminal-safe text: escape sequences and controls gone, whitespace folded."""
    text = _ESC_SEQ.sub("", text or "")
    text = _WS.sub(" ", text)  # tabs/newlines become spaces before the controls are removed
    text = strip_controls(text, keep_markers=True, keep_newlines=False)
    if not keep_markers:
        text = _MARKERS.sub("", text)
    return _WS.sub(" ", text).strip()


def format_time(when: datetime) -> str:
    """`2026-11-26 12:30 UTC` (naive datetimes are taken to be UTC)."""
    when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    return when.strftime("%Y-%m-%d %H:%M UTC")


def _url(url: str) -> str:
    return safe_url(url) or f"(unsafe link: {truncate(clean(url), 120)})"


def render_alert(view: AlertView, channel: str | None = None) -> str:
    """A multi-line alert for a terminal: title, provider · time · topics, why, summary, link, related."""
    title = clean(view.title) or "(untitled story)"
    lines = [f"[#{clean(channel).lstrip('#')}] {title}" if channel else title]
    meta = [p for p in (clean(view.provider), format_time(view.published)) if p]
    topics = ", ".join(t for t in (clean(t) for t in view.topics) if t)
    if topics:
        meta.append(topics)
    lines.append(" · ".join(meta))
    reasons = ", ".join(f'"{r}"' for r in (clean(readable_phrase(r)) for r in view.reasons) if r)
    if reasons:
        lines.append(f"why: {reasons}")
    summary = truncate(clean(view.summary), SUMMARY_LIMIT)
    if summary:
        lines.extend(textwrap.wrap(summary, WIDTH, initial_indent="  ", subsequent_indent="  "))
    lines.append(_url(view.url))
    related = [r for r in view.related if clean(r.title) or clean(r.url)][:MAX_RELATED]
    if related:
        lines.append("also covered by:")
        for rel in related:
            name = clean(rel.title) or "(untitled)"
            provider = clean(rel.provider)
            lines.append(f"  - {name}" + (f" — {provider}" if provider else "") + f"  {_url(rel.url)}")
    return "\n".join(lines)


def _snippet(text: str) -> str:
    body = truncate(clean(text, keep_markers=True), SNIPPET_LIMIT)
    body = re.sub(f"{HIT_START}([^{HIT_START}{HIT_END}]*){HIT_END}", r"[\1]", body)
    return _MARKERS.sub("", body).replace("[]", "")


def render_search(query: str, hits: Sequence[SearchHit]) -> str:
    """Numbered search results with title, provider, date, link and snippet (matched terms as [term])."""
    q = clean(query)
    if not hits:
        return f'No stories match "{q}". Try fewer words, drop quotes or filters, or a longer since: window.'
    shown = list(hits)[:MAX_HITS]
    lines = [f'{len(shown)} result{"s" if len(shown) != 1 else ""} for "{q}":']
    for i, hit in enumerate(shown, 1):
        meta = " · ".join(
            p for p in (clean(hit.provider), format_time(hit.published)[:10], other_outlets(hit.others)) if p
        )
        lines.append(f"{i:>2}. {clean(hit.title) or '(untitled story)'}")
        lines.append(f"    {meta}")
        lines.append(f"    {_url(hit.url)}")
        snippet = _snippet(hit.snippet)
        if snippet:
            lines.extend(textwrap.wrap(snippet, WIDTH, initial_indent="    ", subsequent_indent="    "))
    return "\n".join(lines)
