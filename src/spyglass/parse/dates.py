"""Dates as feeds and front matter really write them → aware UTC datetimes, or None.

feedparser's date parser (RFC 822 and its many mistakes, ISO 8601, W3C-DTF, several languages) does
the work. In front of it sit the repairs for forms it reads wrongly or not at all, seen in real
feeds: a 12-hour clock (`Sat, Dec 16 2023 02:02:33 PM`, where it drops the PM), a one-digit minute
offset (`+00:0`) and Romance/German day and month names (`Seg, 24 Set 2018`). A date nobody can
read is None: the caller decides what an undated story means, never "now" in disguise.
"""

from __future__ import annotations

import calendar
import re
import time
from datetime import UTC, date, datetime

from feedparser.datetimes import _parse_date as _feedparser_date

_AMPM = re.compile(r"\b(\d{1,2}):(\d{2})(:\d{2})?\s*([AaPp])\.?[Mm]\.?(?=\s|$)")
_SHORT_OFFSET = re.compile(r"([+-]\d{2}):?(\d)$")
# Day and month names of the languages news feeds most often use besides English.
_NAMES = {
    # Portuguese
    "seg": "Mon",
    "ter": "Tue",
    "qua": "Wed",
    "qui": "Thu",
    "sex": "Fri",
    "sáb": "Sat",
    "sab": "Sat",
    "dom": "Sun",
    "fev": "Feb",
    "abr": "Apr",
    "mai": "May",
    "ago": "Aug",
    "set": "Sep",
    "out": "Oct",
    "dez": "Dec",
    "janeiro": "Jan",
    "fevereiro": "Feb",
    "março": "Mar",
    "marco": "Mar",
    "maio": "May",
    "junho": "Jun",
    "julho": "Jul",
    "agosto": "Aug",
    "setembro": "Sep",
    "outubro": "Oct",
    "novembro": "Nov",
    "dezembro": "Dec",
    # Spanish
    "lun": "Mon",
    "mié": "Wed",
    "mie": "Wed",
    "jue": "Thu",
    "vie": "Fri",
    "ene": "Jan",
    "dic": "Dec",
    "enero": "Jan",
    "febrero": "Feb",
    "marzo": "Mar",
    "abril": "Apr",
    "mayo": "May",
    "junio": "Jun",
    "julio": "Jul",
    "septiembre": "Sep",
    "octubre": "Oct",
    "noviembre": "Nov",
    "diciembre": "Dec",
    # French
    "lundi": "Mon",
    "mardi": "Tue",
    "mercredi": "Wed",
    "jeudi": "Thu",
    "vendredi": "Fri",
    "samedi": "Sat",
    "dimanche": "Sun",
    "janv": "Jan",
    "févr": "Feb",
    "fevr": "Feb",
    "avr": "Apr",
    "juin": "Jun",
    "juil": "Jul",
    "août": "Aug",
    "aout": "Aug",
    "sept": "Sep",
    "déc": "Dec",
    "janvier": "Jan",
    "février": "Feb",
    "mars": "Mar",
    "avril": "Apr",
    "juillet": "Jul",
    "septembre": "Sep",
    "octobre": "Oct",
    "novembre": "Nov",
    "décembre": "Dec",
    # German
    "mo": "Mon",
    "di": "Tue",
    "mi": "Wed",
    "do": "Thu",
    "fr": "Fri",
    "sa": "Sat",
    "so": "Sun",
    "mär": "Mar",
    "mrz": "Mar",
    "okt": "Oct",
    "januar": "Jan",
    "februar": "Feb",
    "märz": "Mar",
    "juni": "Jun",
    "juli": "Jul",
    "oktober": "Oct",
    "dezember": "Dec",
}
_WORD = re.compile(r"[^\W\d_]+\.?", re.U)
# `Dec 16 2023` (month first, US style) → `16 Dec 2023`, which RFC 822 parsers read.
_NO_ZONE = re.compile(r"\d{1,2}:\d{2}(?::\d{2})?$")
_MONTH_FIRST = re.compile(r"\b([A-Za-z]{3,9})\.?\s+(\d{1,2}),?\s+(\d{4})\b")


def _english(text: str) -> str:
    def swap(m: re.Match[str]) -> str:
        word = m.group(0).rstrip(".")
        return _NAMES.get(word.casefold(), m.group(0))

    return _WORD.sub(swap, text)


def _twelve_hour(m: re.Match[str]) -> str:
    hour = int(m.group(1)) % 12 + (12 if m.group(4).lower() == "p" else 0)
    return f"{hour:02d}:{m.group(2)}{m.group(3) or ':00'}"


def _from_struct(parsed: time.struct_time | None) -> datetime | None:
    if parsed is None:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(parsed), UTC)
    except (OverflowError, ValueError, OSError):
        return None


def parse_date(raw: object) -> datetime | None:
    """Any date a feed or front matter gives → aware UTC, or None when it cannot be read."""
    if isinstance(raw, datetime):
        return raw.replace(tzinfo=UTC) if raw.tzinfo is None else raw.astimezone(UTC)
    if isinstance(raw, date):
        return datetime(raw.year, raw.month, raw.day, tzinfo=UTC)
    if isinstance(raw, time.struct_time):
        return _from_struct(raw)
    if not isinstance(raw, str):
        return None
    text = " ".join(raw.split())[:100]
    if not text:
        return None
    try:  # ISO 8601 first: the common case, and exact
        iso = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        return iso.replace(tzinfo=UTC) if iso.tzinfo is None else iso.astimezone(UTC)
    except ValueError:
        pass
    repaired = _SHORT_OFFSET.sub(lambda m: f"{m.group(1)}:{m.group(2)}0", text)
    repaired = _AMPM.sub(_twelve_hour, repaired)
    english = _english(repaired)
    candidates = [repaired, english, _MONTH_FIRST.sub(r"\2 \1 \3", english)]
    if _NO_ZONE.search(candidates[-1]):  # a bare clock time is UTC (feedparser refuses it after a weekday)
        candidates.append(candidates[-1] + " GMT")
    for candidate in dict.fromkeys(candidates):
        when = _from_struct(_feedparser_date(candidate))
        if when is not None:
            return when
    return None
