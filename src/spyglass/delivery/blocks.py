"""Block Kit payloads for alerts, thread replies and search results, built with the SDK's typed
blocks (`slack_sdk.models.blocks`); no I/O.

Every block is turned into JSON by `to_dict()`, which runs the SDK's `validate_json()`: a block
over Slack's limits raises `SlackObjectFormationError` here instead of being refused by Slack.
Every untrusted string goes through `mrkdwn.escape`/`link` (mrkdwn) or `mrkdwn.plain` (plain_text);
the only `<...>` sequences in the output are links to `safe_url` targets and `<!date^...>` tokens.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    BlockElement,
    ButtonElement,
    ContextBlock,
    ImageElement,
    InteractiveElement,
    MarkdownTextObject,
    Option,
    OverflowMenuElement,
    PlainTextObject,
    SectionBlock,
)

from spyglass.defaults import MAX_HITS, MAX_RELATED
from spyglass.delivery.mrkdwn import (
    bold_markers,
    escape_clip,
    label,
    link,
    mention,
    oneline,
    oneline_markers,
    other_outlets,
    plain,
    safe_url,
)
from spyglass.models import AlertView, RelatedLink, SearchHit
from spyglass.topics import readable_phrase

# Slack's limits, as the SDK's models know them; a message may hold at most 50 blocks.
MAX_BLOCKS = 50
MAX_SECTION_TEXT = SectionBlock.text_max_length
MAX_BUTTON_TEXT = ButtonElement.text_max_length
MAX_ALT_TEXT = ImageElement.alt_text_max_length
MAX_ID = ButtonElement.action_id_max_length

# Our own budgets, well inside the limits so messages stay small.
SUMMARY_LIMIT = 700
TITLE_LABEL_LIMIT = 300
REASONS_LIMIT = 1000
TOPICS_LIMIT = 500
MAX_RELATED_LINE = 1200
SNIPPET_LIMIT = 600
UNTITLED = "(untitled story)"

# Interactive elements' ids (slack/interactions.py answers them).
FEEDBACK_UP, FEEDBACK_DOWN, ALERT_MENU = "feedback_up", "feedback_down", "alert_menu"
FEEDBACK_BLOCK = "spyglass_feedback"  # the context line that acknowledges ratings, replaced on each one
SHARE_SEARCH = "share_search"
MENU_TOPICS = 4  # "Wrong topic: …" choices in an alert's menu (an overflow holds 5 options)


def _utc(when: datetime) -> datetime:
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def fallback_time(when: datetime) -> str:
    """`2026-11-26 12:30 UTC`: what clients that cannot render a date token show."""
    return _utc(when).strftime("%Y-%m-%d %H:%M UTC")


def date_token(when: datetime, fmt: str = "{date_short_pretty} {time}") -> str:
    """Slack's localized date: `<!date^UNIX^format|fallback>` (renders in the reader's time zone)."""
    try:
        ts = int(_utc(when).timestamp())
    except (OverflowError, OSError, ValueError):
        return fallback_time(when)
    return f"<!date^{ts}^{fmt}|{fallback_time(when)}>"


def section_block(text: str, accessory: BlockElement | None = None) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=text[:MAX_SECTION_TEXT]), accessory=accessory)


def context_block(text: str) -> ContextBlock:
    return ContextBlock(elements=[MarkdownTextObject(text=text)])


def _button(text: str, url: str, action_id: str) -> ButtonElement:
    return ButtonElement(
        text=PlainTextObject(text=plain(text, MAX_BUTTON_TEXT) or "Open", emoji=True),
        url=url,
        action_id=action_id[:MAX_ID],
    )


def blocks_json(blocks: Sequence[Block]) -> list[dict[str, Any]]:
    """The blocks as Slack's JSON, each checked against Slack's limits by the SDK on the way.

    The SDK sorts keys alphabetically (a section's image `accessory` before its `text`); the text
    goes first again, so whoever reads the JSON meets the story's own link before the image's."""
    out = []
    for b in blocks[:MAX_BLOCKS]:
        d = b.to_dict()
        out.append({k: d[k] for k in ("type", "text") if k in d} | d)
    return out


def _title_line(url: str, title: str, budget: int) -> str:
    """`*<url|title>*` when it fits the budget, else the bold escaped title alone (URL goes elsewhere)."""
    text = title or UNTITLED
    line = f"*{link(url, text, TITLE_LABEL_LIMIT)}*"
    if len(line) <= budget:
        return line
    return f"*{label(text, min(TITLE_LABEL_LIMIT, max(1, budget - 2)))}*"


def _join_bullets(lines: Sequence[str], limit: int, more: int = 0) -> str:
    """Newline-joined lines, keeping whole lines only, within `limit` (with an "and N more" tail)."""
    out: list[str] = []
    size = 0
    for i, line in enumerate(lines):
        rest = len(lines) - i - 1 + more
        tail = len(f"\n…and {rest} more") if rest else 0
        if size + len(line) + 1 + tail > limit:
            more += len(lines) - i
            break
        out.append(line)
        size += len(line) + 1
    if more and out:
        out.append(f"…and {more} more")
    return "\n".join(out)


def _related_lines(view: AlertView) -> tuple[list[str], int]:
    story = safe_url(view.url)
    lines: list[str] = []
    seen: set[str] = set()
    skipped = 0
    for rel in view.related:
        if not isinstance(rel, RelatedLink):
            continue
        target = safe_url(rel.url)
        key = target or oneline(rel.title)
        if not key or key == story or key in seen:
            continue
        seen.add(key)
        if len(lines) >= MAX_RELATED:
            skipped += 1
            continue
        name = rel.title or rel.provider or "link"
        item = f"• {link(rel.url, name, 200)}"
        if len(item) > MAX_RELATED_LINE:  # a huge URL: show the title alone rather than crowd others out
            item = f"• {label(name, 200)}"
        provider = escape_clip(oneline(rel.provider), 100)
        lines.append(f"{item} — {provider}" if provider else item)
    return lines, skipped


def build_alert(view: AlertView, *, now: datetime | None = None) -> dict[str, Any]:
    """chat.postMessage arguments for one alert. `text` starts with the story's own link."""
    now = now or datetime.now(UTC)
    published = min(_utc(view.published), _utc(now))  # a feed's future date is shown as "now"
    title = oneline(view.title) or UNTITLED
    provider = escape_clip(oneline(view.provider), 200)
    story_url = safe_url(view.url)
    image_url = safe_url(view.image)

    text = link(view.url, title, TITLE_LABEL_LIMIT)
    if provider:
        text += f" — {provider}"

    # The title appears once: linked, at the top of the section below (no header block repeating it),
    # so the story's own link is the first link in the message's blocks as well as in its text.
    blocks: list[Block] = []

    context = [p for p in (f"*{provider}*" if provider else "", date_token(published)) if p]
    topics = escape_clip(", ".join(oneline(t) for t in view.topics if oneline(t)), TOPICS_LIMIT)
    if topics:
        context.append(f"Topics: {topics}")

    head = _title_line(view.url, title, MAX_SECTION_TEXT - SUMMARY_LIMIT - 2)
    summary = escape_clip(view.summary.strip(), SUMMARY_LIMIT).strip()
    accessory = None
    if image_url:
        accessory = ImageElement(image_url=image_url, alt_text=plain(title, MAX_ALT_TEXT) or "image")
    blocks.append(section_block(f"{head}\n{summary}" if summary else head, accessory))
    blocks.append(context_block(" · ".join(context)))

    reasons = [oneline(readable_phrase(r)) for r in view.reasons if oneline(readable_phrase(r))]
    if reasons:
        why = escape_clip(", ".join(f"“{r}”" for r in reasons), REASONS_LIMIT)
        blocks.append(section_block(f"*Why it matched:* {why}"))

    actions: list[InteractiveElement] = [_button("Read story", story_url, "read_story")] if story_url else []
    if view.delivery_id is not None:
        actions.extend(feedback_elements(view.delivery_id, view.topics))
    if actions:
        blocks.append(ActionsBlock(elements=actions))

    lines, skipped = _related_lines(view)
    if lines:
        heading = "*Also covered by:*"
        body = _join_bullets(lines, MAX_SECTION_TEXT - len(heading) - 1, skipped)
        if body:
            blocks.append(section_block(f"{heading}\n{body}"))

    return {"text": text, "blocks": blocks_json(blocks), "unfurl_links": False, "unfurl_media": False}


def feedback_elements(delivery_id: int, topics: Sequence[str]) -> list[InteractiveElement]:
    """👍 / 👎 buttons and a menu (wrong topic…, more like this), each naming the delivery. Plain
    buttons rather than a `context_actions` block: those render only in some clients and surfaces."""
    did = str(delivery_id)
    options = [Option(text=PlainTextObject(text="More like this", emoji=True), value=f"more:{did}")]
    for i, t in enumerate(topics[:MENU_TOPICS]):
        name = plain(f"Wrong topic: {oneline(t)}", 75) or "Wrong topic"
        options.append(Option(text=PlainTextObject(text=name, emoji=True), value=f"wrong:{did}:{i}"))
    return [
        ButtonElement(text=PlainTextObject(text="👍", emoji=True), action_id=FEEDBACK_UP, value=did),
        ButtonElement(text=PlainTextObject(text="👎", emoji=True), action_id=FEEDBACK_DOWN, value=did),
        OverflowMenuElement(action_id=ALERT_MENU, options=options),
    ]


def feedback_note(up: int, down: int, wrong: Sequence[str], by: str) -> dict[str, Any]:
    """The line under a rated alert: the tally so far, and who rated last (a user id from Slack)."""
    parts = [p for p in (f"👍 {up}" if up else "", f"👎 {down}" if down else "") if p]
    if wrong:
        parts.append("wrong topic: " + ", ".join(escape_clip(oneline(w), 80) for w in dict.fromkeys(wrong)))
    who = mention(by) or "everyone"
    text = (
        " · ".join(parts) + f" — thanks {who}, noted. Ratings tune what Spyglass matches; nothing is removed."
    )
    return blocks_json([ContextBlock(elements=[MarkdownTextObject(text=text)], block_id=FEEDBACK_BLOCK)])[0]


def build_reply(view: AlertView) -> dict[str, Any]:
    """A later outlet's coverage of an already-alerted story, for the alert's thread."""
    provider = escape_clip(oneline(view.provider), 200) or (
        "the same outlet" if view.update else "another outlet"
    )
    title = oneline(view.title) or UNTITLED
    lead = f"Updated by {provider}" if view.update else f"Also covered by {provider}"
    text = f"{lead}: {link(view.url, title, TITLE_LABEL_LIMIT)}"
    url = safe_url(view.url)
    if len(text) <= MAX_SECTION_TEXT:
        blocks: list[Block] = [section_block(text)]
    else:  # a very long URL: title in the section, the link on a button
        blocks = [section_block(f"{lead}: {label(title, TITLE_LABEL_LIMIT)}")]
        if url:
            blocks.append(ActionsBlock(elements=[_button("Read story", url, "read_story")]))
    summary = escape_clip(oneline(view.summary), 300)
    if summary:
        blocks.append(context_block(summary))
    return {"text": text, "blocks": blocks_json(blocks), "unfurl_links": False, "unfurl_media": False}


def _code(text: str, limit: int = 200) -> str:
    """Untrusted text inside a `code` span: escaped, one line, no backticks to close the span."""
    return escape_clip(oneline(text).replace("`", "'"), limit)


def build_search_results(
    query: str,
    hits: Sequence[SearchHit],
    *,
    total: int | None = None,
    share: str | None = None,
    shared_by: str | None = None,
) -> dict[str, Any]:
    """Ephemeral reply to a search: up to 10 hits, matched terms in bold. ``share``: a Share button
    whose value runs the search again for the channel; ``shared_by``: the user who shared it."""
    q = _code(query)
    shown = list(hits)[:MAX_HITS]
    if not shown:
        what = f"No stories match `{q}`." if q else "No stories match."
        tip = (
            "Try a broader search: fewer words, drop quotes or filters, "
            "or a longer `since:` window (e.g. `since:90d`)."
        )
        return {
            "response_type": "ephemeral",
            "text": f"{what} {tip}",
            "blocks": blocks_json([section_block(f"{what}\n{tip}")]),
        }
    count = total if total is not None and total >= len(shown) else len(shown)
    noun, verb = ("story", "matches") if count == 1 else ("stories", "match")
    heading = f"{count} {noun} {verb} `{q}`" if q else f"{count} {noun}"
    if count > len(shown):
        heading += f" (showing the top {len(shown)})"
    blocks: list[Block] = [section_block(f"*{heading}*")]
    who = mention(shared_by or "")
    if who:
        blocks.insert(0, context_block(f"Shared by {who} from Spyglass's history"))
    lines = [heading]
    for i, hit in enumerate(shown, 1):
        url = safe_url(hit.url)
        meta = [
            p
            for p in (
                escape_clip(oneline(hit.provider), 200),
                date_token(hit.published, "{date_short}"),
                other_outlets(hit.others),
            )
            if p
        ]
        snippet = bold_markers(
            escape_clip(oneline_markers(hit.snippet), SNIPPET_LIMIT, keep_markers=True)
        ).strip()
        budget = MAX_SECTION_TEXT - sum(len(p) + 3 for p in meta) - len(snippet) - 4
        parts = [f"{i}. {_title_line(hit.url, hit.title, budget - 4)}", " · ".join(meta)]
        if snippet:
            parts.append(snippet)
        accessory = _button("Open", url, f"open_hit_{i}") if url else None
        blocks.append(section_block("\n".join(p for p in parts if p), accessory))
        lines.append(f"{i}. {link(hit.url, oneline(hit.title) or UNTITLED, 150)}")
    if share and len(share) <= 2000:
        button = ButtonElement(
            text=PlainTextObject(text="Share with the channel", emoji=True),
            action_id=SHARE_SEARCH,
            value=share,
        )
        blocks.append(ActionsBlock(elements=[button]))
    text = "\n".join(lines)
    if len(text) > 35000:  # far below Slack's 40k cap even with ten 3000-char URLs
        text = heading
    return {"response_type": "ephemeral", "text": text, "blocks": blocks_json(blocks)}


def build_notice(text: str) -> dict[str, Any]:
    """Short ephemeral message from our own code (already mrkdwn-safe). Long text is split into
    sections on line boundaries so no link is cut in half."""
    chunks: list[str] = []
    chunk: list[str] = []
    size = 0
    for line in text.split("\n"):
        while len(line) > MAX_SECTION_TEXT:  # a single over-long line: hard split (our own text)
            chunks.append(line[:MAX_SECTION_TEXT])
            line = line[MAX_SECTION_TEXT:]
        if chunk and size + 1 + len(line) > MAX_SECTION_TEXT:
            chunks.append("\n".join(chunk))
            chunk, size = [], 0
        size += len(line) + (1 if chunk else 0)
        chunk.append(line)
    if chunk:
        chunks.append("\n".join(chunk))
    blocks = [section_block(c) for c in chunks if c.strip()]
    return {"response_type": "ephemeral", "text": text, "blocks": blocks_json(blocks)}
