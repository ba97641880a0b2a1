"""`/spyglass feed …`, `/spyglass sources …` and `/spyglass mute …`: the sources a team manages
from Slack, which of them a channel follows, and the outlets it mutes.

Adding or removing a feed changes what the whole workspace reads, so only source admins may
(`[slack] source_admins`, else the workspace's admins and owners, asked through `users.info`);
anyone may list. A channel's own choices (sources only / all, mute / unmute) are its members' to
make, like its subscriptions.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import urlsplit

from sqlalchemy import delete, func, select

from spyglass.clock import now_utc
from spyglass.defaults import MAX_SOURCE_NAME
from spyglass.delivery.mrkdwn import escape, mention
from spyglass.durations import format_duration
from spyglass.errors import SourceRefused
from spyglass.service import Services
from spyglass.sources.check import check_feed
from spyglass.sources.state import add_source, ago, feed_name, health, sync_sources
from spyglass.store.schema import ChannelMute, ChannelSource, Source
from spyglass.text import fold, strip_controls
from spyglass.urls import redact_url

# Whether a Slack user is a workspace admin or owner (None: Slack would not say).
AdminCheck = Callable[[str], "bool | None"]
MAX_LISTED = 60


def may_manage(svc: Services, user: str, is_admin: AdminCheck | None) -> str | None:
    """None when ``user`` may add and remove sources; else the refusal, naming who can."""
    admins = svc.settings.slack.source_admins
    if admins:
        if user in admins:
            return None
        return "Only Spyglass's source admins can add or remove feeds: " + ", ".join(
            m for m in map(mention, admins) if m
        )
    if is_admin is not None and is_admin(user):
        return None
    return (
        "Only workspace admins and owners can add or remove feeds (the operator can name others in "
        "`[slack] source_admins`). Anyone can see them with `/spyglass feed list`."
    )


def feed_command(svc: Services, user: str, rest: str, is_admin: AdminCheck | None) -> tuple[str, bool]:
    """(mrkdwn answer, whether the channel should see it)."""
    verb, _, args = rest.strip().partition(" ")
    verb = verb.lower()
    if verb in ("", "list", "ls"):
        return feed_list(svc), False
    if verb not in ("add", "remove", "rm", "delete"):
        return (
            "Try `/spyglass feed add URL [name]`, `/spyglass feed list` or `/spyglass feed remove NAME`.",
            False,
        )
    refusal = may_manage(svc, user, is_admin)
    if refusal:
        return refusal, False
    if not args.strip():
        return f"Give a feed: `/spyglass feed {verb} {'URL [name]' if verb == 'add' else 'NAME|URL'}`.", False
    if verb == "add":
        return feed_add(svc, user, args)
    return feed_remove(svc, user, args)


def feed_add(svc: Services, user: str, args: str) -> tuple[str, bool]:
    url, _, name = args.strip().partition(" ")
    try:
        checked = check_feed(svc.settings, url)
    except SourceRefused as e:
        return f"Not added: {escape(str(e))}", False
    name = feed_name(name, checked.title, checked.url)
    with svc.store.session(quick=True) as s:
        same_name = s.scalar(select(Source.name).where(func.lower(Source.name) == name.lower()))
        if same_name:
            return (
                f"Not added: a source is already called *{escape(same_name)}*; give another name after the URL.",
                False,
            )
        same_url = s.scalar(
            select(Source.name).where((Source.url == checked.url) | (Source.location == checked.url))
        )
        if same_url:
            return f"Not added: *{escape(same_url)}* already reads {escape(redact_url(checked.url))}.", False
        add_source(s, name, checked.url, origin="slack", added_by=user)
    newest = f", newest {ago(checked.newest, now_utc())}" if checked.newest else ""
    found = " (the feed this page names)" if checked.discovered else ""
    window = svc.settings.first_poll_alerts
    backlog = (
        "Its first poll alerts nothing older than now"
        if window == 0
        else "Its first poll alerts every story on it"
        if window is None
        else f"Its first poll alerts only stories from the last {format_duration(window)}"
    )
    return (
        f"<@{user}> added the feed *{escape(name)}*{found}: {checked.stories} "
        f"stor{'y' if checked.stories == 1 else 'ies'}{newest}. {backlog}; the rest are searchable.",
        True,
    )


def feed_remove(svc: Services, user: str, args: str) -> tuple[str, bool]:
    key = args.strip().strip("<>").split("|", 1)[0]
    with svc.store.session(quick=True) as s:
        row = s.scalar(
            select(Source).where(
                (func.lower(Source.name) == key.lower()) | (Source.url == key) | (Source.location == key)
            )
        )
        if row is None:
            return f"No source is called {escape(key[:100])}. See `/spyglass feed list`.", False
        if row.origin == "config":
            return (
                f"*{escape(row.name)}* comes from the config file; the operator can remove it there.",
                False,
            )
        name = row.name
        s.delete(row)  # its stories stay (and stay searchable); its channel choices go with it
    return f"<@{user}> removed the feed *{escape(name)}*. Its stories stay searchable.", True


def feed_list(svc: Services) -> str:
    now = now_utc()
    with svc.store.read() as s:
        rows = list(s.scalars(select(Source).order_by(Source.origin, Source.name)).all())
    configured = {c.name for c in svc.settings.sources}
    rows = [r for r in rows if r.origin != "config" or r.name in configured]
    unpolled = sorted(configured - {r.name for r in rows})  # in the config, not polled yet
    if not rows and not unpolled:
        return "No sources yet. Add one with `/spyglass feed add URL`."
    lines = [f"{len(rows) + len(unpolled)} source(s):"]
    lines += [f"• *{escape(name)}* [not polled yet] — config file" for name in unpolled]
    for r in rows[:MAX_LISTED]:
        where = (
            "config file" if r.origin == "config" else f"added by <@{r.added_by}>" if r.added_by else "added"
        )
        state = health(r) if r.last_attempt_at else "not polled yet"
        line = f"• *{escape(r.name)}* [{state}] — {where}; last success {ago(r.last_success_at, now)}"
        if r.last_error and r.error_count:
            line += f"; last error: {escape(r.last_error[:150])}"
        if r.disabled_reason:
            line += f"; disabled: {escape(r.disabled_reason[:150])}"
        lines.append(line)
    if len(rows) > MAX_LISTED:
        lines.append(f"…and {len(rows) - MAX_LISTED} more (`spyglass sources` on the server lists all).")
    return "\n".join(lines)


def sources_command(svc: Services, channel: str, user: str, rest: str) -> tuple[str, bool]:
    verb, _, args = rest.strip().partition(" ")
    verb = verb.lower()
    if verb in ("", "list", "show"):
        return "\n".join(channel_choices(svc, channel)), False
    if verb == "all":
        with svc.store.session(quick=True) as s:
            s.execute(delete(ChannelSource).where(ChannelSource.channel_id == channel))
        return f"<@{user}> set this channel to follow *all* sources.", True
    if verb != "only":
        return "Try `/spyglass sources only NAME…` or `/spyglass sources all`.", False
    sync_sources(svc)  # the config's sources have rows even before their first poll
    with svc.store.session(quick=True) as s:
        known = {r.name.lower(): r for r in s.scalars(select(Source))}
        # Names may hold spaces: the whole text if it is one name, else names split on commas or spaces.
        whole = " ".join(args.split())
        names = (
            [whole]
            if whole.lower() in known
            else [n.strip() for n in re.split(r"[,\s]+" if "," not in args else ",", args) if n.strip()]
        )
        chosen = [known.get(n.lower()) for n in names]
        unknown = [n for n, r in zip(names, chosen, strict=True) if r is None]
        if unknown or not names:
            some = ", ".join(f"`{escape(n)}`" for n in sorted(r.name for r in known.values())[:20])
            what = ", ".join(f"`{escape(n[:60])}`" for n in unknown) or "no source"
            return f"I don't know {what}. Sources: {some or 'none yet'}.", False
        s.execute(delete(ChannelSource).where(ChannelSource.channel_id == channel))
        for r in {r.id: r for r in chosen if r is not None}.values():
            s.add(ChannelSource(channel_id=channel, source_id=r.id))
    listed = ", ".join(f"*{escape(r.name)}*" for r in chosen if r is not None)
    return f"<@{user}> set this channel to follow only {listed}.", True


def outlet_key(text: str) -> str:
    """What a mute matches: a domain (from a URL or "www.example.org") or an outlet's folded name."""
    text = " ".join(strip_controls(text.strip().strip("<>").split("|", 1)[0], keep_newlines=False).split())
    if re.match(r"^https?://", text, re.I):
        text = urlsplit(text).hostname or ""
    if re.fullmatch(r"[\w.-]+\.[a-z]{2,}", text, re.I):
        return text.lower().removeprefix("www.")
    return fold(text)[:MAX_SOURCE_NAME]


