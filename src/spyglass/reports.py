"""`spyglass feedback` and `spyglass trends`: what people thought of the alerts, and how topics move."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from spyglass.admin import services_from
from spyglass.clock import now_utc
from spyglass.durations import parse_duration
from spyglass.errors import UserError


def cmd_feedback(args: argparse.Namespace) -> int:
    from spyglass.feedback import render, report

    svc = services_from(args)
    since = now_utc() - timedelta(seconds=parse_duration(args.since))
    print(render(report(svc.store, since)))
    return 0


def cmd_trends(args: argparse.Namespace) -> int:
    from spyglass.slack.reads import resolve_names, unknown_message
    from spyglass.trends import MAX_WEEKS, chart_png, table, weekly_counts

    svc = services_from(args)
    if not 1 <= args.weeks <= MAX_WEEKS:
        raise UserError(f"--weeks {args.weeks} is not between 1 and {MAX_WEEKS}")
    topics = None
    if args.topics:
        topics, unknown = resolve_names(args.topics, svc.topics)
        if unknown:
            raise UserError(
                unknown_message(unknown, svc.topics).replace("`", "").replace("/spyglass", "spyglass")
            )
    until = now_utc()
    if args.until:
        try:
            day = date.fromisoformat(args.until)
        except ValueError:
            raise UserError(f"--until {args.until!r} is not a date; write it like 2026-06-30") from None
        until = datetime.combine(day, time.max, tzinfo=UTC)
    trend = weekly_counts(svc.store, topics, args.weeks, until, svc.topics)
    if args.out:
        out = Path(args.out)
        try:
            out.write_bytes(chart_png(trend, running=not args.until))
        except OSError as e:
            raise UserError(f"cannot write {out}: {e.strerror}") from None
        print(
            f"spyglass: wrote the chart of {len(trend.series)} topic(s) over {args.weeks} weeks to {out}",
            file=sys.stderr,
        )
    else:
        print(table(trend))
    return 0


def add_parsers(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    sp = sub.add_parser(
        "feedback", parents=[common], help="ratings of alerts per topic and the phrases that draw the most 👎"
    )
    sp.add_argument("--since", default="30d", help="how far back, e.g. 7d, 4w, 3mo (default 30d)")
    sp.set_defaults(func=cmd_feedback)
    sp = sub.add_parser(
        "trends", parents=[common], help="stories per topic per week, as a table or a PNG chart"
    )
    sp.add_argument("topics", nargs="*", metavar="TOPIC", help="topics to show (default: the five busiest)")
    sp.add_argument("--weeks", type=int, default=12, help="how many weeks back (default 12)")
    sp.add_argument("--out", metavar="FILE.png", help="write the chart here instead of printing the table")
    sp.add_argument(
        "--until", metavar="YYYY-MM-DD", help="the last day shown (default: today), for past periods"
    )
    sp.set_defaults(func=cmd_trends)
