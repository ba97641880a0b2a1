"""The App Home tab: published (views.publish) when someone opens it.

It shows the channels the person is in that Spyglass posts to (users.conversations), each with its
subscriptions, digest mode, quiet hours and any pause; the last alerts across those channels; the
sources that are failing; and buttons for help and a refresh. At most MAX_HOME_BLOCKS blocks
(Slack allows 100 on a Home tab).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from slack_sdk import WebClient
from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    DividerBlock,
    HeaderBlock,
    PlainTextObject,
)
from sqlalchemy import or_, select

from spyglass.clock import now_utc
from spyglass.delivery.blocks import UNTITLED, blocks_json, context_block, date_token, section_block
from spyglass.delivery.mrkdwn import escape_clip, link, oneline
from spyglass.service import Services
from spyglass.sources.state import ago, health
from spyglass.store.schema import ChannelSettings, Delivery, Source, StoryRow, Subscription
from spyglass.store.timetables import timetable_of

log = logging.getLogger(__name__)
MAX_HOME_BLOCKS = 100
MAX_CHANNELS = 30  # channels listed; the rest are counted
LAST_ALERTS = 10
MAX_FAILING = 10
HOME_HELP, HOME_REFRESH = "home_help", "home_refresh"


def member_channels(client: WebClient, user: str) -> list[str] | None:
    """The conversations ``user`` is in (users.conversations, channels:read / groups:read), or None
    when Slack would not say."""
    out: list[str] = []
    cursor = ""
    try:
        for _ in range(10):  # 10 pages of 200: people in more channels than that see the first 2,000
            resp = client.users_conversations(
                user=user, types="public_channel,private_channel", limit=200, cursor=cursor or None
            )
            out.extend(str(c.get("id")) for c in resp.get("channels") or [] if c.get("id"))
            cursor = str((resp.get("response_metadata") or {}).get("next_cursor") or "")
            if not cursor:
                break
    except Exception as e:  # noqa: BLE001 - missing scope, unreachable
        log.info("users.conversations for %s failed: %s", user, e)
        return None
    return out


def _channel_lines(svc: Services, channels: Sequence[str]) -> list[str]:
    by_slug = svc.topic_by_slug
    with svc.store.read() as s:
        subs = s.scalars(select(Subscription).where(Subscription.channel_id.in_(channels))).all()
        settings = {
            r.channel_id: r
            for r in s.scalars(select(ChannelSettings).where(ChannelSettings.channel_id.in_(channels)))
        }
    follows: dict[str, list[str]] = {}
    paused: dict[str, str] = {}
    for sub in subs:
        name = (
            f"“{sub.phrase}”"
            if sub.kind == "keyword"
            else (by_slug[sub.key].label if sub.key in by_slug else sub.key)
        )
        follows.setdefault(sub.channel_id, []).append(name)
        if sub.paused_reason:
            paused[sub.channel_id] = sub.paused_reason
    lines = []
    for ch in channels:
        parts = [escape_clip(", ".join(follows.get(ch, [])) or "nothing yet", 600)]
        row = settings.get(ch)
        if row is not None and row.digest != "off":
            parts.append(timetable_of(row).describe())
        if row is not None and row.quiet_from:
            parts.append(f"quiet {row.quiet_from}–{row.quiet_to}")
        if ch in paused:
            parts.append(f":double_vertical_bar: paused: {escape_clip(oneline(paused[ch]), 120)}")
        lines.append(f"<#{ch}> — " + " · ".join(parts))
    return lines


def _last_alerts(svc: Services, channels: Sequence[str]) -> list[str]:
    with svc.store.read() as s:
        rows = s.execute(
            select(
                StoryRow.title,
                StoryRow.original_url,
                StoryRow.provider,
                Delivery.channel_id,
                Delivery.sent_at,
            )
            .join(StoryRow, StoryRow.id == Delivery.story_id)
            .where(Delivery.channel_id.in_(channels), Delivery.kind == "alert", Delivery.status == "sent")
            .order_by(Delivery.sent_at.desc())
            .limit(LAST_ALERTS)
        ).all()
    return [
        f"• {link(url, oneline(title) or UNTITLED, 150)} — "
        + " · ".join(
            p
            for p in (
                escape_clip(oneline(provider), 80),
                f"<#{ch}>",
                date_token(sent, "{date_short} {time}") if sent else "",
            )
            if p
        )
        for title, url, provider, ch, sent in rows
    ]


def _failing(svc: Services) -> tuple[list[str], int]:
    now = now_utc()
    with svc.store.read() as s:
        total = len(s.scalars(select(Source.id)).all())
        bad = s.scalars(
            select(Source)
            .where(or_(Source.error_count > 0, Source.disabled_reason.is_not(None)))
            .order_by(Source.name)
        ).all()
    lines = [
        f"• *{escape_clip(oneline(src.name), 100)}* {health(src)}: {escape_clip(oneline(src.last_error or src.disabled_reason or ''), 200)}"
        f" (last read {ago(src.last_success_at, now)})"
        for src in bad[:MAX_FAILING]
    ]
    if len(bad) > MAX_FAILING:
        lines.append(f"…and {len(bad) - MAX_FAILING} more: `spyglass sources` lists them all")
    return lines, total


def build_home(svc: Services, channels: Sequence[str] | None, user_created: Sequence[str]) -> dict[str, Any]:
    """The Home view. ``channels``: the person's channels (None: Slack would not say; then the
    channels they subscribed themselves, ``user_created``)."""
    with svc.store.read() as s:
        posting = set(s.scalars(select(Subscription.channel_id).distinct()))
    mine = [c for c in (channels if channels is not None else user_created) if c in posting]
    blocks: list[Block] = [HeaderBlock(text=PlainTextObject(text="Spyglass"))]
    blocks.append(
        section_block(
            "Surveillance-technology news, once per story, in the channels that follow it. "
            "In a channel: `/spyglass subscribe face-recognition`, `/spyglass digest daily 09:00`, "
            "`/spyglass search WORDS`."
        )
    )
    blocks.append(DividerBlock())
    heading = "*Your channels that Spyglass posts to*" + (
        "" if channels is not None else " (those you subscribed; Slack did not list your channels)"
    )
    shown = mine[:MAX_CHANNELS]
    lines = (
        _channel_lines(svc, shown) if shown else ["None yet. Run `/spyglass subscribe TOPIC` in a channel."]
    )
    blocks.append(section_block(heading))
    blocks.extend(section_block(line) for line in lines)
    if len(mine) > MAX_CHANNELS:
        blocks.append(context_block(f"…and {len(mine) - MAX_CHANNELS} more channels"))
    blocks.append(DividerBlock())
    alerts = _last_alerts(svc, mine) if mine else []
    blocks.append(
        section_block("*Latest alerts in your channels*\n" + ("\n".join(alerts) if alerts else "None yet."))
    )
    blocks.append(DividerBlock())
    failing, total = _failing(svc)
    if failing:
        blocks.append(section_block("*Sources with problems*\n" + "\n".join(failing)))
    else:
        blocks.append(section_block(f"*Sources:* all {total} are being read without errors."))
    blocks.append(
        ActionsBlock(
            elements=[
                ButtonElement(text=PlainTextObject(text="How to use Spyglass"), action_id=HOME_HELP),
                ButtonElement(text=PlainTextObject(text="Refresh"), action_id=HOME_REFRESH),
            ]
        )
    )
    return {"type": "home", "blocks": blocks_json(blocks)[:MAX_HOME_BLOCKS]}


def publish_home(svc: Services, client: WebClient, user: str) -> None:
    with svc.store.read() as s:
        created = list(
            s.scalars(select(Subscription.channel_id).where(Subscription.created_by == user).distinct())
        )
    view = build_home(svc, member_channels(client, user), created)
    client.views_publish(user_id=user, view=view)
