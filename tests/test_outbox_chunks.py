"""When posting is not paced (or paced faster than once a second), the outbox reads and leases a
channel's next deliveries together (`Outbox._lease`). What a channel sees must not change: posts in
order, a thread reply under the alert posted just before it in the same drain, and one row that
cannot be shown fails alone. Real HTTP to the stand-in Slack, a real SQLite file."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy import select

from spyglass.config import load_settings
from spyglass.delivery.outbox import CHUNK, Outbox
from spyglass.delivery.posters import make_poster
from spyglass.refresh import poll
from spyglass.service import Services, build_services
from spyglass.slack.commands import Caller, handle
from spyglass.store.schema import Delivery
from support.fakeslack import TOKEN, FakeSlack
from support.feeds import distinct_story, rss
from support.feedserver import FeedServer


def _services(tmp: Path, slack: FakeSlack, feed_url: str) -> Services:
    cfg = tmp / "spyglass.toml"
    cfg.write_text(
        f'[storage]\nurl = "sqlite:///{tmp / "sg.db"}"\n[slack]\npost_interval = 0\n'
        f'[[sources]]\nname = "Feed"\nurl = "{feed_url}"\ninterval = "30s"\n'
    )
    svc = build_services(load_settings(cfg, env={"SLACK_BOT_TOKEN": TOKEN, "SLACK_API_URL": slack.api_url}))
    assert handle(svc, Caller("T1", "C1", "U1"), "subscribe face-recognition").in_channel
    return svc


def test_a_reply_goes_under_the_alert_posted_just_before_it_in_the_same_drain(tmp_path: Path) -> None:
    first = [distinct_story(i) for i in range(3)]
    title, _, text = first[1]
    copy = (title, "https://elsewhere.example/wire/copy", text)  # the same report from another outlet
    with FakeSlack() as slack, FeedServer() as feeds:
        feeds.route("/f.xml", rss(first))
        svc = _services(tmp_path, slack, feeds.url("/f.xml"))
        poll(svc, "w")
        feeds.route("/f.xml", rss([*first, copy, distinct_story(9)]))  # the copy arrives before any post
        poll(svc, "w")
        with svc.store.read() as s:
            kinds = list(s.scalars(select(Delivery.kind).order_by(Delivery.id)))
        assert kinds == ["alert", "alert", "alert", "reply", "alert"]  # one chunk would hold them all
        report = Outbox(svc.store, make_poster(svc.settings)).drain(deadline=30)
        posts = slack.posts("C1")
    assert (report.sent, report.deferred, report.failed) == (5, 0, 0)
    alerts = [p for p in posts if not p.get("thread_ts")]
    assert [first[i][1] in p["text"] for i, p in zip((0, 1, 2), alerts, strict=False)] == [True] * 3
    (reply,) = [p for p in posts if p.get("thread_ts")]
    assert reply["thread_ts"] == alerts[1]["_ts"]  # in the thread of its own story's alert
    assert [p["_ts"] for p in posts] == sorted(p["_ts"] for p in posts)  # posted in id order


def test_a_row_that_cannot_be_shown_fails_alone_and_its_chunk_is_posted(tmp_path: Path) -> None:
    stories = [distinct_story(i, tag="c") for i in range(CHUNK)]
    with FakeSlack() as slack, FeedServer() as feeds:
        feeds.route("/f.xml", rss(stories))
        svc = _services(tmp_path, slack, feeds.url("/f.xml"))
        assert poll(svc, "w").planned == CHUNK
        with sqlite3.connect(tmp_path / "sg.db") as db:  # a row no view can be built from
            db.execute("UPDATE stories SET related = '[1]' WHERE url = ?", (stories[2][1],))
        report = Outbox(svc.store, make_poster(svc.settings)).drain(deadline=30)
        posted = [p["text"] for p in slack.posts("C1")]
    assert report.sent == CHUNK - 1
    assert not any(stories[2][1] in t for t in posted)
    assert [any(st[1] in t for t in posted) for st in stories].count(True) == CHUNK - 1
    with sqlite3.connect(tmp_path / "sg.db") as db:
        status, error = db.execute(
            "SELECT d.status, d.last_error FROM deliveries d JOIN stories s ON s.id = d.story_id WHERE s.url = ?",
            (stories[2][1],),
        ).fetchone()
    assert status == "pending" and "TypeError" in error  # kept, with the reason, to be tried again
