"""`/spyglass trends [TOPIC…] [weeks=12]`: stories per topic per week, as a chart posted in the
channel (files.getUploadURLExternal + files.completeUploadExternal, i.e. `files_upload_v2`; the old
files.upload is retired), with the numbers privately to whoever asked. Without the chart (no
`files:write`, or the app is not in the channel) the numbers alone, saying why."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from sqlalchemy import select

from spyglass.clock import now_utc
from spyglass.delivery.mrkdwn import escape
from spyglass.service import Services
from spyglass.slack.reads import resolve_names, unknown_message
from spyglass.slack.reply import Reply, notice
from spyglass.store.schema import Subscription
from spyglass.trends import DEFAULT_WEEKS, MAX_SERIES, MAX_WEEKS, chart_png, table, weekly_counts

# Post a PNG in a channel: (channel, bytes, title, comment) → None, or why it could not.
Upload = Callable[[str, bytes, str, str], "str | None"]
TEXT_WEEKS = 26  # rows of the private table (a code block must fit one section)


def trends_command(svc: Services, channel: str, user: str, rest: str, upload: Upload | None) -> Reply:
    names, weeks = [], DEFAULT_WEEKS
    for w in rest.split():
        if w.lower().startswith("weeks="):
            value = w[6:]
            if not value.isdigit() or not 1 <= int(value) <= MAX_WEEKS:
                return notice(f"`weeks=` takes a number from 1 to {MAX_WEEKS}, e.g. `weeks=26`.")
            weeks = int(value)
        else:
            names.append(w)
    topics = None
    if names:
        topics, unknown = resolve_names(names, svc.topics)
        if unknown:
            return notice(unknown_message(unknown, svc.topics))
    else:  # the channel's own topics, when it follows some; else the busiest
        with svc.store.read() as s:
            followed = set(
                s.scalars(
                    select(Subscription.key).where(
                        Subscription.channel_id == channel, Subscription.kind == "topic"
                    )
                )
            )
        mine = [t for t in svc.topics if t.slug in followed]
        topics = mine[:MAX_SERIES] or None
    trend = weekly_counts(svc.store, topics, weeks, now_utc(), svc.topics)
    if not trend.series or not any(sum(v) for v in trend.series.values()):
        what = ", ".join(escape(n) for n in trend.series) or "any topic"
        return notice(f"No stories on {what} in the last {weeks} weeks.")
    shown = replace(
        trend, weeks=trend.weeks[-TEXT_WEEKS:], series={k: v[-TEXT_WEEKS:] for k, v in trend.series.items()}
    )
    numbers = "```\n" + escape(table(shown)) + "\n```"
    if upload is None:
        return notice(f"Stories per topic per week:\n{numbers}")
    title = f"Stories per topic per week, last {weeks} weeks"
    error = upload(
        channel, chart_png(trend, title), title, f"<@{user}> asked for `/spyglass trends`: {title.lower()}."
    )
    if error:
        return notice(
            f"I could not post the chart here (Slack said `{escape(error)}`); the numbers:\n{numbers}"
        )
    return notice(f"The chart is posted in this channel. The numbers:\n{numbers}")