def mute_command(svc: Services, channel: str, user: str, rest: str, *, mute: bool) -> tuple[str, bool]:
    key = outlet_key(rest)
    verb = "mute" if mute else "unmute"
    if not key:
        return f"Say which outlet: `/spyglass {verb} example.org` or `/spyglass {verb} Outlet Name`.", False
    with svc.store.session(quick=True) as s:
        present = s.get(ChannelMute, (channel, key)) is not None
        if mute and not present:
            s.add(ChannelMute(channel_id=channel, outlet=key))
        elif not mute and present:
            s.execute(delete(ChannelMute).where(ChannelMute.channel_id == channel, ChannelMute.outlet == key))
    if mute == present:
        return f"*{escape(key)}* is {'already' if mute else 'not'} muted here.", False
    if mute:
        return f"<@{user}> muted *{escape(key)}* in this channel: its stories are not posted here.", True
    return f"<@{user}> unmuted *{escape(key)}* in this channel.", True


def channel_choices(svc: Services, channel: str) -> list[str]:
    """A channel's source choice and mutes, as lines for `/spyglass list`."""
    with svc.store.read() as s:
        only = list(
            s.scalars(
                select(Source.name)
                .join(ChannelSource, ChannelSource.source_id == Source.id)
                .where(ChannelSource.channel_id == channel)
                .order_by(Source.name)
            )
        )
        muted = list(
            s.scalars(
                select(ChannelMute.outlet)
                .where(ChannelMute.channel_id == channel)
                .order_by(ChannelMute.outlet)
            )
        )
    lines = ["Sources: only " + ", ".join(f"*{escape(n)}*" for n in only) if only else "Sources: all"]
    if muted:
        lines.append("Muted: " + ", ".join(f"*{escape(m)}*" for m in muted))
    return lines
