"""parse_feed on fixture files in tests/fixtures/feeds (RSS 0.91/1.0/2.0, Atom 0.3/1.0, broken input)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from spyglass.defaults import MAX_SUMMARY, MAX_TITLE
from spyglass.parse.feed import FeedError, ParsedFeed, parse_feed

FEEDS = Path(__file__).parent / "fixtures" / "feeds"
NOW = datetime(2024, 3, 10, 12, 0, tzinfo=UTC)
BASE = "https://feeds.example.org/path/feed.xml"


def load(name: str, **kwargs: object) -> ParsedFeed:
    opts: dict[str, object] = {"source": "test", "base_url": BASE, "now": NOW}
    opts.update(kwargs)
    return parse_feed((FEEDS / name).read_bytes(), **opts)  # type: ignore[arg-type]


def rss(items: str, *, title: str = "Gen") -> bytes:
    return (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>{title}</title>'
        f"{items}</channel></rss>"
    ).encode()


def test_rss091() -> None:
    feed = load("rss091.xml")
    assert feed.version.startswith("rss091")
    assert feed.title == "Old Wire News"
    assert [s.title for s in feed.stories] == [
        "Council approves ANPR cameras on ring road — again",
        "Café owners object to CCTV",
    ]
    first = feed.stories[0]
    assert first.summary == "The council voted 7–2 to extend number-plate recognition."
    assert first.original_url == "http://oldwire.example.com/2003/anpr.html"
    assert first.url == "https://oldwire.example.com/2003/anpr.html"
    assert first.published == NOW  # no dates in RSS 0.91
    assert first.provider == "Old Wire News" and first.provider_domain == "oldwire.example.com"
    assert first.source == "test" and first.guid == ""


def test_rss10_rdf() -> None:
    feed = load("rss10_rdf.xml")
    assert feed.version == "rss10" and feed.title == "RDF Surveillance Digest" and feed.bozo == ""
    a, b = feed.stories
    assert a.title == "Facial recognition trial extended"
    assert a.url == "https://rdf.example.org/items/1"
    assert a.published == datetime(2024, 3, 5, 9, 30, tzinfo=UTC)  # +01:00 converted to UTC
    assert a.provider == "Jane Reporter"  # dc:creator
    assert b.provider == "RDF Surveillance Digest"  # falls back to the feed title
    assert b.published == datetime(2024, 3, 4, 8, 0, tzinfo=UTC)


def test_rss20_cdata_media_creator_and_tracking() -> None:
    feed = load("rss20.xml")
    assert feed.version == "rss20"
    assert feed.title == "The Northern Echo & Friends"
    first = feed.stories[0]
    assert first.title == "Police roll out Clearview facial recognition & drones"  # CDATA HTML stripped
    assert first.summary == "The force said the software would be used “sparingly”."  # script dropped
    assert first.original_url == "https://www.northern.example.co.uk/news/123-police-clearview/?id=7"
    assert first.url == "https://northern.example.co.uk/news/123-police-clearview?id=7"
    assert "utm_" not in first.url + first.original_url
    assert first.guid == "northern-123"
    assert first.provider == "Sam Writer"
    assert first.provider_domain == "northern.example.co.uk"
    assert first.image == "https://images.northern.example.co.uk/123-thumb.jpg"  # media:thumbnail
    assert first.published == datetime(2024, 3, 5, 9, 15, tzinfo=UTC)
    assert first.published.tzinfo is not None


def test_rss20_relative_links_content_and_images() -> None:
    feed = load("rss20.xml")
    ring = feed.stories[1]
    # Resolved against the feed's own <link> (the site), not the URL the feed was fetched from.
    assert ring.original_url == "https://www.northern.example.co.uk/news/124-ring-footage"
    assert ring.summary.startswith("Full text about")  # content:encoded when there is no description
    assert ring.image == "https://images.northern.example.co.uk/124.jpg"  # media:content medium=image
    stingray = feed.stories[2]
    # A permalink GUID stands in for the missing <link>.
    assert stingray.original_url == "https://www.northern.example.co.uk/news/125-stingray"
    assert stingray.image == "https://images.northern.example.co.uk/125.png"  # image enclosure
    assert stingray.published == NOW


def test_items_without_usable_links_are_skipped() -> None:
    feed = load("rss20.xml")
    titles = [s.title for s in feed.stories]
    assert len(titles) == 3 and feed.skipped == 2
    assert not any("skipped" in t for t in titles)


def test_atom10_double_escaped_html_title() -> None:
    feed = load("atom10.xml")
    assert feed.version == "atom10" and feed.title == "Privacy Watch"
    pegasus, relative = feed.stories
    assert pegasus.title == 'EFF on "Pegasus" spyware: new findings'
    assert pegasus.summary == "Researchers found new infections."  # summary preferred over content
    assert pegasus.url == "https://privacywatch.example.net/2024/03/pegasus"  # rel=alternate, not enclosure
    assert pegasus.guid == "tag:privacywatch.example.net,2024:pegasus"
    assert pegasus.published == datetime(2024, 3, 6, 9, 0, tzinfo=UTC)  # published, not updated
    assert pegasus.provider == "Alex Analyst"
    # type="text": a literal "<tag>" is text, not markup.
    assert relative.title == "Plain title with a literal <tag> in it"
    assert relative.summary == "Content only, no summary."  # xhtml content
    assert relative.original_url == "https://privacywatch.example.net/2024/03/relative"  # the feed's <link>
    assert relative.published == datetime(2024, 3, 5, 9, 0, tzinfo=UTC)  # updated when no published


def test_atom03() -> None:
    feed = load("atom03.xml")
    assert feed.version == "atom03"
    (story,) = feed.stories
    assert story.title == "Atom 0.3 entry about CCTV"
    assert story.original_url == "http://legacy.example.org/2004/01/cctv"
    assert story.published == datetime(2004, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_malformed_xml_still_yields_items_with_bozo() -> None:
    feed = load("malformed.xml")
    assert feed.bozo and "\n" not in feed.bozo
    assert [s.title for s in feed.stories] == ["Smith & Wesson bodycams & more", "Second story about drones"]
    assert feed.stories[0].original_url == "https://sloppy.example.com/a?x=1&y=2"


def test_cp1252_declared_as_utf8_is_readable() -> None:
    feed = load("cp1252_declared_utf8.xml", headers={"Content-Type": "application/rss+xml; charset=utf-8"})
    (story,) = feed.stories
    assert story.title == "“Smart” cameras cost €500 – café owners’ view"
    assert "\ufffd" not in story.title
    assert "windows-1252" in feed.bozo


def test_no_encoding_declaration_defaults_to_utf8() -> None:
    expected = "Café “smart” cameras — 日本"
    assert load("no_encoding.xml").stories[0].title == expected
    # RFC 3023 says charset-less text/xml is US-ASCII; real feeds mean UTF-8.
    feed = load("no_encoding.xml", headers={"content-type": "text/xml"})
    assert feed.stories[0].title == expected and feed.bozo == ""


def test_header_charset_is_used() -> None:
    body = '<?xml version="1.0"?><rss version="2.0"><channel><title>L1</title><item><title>Caf\u00e9 story</title><link>https://l1.example/1</link></item></channel></rss>'.encode(
        "latin-1"
    )
    feed = parse_feed(
        body, source="s", base_url=BASE, headers={"Content-Type": "text/html; charset=ISO-8859-1"}, now=NOW
    )
    assert feed.stories[0].title == "Café story"


def test_html_page_is_not_a_feed() -> None:
    with pytest.raises(FeedError, match="^not a feed: looks like an HTML page$"):
        load("page.html", headers={"content-type": "text/html; charset=utf-8"})


@pytest.mark.parametrize("body", [b"", b"   \n\t  "])
def test_empty_body(body: bytes) -> None:
    with pytest.raises(FeedError, match="^empty body$"):
        parse_feed(body, source="s", base_url=BASE)


def test_json_and_junk_are_not_feeds() -> None:
    with pytest.raises(FeedError, match="looks like JSON"):
        parse_feed(b'{"version": "https://jsonfeed.org/version/1.1", "items": []}', source="s", base_url=BASE)
    with pytest.raises(FeedError, match="^not a feed"):
        parse_feed(b"\x00\x01\x02 binary junk", source="s", base_url=BASE)


def test_body_naming_a_local_file_is_not_read() -> None:
    # feedparser opens str/bytes arguments as paths or URLs; the body must only ever be data.
    with pytest.raises(FeedError, match="^not a feed"):
        parse_feed(str(FEEDS / "rss20.xml").encode(), source="s", base_url=BASE)
    with pytest.raises(FeedError, match="^not a feed"):
        parse_feed(b"http://127.0.0.1:9/feed.xml", source="s", base_url=BASE)


def test_valid_feed_with_no_items() -> None:
    feed = parse_feed(rss("", title="Quiet"), source="s", base_url=BASE)
    assert feed.stories == [] and feed.title == "Quiet"


def test_future_dates_clamped_to_now() -> None:
    soon = (NOW + timedelta(hours=20)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    far = (NOW + timedelta(days=3)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    body = rss(
        f"<item><title>Soon</title><link>https://f.example/1</link><pubDate>{soon}</pubDate></item>"
        f"<item><title>Far</title><link>https://f.example/2</link><pubDate>{far}</pubDate></item>"
        "<item><title>Bad</title><link>https://f.example/3</link><pubDate>not a date</pubDate></item>"
    )
    soon_story, far_story, bad = parse_feed(body, source="s", base_url=BASE, now=NOW).stories
    assert soon_story.published == NOW + timedelta(hours=20)  # within a day: kept
    assert far_story.published == NOW
    assert bad.published == NOW


def test_naive_now_treated_as_utc() -> None:
    body = rss("<item><title>T</title><link>https://f.example/1</link></item>")
    story = parse_feed(body, source="s", base_url=BASE, now=datetime(2024, 1, 1, 12)).stories[0]
    assert story.published == datetime(2024, 1, 1, 12, tzinfo=UTC)


def test_default_now_is_current_time() -> None:
    body = rss("<item><title>T</title><link>https://f.example/1</link></item>")
    story = parse_feed(body, source="s", base_url=BASE).stories[0]
    assert abs((datetime.now(UTC) - story.published).total_seconds()) < 60


def test_lengths_bounded_and_whitespace_folded() -> None:
    long_title = "word " * 400
    long_summary = "<p>" + "text " * 3000 + "</p>"
    body = rss(
        f"<item><title>{long_title}</title><link>https://f.example/1</link>"
        f"<description><![CDATA[{long_summary}]]></description></item>"
    )
    story = parse_feed(body, source="s", base_url=BASE, now=NOW).stories[0]
    assert len(story.title) <= MAX_TITLE and len(story.summary) <= MAX_SUMMARY
    assert "  " not in story.title and story.title.endswith("…")


def test_title_falls_back_to_summary() -> None:
    body = rss(
        "<item><description>Only a description here</description><link>https://f.example/1</link></item>"
    )
    assert parse_feed(body, source="s", base_url=BASE, now=NOW).stories[0].title == "Only a description here"


def test_non_http_image_ignored() -> None:
    body = rss(
        '<item xmlns:media="http://search.yahoo.com/mrss/"><title>T</title><link>https://f.example/1</link>'
        '<media:thumbnail url="javascript:alert(1)"/></item>'
    )
    assert parse_feed(body, source="s", base_url=BASE, now=NOW).stories[0].image == ""


def test_rss_source_element_names_the_provider() -> None:
    body = rss(
        "<item><title>T</title><link>https://news.google.example/rss/articles/x</link>"
        '<source url="https://www.outlet.example">The Outlet</source></item>'
    )
    story = parse_feed(body, source="s", base_url=BASE, now=NOW).stories[0]
    assert story.provider == "The Outlet"


def test_max_items_cap() -> None:
    items = "".join(
        f"<item><title>Story {i}</title><link>https://f.example/{i}</link></item>" for i in range(30)
    )
    feed = parse_feed(rss(items), source="s", base_url=BASE, now=NOW, max_items=10)
    assert [s.title for s in feed.stories] == [f"Story {i}" for i in range(10)]


def test_max_items_counts_only_kept_stories() -> None:
    items = "<item><title>no link</title></item>" * 5 + "".join(
        f"<item><title>S{i}</title><link>https://f.example/{i}</link></item>" for i in range(5)
    )
    feed = parse_feed(rss(items), source="s", base_url=BASE, now=NOW, max_items=3)
    assert [s.title for s in feed.stories] == ["S0", "S1", "S2"]


def test_five_thousand_item_feed_capped_quickly() -> None:
    items = "".join(
        f"<item><title>Story {i} about CCTV</title><link>https://big.example/{i}?utm_source=x</link>"
        f"<description>Summary {i}</description><pubDate>Tue, 05 Mar 2024 09:15:00 GMT</pubDate></item>"
        for i in range(5000)
    )
    started = time.monotonic()
    feed = parse_feed(rss(items), source="s", base_url=BASE, now=NOW)
    took = time.monotonic() - started
    assert len(feed.stories) == 2000  # the default cap
    assert feed.stories[-1].url == "https://big.example/1999"
    assert feed.skipped == 3000 and "more than 2000 entries" in next(
        iter(feed.skips)
    )  # counted, not lost silently
    assert took < 10, f"took {took:.1f} s"
