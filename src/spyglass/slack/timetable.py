"""`/spyglass digest …` and `/spyglass quiet …`: a channel's choice of single alerts or a digest,
and of hours without alerts. Stored in `channel_settings`; planning reads it (store/planning.py)."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from spyglass.clock import now_utc
from spyglass.delivery.mrkdwn import escape
from spyglass.errors import ScheduleError
from spyglass.schedule import parse_clock, parse_weekday, zone
from spyglass.service import Services
from spyglass.store.schema import ChannelSettings, Delivery
from spyglass.store.timetables import timetable_of

# The time zone of a Slack user (users.info `tz`), or None when Slack would not say.
UserZone = Callable[[str], "str | None"]

DIGEST_USAGE = (
    "Try `/spyglass digest daily 09:00`, `/spyglass digest weekly mon 09:00` or `/spyglass digest off`; "
    "add `tz=Europe/London` for another time zone than yours."
)
QUIET_USAGE = "Try `/spyglass quiet 22:00-07:00` (add `tz=Europe/London`) or `/spyglass quiet off`."


def _split_tz(rest: str) -> tuple[list[str], str | None]:
    words, tz = [], None
    for w in rest.split():
        if w.lower().startswith("tz="):
            tz = w[3:]
        else:
            words.append(w)
    return words, tz


def _current_zone(svc: Services, channel: str) -> str | None:
    """The zone the channel's digest or quiet hours already use (None: it has neither)."""
    with svc.store.read() as s:
        row = s.get(ChannelSettings, channel)
    return row.tz if row and (row.digest != "off" or row.quiet_from) else None


def _their_zone(tz: str | None, user: str, user_zone: UserZone | None, current: str | None) -> str:
    """The zone named, else the channel's current one, else the person's own, else UTC."""
    if tz:
        zone(tz)
        return tz.strip()
    if current:
        return current
    found = user_zone(user) if user_zone else None
    if found:
        try:
            zone(found)
            return found
        except ScheduleError:
            pass
    return "UTC"


def digest_command(
    svc: Services, channel: str, user: str, rest: str, user_zone: UserZone | None = None
) -> tuple[str, bool]:
    """(mrkdwn answer, whether the channel should see it)."""
    words, tz = _split_tz(rest)
    if not words and not tz:
        with svc.store.read() as s:
            row = s.get(ChannelSettings, channel)
        now = timetable_of(row).describe() if row else "each story as it comes"
        return f"This channel gets {now}. {DIGEST_USAGE}", False
    mode = words[0].lower() if words else ""
    try:
        if mode == "off":
            return _digest_off(svc, channel, user), True
        if mode == "daily" and len(words) <= 2:
            at = parse_clock(words[1]) if len(words) == 2 else "09:00"
            return _digest_on(svc, channel, user, "daily", at, 0, tz, user_zone), True
        if mode == "weekly" and 2 <= len(words) <= 3:
            day = parse_weekday(words[1])
            at = parse_clock(words[2]) if len(words) == 3 else "09:00"
            return _digest_on(svc, channel, user, "weekly", at, day, tz, user_zone), True
    except ScheduleError as e:
        return f"{e}. Nothing was changed.", False
    return DIGEST_USAGE, False


def _settings_row(s: Session, channel: str, user: str) -> ChannelSettings:
    row = s.get(ChannelSettings, channel)
    if row is None:
        row = ChannelSettings(
            channel_id=channel, digest="off", digest_at="09:00", digest_day=0, tz="UTC", updated_at=now_utc()
        )
        s.add(row)
    row.set_by, row.updated_at = user, now_utc()
    return row


