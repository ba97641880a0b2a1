"""A channel's timetable: when its digest is due and when it wants quiet. Pure functions over
local wall-clock times in an IANA time zone (zoneinfo, with the `tzdata` package as its database
where the system has none); every instant that leaves here is aware UTC.

Wall-clock rules: a digest at 09:00 Europe/London is at 09:00 local time in summer and in winter.
A time that does not exist on a day (the hour skipped when clocks go forward) is taken as the
same wall time after the jump; a time that happens twice (clocks go back) is the first one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from spyglass.errors import ScheduleError

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_CLOCK = re.compile(r"(\d{1,2})(?::(\d{2}))?\s*(am|pm)?", re.I)


def parse_clock(text: str) -> str:
    """'9', '9:30', '09:30', '9am', '9:30pm' → 'HH:MM' (24-hour)."""
    m = _CLOCK.fullmatch(text.strip())
    if not m:
        raise ScheduleError(f"`{text[:20]}` is not a time of day; write it like 09:00 or 17:30")
    hour, minute = int(m.group(1)), int(m.group(2) or 0)
    if m.group(3):
        if not 1 <= hour <= 12:
            raise ScheduleError(f"`{text[:20]}` is not a time of day (1–12 with am/pm)")
        hour = hour % 12 + (12 if m.group(3).lower() == "pm" else 0)
    if hour > 23 or minute > 59:
        raise ScheduleError(f"`{text[:20]}` is not a time of day; hours go to 23 and minutes to 59")
    return f"{hour:02d}:{minute:02d}"


def parse_weekday(text: str) -> int:
    key = text.strip().lower()[:3]
    if len(text.strip()) < 3 or key not in WEEKDAYS:
        raise ScheduleError(f"`{text[:20]}` is not a day of the week (mon, tue, … sun)")
    return WEEKDAYS.index(key)


def zone(name: str) -> ZoneInfo:
    """An IANA zone by name ('Europe/London', 'UTC'); a clear error for anything else."""
    name = name.strip()
    if not re.fullmatch(r"[A-Za-z0-9_+\-/]{1,64}", name) or ".." in name:
        raise ScheduleError(f"`{name[:64]}` is not a time zone; use a name like Europe/London or UTC")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ScheduleError(
            f"`{name}` is not a time zone I know; use a name like Europe/London, America/New_York or UTC"
        ) from None


def _clock(hhmm: str) -> time:
    hour, minute = hhmm.split(":")
    return time(int(hour), int(minute))


def _at(day: datetime, hhmm: str, tz: ZoneInfo) -> datetime:
    """`day`'s date at the local wall time hhmm, as UTC (see the module's rules for the odd hours)."""
    local = datetime.combine(day.date(), _clock(hhmm), tzinfo=tz)  # fold=0: the first of a repeated hour
    # A wall time that does not exist comes back from a round trip through UTC moved by the gap.
    return local.astimezone(UTC)


@dataclass(frozen=True)
class Timetable:
    """What one channel chose (from its channel_settings row)."""

    digest: str = "off"  # off | daily | weekly
    digest_at: str = "09:00"
    digest_day: int = 0
    tz: str = "UTC"
    quiet_from: str | None = None
    quiet_to: str | None = None

    def next_digest(self, after: datetime) -> datetime | None:
        """The first digest time strictly after ``after`` (None when digests are off)."""
        if self.digest not in ("daily", "weekly"):
            return None
        tz = zone(self.tz)
        local = after.astimezone(tz)
        for days in range(0, 9):
            day = local + timedelta(days=days)
            if self.digest == "weekly" and day.weekday() != self.digest_day:
                continue
            due = _at(day, self.digest_at, tz)
            if due > after:
                return due
        raise AssertionError("no digest time within 9 days")  # unreachable: every week has the day

    def quiet_until(self, now: datetime) -> datetime | None:
        """When the quiet window ``now`` falls in ends (UTC), or None when it is not quiet now.
        A window may cross midnight (22:00-07:00); one whose ends are equal is empty."""
        if not self.quiet_from or not self.quiet_to or self.quiet_from == self.quiet_to:
            return None
        tz = zone(self.tz)
        local = now.astimezone(tz)
        for start_day in (local - timedelta(days=1), local):
            start = _at(start_day, self.quiet_from, tz)
            end_day = start_day if self.quiet_to > self.quiet_from else start_day + timedelta(days=1)
            end = _at(end_day, self.quiet_to, tz)
            if start <= now < end:
                return end
        return None

    def describe(self) -> str:
        """'a daily digest at 09:00 (Europe/London)', for people."""
        if self.digest == "daily":
            return f"a daily digest at {self.digest_at} ({self.tz})"
        if self.digest == "weekly":
            return (
                f"a weekly digest on {WEEKDAYS[self.digest_day].capitalize()} at {self.digest_at} ({self.tz})"
            )
        return "each story as it comes"
