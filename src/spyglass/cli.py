"""The `spyglass` command. User mistakes become one line on stderr and exit code 2, never a traceback."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from spyglass import __version__
from spyglass.admin import cmd_channels, cmd_db, cmd_feeds, cmd_sources, services_from, settings_from
from spyglass.durations import format_duration
from spyglass.errors import UserError
from spyglass.reports import add_parsers as add_report_parsers

if TYPE_CHECKING:
    from spyglass.delivery.digest import DigestReport
    from spyglass.delivery.posters import Poster
    from spyglass.refresh import PollReport
    from spyglass.service import Services

log = logging.getLogger("spyglass")
EXIT_USAGE = 2
EXIT_SOURCE_FAILED = 1  # poll --once: some source could not be read (each is named on stderr)


# ---------------------------------------------------------------------------- commands
def cmd_poll(args: argparse.Namespace) -> int:
    from spyglass.delivery.outbox import DrainReport, Outbox, worker_id
    from spyglass.delivery.posters import make_poster
    from spyglass.refresh import poll
    from spyglass.store.db import StoreError

    svc = services_from(args)
    owner = worker_id()
    with _stop_on_ctrl_c() as stop:
        report = poll(svc, owner, stop=stop, read_ahead=True)
        try:
            drained = DrainReport()
            if not stop.is_set():
                poster = make_poster(svc.settings)
                drained = Outbox(svc.store, poster, owner=owner, stop=stop).drain(deadline=args.deadline)
                _due_digests(svc, poster, owner)
        except StoreError as e:  # alerts stay queued; the next poll or `run` delivers them
            print(f"spyglass: alerts not delivered: {e}", file=sys.stderr)
            drained = DrainReport()
    if stop.is_set():
        print(
            f"spyglass: interrupted: {len(report.sources)} source(s) read, {report.stored} new stor"
            f"{'y' if report.stored == 1 else 'ies'} kept, {drained.sent} alert(s) delivered; the rest is left "
            "for the next poll",
            file=sys.stderr,
        )
        return 130
    for r in report.sources:
        if r.status in ("error", "disabled") or r.error:
            print(f"spyglass: source {r.name}: {r.status}: {r.error}", file=sys.stderr)
    print(
        f"spyglass: polled {len(report.sources)} source(s): {report.seen} entries read"
        + (f" ({report.skipped} skipped: see `spyglass sources`)" if report.skipped else "")
        + f", {report.stored} new stor{'y' if report.stored == 1 else 'ies'}, {drained.sent} alert(s) delivered"
        + (
            f", {drained.deferred + drained.failed + drained.held} not delivered (see `spyglass sources`/logs)"
            if drained.deferred + drained.failed + drained.held
            else ""
        ),
        file=sys.stderr,
    )
    why = _why_not_alerted(svc, report)
    if why:
        print(f"spyglass: not alerted: {why}", file=sys.stderr)
    demos = [c.name for c in svc.settings.sources if c.demo]
    if demos and svc.slack_enabled:
        print(
            f"spyglass: {', '.join(demos)}: demo source(s), never alerted to Slack; replace them with your own "
            "feeds in the config",
            file=sys.stderr,
        )
    unsaved = len(svc.unsaved.failures) + len(svc.unsaved.leases)
    if unsaved:
        print(
            f"spyglass: error: the database refused writes, so the state of {unsaved} source(s) was not recorded; "
            "nothing already stored was lost, and the next poll reads those sources again",
            file=sys.stderr,
        )
        return 1
    return EXIT_SOURCE_FAILED if report.failed else 0


def _due_digests(svc: Services, poster: Poster, owner: str, channel: str | None = None) -> DigestReport:
    """Make and send the digests that are due (a cron host's `poll --once` is its only scheduler)."""
    from spyglass.clock import now_utc
    from spyglass.delivery.digest import make_digests, send_digests

    made = make_digests(svc.store, now_utc(), channel=channel, force=channel is not None)
    sent = send_digests(svc.store, poster, owner, channel=channel)
    sent.made = made.made
    return sent


def cmd_digest(args: argparse.Namespace) -> int:
    from spyglass.delivery.outbox import worker_id
    from spyglass.delivery.posters import make_poster

    svc = services_from(args)
    report = _due_digests(svc, make_poster(svc.settings), worker_id(), args.channel)
    print(
        f"spyglass: {report.sent} digest(s) sent carrying {report.stories} stor"
        f"{'y' if report.stories == 1 else 'ies'}"
        + (f", {report.failed} failed (see the log)" if report.failed else "")
        + (f", {report.deferred} to be tried again later ({report.deferred_why})" if report.deferred else "")
        + (
            ""
            if report.sent or report.failed or report.deferred
            else " (none was due, or nothing was waiting for one)"
        ),
        file=sys.stderr,
    )
    return 1 if report.failed else 0


def _why_not_alerted(svc: Services, report: PollReport) -> str:
    """'3 older than max_age (72h), 2 on topics no channel follows (drones)': why new stories were
    stored but not alerted, so that a quiet poll explains itself."""
    off_topic, too_old, unrouted, unfollowed, past_retention = report.not_alerted()
    parts = []
    if past_retention:
        parts.append(
            f"{past_retention} older than [storage] retention ({format_duration(svc.settings.retention)}), not stored"
        )
    if too_old:
        parts.append(
            f"{too_old} older than max_age ({format_duration(svc.settings.max_age)}), or on a new source's first poll"
            " undated or older than first_poll_alerts"
        )
    if unrouted:
        names = ", ".join(slug.removeprefix("kw:") for slug, _ in unfollowed.most_common(5))
        parts.append(f"{unrouted} on topics no channel follows ({names})")
    if off_topic:
        parts.append(f"{off_topic} about none of the topics")
    return ", ".join(parts)


def _limit(text: str) -> int:
    """argparse turns the ValueError into one line naming --limit, and exits 2."""
    n = int(text)
    if not 1 <= n <= 100:
        raise argparse.ArgumentTypeError(f"{n} is not between 1 and 100")
    return n


@contextmanager
def _stop_on_ctrl_c() -> Iterator[threading.Event]:
    """The first Ctrl-C (SIGINT) or SIGTERM asks the work in flight to stop cleanly, as `run` does:
    fetches are abandoned, leases given back, the alert being posted is recorded. A second one
    stops at once."""
    stop = threading.Event()

    def handler(signum: int, _frame: object) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    if threading.current_thread() is not threading.main_thread():  # signals reach the main thread only
        yield stop
        return
    before = signal.signal(signal.SIGINT, handler), signal.signal(signal.SIGTERM, handler)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, before[0])
        signal.signal(signal.SIGTERM, before[1])


