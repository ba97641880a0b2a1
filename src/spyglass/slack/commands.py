"""`/spyglass` subcommands as plain functions over the services: no Bolt here, so tests can call them.

Each handler returns a Reply. Replies are ephemeral unless the channel's subscriptions changed,
in which case the whole channel is told who changed what.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from spyglass.clock import now_utc
from spyglass.defaults import MAX_COMMAND_TEXT
from spyglass.delivery.mrkdwn import escape, mention
from spyglass.delivery.outbox import resume_channel
from spyglass.models import Topic
from spyglass.service import Services
from spyglass.slack.reads import latest, list_topics, resolve_names, search, unknown_message
from spyglass.slack.reply import Reply, announce, notice
from spyglass.slack.sources import AdminCheck, channel_choices, feed_command, mute_command, sources_command
from spyglass.slack.timetable import UserZone, describe, digest_command, quiet_command
from spyglass.slack.trends import Upload, trends_command
from spyglass.store.db import StoreBusy
from spyglass.store.schema import ChannelSettings, Delivery, Subscription
from spyglass.text import strip_controls
from spyglass.topics import keyword_topic
from spyglass.topics.names import norm_name

MAX_SUBSCRIPTIONS = 200
_QUOTES = str.maketrans({"“": '"', "”": '"', "„": '"', "‟": '"', "«": '"', "»": '"'})
_ARG = re.compile(r'(-?)"([^"]*)"|(\S+)')

HELP = """*Spyglass* watches the news for surveillance-technology stories and posts each story here once.
• `/spyglass subscribe TOPIC…` — follow topics in this channel (e.g. `face-recognition drones`)
• `/spyglass subscribe "exact phrase" -"excluded phrase"` — follow a keyword (e.g. `"Clearview AI"`)
• `/spyglass unsubscribe TOPIC…` or `/spyglass unsubscribe all`
• `/spyglass list` — this channel's subscriptions
• `/spyglass topics` — every topic and what it matches
• `/spyglass search WORDS` — search past stories; add `topic:SLUG`, `since:7d`, `"a phrase"` or `prefix*`
• `/spyglass latest [TOPIC]` — the newest stories (also `/spyglass search topic:drones` or `since:7d` alone)
• `/spyglass resume` — resume alerts after the app was re-added to this channel
• `/spyglass feed add URL [name]`, `feed list`, `feed remove NAME` — the workspace's feeds (admins add and remove)
• `/spyglass sources only NAME…` or `sources all` — which feeds this channel follows
• `/spyglass mute example.org` (or an outlet's name), `/spyglass unmute …` — keep an outlet out of this channel
• `/spyglass digest daily 09:00`, `digest weekly mon 09:00`, `digest off` — one message a day or week instead of single alerts (`tz=Europe/London`)
• `/spyglass quiet 22:00-07:00` or `quiet off` — hold alerts overnight, post them when the quiet hours end
• `/spyglass trends [TOPIC…] [weeks=12]` — a chart of stories per topic per week"""


@dataclass(frozen=True)
class Caller:
    team_id: str
    channel_id: str
    user_id: str
    user_name: str = ""

    @property
    def mention(self) -> str:
        return mention(self.user_id) or escape(self.user_name or "someone")


def split_command(text: str) -> tuple[str, str]:
    text = (text or "").translate(_QUOTES).strip()
    if not text:
        return "help", ""
    head, _, rest = text.partition(" ")
    return head.lower(), rest.strip()


# Why Spyglass could not post in a channel (None: it can, or it cannot tell): asked before subscribing.
ChannelCheck = Callable[[str], "str | None"]


@dataclass(frozen=True)
class SlackLookups:
    """What a command may ask Slack (None: it cannot, e.g. in tests that call handle directly)."""

    channel_check: ChannelCheck | None = None
    is_admin: AdminCheck | None = None
    user_zone: UserZone | None = None
    upload: Upload | None = None


def handle(
    svc: Services,
    caller: Caller,
    text: str,
    *,
    channel_check: ChannelCheck | None = None,
    is_admin: AdminCheck | None = None,
    user_zone: UserZone | None = None,
    upload: Upload | None = None,
) -> Reply:
    """Answer one `/spyglass` command. Writes wait at most COMMAND_WAIT for the database; if it stays
    busy they change nothing and say so."""
    try:
        return _dispatch(svc, caller, text, SlackLookups(channel_check, is_admin, user_zone, upload))
    except StoreBusy:
        return notice(
            "Spyglass's database is busy with another job right now, so nothing was changed. "
            "Please try again in a few seconds."
        )


def _dispatch(svc: Services, caller: Caller, text: str, ask: SlackLookups) -> Reply:  # noqa: C901 - a flat table
    if len(text or "") > MAX_COMMAND_TEXT:
        return notice(
            f"That command is {len(text)} characters long; please keep it under {MAX_COMMAND_TEXT}."
        )
    verb, rest = split_command(text)
    if verb in ("help", "?", "-h", "--help"):
        return notice(HELP)
    if verb in ("subscribe", "sub", "follow", "add"):
        return subscribe(svc, caller, rest, ask.channel_check)
    if verb in ("unsubscribe", "unsub", "unfollow", "remove"):
        return unsubscribe(svc, caller, rest)
    if verb in ("list", "ls", "subscriptions"):
        return list_subscriptions(svc, caller)
    if verb == "topics":
        return list_topics(svc)
    if verb == "resume":
        return resume(svc, caller)
    if verb == "search":
        return search(svc, rest)
    if verb in ("latest", "recent", "new"):
        return latest(svc, rest)
    if verb in ("feed", "feeds"):
        return _said(*feed_command(svc, caller.user_id, rest, ask.is_admin))
    if verb in ("sources", "source"):
        return _said(*sources_command(svc, caller.channel_id, caller.user_id, rest))
    if verb in ("mute", "unmute"):
        return _said(*mute_command(svc, caller.channel_id, caller.user_id, rest, mute=verb == "mute"))
    if verb in ("digest", "digests"):
        return _said(*digest_command(svc, caller.channel_id, caller.user_id, rest, ask.user_zone))
    if verb in ("trends", "trend"):
        return trends_command(svc, caller.channel_id, caller.user_id, rest, ask.upload)
    if verb == "quiet":
        return _said(*quiet_command(svc, caller.channel_id, caller.user_id, rest, ask.user_zone))
    return notice(f"I don't know `{escape(verb[:40])}`. Here is what I can do:\n{HELP}")


def _said(text: str, in_channel: bool) -> Reply:
    return announce(text) if in_channel else notice(text)


def resume(svc: Services, caller: Caller) -> Reply:
    with svc.store.read() as s:
        paused = s.scalar(
            select(Subscription.id)
            .where(Subscription.channel_id == caller.channel_id, Subscription.paused_reason.is_not(None))
            .limit(1)
        )
        held = s.scalar(
            select(Delivery.id)
            .where(Delivery.channel_id == caller.channel_id, Delivery.status == "held")
            .limit(1)
        )
    if paused is None and held is None:
        return notice("Alerts in this channel are not paused, so there is nothing to resume.")
    n = resume_channel(svc.store, caller.channel_id, quick=True)
    return announce(
        f"{caller.mention} resumed alerts in this channel"
        + (f" ({n} held alert(s) queued again)." if n else ".")
    )


def _parse_args(rest: str) -> tuple[list[str], list[str], list[str]]:
    """→ (bare words, quoted phrases, excluded phrases)."""
    words: list[str] = []
    phrases: list[str] = []
    excludes: list[str] = []
    for m in _ARG.finditer(rest):
        neg, quoted, bare = m.groups()
        if quoted is not None:
            phrase = " ".join(strip_controls(quoted, keep_newlines=False).split())  # stored as shown
            if phrase:
                (excludes if neg else phrases).append(phrase)
        elif bare:
            words.extend(w for w in bare.split(",") if w)
    return words, phrases, excludes


def subscribe(svc: Services, caller: Caller, rest: str, channel_check: ChannelCheck | None = None) -> Reply:
    words, phrases, excludes = _parse_args(rest)
    if not words and not phrases:
        return notice(
            'Subscribe to what? e.g. `/spyglass subscribe face-recognition drones` or `/spyglass subscribe "Clearview AI"`.'
        )
    if excludes and not phrases:
        return notice(
            'Exclusions go with a keyword: `/spyglass subscribe "facial recognition" -"Apple Face ID"`.'
        )
    topics, unknown = resolve_names(words, svc.topics)
    if unknown:
        return notice(unknown_message(unknown, svc.topics))  # change nothing when any name is wrong
    for p in phrases + excludes:
        if len(p) < 2 or len(p) > 100:
            return notice(f"Keyword `{escape(p[:60])}` should be 2–100 characters.")
    problem = channel_check(caller.channel_id) if channel_check else None
    if problem:  # a subscription the first alert would only pause
        return notice(problem + " Nothing was changed.")
    now = now_utc()
    added: list[str] = []
    try:
        _add_subscriptions(svc, caller, topics, phrases, excludes, now, added)
    except IntegrityError:  # the same subscription written at this moment by another request
        added = []
    except _TooMany:
        return notice(
            f"This channel would have more than {MAX_SUBSCRIPTIONS} subscriptions; remove some first."
        )
    if not added:
        return notice(
            "This channel already follows "
            + ", ".join(
                [f"*{escape(t.label)}*" for t in topics] + [_keyword_label(p, excludes) for p in phrases]
            )
            + "."
        )
    return announce(
        f"{caller.mention} subscribed this channel to {', '.join(added)}. "
        "New stories will be posted here once each; `/spyglass list` shows everything this channel follows."
    )


class _TooMany(Exception):
    """The change would take the channel over MAX_SUBSCRIPTIONS; nothing was written."""


def _add_subscriptions(
    svc: Services,
    caller: Caller,
    topics: Sequence[Topic],
    phrases: Sequence[str],
    excludes: Sequence[str],
    now: datetime,
    added: list[str],
) -> None:
    """Write the new subscriptions in one transaction, appending the labels of those added to ``added``."""
    with svc.store.session(quick=True) as s:
        subs = list(s.scalars(select(Subscription).where(Subscription.channel_id == caller.channel_id)))
        existing = {sub.key for sub in subs}
        by_phrase = {norm_name(sub.phrase): sub for sub in subs if sub.kind == "keyword"}
        if len(existing) + len(topics) + len(phrases) > MAX_SUBSCRIPTIONS:
            raise _TooMany
        for t in topics:
            if t.slug not in existing:
                s.add(
                    Subscription(
                        team_id=caller.team_id,
                        channel_id=caller.channel_id,
                        kind="topic",
                        key=t.slug,
                        created_by=caller.user_id,
                        created_at=now,
                    )
                )
                existing.add(t.slug)
                added.append(f"*{escape(t.label)}*")
        for p in phrases:
            kt = keyword_topic(p, excludes)
            same = by_phrase.get(norm_name(p))
            if same is not None and same.key != kt.slug:  # the same keyword, other exclusions: edit it
                same.key, same.phrase, same.excludes = kt.slug, p, list(excludes)
                existing.add(kt.slug)
                added.append(_keyword_label(p, excludes) + " (updated)")
                continue
            if kt.slug not in existing:
                s.add(
                    Subscription(
                        team_id=caller.team_id,
                        channel_id=caller.channel_id,
                        kind="keyword",
                        key=kt.slug,
                        phrase=p,
                        excludes=list(excludes),
                        created_by=caller.user_id,
                        created_at=now,
                    )
                )
                existing.add(kt.slug)
                added.append(_keyword_label(p, excludes))


def _keyword_label(phrase: str, excludes: Sequence[str]) -> str:
    label = f"“{escape(phrase)}”"
    if excludes:
        label += " (not " + ", ".join(f"“{escape(e)}”" for e in excludes) + ")"
    return label


def unsubscribe(svc: Services, caller: Caller, rest: str) -> Reply:
    words, phrases, _ = _parse_args(rest)
    with svc.store.session(quick=True) as s:
        subs = list(s.scalars(select(Subscription).where(Subscription.channel_id == caller.channel_id)))
        if not subs:
            return notice("This channel has no subscriptions.")
        if [w.lower() for w in words] == ["all"] and not phrases:
            targets = subs
        else:
            wanted = {norm_name(p) for p in phrases}
            # A keyword followed with quotes can be named without them: `unsubscribe palantir`. What the
            # channel follows wins over a topic that happens to own the same word.
            keywords = {norm_name(sub.phrase) for sub in subs if sub.kind == "keyword"}
            if words and norm_name(" ".join(words)) in keywords:
                wanted.add(norm_name(" ".join(words)))
                words = []
            topics, unknown = resolve_names(words, svc.topics)
            if unknown and norm_name(" ".join(unknown)) in keywords:
                wanted.add(norm_name(" ".join(unknown)))
                unknown = []
            wanted |= {norm_name(w) for w in unknown if norm_name(w) in keywords}
            unknown = [w for w in unknown if norm_name(w) not in keywords]
            if unknown:
                return notice(unknown_message(unknown, svc.topics))
            slugs = {t.slug for t in topics}
            targets = [
                sub
                for sub in subs
                if sub.key in slugs or (sub.kind == "keyword" and norm_name(sub.phrase) in wanted)
            ]
            if not words and not wanted:
                return notice("Unsubscribe from what? Name topics or keywords, or `all`.")
            if not targets:
                return notice("This channel does not follow that. `/spyglass list` shows what it follows.")
        names = [_sub_label(svc, sub) for sub in targets]
        s.execute(delete(Subscription).where(Subscription.id.in_([sub.id for sub in targets])))
    return announce(f"{caller.mention} unsubscribed this channel from {', '.join(names)}.")


def _sub_label(svc: Services, sub: Subscription) -> str:
    if sub.kind == "keyword":
        return _keyword_label(sub.phrase, sub.excludes or [])
    t = svc.topic_by_slug.get(sub.key)
    return f"*{escape(t.label if t else sub.key)}*"


def list_subscriptions(svc: Services, caller: Caller) -> Reply:
    with svc.store.read() as s:
        subs = list(
            s.scalars(
                select(Subscription)
                .where(Subscription.channel_id == caller.channel_id)
                .order_by(Subscription.id)
            )
        )
        timetable = describe(s.get(ChannelSettings, caller.channel_id))
    if not subs:
        return notice(
            "This channel follows nothing yet. Try `/spyglass subscribe face-recognition` or `/spyglass topics`."
        )
    lines = ["This channel follows:"]
    for sub in subs:
        line = f"• {_sub_label(svc, sub)}"
        if sub.kind == "topic":
            line += f" (`{escape(sub.key)}`)"
        lines.append(line)
    lines.extend(channel_choices(svc, caller.channel_id))
    lines.extend(timetable)
    paused = next((sub.paused_reason for sub in subs if sub.paused_reason), None)
    if paused:
        lines.append(
            f":warning: Alerts here are *paused*: Slack said `{escape(paused)}`. "
            "Invite the app back to the channel, then run `/spyglass resume`."
        )
    return notice("\n".join(lines))
