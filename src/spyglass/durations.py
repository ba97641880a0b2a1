"""Durations as people write them, one meaning everywhere: `30s`, `15m`, `15 minutes`, `2h`, `7d`,
`4w`, `3mo`, `1y`. `m` is always minutes; months are `mo`. No unit is a mistake, never a guess."""

from __future__ import annotations

import re

from spyglass.errors import DurationError

_UNITS = {
    **dict.fromkeys(("s", "sec", "secs", "second", "seconds"), 1),
    **dict.fromkeys(("m", "min", "mins", "minute", "minutes"), 60),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), 3600),
    **dict.fromkeys(("d", "day", "days"), 86400),
    **dict.fromkeys(("w", "wk", "wks", "week", "weeks"), 7 * 86400),
    **dict.fromkeys(("mo", "mon", "month", "months"), 30 * 86400),
    **dict.fromkeys(("y", "yr", "yrs", "year", "years"), 365 * 86400),
}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z]+)\s*$", re.I)
MAX_SECONDS = 50 * 365 * 86400.0  # beyond this a date computed from it stops making sense
EXAMPLES = '"30s", "15m", "2 hours", "7d", "4w", "3mo"'


def parse_duration(text: str) -> float:
    """→ seconds. Raises DurationError for anything without a known unit or absurdly long."""
    m = _DURATION.match(text)
    if not m or m.group(2).lower() not in _UNITS:
        raise DurationError(f"{text!r} is not a duration; write a number and a unit, e.g. {EXAMPLES}")
    seconds = float(m.group(1)) * _UNITS[m.group(2).lower()]
    if seconds > MAX_SECONDS:
        raise DurationError(f"{text!r} is longer than 50 years")
    return seconds


def format_duration(seconds: float) -> str:
    """As people write it in the config: 72h, 14d, 90m (what `parse_duration` reads back)."""
    for unit, size, least in (("d", 86400, 7 * 86400), ("h", 3600, 3600), ("m", 60, 60)):
        if seconds >= least and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"