def cmd_run(args: argparse.Namespace) -> int:
    from spyglass.runtime import run

    return run(settings_from(args), serve_http=not args.no_http, port=args.port)


def cmd_worker(args: argparse.Namespace) -> int:
    from spyglass.runtime import run

    return run(settings_from(args), serve_http=False, port=None)


def cmd_serve(args: argparse.Namespace) -> int:
    from spyglass.runtime import serve

    return serve(settings_from(args), port=args.port)


def cmd_search(args: argparse.Namespace) -> int:
    from spyglass.delivery.console import render_search
    from spyglass.store.query import QueryError, parse_query
    from spyglass.store.quicksearch import quick_search

    settings = settings_from(args)
    raw = " ".join(args.query)
    try:
        q = parse_query(raw)
    except QueryError as e:
        raise UserError(str(e)) from None
    if q.empty and not q.filters_only:
        raise UserError(
            "give some words to search for, e.g. spyglass search facial recognition, or a filter "
            "alone for the latest: spyglass search topic:drones"
        )
    # A SQLite history at the current schema is searched without SQLAlchemy (store/quicksearch.py);
    # anything else takes the full path, which migrates and explains.
    hits = quick_search(settings.database_url, q, limit=args.limit)
    if hits is None:
        from spyglass.store.search import search as run_search

        svc = services_from(args)
        hits = run_search(svc.search, svc.store, q, limit=args.limit)
    print(render_search(raw, hits))
    return 0


def cmd_topics(args: argparse.Namespace) -> int:
    from spyglass.topics import load_topics, readable_phrase

    settings = settings_from(args)
    topics = load_topics(
        settings.topics_file,
        list(settings.custom_topics) or None,
        overrides_from=f"{settings.config_path}: topics.custom",
    )
    for t in topics:
        print(f"{t.slug:<26} {t.label}")
        if t.description:
            print(f"{'':<26} {t.description}")
        print(
            f"{'':<26} matches: {', '.join(readable_phrase(p) for p in t.phrases[:12])}{' …' if len(t.phrases) > 12 else ''}"
        )
        if t.context_phrases:
            print(f"{'':<26} with context: {', '.join(readable_phrase(p) for p in t.context_phrases[:8])}")
    return 0


