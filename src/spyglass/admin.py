"""The commands that show and tend what is stored: `spyglass sources`, `spyglass channels` and
`spyglass db …` (upgrade, status, prune, stats), and the two helpers every command uses to turn
its arguments into settings and services."""

from __future__ import annotations

import argparse
import logging
from datetime import datetime
from typing import TYPE_CHECKING

from spyglass.clock import now_utc
from spyglass.durations import format_duration

if TYPE_CHECKING:
    from spyglass.config import Settings
    from spyglass.service import Services


def settings_from(args: argparse.Namespace) -> Settings:
    from spyglass.config import config_path_from, load_settings  # here: `--help` never reads a config

    return load_settings(config_path_from(args.config))


def services_from(args: argparse.Namespace, migrate: bool = True) -> Services:
    from spyglass.service import build_services
    from spyglass.urls import redact_url

    settings = settings_from(args)
    logging.getLogger("spyglass").info("database: %s", redact_url(settings.database_url))
    return build_services(settings, migrate=migrate)


def cmd_sources(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from spyglass.sources.state import ago, all_sources, health, sync_sources
    from spyglass.store.schema import Source
    from spyglass.urls import redact_url

    svc = services_from(args)
    sync_sources(svc)
    print(f"database: {redact_url(svc.settings.database_url)}")
    names = {c.name for c in all_sources(svc)}
    now = now_utc()
    with svc.store.read() as s:
        rows = [r for r in s.scalars(select(Source).order_by(Source.name)) if r.name in names]

    def when(dt: datetime | None) -> str:
        return ago(dt, now)

    for r in rows:
        origin = "" if r.origin == "config" else f"  (added from {r.origin} by {r.added_by or '?'})"
        print(f"{r.name}  [{health(r)}]  {r.kind}: {r.location}{origin}")
        print(
            f"    last success {when(r.last_success_at)}, next attempt {when(r.next_attempt_at) if not r.disabled_reason else '—'}, "
            f"{r.error_count} error(s) in a row"
        )
        if r.last_seen is not None:
            print(
                f"    last read: {r.last_seen} seen, {r.last_stored or 0} new, {r.last_skipped or 0} skipped"
                + (f" (most: {r.last_skip_reason})" if r.last_skip_reason else "")
            )
        if r.final_url:
            print(f"    redirected to {r.final_url}")
        if r.last_error:
            print(f"    last error ({when(r.last_error_at)}): {r.last_error}")
        if r.disabled_reason:
            print(f"    disabled: {r.disabled_reason}")
    return 0


def cmd_channels(args: argparse.Namespace) -> int:
    """Each channel with subscriptions: what it follows, whether alerts are paused and why, its queue."""
    from sqlalchemy import func, select

    from spyglass.store.schema import ChannelSettings, Delivery, Subscription
    from spyglass.store.timetables import timetable_of

    svc = services_from(args)
    with svc.store.read() as s:
        subs = list(s.scalars(select(Subscription).order_by(Subscription.channel_id, Subscription.id)))
        timetable = {r.channel_id: r for r in s.scalars(select(ChannelSettings))}
        queue = {
            (ch, st): n
            for ch, st, n in s.execute(
                select(Delivery.channel_id, Delivery.status, func.count()).group_by(
                    Delivery.channel_id, Delivery.status
                )
            )
        }
    if not subs:
        print("no channel follows anything yet (in Slack: /spyglass subscribe TOPIC)")
        return 0
    labels = {t.slug: t.label for t in svc.topics}
    by_channel: dict[str, list[Subscription]] = {}
    for sub in subs:
        by_channel.setdefault(sub.channel_id, []).append(sub)
    for channel, rows in by_channel.items():
        paused = next((r.paused_reason for r in rows if r.paused_reason), None)
        print(
            f"{channel}  [{'PAUSED' if paused else 'ok'}]  "
            + ", ".join(f'"{r.phrase}"' if r.kind == "keyword" else labels.get(r.key, r.key) for r in rows)
        )
        counts = ", ".join(
            f"{queue[(channel, st)]} {st}"
            for st in ("sent", "pending", "digest", "held", "failed")
            if queue.get((channel, st))
        ).replace(" digest", " waiting for the digest")
        if counts:
            print(f"    alerts: {counts}")
        row = timetable.get(channel)
        if row is not None and row.digest != "off":
            print(f"    delivery: {timetable_of(row).describe()}")
        if row is not None and row.quiet_from:
            print(f"    quiet hours: {row.quiet_from}-{row.quiet_to} ({row.tz})")
        if paused:
            print(f"    paused: {paused}; invite the app back, then /spyglass resume in the channel")
    return 0


def cmd_db(args: argparse.Namespace) -> int:
    from spyglass.store.db import make_engine
    from spyglass.store.migrate import current_revision, head_revision, upgrade

    settings = settings_from(args)
    if args.db_command in ("prune", "stats"):
        return _db_history(args, settings)
    engine = make_engine(settings.database_url, migrate=False)
    if args.db_command == "upgrade":
        before = current_revision(engine)
        upgrade(engine)
        after = current_revision(engine)
        print(
            f"database at revision {after}"
            + (f" (was {before or 'empty'})" if before != after else " (up to date)")
        )
    else:
        cur = current_revision(engine)
        print(f"database at revision {cur or 'empty'}; latest is {head_revision()}")
    return 0


def _db_history(args: argparse.Namespace, settings: Settings) -> int:
    from spyglass.store import retention
    from spyglass.store.db import open_store

    store = open_store(settings.database_url)
    if args.db_command == "stats":
        for key, value in retention.stats(store).items():
            print(f"{key:>22}: {value if value is not None else '—'}")
        return 0
    if settings.retention <= 0:
        print("[storage] retention is 0: everything is kept, nothing to prune")
        return 0
    report = retention.prune(
        store,
        retention=settings.retention,
        tombstone_retention=settings.tombstone_retention,
        now=now_utc(),
        dry_run=args.dry_run,
        keep_sources=retention.archival_source_ids(store, settings),
    )
    verb = "would remove" if args.dry_run else "removed"
    print(
        f"{verb} {report.stories} stor{'y' if report.stories == 1 else 'ies'} published before the last "
        f"{format_duration(settings.retention)}"
        + (
            ""
            if args.dry_run
            else f", {report.clusters} empty cluster(s); {report.tombstones_added} tombstone(s) added"
        )
        + f", {report.tombstones_expired} expired tombstone(s)"
        + (
            f"; kept {report.kept_for_delivery} old stor{'y' if report.kept_for_delivery == 1 else 'ies'} "
            "whose alerts are still pending or held"
            if report.kept_for_delivery
            else ""
        )
    )
    if args.vacuum and not args.dry_run:
        retention.vacuum(store)
        print("database file rewritten")
    return 0


def cmd_feeds(args: argparse.Namespace) -> int:
    import sys

    from spyglass.opml import export_opml, import_opml

    svc = services_from(args)
    if args.feeds_command == "export":
        sys.stdout.write(export_opml(svc))
        return 0
    report = import_opml(svc, args.file, sys.stderr)
    print(f"added {len(report.added)} feed(s)" + (": " + ", ".join(report.added) if report.added else ""))
    if report.duplicates:
        print(f"skipped {len(report.duplicates)} already there: " + ", ".join(report.duplicates))
    for entry, why in report.refused:
        print(f"not added: {entry}: {why}")
    return 1 if report.refused and not report.added else 0
