"""Property tests: whatever a feed sends, our Slack messages cannot ping, link elsewhere, or break limits."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from spyglass.delivery.blocks import build_alert, build_reply, build_search_results
from spyglass.delivery.console import render_alert, render_search
from spyglass.delivery.mrkdwn import escape, link, safe_url
from spyglass.models import HIT_END, HIT_START, AlertView, RelatedLink, SearchHit
from support.blockkit import block_kit_problems
from support.messages import mrkdwn_strings

SETTINGS = settings(max_examples=200, deadline=None)

SPECIAL = [
    "<!channel>",
    "<!here>",
    "<!everyone>",
    "<@U0123ABCD>",
    "<#C0123ABCD>",
    "<!subteam^S0123|@team>",
    "<https://evil.example|click>",
    "<!date^1^{date}|x>",
    "&amp;",
    "&lt;!here&gt;",
    "|",
    ">",
    "<",
    "*",
    "`",
    "\x1b[31m",
    "\u202e",
    "\u2066",
    HIT_START,
    HIT_END,
    "👨‍👩‍👧‍👦",
    "🇬🇧",
    "مرحبا",
    "שלום",
    "\n",
]

# Text from the full code-point range (controls included) mixed with the known-dangerous strings.
untrusted = st.lists(
    st.one_of(st.text(max_size=40), st.sampled_from(SPECIAL)),
    max_size=12,
).map("".join)
long_untrusted = st.one_of(untrusted, untrusted.map(lambda s: s * 200))

urls = st.one_of(
    st.from_regex(r"\A(?i:https?)://[a-z0-9.-]{1,30}(/[^\s]{0,60})?\Z"),
    st.builds(
        lambda host, path: f"https://{host}/{path}", st.from_regex(r"\A[a-z]{1,12}\.example\Z"), untrusted
    ),
    st.sampled_from(
        [
            "javascript:alert(1)",
            "data:text/html,<b>",
            "https://a.example/|<!channel>",
            "https://a.example/>x",
            "https://evil.example|click",
            "https://bücher.example/ö",
            "https://x.example/" + "a" * 2990,
            "https://x.example/" + "|" * 1500,
            "",
        ]
    ),
    untrusted,
)
dates = st.datetimes(
    min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
) | st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1))
related = st.lists(st.builds(RelatedLink, untrusted, urls, untrusted), max_size=12)

alert_views = st.builds(
    AlertView,
    title=long_untrusted,
    url=urls,
    summary=long_untrusted,
    provider=untrusted,
    published=dates,
    topics=st.lists(untrusted, max_size=5).map(tuple),
    reasons=st.lists(untrusted, max_size=5).map(tuple),
    image=urls,
    related=related.map(tuple),
)
hits = st.builds(
    SearchHit,
    story_id=st.integers(0, 10**6),
    title=long_untrusted,
    url=urls,
    provider=untrusted,
    published=dates,
    snippet=long_untrusted,
    score=st.floats(allow_nan=False),
)

DATE_RE = re.compile(
    r"<!date\^-?\d+\^\{date_short(?:_pretty)?\}(?: \{time\})?\|\d{4}-\d\d-\d\d \d\d:\d\d UTC>"
)
LINK_RE = re.compile(r"<([^|<>]*)(?:\|([^<>]*))?>")


def assert_safe(message: dict, input_urls: list[str]) -> None:
    allowed = {u for u in (safe_url(x) for x in input_urls) if u is not None}
    for text in mrkdwn_strings(message):
        without_dates = DATE_RE.sub("", text)
        for m in LINK_RE.finditer(without_dates):
            # Every remaining <...> must be a link we made: target is safe_url output of an input URL.
            assert m.group(1) in allowed, (m.group(0), text)
            assert "|" not in (m.group(2) or ""), m.group(0)
        rest = LINK_RE.sub("", without_dates)
        assert "<" not in rest and ">" not in rest, text
        for bad in ("<!", "<@", "<#"):
            assert bad not in without_dates, text
        assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]", text), text
    assert block_kit_problems(message["blocks"]) == []
    json.dumps(message)  # serializable as-is


def first_url(text: str) -> str | None:
    m = re.search(r"<(https?://[^|>]+)", text)
    return m.group(1) if m else None


@SETTINGS
@given(alert_views, dates)
def test_alert_is_safe_and_within_limits(view: AlertView, now: datetime) -> None:
    message = build_alert(view, now=now)
    assert_safe(message, [view.url, view.image, *(r.url for r in view.related)])
    story = safe_url(view.url)
    if story is not None:
        assert message["text"].startswith(f"<{story}|")
        buttons = [e for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]]
        assert [e["url"] for e in buttons] == [story]
    else:
        assert first_url(message["text"]) is None  # a related link never stands in for the story
    assert message["unfurl_links"] is False and message["unfurl_media"] is False


@SETTINGS
@given(alert_views)
def test_story_link_precedes_related_links_in_blocks(view: AlertView) -> None:
    story = safe_url(view.url)
    message = build_alert(view, now=datetime(2100, 1, 1, tzinfo=UTC))
    mrkdwn = "\n".join(mrkdwn_strings(message)[1:])
    first = first_url(mrkdwn)
    if story is not None and first is not None:
        assert first == story


@SETTINGS
@given(alert_views)
def test_reply_is_safe(view: AlertView) -> None:
    message = build_reply(view)
    assert message["text"].startswith("Also covered by ")
    assert_safe(message, [view.url])


@SETTINGS
@given(untrusted, st.lists(hits, max_size=15), st.none() | st.integers(0, 10**6))
def test_search_results_are_safe(query: str, found: list[SearchHit], total: int | None) -> None:
    message = build_search_results(query, found, total=total)
    assert message["response_type"] == "ephemeral"
    assert_safe(message, [h.url for h in found])
    everything = json.dumps(message, ensure_ascii=False)
    for h in found[:10]:
        url = safe_url(h.url)
        if url is not None:
            assert url in everything
    assert HIT_START not in everything and HIT_END not in everything


@SETTINGS
@given(untrusted)
def test_escape_output_has_no_angle_brackets_or_controls(text: str) -> None:
    out = escape(text)
    assert "<" not in out and ">" not in out
    assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]", out)
    # `&` only ever starts one of the three entities we produce.
    assert re.fullmatch(r"(?:[^&]|&amp;|&lt;|&gt;)*", out, re.S)


@SETTINGS
@given(urls, untrusted)
def test_link_is_one_well_formed_link(url: str, text: str) -> None:
    out = link(url, text)
    target = safe_url(url)
    if target is None:
        assert "<" not in out and ">" not in out
    else:
        assert out.startswith(f"<{target}") and out.endswith(">")
        inner = out[1:-1]
        assert "<" not in inner and ">" not in inner and inner.count("|") <= 1


@SETTINGS
@given(urls)
def test_safe_url_is_inert(url: str) -> None:
    out = safe_url(url)
    if out is not None:
        assert out.startswith(("http://", "https://"))
        assert len(out) <= 3000 and out.isascii() and out.isprintable()
        assert not set(out) & set("|<> \"'`\\")
        assert safe_url(out) == out  # idempotent


@SETTINGS
@given(alert_views, untrusted, st.lists(hits, max_size=12))
def test_console_output_has_no_terminal_controls(view: AlertView, query: str, found: list[SearchHit]) -> None:
    out = render_alert(view, channel="#c") + "\n" + render_search(query, found)
    assert not re.search("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]", out)


def test_dates_far_apart_still_render() -> None:
    v = AlertView("t", "https://a.example/", "s", "p", datetime(1990, 1, 1, tzinfo=UTC), (), ())
    for now in (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(days=1), datetime(2100, 1, 1, tzinfo=UTC)):
        assert block_kit_problems(build_alert(v, now=now)["blocks"]) == []