def _digest_on(
    svc: Services,
    channel: str,
    user: str,
    mode: str,
    at: str,
    day: int,
    tz: str | None,
    user_zone: UserZone | None,
) -> str:
    name = _their_zone(tz, user, user_zone, _current_zone(svc, channel))
    now = now_utc()
    with svc.store.session(quick=True) as s:
        row = _settings_row(s, channel, user)
        row.digest, row.digest_at, row.digest_day, row.tz = mode, at, day, name
        row.next_digest_at = timetable_of(row).next_digest(now)
        # Alerts already queued here join the first digest rather than arriving one by one, and so
        # do the queued thread replies to them (their alert will have no thread of its own).
        queued = (
            Delivery.channel_id == channel,
            Delivery.status == "pending",
            Delivery.lease_owner.is_(None),
        )
        clusters = select(Delivery.cluster_id).where(*queued, Delivery.kind == "alert")
        s.execute(
            update(Delivery)
            .where(*queued, or_(Delivery.kind == "alert", Delivery.cluster_id.in_(clusters)))
            .values(status="digest")
        )
        table = timetable_of(row)
        due = row.next_digest_at
    assert due is not None
    return (
        f"<@{user}> switched this channel to {table.describe()}. Single alerts stop; the first digest "
        f"comes <!date^{int(due.timestamp())}^{{date_short_pretty}} at {{time}}|{due:%Y-%m-%d %H:%M} UTC>. "
        "`/spyglass digest off` goes back to single alerts."
    )


def _digest_off(svc: Services, channel: str, user: str) -> str:
    with svc.store.session(quick=True) as s:
        row = s.get(ChannelSettings, channel)
        if row is None or row.digest == "off":
            return "This channel already gets each story as it comes."
        row.digest, row.next_digest_at, row.set_by, row.updated_at = "off", None, user, now_utc()
        waiting = s.scalar(
            select(func.count())
            .select_from(Delivery)
            .where(Delivery.channel_id == channel, Delivery.status == "digest", Delivery.kind == "alert")
        )
    # What was waiting for the digest is sent now, as one last digest, not as a burst of single alerts.
    if waiting:
        from spyglass.delivery.digest import make_digests

        make_digests(svc.store, now_utc(), channel=channel, force=True)
    return f"<@{user}> switched this channel back to single alerts." + (
        f" The {waiting} stor{'y' if waiting == 1 else 'ies'} waiting for the digest come as one last digest now."
        if waiting
        else ""
    )


def quiet_command(
    svc: Services, channel: str, user: str, rest: str, user_zone: UserZone | None = None
) -> tuple[str, bool]:
    words, tz = _split_tz(rest)
    if not words:
        with svc.store.read() as s:
            row = s.get(ChannelSettings, channel)
        if row and row.quiet_from:
            return (
                f"Alerts here are held {row.quiet_from}–{row.quiet_to} ({escape(row.tz)}). {QUIET_USAGE}",
                False,
            )
        return f"This channel has no quiet hours. {QUIET_USAGE}", False
    if words[0].lower() == "off" and len(words) == 1:
        with svc.store.session(quick=True) as s:
            row = s.get(ChannelSettings, channel)
            if row is None or not row.quiet_from:
                return "This channel has no quiet hours.", False
            row.quiet_from = row.quiet_to = None
            row.set_by, row.updated_at = user, now_utc()
        return f"<@{user}> turned off this channel's quiet hours.", True
    span = "".join(words).replace("–", "-").replace("—", "-")
    start, sep, end = span.partition("-")
    if not sep or len(words) > 3:
        return QUIET_USAGE, False
    try:
        start, end = parse_clock(start), parse_clock(end)
        if start == end:
            raise ScheduleError("the quiet hours start and end at the same time")
        name = _their_zone(tz, user, user_zone, _current_zone(svc, channel))
    except ScheduleError as e:
        return f"{e}. Nothing was changed.", False
    with svc.store.session(quick=True) as s:
        row = _settings_row(s, channel, user)
        row.quiet_from, row.quiet_to, row.tz = start, end, name
        digest = row.digest != "off"
    note = " (this channel gets a digest, which is never held)" if digest else ""
    return (
        f"<@{user}> set quiet hours {start}–{end} ({escape(name)}) for this channel{note}: alerts that "
        "arrive then are held and posted when the quiet hours end.",
        True,
    )


def describe(row: ChannelSettings | None) -> list[str]:
    """Lines for `/spyglass list`: the channel's delivery mode and quiet hours."""
    if row is None:
        return []
    lines = []
    if row.digest != "off":
        lines.append(f"Delivery: {timetable_of(row).describe()}")
    if row.quiet_from:
        lines.append(f"Quiet hours: {row.quiet_from}–{row.quiet_to} ({escape(row.tz)})")
    return lines
