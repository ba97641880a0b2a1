"""The digest message: the stories a channel's digest carries, grouped by topic, newest first, one
line per story cluster with its outlets. At most MAX_BLOCKS blocks; what does not fit is counted,
with a search that finds it."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from slack_sdk.models.blocks import Block

from spyglass.delivery.blocks import (
    MAX_BLOCKS,
    MAX_SECTION_TEXT,
    UNTITLED,
    blocks_json,
    context_block,
    date_token,
    section_block,
)
from spyglass.delivery.mrkdwn import escape_clip, link, oneline
from spyglass.models import DigestLine

LINE_TITLE = 150  # characters of a title in a digest line
LINE_OUTLETS = 4  # outlets named on a line; the rest are counted


def _line(d: DigestLine) -> str:
    names = [escape_clip(oneline(o), 60) for o in d.outlets[:LINE_OUTLETS] if oneline(o)]
    if len(d.outlets) > LINE_OUTLETS:
        names.append(f"+{len(d.outlets) - LINE_OUTLETS} more")
    tail = " · ".join(p for p in (", ".join(names), date_token(d.published, "{date_short}")) if p)
    return f"• {link(d.url, oneline(d.title) or UNTITLED, LINE_TITLE)}" + (f" — {tail}" if tail else "")


def _grouped(lines: Sequence[DigestLine]) -> list[tuple[str, list[DigestLine]]]:
    """Each story under the first topic it was routed by; topics with the newest stories first."""
    groups: dict[str, list[DigestLine]] = {}
    for d in lines:
        topic = next((oneline(t) for t in d.topics if oneline(t)), "Other")
        groups.setdefault(topic, []).append(d)
    return sorted(groups.items(), key=lambda kv: max(x.published for x in kv[1]), reverse=True)


def _sections(lines: Sequence[DigestLine], room: int) -> tuple[list[str], int]:
    """Section texts (each within Slack's limit, at most ``room``) and how many lines they hold."""
    sections: list[str] = []
    shown = 0
    for topic, items in _grouped(lines):
        chunk = f"*{escape_clip(topic, 150)}* ({len(items)})"
        for d in items:
            line = _line(d)
            if len(chunk) + 1 + len(line) <= MAX_SECTION_TEXT:
                chunk += "\n" + line
            else:
                sections.append(chunk)
                if len(sections) >= room:
                    return sections, shown
                chunk = line
            shown += 1
        sections.append(chunk)
        if len(sections) >= room:
            break
    return sections, shown


def build_digest(lines: Sequence[DigestLine], *, since: datetime | None, now: datetime) -> dict[str, Any]:
    """chat.postMessage arguments for one digest."""
    n = len(lines)
    noun = "story" if n == 1 else "stories"
    period = f" since {date_token(since, '{date_short_pretty} {time}')}" if since else ""
    blocks: list[Block] = [section_block(f"*Spyglass digest:* {n} new {noun}{period}")]
    sections, shown = _sections(lines, MAX_BLOCKS - 2)  # room for the heading and the overflow note
    blocks.extend(section_block(text) for text in sections)
    if shown < n:
        days = max(1, math.ceil((now - since).total_seconds() / 86400)) if since else 1
        rest = n - shown
        blocks.append(
            context_block(
                f"…and {rest} more {'story' if rest == 1 else 'stories'} this time: "
                f"`/spyglass search since:{days}d` lists them."
            )
        )
    return {
        "text": f"Spyglass digest: {n} new {noun}",
        "blocks": blocks_json(blocks),
        "unfurl_links": False,
        "unfurl_media": False,
    }
