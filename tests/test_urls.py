from __future__ import annotations

import pytest

from spyglass.urls import canonical_url, domain_of, link_url


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("https://www.example.com/news/story-1", "http://example.com/news/story-1/"),
        ("https://EXAMPLE.com/news/story-1?utm_source=x&utm_medium=rss", "https://example.com/news/story-1"),
        ("https://example.com/a?fbclid=abc&gclid=1&mc_cid=2&mc_eid=3", "https://example.com/a"),
        ("https://example.com/news/story/amp/", "https://example.com/news/story"),
        ("https://example.com/amp/news/story", "https://example.com/news/story"),
        ("https://amp.example.com/news/story", "https://example.com/news/story"),
        ("https://m.example.com/news/story", "https://example.com/news/story"),
        ("https://example.com/news/story.amp", "https://example.com/news/story"),
        ("https://example.com/news/story#comments", "https://example.com/news/story"),
        ("https://example.com:443/news/story", "https://example.com/news/story"),
        (
            "https://www-gazettelive-co-uk.cdn.ampproject.org/c/s/www.gazettelive.co.uk/news/teesside-news/plan-21036484.amp",
            "https://www.gazettelive.co.uk/news/teesside-news/plan-21036484",
        ),
        ("https://example.com/s?b=2&a=1", "https://example.com/s?a=1&b=2"),
    ],
)
def test_variants_fold_to_one_identity(a: str, b: str) -> None:
    assert canonical_url(a) == canonical_url(b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("https://example.com/article?id=7", "https://example.com/article?id=8"),
        ("https://example.com/news/a", "https://example.com/news/b"),
        ("https://example.com/news/a", "https://example.org/news/a"),
        ("https://example.com/p?page=2", "https://example.com/p"),
    ],
)
def test_meaningful_differences_are_kept(a: str, b: str) -> None:
    assert canonical_url(a) != canonical_url(b)


def test_tracking_removed_but_id_kept() -> None:
    assert canonical_url("https://Example.com/a?id=7&utm_campaign=z") == "https://example.com/a?id=7"


def test_link_url_strips_tracking_but_keeps_host_and_path() -> None:
    assert link_url("https://www.example.com/a/?utm_source=x&id=3") == "https://www.example.com/a/?id=3"
    assert link_url("https://www.example.com/a/") == "https://www.example.com/a/"


def test_domain_of() -> None:
    assert domain_of("https://www.Example.co.uk/x") == "example.co.uk"
    assert domain_of("not a url") == ""
