"""Trends: stories per topic per week, as a table and as a chart (PNG, matplotlib).

A story counts once per topic it matched, in the ISO week (Monday to Sunday, UTC) it was
published; a cluster's copies count once, by its first story, so syndication does not inflate a
topic. The last bucket is the current, unfinished week.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func, select

from spyglass.models import Topic
from spyglass.store.db import Store
from spyglass.store.schema import StoryRow, StoryTopic

MAX_WEEKS = 104
DEFAULT_WEEKS = 12
MAX_SERIES = 8  # lines on one chart; more are unreadable
DEFAULT_SERIES = 5  # the busiest topics when none are named
CHART_SIZE = (10.0, 5.0)  # inches at CHART_DPI: 1000 × 500 pixels
CHART_DPI = 100


@dataclass(frozen=True)
class Trend:
    weeks: list[date]  # each week's Monday, oldest first
    series: dict[str, list[int]]  # topic label -> stories per week


def week_of(when: datetime) -> date:
    d = when.date()
    return d - timedelta(days=d.weekday())


def weekly_counts(
    store: Store, topics: Sequence[Topic] | None, weeks: int, now: datetime, all_topics: Sequence[Topic]
) -> Trend:
    """Stories per week for ``topics`` (None: the DEFAULT_SERIES busiest over the period)."""
    first = week_of(now) - timedelta(weeks=weeks - 1)
    start = datetime.combine(first, datetime.min.time(), tzinfo=now.tzinfo)
    with store.read() as s:
        # One row per (cluster, topic): its earliest story's date.
        rows = s.execute(
            select(StoryTopic.slug, StoryRow.cluster_id, func.min(StoryRow.published_at))
            .join(StoryRow, StoryRow.id == StoryTopic.story_id)
            .where(StoryRow.published_at >= start, StoryRow.published_at <= now)
            .group_by(StoryTopic.slug, StoryRow.cluster_id)
        ).all()
    labels = {t.slug: t.label for t in all_topics}
    index = {first + timedelta(weeks=i): i for i in range(weeks)}
    counts: dict[str, list[int]] = {}
    for slug, _, published in rows:
        if slug not in labels:  # keyword subscriptions' own slugs
            continue
        if isinstance(published, str):  # SQLite's min() of a datetime column comes back as text
            published = datetime.fromisoformat(published)
        i = index.get(week_of(published))
        if i is not None:
            counts.setdefault(slug, [0] * weeks)[i] += 1
    if topics is None:
        chosen = sorted(counts, key=lambda slug: (-sum(counts[slug]), slug))[:DEFAULT_SERIES]
    else:
        chosen = [t.slug for t in topics][:MAX_SERIES]
    return Trend(weeks=sorted(index), series={labels[slug]: counts.get(slug, [0] * weeks) for slug in chosen})


def table(trend: Trend) -> str:
    """A fixed-width table, weeks down, topics across (for a terminal or a code block)."""
    names = list(trend.series)
    width = [max(6, min(22, len(n))) for n in names]
    head = "week of   " + " ".join(n[:w].rjust(w) for n, w in zip(names, width, strict=True))
    lines = [head]
    for i, week in enumerate(trend.weeks):
        cells = " ".join(str(trend.series[n][i]).rjust(w) for n, w in zip(names, width, strict=True))
        lines.append(f"{week:%Y-%m-%d} {cells}")
    return "\n".join(lines)


def chart_png(trend: Trend, title: str = "Stories per topic per week", *, running: bool = True) -> bytes:
    """A stacked bar chart of the trend as PNG bytes (matplotlib's Agg backend: no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.dates import date2num
    from matplotlib.figure import Figure  # the object API: no global pyplot state across threads
    from matplotlib.ticker import MaxNLocator

    fig = Figure(figsize=CHART_SIZE, dpi=CHART_DPI)
    ax = fig.add_subplot()
    # Stacked bars: sparse weeks read as clearly as busy ones, and a week's total is the bar's height.
    x = date2num([datetime.combine(w, datetime.min.time()) for w in trend.weeks])
    bottom = [0] * len(trend.weeks)
    for name, values in trend.series.items():
        ax.bar(x, values, width=5.5, bottom=bottom, label=name, align="edge")
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    ax.xaxis_date()
    ax.set_title(title)
    ax.set_ylabel("stories")
    ax.set_xlabel("week beginning (Monday, UTC)" + ("; the last week is still running" if running else ""))
    ax.set_ylim(bottom=0)
    ax.grid(True, axis="y", alpha=0.3)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    if trend.series:
        ax.legend(loc="upper left", fontsize="small")
    fig.autofmt_xdate()
    fig.tight_layout()
    out = io.BytesIO()
    fig.savefig(out, format="png", dpi=CHART_DPI)
    return out.getvalue()
