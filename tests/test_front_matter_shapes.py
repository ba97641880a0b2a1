"""Front matter as static-site generators and news exports really write it (Jekyll, Hugo, Astro)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from spyglass.parse.story_file import DraftError, StoryFileError, parse_story_text

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def story(text: str):
    return parse_story_text(text.lstrip(), source="s", file_id="file:s:x.md", now=NOW)


@pytest.mark.parametrize(
    ("front", "when"),
    [
        ("pubDate: 2024-03-05T09:00:00Z", datetime(2024, 3, 5, 9, 0, tzinfo=UTC)),  # Astro
        ("publishDate: 2024-03-05", datetime(2024, 3, 5, tzinfo=UTC)),  # Hugo
        ("lastmod: 2024-03-06T10:00:00+01:00", datetime(2024, 3, 6, 9, 0, tzinfo=UTC)),  # Hugo
        ("date: 13 July 2021", datetime(2021, 7, 13, tzinfo=UTC)),
        (
            "published: true\ndate: 2024-03-05 08:30:00 +0000",
            datetime(2024, 3, 5, 8, 30, tzinfo=UTC),
        ),  # Jekyll flag
        ("publishedDateTime: 2021-07-13T13:45:00Z", datetime(2021, 7, 13, 13, 45, tzinfo=UTC)),
    ],
)
def test_dates_in_every_common_key_and_form(front: str, when: datetime) -> None:
    s = story(f"---\ntitle: T\nurl: https://blog.example/a\n{front}\n---\nBody.\n")
    assert (s.published, s.dated) == (when, True)


def test_no_readable_date_is_marked_undated() -> None:
    s = story("---\ntitle: T\nurl: https://blog.example/a\ndate: someday\n---\nBody.\n")
    assert s.dated is False and s.published == NOW


@pytest.mark.parametrize("key", ["url", "link", "permalink", "canonicalURL", "originalUrl", "webUrl"])
def test_link_keys(key: str) -> None:
    assert (
        story(f"---\ntitle: T\n{key}: https://blog.example/p\n---\n").original_url == "https://blog.example/p"
    )


@pytest.mark.parametrize(
    "images",
    [
        "image: https://img.example/a.jpg",
        "images: https://img.example/a.jpg",
        "images:\n  - https://img.example/a.jpg\n  - https://img.example/b.jpg",
        "images:\n  - url: https://img.example/a.jpg",
        "image:\n  src: https://img.example/a.jpg",
    ],
)
def test_image_as_string_list_or_object(images: str) -> None:
    assert (
        story(f"---\ntitle: T\nurl: https://blog.example/p\n{images}\n---\n").image
        == "https://img.example/a.jpg"
    )


def test_provider_as_a_string_or_an_object() -> None:
    assert (
        story("---\ntitle: T\nurl: https://x.example/p\nprovider: Coast News\n---\n").provider == "Coast News"
    )
    s = story(
        "---\ntitle: T\nurl: https://x.example/p\nprovider:\n  name: Echo\n  domain: echo.example\n---\n"
    )
    assert (s.provider, s.provider_domain) == ("Echo", "echo.example")


@pytest.mark.parametrize("flag", ["draft: true", "published: false"])
def test_drafts_are_skipped_with_a_reason(flag: str) -> None:
    with pytest.raises(DraftError, match="draft"):
        story(f"---\ntitle: T\nurl: https://x.example/p\ndate: 2024-03-05\n{flag}\n---\nBody\n")


def test_a_news_exports_published_false_beside_its_date_is_not_a_draft() -> None:
    # The news-API export shape (the bundled sample) carries `published: false` as its own flag.
    s = story(
        "---\ntitle: T\noriginalUrl: https://x.example/p\npublishedDateTime: 2021-07-13T13:45:00Z\n"
        "published: false\n---\n"
    )
    assert s.published == datetime(2021, 7, 13, 13, 45, tzinfo=UTC)


def test_markdown_body_becomes_plain_text_and_urls_never_match() -> None:
    s = story(
        "---\ntitle: T\nurl: https://x.example/p\ndate: 2024-03-05\n---\n"
        "# Council cameras\n\nThe **council** bought [new cameras](https://shop.example/facial-recognition) "
        "from https://vendor.example/spyware-kit today.\n"
    )
    assert s.summary == "Council cameras The council bought new cameras from today."


def test_toml_and_json_front_matter() -> None:
    toml = story(
        '+++\ntitle = "Hugo story"\nurl = "https://hugo.example/p"\ndate = 2024-03-05T09:00:00Z\n+++\nBody.\n'
    )
    assert (toml.title, toml.published) == ("Hugo story", datetime(2024, 3, 5, 9, 0, tzinfo=UTC))
    js = story('{"title": "JSON story", "url": "https://json.example/p", "date": "2024-03-05"}\nBody.\n')
    assert (js.title, js.original_url) == ("JSON story", "https://json.example/p")


def test_broken_toml_is_one_clear_line() -> None:
    with pytest.raises(StoryFileError, match="not valid TOML"):
        story('+++\ntitle = "unterminated\n+++\nBody.\n')