# ---------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="spyglass",
        description="Watch the news for surveillance-technology stories and alert Slack channels once per story.",
    )
    p.add_argument(
        "--config", metavar="PATH", help="config file (default: $SPYGLASS_CONFIG or config/spyglass.toml)"
    )
    p.add_argument("-v", "--verbose", action="store_true", help="log more detail")
    p.add_argument("--version", action="version", version=f"spyglass {__version__}")
    # The same options after the command (`spyglass poll --once --config x -v`): SUPPRESS leaves the
    # value from before the command in place unless the option is given again after it.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS, help="config file")
    common.add_argument(
        "-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="log more detail"
    )
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    sp = sub.add_parser(
        "poll",
        parents=[common],
        help="poll every source once, store new stories and deliver alerts, then exit",
    )
    sp.add_argument("--once", action="store_true", help="one full cycle, then exit (the default)")
    sp.add_argument("--deadline", type=float, default=300.0, help="seconds to keep delivering (default 300)")
    sp.set_defaults(func=cmd_poll)

    sp = sub.add_parser(
        "run",
        parents=[common],
        help="run continuously: poll sources on their intervals, deliver, and serve Slack",
    )
    sp.add_argument("--no-http", action="store_true", help="do not serve Slack's HTTP requests")
    sp.add_argument(
        "--port", type=int, default=None, help="TCP port for Slack's requests (default $PORT, else 3000)"
    )
    sp.set_defaults(func=cmd_run)

    sp = sub.add_parser(
        "worker",
        parents=[common],
        help="run the scheduler and delivery only (Socket Mode if SLACK_APP_TOKEN is set)",
    )
    sp.set_defaults(func=cmd_worker)

    sp = sub.add_parser(
        "serve", parents=[common], help="serve the Slack app (slash commands) over HTTP, or Socket Mode"
    )
    sp.add_argument("--port", type=int, default=None, help="TCP port (default $PORT, else 3000)")
    sp.set_defaults(func=cmd_serve)

    sp = sub.add_parser("search", parents=[common], help="search the story history")
    sp.add_argument("query", nargs="+", help='words, "phrases", prefix*, topic:SLUG, since:7d')
    sp.add_argument("--limit", type=_limit, default=10, help="how many results, 1–100 (default 10)")
    sp.set_defaults(func=cmd_search)

    sp = sub.add_parser("topics", parents=[common], help="list the topics with their slugs and phrases")
    sp.set_defaults(func=cmd_topics)

    sp = sub.add_parser(
        "sources", parents=[common], help="show each source's state, last error and next attempt"
    )
    sp.set_defaults(func=cmd_sources)

    sp = sub.add_parser(
        "channels", parents=[common], help="channels with subscriptions, and any that are paused"
    )
    sp.set_defaults(func=cmd_channels)

    sp = sub.add_parser("feeds", parents=[common], help="import or export the feed list as OPML")
    fs = sp.add_subparsers(dest="feeds_command", metavar="ACTION", required=True)
    imp = fs.add_parser(
        "import", parents=[common], help="add every feed of an OPML file (each is checked first)"
    )
    imp.add_argument("file", type=Path, metavar="FILE.opml")
    fs.add_parser("export", parents=[common], help="write the feeds as OPML 2.0 to standard output")
    sp.set_defaults(func=cmd_feeds)

    sp = sub.add_parser("digest", parents=[common], help="send the channels' digests that are due")
    ds = sp.add_subparsers(dest="digest_command", metavar="ACTION", required=True)
    send = ds.add_parser(
        "send", parents=[common], help="send every due digest now (for cron hosts; `run` does it itself)"
    )
    send.add_argument(
        "--channel", metavar="C", help="send this channel's digest now, due or not (its schedule is kept)"
    )
    sp.set_defaults(func=cmd_digest)

    add_report_parsers(sub, common)

    sp = sub.add_parser("db", parents=[common], help="database maintenance")
    dbs = sp.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    dbs.add_parser("upgrade", parents=[common], help="apply migrations (safe to run repeatedly)")
    dbs.add_parser("current", parents=[common], help="show the schema revision")
    pr = dbs.add_parser("prune", parents=[common], help="remove stories older than [storage] retention")
    pr.add_argument("--dry-run", action="store_true", help="say what would be removed, remove nothing")
    pr.add_argument("--vacuum", action="store_true", help="then rewrite the database file to give space back")
    dbs.add_parser("stats", parents=[common], help="what the history holds and its size on disk")
    sp.set_defaults(func=cmd_db)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG
        if args.verbose
        else logging.INFO
        if args.command in ("run", "worker", "serve")
        else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for noisy in ("httpx", "httpcore"):  # a line per request, even with -v
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if not args.verbose:  # start-up chatter (migration plugins, "Adding job tentatively"): -v shows it
        for chatty in ("apscheduler", "waitress.queue", "alembic"):
            logging.getLogger(chatty).setLevel(logging.WARNING)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `spyglass search … | head`
        sys.stderr.close()
        return 0
    except Exception as e:
        message = _user_message(e)
        if message is None:
            raise
        print(f"spyglass: error: {message}", file=sys.stderr)
        return EXIT_USAGE


def _user_message(e: Exception) -> str | None:
    from spyglass.store.db import storage_failure

    if isinstance(e, UserError):  # ConfigError, TopicsError, StoreError, …: see errors.py
        return str(e)
    reason = storage_failure(e) if type(e).__module__.startswith("sqlalchemy") else None
    return f"the database failed: {reason}" if reason else None
