"""Real feeds' traps, each reproduced by a short feed in tests/fixtures/feeds/traps/ (written for these
tests, in the shapes seen on real news sites' feeds) and checked field by field against what a person
reading the feed would expect — never against either parser's own output."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from spyglass.parse import feed as feedmod
from spyglass.parse.feed import ParsedFeed, parse_feed

TRAPS = Path(__file__).parent / "fixtures" / "feeds" / "traps"
NOW = datetime(2026, 11, 26, tzinfo=UTC)
FETCHED = "https://fetched.example/feeds/news.xml"


def parse(name: str, base_url: str = FETCHED) -> ParsedFeed:
    return parse_feed((TRAPS / name).read_bytes(), source="s", base_url=base_url, now=NOW)


def by_title(feed: ParsedFeed) -> dict[str, object]:
    return {s.title: s for s in feed.stories}


def test_odd_date_forms_are_read_not_replaced_by_now() -> None:
    feed = parse("dates.xml")
    got = {s.title: (s.published, s.dated) for s in feed.stories}
    assert got == {
        "No comma after the weekday": (datetime(2011, 1, 11, 10, 0, tzinfo=UTC), True),
        "Full month name": (datetime(2012, 8, 12, 8, 30, tzinfo=UTC), True),
        "Twelve-hour clock": (datetime(2023, 12, 16, 14, 2, 33, tzinfo=UTC), True),  # PM kept
        "Only dcterms created": (datetime(2015, 6, 1, 12, 0, tzinfo=UTC), True),
        "Portuguese names": (datetime(2018, 9, 24, 13, 0, tzinfo=UTC), True),  # -0300
        "No date anyone can read": (NOW, False),  # first seen now, and marked undated
    }
    assert feed.undated == 1 and feed.undated_example == "sometime last week"


def test_one_digit_offset_minute() -> None:
    (story,) = parse("offset.atom").stories
    assert story.published == datetime(2019, 7, 10, 10, 0, tzinfo=UTC) and story.dated


def test_empty_self_closing_elements_swallow_nothing() -> None:
    feed = parse("self_closing.xml")
    got = [(s.title, s.original_url, s.published.day, s.guid) for s in feed.stories]
    assert got == [
        ("Council buys number-plate cameras", "https://empty.example/anpr", 4, "e-1"),
        ("Drone pilot scheme extended", "https://empty.example/drones", 5, "e-2"),
        ("Spyware found on phones", "https://empty.example/spyware", 6, ""),
        ("Body cameras for wardens", "https://empty.example/bodycams", 7, "e-4"),
    ]
    assert not feed.fast  # this shape is one the fast parser misreads


def test_google_alerts_links_are_the_stories_they_point_to() -> None:
    feed = parse("google_alerts.atom")
    first, second = feed.stories
    assert first.original_url == "https://www.northern.example.co.uk/news/lfr-vans/"
    assert first.url == "https://northern.example.co.uk/news/lfr-vans"  # the outlet's own URL identity
    assert first.title == "Police expand live facial recognition vans"  # <b> highlighting gone
    assert first.summary == "Officers will use facial recognition cameras in three towns & cities ..."
    assert first.provider == "northern.example.co.uk"  # not "Google Alert - facial recognition"
    assert first.provider_domain == "northern.example.co.uk"
    # An encoded target with its own query survives unwrapping, decoded exactly once.
    assert second.original_url == "https://sport.example.com/2024/03/stadium-cameras?id=7"


def test_google_news_titles_lose_the_outlet_and_the_outlet_comes_from_source() -> None:
    feed = parse("google_news.xml")
    got = [(s.title, s.provider, s.provider_domain, s.summary) for s in feed.stories]
    assert got == [
        ("Police to trial drones as first responders", "The Northern Echo", "thenorthernecho.co.uk", ""),
        ("Council drone surveillance plan - Q&A", "Coast News", "coastnews.example", ""),
    ]
    # The opaque article link is kept: decoding it would need a request to Google.
    assert feed.stories[0].original_url.startswith("https://news.google.com/rss/articles/CBMiAAAA")


def test_xml_base_resolves_relative_links_before_the_feed_link() -> None:
    got = [s.original_url for s in parse("xml_base.atom").stories]
    assert got == ["https://base.example/blog/2024/03/cameras", "https://entry.example/posts/drones"]


def test_an_empty_xml_base_means_the_documents_own_url() -> None:
    (story,) = parse("empty_base.atom").stories
    assert story.original_url == "https://fetched.example/news/relative"


def test_markup_text_and_bare_ampersands() -> None:
    stories = by_title(parse("markup.xml"))
    assert stories["Comparisons stay"].summary == "Scores: 5 < 6 and 7 > 3, said the report."  # type: ignore[attr-defined]
    assert stories["A huge srcset"].summary == "Plate readers are spreading."  # type: ignore[attr-defined]
    amp = stories["AT&T and Q&A with R&D"]  # not "AT&T;", "Q&A;", "R&D;"
    assert amp.summary == "Tom & Jerry & friends \u2019quoted\u2019"  # type: ignore[attr-defined]


def test_xhtml_content_is_read_whole() -> None:
    (story,) = parse("reddit_like.atom").stories
    assert story.summary == "Our city is adding license plate readers at every junction. [comments]"
    assert story.guid == "t3_abc"  # the id as written, not resolved against any URL
    assert story.provider == "/u/someone"


def test_itunes_image_and_entities_in_attributes() -> None:
    (story,) = parse("podcast.xml").stories
    assert story.image == "https://cdn.podcast.example/12.jpg?w=600&h=600"
    assert story.guid == "pod-12"


def test_feed_file_links_resolve_against_the_feeds_own_link_and_skips_are_counted() -> None:
    feed = parse("relative_file.xml", base_url=(TRAPS / "relative_file.xml").as_uri())
    assert [s.original_url for s in feed.stories] == ["https://saved.example/news/2024/cctv-upgrade"]
    assert feed.skipped == 2
    assert dict(feed.skips) == {"no http(s) link": 1, "link is not http(s)": 1}


def test_repeated_ids_within_a_feed_are_counted_as_skipped() -> None:
    item = "<item><title>T{i}</title><link>https://rep.example/{i}</link><guid>same</guid></item>"
    body = f'<rss version="2.0"><channel><title>R</title>{item.format(i=1)}{item.format(i=2)}</channel></rss>'
    feed = parse_feed(body.encode(), source="s", base_url=FETCHED, now=NOW)
    assert [s.title for s in feed.stories] == ["T1"]
    assert dict(feed.skips) == {"repeated id within the feed": 1}


@pytest.mark.skipif(feedmod._rs is None, reason="feedparser-rs is not installed on this platform")
@pytest.mark.parametrize("name", sorted(p.name for p in TRAPS.iterdir()))
def test_the_fast_path_never_loses_what_the_robust_parser_reads(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whichever parser reads a trap, the stories are the same, field by field."""
    body = (TRAPS / name).read_bytes()
    chosen = parse_feed(body, source="s", base_url=FETCHED, now=NOW)
    monkeypatch.setattr(feedmod, "_rs", None)
    robust = parse_feed(body, source="s", base_url=FETCHED, now=NOW)

    def fields(feed: ParsedFeed) -> list[tuple[object, ...]]:
        return [
            (s.url, s.original_url, s.title, s.summary, s.published, s.dated, s.guid, s.provider, s.image)
            for s in feed.stories
        ]

    assert fields(chosen) == fields(robust)
    assert not robust.fast


def test_entries_past_the_cap_are_counted_once_each() -> None:
    items = "<item><title>No link</title></item>" + "".join(
        f"<item><title>T{i}</title><link>https://cap.example/{i}</link></item>" for i in range(4)
    )
    body = f'<rss version="2.0"><channel><title>C</title>{items}</channel></rss>'.encode()
    feed = parse_feed(body, source="s", base_url=FETCHED, now=NOW, max_items=2)
    assert [s.title for s in feed.stories] == ["T0", "T1"]
    assert dict(feed.skips) == {"no http(s) link": 1, "more than 2 entries in one feed": 2}
