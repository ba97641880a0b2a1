"""Storing stories: duplicates by URL, GUID and near-duplicate clusters; planned deliveries; migrations."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, inspect, select

from spyglass.models import Match, RelatedLink, Story
from spyglass.store.db import Store, open_store
from spyglass.store.ingest import ingest
from spyglass.store.migrate import current_revision, downgrade, head_revision
from spyglass.store.planning import CONSOLE_CHANNEL, Plan, Route
from spyglass.store.schema import Cluster, Delivery, LshBand, StoryRow, StoryTopic
from spyglass.urls import canonical_url

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=timezone.utc)
EXCERPT = (
    "MAKING Cleveland a leader in face recognition software is in the sights of a new police boss. South "
    "Wales Police and the Metropolitan Police have piloted the use of cameras to find suspects."
)
FR = [Match("face-recognition", ("face recognition",))]


def story(
    url: str,
    title: str,
    summary: str = EXCERPT,
    *,
    guid: str = "",
    published: datetime = NOW,
    domain: str = "",
) -> Story:
    return Story(
        url=canonical_url(url),
        original_url=url,
        title=title,
        summary=summary,
        published=published,
        source="test",
        guid=guid,
        provider="Outlet",
        provider_domain=domain or url.split("/")[2].removeprefix("www."),
        related=[RelatedLink("Other", "https://other.example/x", "Other")],
    )


@pytest.fixture
def store(db_url: str) -> Store:
    return open_store(db_url)


def plan() -> Plan:
    return Plan(
        routes={"face-recognition": [Route("C1", "Face recognition"), Route("C2", "Face recognition")]}
    )


def run(
    store: Store, batch: list[tuple[Story, list[Match]]], p: Plan | None = None, max_age: float = 72 * 3600
):
    with store.session() as s:
        return ingest(s, None, batch, plan=p or plan(), now=NOW, max_age=max_age)


def test_migrations_from_empty_create_every_table(store: Store) -> None:
    names = set(inspect(store.engine).get_table_names())
    assert {
        "sources",
        "stories",
        "clusters",
        "lsh_bands",
        "subscriptions",
        "deliveries",
        "folder_files",
        "stories_fts",
    } <= names
    assert current_revision(store.engine) == head_revision()


def test_migrations_downgrade_and_upgrade_again(db_url: str) -> None:
    store = open_store(db_url)
    downgrade(store.engine, "base")
    assert "stories" not in inspect(store.engine).get_table_names()
    store2 = open_store(db_url)
    assert "stories" in inspect(store2.engine).get_table_names()


def test_new_story_is_stored_clustered_and_planned_once_per_channel(store: Store) -> None:
    res = run(store, [(story("https://www.echo.example/news/1", "Push to have Cleveland at forefront"), FR)])
    assert res.stored == 1 and res.planned == 2
    with store.session() as s:
        d = s.scalars(select(Delivery).order_by(Delivery.channel_id)).all()
        assert [(x.channel_id, x.kind, x.status) for x in d] == [
            ("C1", "alert", "pending"),
            ("C2", "alert", "pending"),
        ]
        assert (s.scalar(select(func.count()).select_from(LshBand)) or 0) > 0


@pytest.mark.parametrize(
    "variant",
    [
        "https://echo.example/news/1?utm_source=rss&fbclid=abc",
        "https://www.echo.example/news/1/amp/",
        "http://echo.example/news/1#x",
    ],
)
def test_url_variants_are_the_same_story(store: Store, variant: str) -> None:
    run(store, [(story("https://www.echo.example/news/1", "A"), FR)])
    res = run(store, [(story(variant, "A"), FR)])
    assert res.stored == 0 and res.duplicates == 1 and res.planned == 0


def test_same_guid_is_the_same_story(store: Store) -> None:
    run(store, [(story("https://a.example/1", "A", guid="g-1"), FR)])
    res = run(store, [(story("https://b.example/other-path", "B", guid="g-1"), FR)])
    assert res.duplicates == 1 and res.stored == 0


def test_republish_joins_cluster_and_becomes_thread_reply(store: Store) -> None:
    run(
        store,
        [
            (
                story(
                    "https://www.echo.example/news/19439337.push-cleveland",
                    "Push to have Cleveland at 'forefront'",
                ),
                FR,
            )
        ],
    )
    res = run(
        store,
        [
            (
                story(
                    "https://www.echo.example/news/19439546.push-put-cleveland",
                    "Push to put Cleveland Police at 'forefront'",
                ),
                FR,
            )
        ],
    )
    assert res.stored == 1 and res.clustered == 1
    with store.session() as s:
        assert s.scalar(select(func.count()).select_from(Cluster)) == 1
        kinds = sorted(x.kind for x in s.scalars(select(Delivery)))
        assert kinds == ["alert", "alert", "reply", "reply"]


def test_near_miss_same_day_stays_separate(store: Store) -> None:
    run(
        store,
        [
            (
                story(
                    "https://a.example/essex",
                    "Essex Police to trial facial recognition vans",
                    "Essex Police will deploy two live facial recognition vans outside Chelmsford station during a "
                    "month-long trial after a pilot in Southend led to three arrests.",
                ),
                FR,
            )
        ],
    )
    res = run(
        store,
        [
            (
                story(
                    "https://b.example/kent",
                    "Kent Police to trial facial recognition vans",
                    "Kent Police said live facial recognition vans would be parked in Maidstone town centre "
                    "on market days, scanning shoppers against a watchlist.",
                ),
                FR,
            )
        ],
    )
    assert res.clustered == 0 and res.planned == 2


def test_duplicates_inside_one_batch(store: Store) -> None:
    a = story("https://wire.example/x", "Court upholds verdict against spyware maker")
    b = story("https://paper.example/y", "Spyware maker loses appeal")
    res = run(store, [(a, FR), (b, FR)])
    assert res.stored == 2 and res.clustered == 1
    with store.session() as s:
        assert s.scalar(select(func.count()).select_from(Cluster)) == 1


def test_old_stories_are_stored_but_not_alerted(store: Store) -> None:
    old = story("https://a.example/old", "Old", published=NOW - timedelta(days=10))
    res = run(store, [(old, FR)])
    assert res.stored == 1 and res.planned == 0
    res = run(
        store,
        [
            (
                story(
                    "https://a.example/old2",
                    "Older",
                    "different words entirely here",
                    published=NOW - timedelta(days=400),
                ),
                FR,
            )
        ],
        max_age=0,
    )
    assert res.planned == 2  # max_age 0: no limit


def test_unmatched_story_is_stored_without_deliveries(store: Store) -> None:
    res = run(store, [(story("https://a.example/weather", "Rain", "Heavy rain warning"), [])])
    assert res.stored == 1 and res.planned == 0


def test_console_plan_gets_every_topic_but_not_keywords(store: Store) -> None:
    p = Plan(labels={"face-recognition": "Face recognition"}, console=True)
    res = run(store, [(story("https://a.example/1", "T"), [*FR, Match("kw:abc", ("abc",))])], p)
    assert res.planned == 1
    with store.session() as s:
        d = s.scalars(select(Delivery)).one()
        assert d.channel_id == CONSOLE_CHANNEL and "Face recognition" in d.topics


def test_story_rows_keep_clean_fields(store: Store) -> None:
    run(store, [(story("https://www.echo.example/n/1?utm_source=x", "Title"), FR)])
    with store.session() as s:
        row = s.scalars(select(StoryRow)).one()
        assert row.url == "https://echo.example/n/1"
        assert row.original_url.endswith("utm_source=x")  # the link shown is cleaned at parse time, not here
        assert row.published_at == NOW
        assert set(row.matches) == {"face-recognition"}  # stored as JSON, read back as a dict
        topics = s.execute(select(StoryTopic.story_id, StoryTopic.slug)).all()
        assert [tuple(r) for r in topics] == [(row.id, "face-recognition")]


@pytest.mark.parametrize(
    ("phrases", "shown"),
    [
        (
            [
                "automatic number plate recognition",
                "number plate recognition",
                "numberplate recognition",
                "plate recognition",
                "ANPR",
            ],
            ["automatic number plate recognition", "ANPR"],
        ),
        (
            ["spyware", "mercenary spyware", "zero-click", "zero click exploit"],
            ["mercenary spyware", "zero click exploit"],
        ),
        (["face recognition", "facial recognition"], ["face recognition", "facial recognition"]),
        (["drone", "drone"], ["drone"]),
    ],
)
def test_why_it_matched_drops_phrases_inside_longer_ones(phrases: list[str], shown: list[str]) -> None:
    from spyglass.store.planning import concise

    assert concise(phrases) == shown


def test_one_outlets_article_on_two_of_its_sites_is_one_story(store: Store) -> None:
    # Found in a real archive: BBC feeds link one article on bbc.co.uk and bbc.com, one with an excerpt
    # and one with the headline repeated as its summary, too unlike for the text measure alone.
    title = "North Korea hackers stole $400m of cryptocurrency in 2021, report says"
    first = story(
        "https://www.bbc.co.uk/news/business-59990477?at_medium=RSS",
        title,
        "Blockchain analysts say the value taken in the hacks grew by 40% on the year.",
    )
    run(store, [(first, FR)])
    res = run(store, [(story("https://www.bbc.com/news/business-59990477", title, title), FR)])
    assert res.stored == 1 and res.clustered == 1
    with store.session() as s:
        assert s.scalar(select(func.count()).select_from(Cluster)) == 1


def test_one_outlets_article_on_two_sites_in_one_feed_is_one_story(store: Store) -> None:
    # The same as above within one batch: the in-batch comparison keeps a same-article candidate
    # however unlike its text, and skips the rest that are not similar enough.
    title = "North Korea hackers stole $400m of cryptocurrency in 2021, report says"
    batch = [
        (
            story(
                "https://www.bbc.co.uk/news/business-59990477",
                title,
                "Blockchain analysts say the value taken in the hacks grew by 40% on the year.",
            ),
            FR,
        ),
        (
            story(
                "https://www.bbc.co.uk/news/technology-1",
                "Unrelated",
                "Council budget and bins, nothing else.",
            ),
            FR,
        ),
        (story("https://www.bbc.com/news/business-59990477", title, title), FR),
    ]
    res = run(store, batch)
    assert res.stored == 3 and res.clustered == 1
    with store.session() as s:
        assert s.scalar(select(func.count()).select_from(Cluster)) == 2


def test_the_same_path_on_two_outlets_is_not_one_story(store: Store) -> None:
    run(
        store,
        [
            (
                story(
                    "https://www.alpha.example/news/business-59990477", "Alpha: police buy face recognition"
                ),
                FR,
            )
        ],
    )
    res = run(
        store,
        [
            (
                story(
                    "https://www.beta.example/news/business-59990477",
                    "Beta's own report",
                    "Different words entirely, about a council budget and bins.",
                ),
                FR,
            )
        ],
    )
    assert res.clustered == 0


def test_sites_of_one_outlet() -> None:
    from spyglass.urls import site_of

    assert site_of("bbc.co.uk") == site_of("bbc.com") == "bbc"
    assert site_of("edition.cnn.com") == "cnn"
    assert site_of("127.0.0.1") == "127.0.0.1" and site_of("localhost") == "localhost"
    assert site_of("alpha.example") != site_of("beta.example")


def test_a_band_key_shared_by_many_newer_stories_does_not_hide_the_true_near_duplicate(store: Store) -> None:
    """Each band key reads only its newest few hundred stories. A near-duplicate older than those on
    one key is still found through its other keys, ranked first because it shares the most."""
    from spyglass import dedupe
    from spyglass.store.ingest import PER_BAND

    original = story("https://wire.example/a/1", "Police expand face recognition")
    run(store, [(original, FR)])
    sig = dedupe.signature(original.title, original.summary)
    crowded = dedupe.band_keys(sig)[0]
    unrelated = [
        story(
            f"https://noise.example/{i}", f"Council budget item {i}", f"Road repairs number {i} agreed {i}."
        )
        for i in range(PER_BAND + 20)
    ]
    run(store, [(u, []) for u in unrelated])
    with store.session() as s:  # every newer, unrelated story also carries the original's first band key
        ids = s.scalars(select(StoryRow.id).where(StoryRow.url.like("https://noise.example/%"))).all()
        s.add_all(LshBand(band=crowded, story_id=i) for i in ids)
    copy = story("https://paper.example/b/2", "Face recognition expands, police say")
    res = run(store, [(copy, FR)])
    assert res.clustered == 1
    with store.session() as s:
        clusters = s.scalars(select(StoryRow.cluster_id).where(StoryRow.url.in_([original.url, copy.url])))
        assert len(set(clusters)) == 1


def test_a_wire_story_under_its_own_headline_on_two_sites_is_one_story(store: Store) -> None:
    # Shaped like pairs in a month of real feeds: the wire copy keeps the headline (case and
    # apostrophes aside), one site carries the lede, the other no excerpt at all.
    first = story(
        "https://abcnews.example/Business/wireStory/us-taiwan-sign-trade-deal-99780641",
        "US, Taiwan sign trade deal over China's opposition",
        "The United States and Taiwan signed the first part of a trade agreement on Thursday.",
    )
    run(store, [(first, FR)])
    copy = story(
        "https://epochtimes.example/us-taiwan-sign-trade-deal-over-chinas-opposition_5305518.html",
        "US, Taiwan Sign Trade Deal Over China\u2019s Opposition",
        "",
        published=NOW + timedelta(hours=5),
    )
    res = run(store, [(copy, FR)])
    assert res.stored == 1 and res.clustered == 1
    # In one batch as well, and not when the same headline comes back days later.
    batch = [
        (story("https://one.example/a/1", "Montana becomes first state to ban TikTok", "Lede one."), FR),
        (story("https://two.example/b/2", "Montana becomes first state to ban TikTok", ""), FR),
        (
            story(
                "https://three.example/c/3",
                "Montana becomes first state to ban TikTok",
                "A week on, app makers sue over the law, arguing it breaks the First Amendment rights.",
                published=NOW + timedelta(days=3),
            ),
            FR,
        ),
    ]
    res = run(store, batch)
    assert res.stored == 3 and res.clustered == 1
    with store.session() as s:
        sizes = sorted(s.scalars(select(Cluster.size)))
    assert sizes == [1, 2, 2]


def test_short_headlines_alone_do_not_join(store: Store) -> None:
    run(
        store,
        [(story("https://one.example/a/1", "Health Care Roundup: Market Talk", "Kingsoft and Appen."), FR)],
    )
    res = run(
        store, [(story("https://two.example/b/2", "Health Care Roundup: Market Talk", "Glencore news."), FR)]
    )
    assert res.clustered == 0


def test_one_outlets_daily_series_is_not_one_story(store: Store) -> None:
    # Real: "Russia-Ukraine war: List of key events, day 463" and "day 464", a day apart, with the
    # same template text: similar enough to join, but not the same report.
    template = "As the war enters its {n}th day, here is a look at the main developments of the war."
    day1 = story(
        "https://aljazeera.example/news/2023/6/1/key-events-day-463",
        "Russia-Ukraine war: List of key events, day 463",
        template.format(n=463),
    )
    run(store, [(day1, FR)])
    day2 = story(
        "https://aljazeera.example/news/2023/6/2/key-events-day-464",
        "Russia-Ukraine war: List of key events, day 464",
        template.format(n=464),
        published=NOW + timedelta(days=1),
    )
    res = run(store, [(day2, FR)])
    assert res.stored == 1 and res.clustered == 0
    # The same outlet republishing a story under a new URL, numbers and all, still joins.
    again = story(
        "https://aljazeera.example/news/2023/6/1/key-events-day-463-updated",
        "Russia-Ukraine war: List of key events, day 463",
        template.format(n=463),
        published=NOW + timedelta(hours=2),
    )
    assert run(store, [(again, FR)]).clustered == 1


def hn_item(link: str, item: int, points: int, comments: int) -> str:
    """The description hnrss.org gives every Hacker News item: addresses and counts, no excerpt."""
    return (
        f"Article URL: {link} Comments URL: https://news.ycombinator.com/item?id={item} "
        f"Points: {points} # Comments: {comments}"
    )


def test_link_only_excerpts_of_one_feed_do_not_join(store: Store) -> None:
    # Real (May 2023): arXiv papers posted to Hacker News a day apart, whose descriptions share
    # every word of "arxiv.org/abs/…" and "news.ycombinator.com/item?id=…", joined one cluster.
    first = story(
        "https://arxiv.org/abs/2305.00944",
        "Poisoning Language Models During Instruction Tuning",
        hn_item("https://arxiv.org/abs/2305.00944", 35790367, 12, 3),
    )
    second = story(
        "https://arxiv.org/abs/2305.02301",
        "Distilling Step-by-Step Outperforming Larger Language Models with Less",
        hn_item("https://arxiv.org/abs/2305.02301", 35810663, 40, 9),
        published=NOW + timedelta(hours=20),
    )
    assert run(store, [(first, FR)]).clustered == 0
    assert run(store, [(second, FR)]).clustered == 0
    # Two short titles over the same furniture ("Heathkit", "Pharo 11") are no nearer.
    short = [
        story(
            f"https://{site}/",
            title,
            hn_item(f"https://{site}/", n, n % 50, n % 7),
            published=NOW + timedelta(hours=n % 9),
        )
        for n, (site, title) in enumerate(
            [
                ("shop.heathkit.example", "Heathkit"),
                ("pharo.example", "Pharo 11"),
                ("wiki.example", "Tensegrity Wiki"),
            ],
            start=35800000,
        )
    ]
    assert run(store, [(s, FR) for s in short]).clustered == 0


def test_one_outlets_stock_caption_over_other_stories_does_not_join(store: Store) -> None:
    # Real (The Epoch Times, May 2023): a file photo's caption is the excerpt of many stories.
    caption = (
        "A Surete du Quebec police car is seen in Montreal on July 22, 2020. "
        "(The Canadian Press/Paul Chiasson)"
    )

    def epoch(slug: str, title: str, hours: float) -> Story:
        url = f"https://www.epoch.example/{slug}.html"
        return story(url, title, caption, published=NOW + timedelta(hours=hours))

    first = epoch(
        "brazen-daylight-murder_5269001",
        "Brazen Daylight Murder of Montreal Salon Owner Shows 'Arrogance' of Mafia",
        0,
    )
    later = epoch(
        "driver-arrested_5275002",
        "Driver Arrested After Injuring Two People in Road Rage Incident Near Montreal",
        120,
    )
    assert run(store, [(first, FR)]).clustered == 0
    assert run(store, [(later, FR)]).clustered == 0
    # Within a day, the same excerpt under a rewritten headline is the outlet's own republish.
    rewrite = epoch("salon-owner-killed_5269100", "Salon Owner Shot Dead in Broad Daylight, Police Say", 6)
    assert run(store, [(rewrite, FR)]).clustered == 1
