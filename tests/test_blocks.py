"""Slack message builders: escaping, URL safety, Block Kit limits, and the console renderer."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest

from spyglass.delivery.blocks import (
    build_alert,
    build_notice,
    build_reply,
    build_search_results,
)
from spyglass.delivery.console import render_alert, render_search
from spyglass.delivery.mrkdwn import escape, link, plain, safe_url
from spyglass.models import HIT_END, HIT_START, AlertView, RelatedLink, SearchHit
from support.blockkit import block_kit_problems
from support.messages import mrkdwn_strings

NOW = datetime(2026, 11, 26, 13, 0, tzinfo=UTC)
PUBLISHED = datetime(2026, 11, 26, 12, 30, tzinfo=UTC)
STORY = "https://news.example/2026/11/alpr-cameras?id=7&ref=home"

LINK_RE = re.compile(r"<(https?://[^|<>]+)(?:\|([^<>]*))?>")
DATE_RE = re.compile(r"<!date\^-?\d+\^\{date_short(?:_pretty)?\}(?: \{time\})?\|[0-9: -]+UTC>")


def view(**kw: object) -> AlertView:
    base: dict[str, object] = dict(
        title="Council approves licence plate cameras",
        url=STORY,
        summary="The council voted to install 40 ALPR cameras.",
        provider="The Northern Echo",
        published=PUBLISHED,
        topics=("ALPR",),
        reasons=("licence plate cameras",),
    )
    base.update(kw)
    return AlertView(**base)  # type: ignore[arg-type]


def hit(**kw: object) -> SearchHit:
    base: dict[str, object] = dict(
        story_id=1,
        title="Police expand facial recognition",
        url="https://news.example/frt",
        provider="Echo",
        published=PUBLISHED,
        snippet=f"police use {HIT_START}facial recognition{HIT_END} vans",
        score=1.0,
    )
    base.update(kw)
    return SearchHit(**base)  # type: ignore[arg-type]


def residue(text: str) -> str:
    """What is left after removing the links and date tokens the builder is allowed to make."""
    return LINK_RE.sub("", DATE_RE.sub("", text))


def assert_no_control_sequences(message: dict) -> None:
    for text in mrkdwn_strings(message):
        rest = residue(text)
        assert "<" not in rest and ">" not in rest, text
    assert block_kit_problems(message["blocks"]) == []


# --------------------------------------------------------------------------- escape


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("<!channel>", "&lt;!channel&gt;"),
        ("<!here>", "&lt;!here&gt;"),
        ("<!everyone>", "&lt;!everyone&gt;"),
        ("<@U0123ABCD>", "&lt;@U0123ABCD&gt;"),
        ("<#C0123ABCD>", "&lt;#C0123ABCD&gt;"),
        ("<!subteam^S0123|@team>", "&lt;!subteam^S0123|@team&gt;"),
        ("<https://evil.example|click>", "&lt;https://evil.example|click&gt;"),
        ("<!date^0^{date}|x>", "&lt;!date^0^{date}|x&gt;"),
        ("&amp;", "&amp;amp;"),  # a literal "&amp;" in a story shows as "&amp;", not "&"
        ("&lt;!channel&gt;", "&amp;lt;!channel&amp;gt;"),
        ("Tom & Jerry", "Tom &amp; Jerry"),
        ("a\x00b\x07c\x1bd\x7fe\x9bf", "abcdef"),
        (f"a{HIT_START}b{HIT_END}c", "abc"),
        ("line one\nline two\ttab", "line one\nline two\ttab"),
        ("crlf\r\nline", "crlf\nline"),
        ("\u202eevil\u202c text \u2066iso\u2069", "evil text iso"),
        ("שלום עולם مرحبا", "שלום עולם مرحبا"),
        ("👩‍👩‍👧 🇬🇧 ✌🏽", "👩‍👩‍👧 🇬🇧 ✌🏽"),
        ("", ""),
    ],
)
def test_escape(raw: str, expected: str) -> None:
    assert escape(raw) == expected


def test_escape_keeps_markers_only_when_asked() -> None:
    assert escape(f"{HIT_START}x{HIT_END}<", keep_markers=True) == f"{HIT_START}x{HIT_END}&lt;"


# --------------------------------------------------------------------------- safe_url


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("https://news.example/a?b=1&c=2#x", "https://news.example/a?b=1&c=2#x"),
        ("HTTP://News.Example/a", "http://News.Example/a"),
        ("  https://news.example/a  ", "https://news.example/a"),
        ("https://news.example/a|b", "https://news.example/a%7Cb"),
        ("https://news.example/a>b<c", "https://news.example/a%3Eb%3Cc"),
        ("https://news.example/a b", "https://news.example/a%20b"),
        ('https://news.example/"q"\'s', "https://news.example/%22q%22%27s"),
        ("https://news.example/über", "https://news.example/%C3%BCber"),
        ("https://bücher.example/", "https://xn--bcher-kva.example/"),
        ("https://news.example/a\nb\tc\x00", "https://news.example/a%0Ab%09c%00"),
        ("https://news.example/%20ok%zz", "https://news.example/%20ok%25zz"),
        ("https://news.example/?x=&lt;y", "https://news.example/?x=%26lt;y"),
        ("javascript:alert(1)", None),
        ("JaVaScRiPt:alert(1)", None),
        ("data:text/html,<script>", None),
        ("vbscript:x", None),
        ("ftp://files.example/x", None),
        ("//news.example/a", None),
        ("news.example/a", None),
        ("https://", None),
        ("https:///path", None),
        ("https://a.example\\@b.example/", None),
        ("https://a b.example/", None),
        ("https://a|b.example/", None),
        ("", None),
    ],
)
def test_safe_url(raw: str, expected: str | None) -> None:
    assert safe_url(raw) == expected


def test_safe_url_length_cap() -> None:
    ok = "https://news.example/" + "a" * (3000 - len("https://news.example/"))
    assert safe_url(ok) == ok
    assert safe_url(ok + "a") is None
    # Encoding expands: 1000 "|" are 3000 characters once encoded.
    assert safe_url("https://news.example/" + "|" * 1000) is None


@pytest.mark.parametrize(
    "raw",
    [
        "https://x.example/a|b>c",
        "https://x.example/<!channel>",
        "https://x.example/ |label",
        "http://x.example/\u202e",
    ],
)
def test_safe_url_cannot_end_a_link(raw: str) -> None:
    out = safe_url(raw)
    assert out is not None
    assert not set(out) & set("|<> \"'\u202e")
    assert out.isascii() and out.isprintable()


# --------------------------------------------------------------------------- link / plain


@pytest.mark.parametrize(
    ("url", "text", "expected"),
    [
        ("https://a.example/", "Title", "<https://a.example/|Title>"),
        ("https://a.example/", "A | B", "<https://a.example/|A \u2223 B>"),
        ("https://a.example/", "x>y<z", "<https://a.example/|x&gt;y&lt;z>"),
        ("https://a.example/", "<!here>", "<https://a.example/|&lt;!here&gt;>"),
        ("https://a.example/", "multi\nline\ttitle", "<https://a.example/|multi line title>"),
        ("javascript:alert(1)", "Click <me>", "Click &lt;me&gt;"),
        ("", "No URL", "No URL"),
        ("https://a.example/|evil.example", "x", "<https://a.example/%7Cevil.example|x>"),
    ],
)
def test_link(url: str, text: str, expected: str) -> None:
    assert link(url, text) == expected


def test_plain_strips_and_truncates() -> None:
    assert plain("a\u202eb\x1b\nc", 150) == "ab c"
    long = plain("word " * 100, 150)
    assert len(long) <= 150 and long.endswith("…")
    assert len(plain("x" * 400, 75)) <= 75


# --------------------------------------------------------------------------- build_alert


def test_alert_shape_and_story_link_first() -> None:
    message = build_alert(view(), now=NOW)
    assert message["unfurl_links"] is False and message["unfurl_media"] is False
    assert message["text"].startswith(f"<{STORY}|Council approves licence plate cameras>")
    assert message["text"].endswith(" — The Northern Echo")
    blocks = message["blocks"]
    # The title once: linked and bold at the top of the first section, then the summary.
    assert blocks[0]["type"] == "section"
    assert blocks[0]["text"]["text"].startswith(f"*<{STORY}|Council approves licence plate cameras>*\n")
    assert json.dumps(blocks).count("Council approves licence plate cameras") == 1
    assert not any(b["type"] == "header" for b in blocks)
    context = blocks[1]["elements"][0]["text"]
    assert context.startswith("*The Northern Echo* · <!date^")
    assert f"^{int(PUBLISHED.timestamp())}^" in context and "2026-11-26 12:30 UTC" in context
    assert "ALPR" in context
    dumped = json.dumps(blocks)
    assert "The council voted to install 40 ALPR cameras." in dumped
    assert "Why it matched" in dumped and "licence plate cameras" in dumped
    buttons = [el for b in blocks if b["type"] == "actions" for el in b["elements"]]
    assert buttons == [
        {
            "type": "button",
            "text": {"type": "plain_text", "text": "Read story", "emoji": True},
            "url": STORY,
            "action_id": "read_story",
        }
    ]
    assert block_kit_problems(blocks) == []


def test_alert_first_url_in_text_and_blocks_is_the_story() -> None:
    related = tuple(RelatedLink(f"Other {i}", f"https://other{i}.example/s", f"Outlet {i}") for i in range(3))
    message = build_alert(view(related=related, image="https://img.example/p.jpg"), now=NOW)
    first_in_text = re.search(r"https?://[^\s|>\"]+", message["text"])
    first_in_blocks = re.search(r"https?://[^\s|>\"]+", json.dumps(message["blocks"]))
    assert first_in_text and first_in_text.group(0) == STORY
    assert first_in_blocks and first_in_blocks.group(0) == STORY
    assert "other" not in message["text"]


def test_alert_escapes_every_untrusted_field() -> None:
    evil = "<!channel> <@U0123ABCD> <https://evil.example|click> <!subteam^S1|@t> \u202e"
    message = build_alert(
        view(
            title=evil,
            summary=evil,
            provider=evil,
            topics=(evil,),
            reasons=(evil,),
            related=(RelatedLink(evil, "https://rel.example/x", evil),),
        ),
        now=NOW,
    )
    assert_no_control_sequences(message)
    for text in mrkdwn_strings(message):
        assert "<https://evil" not in text and "<!" not in DATE_RE.sub("", text) and "<@" not in text
        assert "\u202e" not in text
    assert "\u202e" not in json.dumps(message, ensure_ascii=False)


def shown_title(message: dict) -> str:
    """The title as the alert shows it: the label of the bold link opening the first section."""
    first_line = message["blocks"][0]["text"]["text"].split("\n", 1)[0]
    m = re.fullmatch(r"\*<[^|>]+\|(.*)>\*", first_line) or re.fullmatch(r"\*(.*)\*", first_line)
    assert m, first_line
    return m.group(1)


def test_alert_limits_long_fields() -> None:
    message = build_alert(view(title="T" * 50 + " word" * 70, summary="lorem ipsum " * 420), now=NOW)
    blocks = message["blocks"]
    assert 0 < len(shown_title(message)) <= 300 and shown_title(message).endswith("…")
    summary = next(b["text"]["text"] for b in blocks if "lorem" in b.get("text", {}).get("text", ""))
    body = summary.split("\n", 1)[1]
    assert len(body) <= 700 and body.endswith("…") and body.rstrip("…").endswith("ipsum")
    assert block_kit_problems(blocks) == []


@pytest.mark.parametrize(
    "title",
    [
        "👨‍👩‍👧‍👦" * 60,  # ZWJ family sequences
        "🇬🇧🇺🇸🇫🇷" * 60,  # flags (regional indicator pairs)
        "تقنية التعرف على الوجه " * 20 + "\u202e reversed \u202c",
        "מצלמות זיהוי פנים \u2067isolate\u2069 " * 20,
        "✌🏽 " * 200,
    ],
)
def test_alert_unicode_titles(title: str) -> None:
    message = build_alert(view(title=title, summary=title), now=NOW)
    header = shown_title(message)
    assert 0 < len(header) <= 300
    assert not re.search("[\u202a-\u202e\u2066-\u2069]", json.dumps(message, ensure_ascii=False))
    assert not header.rstrip("…").endswith("\u200d")
    assert message["text"].startswith(f"<{STORY}|")
    assert_no_control_sequences(message)


def test_alert_flag_not_split_in_half() -> None:
    header = shown_title(build_alert(view(title="🇬🇧" * 200), now=NOW))
    flags = header.rstrip("…")
    assert flags and header.endswith("…")
    assert len(flags) % 2 == 0 and flags == "🇬🇧" * (len(flags) // 2)


def test_alert_unsafe_url_has_no_link_or_button() -> None:
    message = build_alert(view(url="javascript:alert(1)", image="data:image/png;base64,xx"), now=NOW)
    assert message["text"].startswith("Council approves")
    dumped = json.dumps(message)
    assert "javascript" not in dumped and "data:image" not in dumped
    assert all(b["type"] != "actions" for b in message["blocks"])
    assert_no_control_sequences(message)


def test_alert_image_accessory_only_when_safe() -> None:
    message = build_alert(view(image="https://img.example/a b.jpg"), now=NOW)
    accessories = [b["accessory"] for b in message["blocks"] if "accessory" in b]
    assert accessories == [
        {"type": "image", "image_url": "https://img.example/a%20b.jpg", "alt_text": view().title}
    ]


def test_alert_empty_fields_never_make_empty_text() -> None:
    message = build_alert(view(title="", summary="", provider="", topics=(), reasons=()), now=NOW)
    assert block_kit_problems(message["blocks"]) == []
    assert shown_title(message) == "(untitled story)"
    assert message["text"].startswith(f"<{STORY}|(untitled story)>")


def test_alert_future_date_is_clamped_to_now() -> None:
    message = build_alert(view(published=NOW + timedelta(days=3)), now=NOW)
    assert f"^{int(NOW.timestamp())}^" in message["blocks"][1]["elements"][0]["text"]


def test_alert_naive_published_is_utc() -> None:
    message = build_alert(view(published=PUBLISHED.replace(tzinfo=None)), now=NOW)
    assert "2026-11-26 12:30 UTC" in message["blocks"][1]["elements"][0]["text"]


# --------------------------------------------------------------------------- related


def related_text(message: dict) -> str:
    return next(
        b["text"]["text"] for b in message["blocks"] if "Also covered by" in b.get("text", {}).get("text", "")
    )


def test_related_order_escaping_and_provider() -> None:
    related = (
        RelatedLink("First <!here>", "https://one.example/a", "One & Co"),
        RelatedLink("Second | pipe", "https://two.example/b", ""),
        RelatedLink("Unsafe", "javascript:alert(1)", "Three"),
    )
    text = related_text(build_alert(view(related=related), now=NOW))
    assert text.split("\n")[1:] == [
        "• <https://one.example/a|First &lt;!here&gt;> — One &amp; Co",
        "• <https://two.example/b|Second \u2223 pipe>",
        "• Unsafe — Three",
    ]


def test_related_cap_and_dedupe() -> None:
    related = tuple(RelatedLink(f"R{i}", f"https://r{i}.example/", "P") for i in range(20))
    related += (
        RelatedLink("Same as story", STORY, "Dup"),
        RelatedLink("R0 again", "https://r0.example/", "P"),
    )
    text = related_text(build_alert(view(related=related), now=NOW))
    items = [line for line in text.split("\n") if line.startswith("•")]
    assert [re.search(r"<https://(r\d+)\.", i).group(1) for i in items] == [f"r{i}" for i in range(8)]  # type: ignore[union-attr]
    assert text.endswith("…and 12 more")
    assert "Same as story" not in text and "R0 again" not in text


def test_related_total_within_section_limit() -> None:
    related = tuple(
        RelatedLink("t" * 500, f"https://r.example/{i}/" + "x" * 900, "p" * 500) for i in range(8)
    )
    message = build_alert(view(related=related), now=NOW)
    assert block_kit_problems(message["blocks"]) == []
    text = related_text(message)
    assert len(text) <= 3000
    assert text.count("<https://r.example/") == 2 and text.endswith("…and 6 more")


def test_related_huge_url_shown_without_link() -> None:
    related = (
        RelatedLink("Huge", "https://r.example/" + "x" * 2900, "P"),
        RelatedLink("Small", "https://s.example/", "Q"),
    )
    text = related_text(build_alert(view(related=related), now=NOW))
    assert text.split("\n")[1:] == ["• Huge — P", "• <https://s.example/|Small> — Q"]


# --------------------------------------------------------------------------- reply


def test_reply() -> None:
    message = build_reply(view(provider="BBC <!channel>", title="Same | story"))
    assert message["text"] == f"Also covered by BBC &lt;!channel&gt;: <{STORY}|Same \u2223 story>"
    assert message["unfurl_links"] is False and message["unfurl_media"] is False
    assert_no_control_sequences(message)
    assert build_reply(view(provider=""))["text"].startswith("Also covered by another outlet: <")


def test_reply_with_huge_url_keeps_link_whole() -> None:
    url = "https://news.example/" + "z" * 2970
    message = build_reply(view(url=url, title="t " * 200, provider="p" * 300))
    assert message["text"].startswith("Also covered by ") and f"<{url}|" in message["text"]
    buttons = [e for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert [b["url"] for b in buttons] == [url]
    assert_no_control_sequences(message)


# --------------------------------------------------------------------------- search


def test_search_results_bold_markers_and_full_url() -> None:
    message = build_search_results("facial recognition", [hit()], total=1)
    assert message["response_type"] == "ephemeral"
    dumped = json.dumps(message)
    assert "https://news.example/frt" in message["text"]
    body = message["blocks"][1]["text"]["text"]
    assert "police use *facial recognition* vans" in body
    assert "<https://news.example/frt|Police expand facial recognition>" in body
    assert "Echo" in body and "<!date^" in body
    assert "\\u0002" not in dumped and "\\u0003" not in dumped
    assert block_kit_problems(message["blocks"]) == []


def test_search_injected_markers_in_title_and_provider_are_not_bold() -> None:
    h = hit(title=f"{HIT_START}Fake{HIT_END} <!channel>", provider=f"{HIT_START}P{HIT_END}")
    body = build_search_results("x", [h])["blocks"][1]["text"]["text"]
    assert "*Fake*" not in body and "Fake &lt;!channel&gt;" in body
    assert "*P*" not in body


def test_search_snippet_escaped_before_markers() -> None:
    h = hit(snippet=f"a <@U1> {HIT_START}<b>{HIT_END} stray{HIT_END} {HIT_START}open")
    body = build_search_results("x", [h])["blocks"][1]["text"]["text"]
    assert "a &lt;@U1&gt; *&lt;b&gt;* stray open" in body
    assert_no_control_sequences(build_search_results("x", [h]))


def test_search_caps_hits_and_reports_total() -> None:
    hits = [hit(story_id=i, url=f"https://n.example/{i}") for i in range(25)]
    message = build_search_results("cams", hits, total=25)
    assert len(message["blocks"]) == 11
    assert "25 stories match `cams`" in message["text"] and "top 10" in message["text"]
    for i in range(10):
        assert f"https://n.example/{i}" in message["text"]
    assert "https://n.example/10" not in json.dumps(message)
    assert block_kit_problems(message["blocks"]) == []


def test_search_query_cannot_close_code_span_or_ping() -> None:
    message = build_search_results("a` <!here> `b", [])
    assert message["text"].startswith("No stories match `a' &lt;!here&gt; 'b`.")
    assert_no_control_sequences(message)


def test_search_empty_suggests_broader_query() -> None:
    message = build_search_results('"face recognition" since:7d', [])
    assert message["response_type"] == "ephemeral"
    text = message["text"]
    assert text.startswith('No stories match `"face recognition" since:7d`.')
    assert "fewer words" in text and "quotes" in text and "since:" in text
    assert block_kit_problems(message["blocks"]) == []


def test_search_long_url_still_in_full() -> None:
    url = "https://n.example/" + "y" * 2950
    message = build_search_results("x", [hit(url=url, title="t" * 400)])
    assert url in message["text"]
    assert message["blocks"][1]["accessory"]["url"] == url
    assert block_kit_problems(message["blocks"]) == []


def test_notice() -> None:
    assert build_notice("Subscribed to *ALPR*.") == {
        "response_type": "ephemeral",
        "text": "Subscribed to *ALPR*.",
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "Subscribed to *ALPR*."}}],
    }
    assert build_notice("")["blocks"] == []


def test_long_notice_is_split_on_lines() -> None:
    lines = [f"• <https://x.example/{i}|item {i}> " + "w" * 80 for i in range(100)]
    message = build_notice("\n".join(lines))
    assert block_kit_problems(message["blocks"]) == []
    texts = [b["text"]["text"] for b in message["blocks"]]
    assert len(texts) > 1 and "\n".join(texts) == "\n".join(lines)


# --------------------------------------------------------------------------- the test oracle itself


def _text(n: int, kind: str = "mrkdwn") -> dict:
    return {"type": kind, "text": "x" * n}


@pytest.mark.parametrize(
    ("blocks", "fragment"),
    [
        ([{"type": "divider"}] * 51, "51 > 50"),
        ([{"type": "header", "text": _text(151, "plain_text")}], "151 > 150"),
        ([{"type": "header", "text": _text(10)}], "must be plain_text"),
        ([{"type": "section", "text": _text(3001)}], "3001 > 3000"),
        ([{"type": "section", "text": _text(0)}], "empty text"),
        ([{"type": "section", "text": {"type": "mrkdwn", "text": "  "}}], "empty text"),
        ([{"type": "section"}], "needs text or fields"),
        ([{"type": "section", "fields": [_text(5)] * 11}], "11 > 10"),
        ([{"type": "section", "fields": [_text(2001)]}], "2001 > 2000"),
        ([{"type": "context", "elements": [_text(1)] * 11}], "11 not in 1..10"),
        ([{"type": "context", "elements": []}], "0 not in 1..10"),
        (
            [
                {
                    "type": "actions",
                    "elements": [{"type": "button", "text": _text(76, "plain_text"), "url": "u"}],
                }
            ],
            "76 > 75",
        ),
        (
            [
                {
                    "type": "actions",
                    "elements": [{"type": "button", "text": _text(5, "plain_text"), "url": "u" * 3001}],
                }
            ],
            "longer than 3000",
        ),
        ([{"type": "image", "image_url": "https://x/", "alt_text": ""}], "alt_text"),
        (
            [{"type": "section", "text": _text(1), "block_id": "a"}, {"type": "divider", "block_id": "a"}],
            "duplicate",
        ),
        ([{"type": "marquee"}], "unsupported block type"),
    ],
)
def test_the_block_kit_oracle_reports_violations(blocks: list, fragment: str) -> None:
    errors = block_kit_problems(blocks)
    assert errors and any(fragment in e for e in errors), errors


# --------------------------------------------------------------------------- console


def test_console_alert() -> None:
    related = (RelatedLink("Other take", "https://o.example/1", "Other"),)
    out = render_alert(view(related=related, summary="word " * 40), channel="#alerts")
    lines = out.split("\n")
    assert lines[0] == "[#alerts] Council approves licence plate cameras"
    assert lines[1] == "The Northern Echo · 2026-11-26 12:30 UTC · ALPR"
    assert lines[2] == 'why: "licence plate cameras"'
    assert all(len(line) <= 78 for line in lines[3:-3])
    assert STORY in lines
    assert lines[-2:] == ["also covered by:", "  - Other take — Other  https://o.example/1"]


@pytest.mark.parametrize(
    "evil",
    [
        "\x1b[2J\x1b[H",  # clear screen, cursor home
        "\x1b[31mred\x1b[0m",
        "\x1b]0;new window title\x07",
        "\x1b]8;;https://evil.example\x1b\\link\x1b]8;;\x1b\\",
        "\x9b31m",  # C1 CSI
        "\x1bc",  # full reset
        "\r\x08\x08overwrite",
        "\u202eevil\u2066",
    ],
)
def test_console_strips_terminal_control_sequences(evil: str) -> None:
    v = view(
        title=f"T{evil}",
        summary=f"S{evil}",
        provider=f"P{evil}",
        topics=(evil,),
        reasons=(evil,),
        related=(RelatedLink(evil, "https://o.example/", evil),),
    )
    out = render_alert(v) + render_search(evil, [hit(title=evil, provider=evil, snippet=evil)])
    assert not re.search("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]", out)
    assert "new window title" not in out and "evil.example" not in out


def test_console_search() -> None:
    out = render_search(
        "facial", [hit(), hit(story_id=2, url="javascript:x", snippet=f"{HIT_START}x{HIT_END}y{HIT_END}")]
    )
    lines = out.split("\n")
    assert lines[0] == '2 results for "facial":'
    assert lines[1] == " 1. Police expand facial recognition"
    assert lines[2] == "    Echo · 2026-11-26"
    assert lines[3] == "    https://news.example/frt"
    assert lines[4] == "    police use [facial recognition] vans"
    assert "javascript:x" in out and "(unsafe link" in out and "[x]y" in out
    assert render_search("nothing", []).startswith('No stories match "nothing".')


def test_feed_formatting_markers_and_mentions_stay_literal() -> None:
    message = build_alert(
        view(
            summary="Police *really* _quietly_ ~dropped~ `the` plan; ask <@U123>.",
            reasons=("face against ~ banned", "=Flock"),
        ),
        now=NOW,
    )
    dumped = json.dumps(message, ensure_ascii=False)
    for formatted in ("*really*", "_quietly_", "~dropped~", "`the`"):
        assert formatted not in dumped, formatted
    assert "really" in dumped and "quietly" in dumped
    assert "&lt;@U123&gt;" in dumped and "<@U123>" not in dumped  # shown, never a ping, never deleted
    why = next(
        b["text"]["text"] for b in message["blocks"] if "Why it matched" in b.get("text", {}).get("text", "")
    )
    assert "~" not in why and "=" not in why and "face against … banned" in why and "Flock" in why


def test_console_why_has_no_matcher_syntax() -> None:
    out = render_alert(view(reasons=("face against ~ banned", "=Flock")))
    assert "~" not in out and '"=Flock"' not in out and "face against … banned" in out
