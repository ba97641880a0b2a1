"""Delivery when Slack says no: channel errors, rate limits, pacing across channels, a bad token.

Real HTTP all the way: feeds from tests/support/feedserver.py, Slack from tests/support/fakeslack.py, the real
pipeline and outbox in between.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from spyglass.config import load_settings
from spyglass.delivery.outbox import Outbox
from spyglass.delivery.posters import make_poster
from spyglass.refresh import poll
from spyglass.service import Services, build_services
from spyglass.slack.commands import Caller, handle
from spyglass.store.schema import Delivery, Subscription
from support.fakeslack import TOKEN, FakeSlack
from support.feeds import distinct_story, rss
from support.feedserver import FeedServer

story = distinct_story


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[FakeSlack, FeedServer, Path]]:
    with FakeSlack() as slack, FeedServer() as feeds:
        yield slack, feeds, tmp_path


def make_svc(
    tmp_path: Path, slack: FakeSlack, feed_url: str, *, token: str = TOKEN, post_interval: float = 0.05
) -> Services:
    cfg = tmp_path / "spyglass.toml"
    cfg.write_text(
        f'[storage]\nurl = "sqlite:///{tmp_path / "sg.db"}"\n[slack]\npost_interval = {post_interval}\n'
        f'[[sources]]\nname = "Feed"\nurl = "{feed_url}"\ninterval = "30s"\n'
    )
    return build_services(load_settings(cfg, env={"SLACK_BOT_TOKEN": token, "SLACK_API_URL": slack.api_url}))


def subscribe(svc: Services, channel: str, what: str = "face-recognition") -> None:
    reply = handle(svc, Caller("T1", channel, "U1"), f"subscribe {what}")
    assert reply.in_channel, reply.message


def list_text(svc: Services, channel: str) -> str:
    return str(handle(svc, Caller("T1", channel, "U1"), "list").message)


def statuses(svc: Services, channel: str) -> list[str]:
    with svc.store.session() as s:
        return list(
            s.scalars(select(Delivery.status).where(Delivery.channel_id == channel).order_by(Delivery.id))
        )


@pytest.mark.parametrize("error", ["channel_not_found", "is_archived", "not_in_channel"])
def test_channel_error_pauses_that_channel_only(
    error: str, world: tuple[FakeSlack, FeedServer, Path]
) -> None:
    slack, feeds, tmp = world
    feeds.route("/f.xml", body=rss([story(i) for i in range(3)]))
    svc = make_svc(tmp, slack, feeds.url("/f.xml"))
    for ch in ("CGOOD", "CBAD", "COTHER"):
        subscribe(svc, ch)
    slack.fail_channel("CBAD", error)
    assert poll(svc, "t").planned == 9
    report = Outbox(svc.store, make_poster(svc.settings)).drain(deadline=30)

    assert len(slack.posts("CGOOD", top_level=True)) == 3
    assert len(slack.posts("COTHER", top_level=True)) == 3
    # One attempt at the bad channel, then the rest of its queue waits with it (no retry storm).
    bad_calls = [c for c in slack.calls("chat.postMessage") if c["args"].get("channel") == "CBAD"]
    assert len(bad_calls) == 1 and bad_calls[0]["error"] == error
    assert statuses(svc, "CBAD") == ["held"] * 3
    assert report.sent == 6 and report.held == 1
    with svc.store.session() as s:
        reasons = {ch: r for ch, r in s.execute(select(Subscription.channel_id, Subscription.paused_reason))}
    assert reasons["CGOOD"] is None and reasons["COTHER"] is None
    assert reasons["CBAD"] and error in reasons["CBAD"]
    assert "paused" in list_text(svc, "CBAD") and error in list_text(svc, "CBAD")
    assert "paused" not in list_text(svc, "CGOOD")

    # New stories: the paused channel gets no new deliveries, the others do.
    feeds.route("/f.xml", body=rss([story(i) for i in range(5)]))
    assert poll(svc, "t").planned == 4
    Outbox(svc.store, make_poster(svc.settings)).drain(deadline=30)
    assert len(slack.posts("CGOOD", top_level=True)) == 5
    assert len([c for c in slack.calls("chat.postMessage") if c["args"].get("channel") == "CBAD"]) == 1

    # Invited back and resumed: the held alerts go out, once each.
    slack.fail_channel("CBAD", "")
    assert "3 held" in str(handle(svc, Caller("T1", "CBAD", "U1"), "resume").message)
    Outbox(svc.store, make_poster(svc.settings)).drain(deadline=30)
    urls = [p["text"] for p in slack.posts("CBAD", top_level=True)]
    assert len(urls) == 3 and statuses(svc, "CBAD") == ["sent"] * 3


def test_rate_limit_is_honoured_and_posts_once(world: tuple[FakeSlack, FeedServer, Path]) -> None:
    slack, feeds, tmp = world
    feeds.route("/f.xml", body=rss([story(0)]))
    svc = make_svc(tmp, slack, feeds.url("/f.xml"))
    subscribe(svc, "CBUSY")
    subscribe(svc, "CCALM")
    slack.rate_limit_once("CBUSY")  # 429 with Retry-After: 1
    poll(svc, "t")
    report = Outbox(svc.store, make_poster(svc.settings)).drain(deadline=30)
    assert report.sent == 2
    busy = [c for c in slack.calls("chat.postMessage") if c["args"].get("channel") == "CBUSY"]
    assert [c["status"] for c in busy] == [429, 200]
    assert busy[1]["at"] - busy[0]["at"] >= 0.9  # waited for Retry-After
    assert len(slack.posts("CBUSY", top_level=True)) == 1
    assert len(slack.posts("CCALM", top_level=True)) == 1
    assert statuses(svc, "CBUSY") == ["sent"]


def test_rate_limit_past_the_sdk_retries_defers_with_retry_after(
    world: tuple[FakeSlack, FeedServer, Path],
) -> None:
    """When 429s outlast the client's own retries, the row waits for Retry-After and is sent once later."""
    slack, feeds, tmp = world
    feeds.route("/f.xml", body=rss([story(0)]))
    svc = make_svc(tmp, slack, feeds.url("/f.xml"))
    subscribe(svc, "CBUSY")
    slack.rate_limit_once("CBUSY", times=4)  # 1 try + 3 SDK retries, all 429
    poll(svc, "t")
    outbox = Outbox(svc.store, make_poster(svc.settings))
    outbox.drain(deadline=30)
    assert len(slack.posts("CBUSY", top_level=True)) == 1
    assert statuses(svc, "CBUSY") == ["sent"]
    tries = [c["at"] for c in slack.calls("chat.postMessage")]
    assert len(tries) == 5 and all(b - a >= 0.95 for a, b in zip(tries, tries[1:], strict=False)), tries
    assert len([c for c in slack.calls("chat.postMessage") if c["status"] == 200]) == 1


@pytest.mark.timeout(60)
def test_pacing_per_channel_while_channels_drain_in_parallel(
    world: tuple[FakeSlack, FeedServer, Path],
) -> None:
    slack, feeds, tmp = world
    n, pacing, channels = 4, 0.4, [f"C{i:02d}" for i in range(20)]
    feeds.route("/f.xml", body=rss([story(i) for i in range(n)]))
    svc = make_svc(tmp, slack, feeds.url("/f.xml"), post_interval=pacing)
    for ch in channels:
        subscribe(svc, ch)
    assert poll(svc, "t").planned == n * len(channels)
    started = time.monotonic()
    report = Outbox(svc.store, make_poster(svc.settings)).drain(deadline=60)
    took = time.monotonic() - started
    assert report.sent == n * len(channels)
    for ch in channels:
        at = sorted(c["at"] for c in slack.calls("chat.postMessage") if c["args"].get("channel") == ch)
        assert len(at) == n
        gaps = [b - a for a, b in zip(at, at[1:], strict=False)]
        assert min(gaps) >= pacing * 0.9, (ch, gaps)
    serial = n * len(channels) * pacing  # 32 s if channels were drained one after another
    assert took < serial / 4, f"{took:.1f}s for {len(channels)} channels × {n} posts"


def test_invalid_token_stops_delivery_without_a_retry_storm(
    world: tuple[FakeSlack, FeedServer, Path], caplog: pytest.LogCaptureFixture
) -> None:
    slack, feeds, tmp = world
    feeds.route("/f.xml", body=rss([story(i) for i in range(5)]))
    svc = make_svc(tmp, slack, feeds.url("/f.xml"), token="xoxb-revoked")
    channels = ["CA", "CB", "CC"]
    for ch in channels:
        subscribe(svc, ch)
    poll(svc, "t")
    fatal: list[str] = []
    with caplog.at_level(logging.INFO):
        for _ in range(3):  # a worker drains again and again
            Outbox(svc.store, make_poster(svc.settings)).drain(deadline=10, on_fatal=fatal.append)
    calls = slack.calls("chat.postMessage")
    assert len(calls) <= len(channels), f"{len(calls)} posts with a revoked token"
    assert fatal and "invalid_auth" in fatal[0]
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "invalid_auth" in errors[0] and "token" in errors[0], errors
    assert "xoxb-revoked" not in caplog.text
    # Nothing is lost: the alerts wait for a good token instead of failing after MAX_ATTEMPTS.
    with svc.store.session() as s:
        rows = list(s.scalars(select(Delivery)))
    assert rows and all(d.status == "pending" for d in rows)
    assert all(d.attempts == 0 for d in rows)

    good = make_svc(tmp, slack, feeds.url("/f.xml"))
    with good.store.session() as s:  # a new token is deployed: the waiting rows become due again
        for d in s.scalars(select(Delivery)):
            d.not_before = None
    Outbox(good.store, make_poster(good.settings)).drain(deadline=30)
    for ch in channels:
        assert len(slack.posts(ch, top_level=True)) == 5


def test_pacing_holds_across_successive_drains(world: tuple[FakeSlack, FeedServer, Path]) -> None:
    """A worker drains again and again (the drain job, and after each poll): the pacing is per channel,
    not per drain, so a new drain never posts right after the previous one's last post."""
    slack, feeds, tmp = world
    pacing = 0.3
    feeds.route("/f.xml", body=rss([story(i) for i in range(2)]))
    svc = make_svc(tmp, slack, feeds.url("/f.xml"), post_interval=pacing)
    subscribe(svc, "CP")
    outbox = Outbox(svc.store, make_poster(svc.settings))
    poll(svc, "t")
    outbox.drain(deadline=30)
    feeds.route("/f.xml", body=rss([story(i) for i in range(4)]))
    poll(svc, "t")
    outbox.drain(deadline=30)
    at = sorted(c["at"] for c in slack.calls("chat.postMessage"))
    assert len(at) == 4
    gaps = [b - a for a, b in zip(at, at[1:], strict=False)]
    assert min(gaps) >= pacing * 0.9, gaps


def test_a_slack_outage_delays_alerts_instead_of_failing_them(
    world: tuple[FakeSlack, FeedServer, Path],
) -> None:
    """Slack's internal_error is waited out past MAX_ATTEMPTS; only OUTAGE_PATIENCE turns it into a failure."""
    from datetime import timedelta

    from sqlalchemy import update

    from spyglass import defaults

    slack, feeds, tmp = world
    feeds.route("/f.xml", body=rss([story(1), story(2)]))
    svc = make_svc(tmp, slack, feeds.url("/f.xml"))
    subscribe(svc, "COUT")
    slack.fail_channel("COUT", "internal_error")
    assert poll(svc, "t").planned == 2
    with svc.store.session() as s:  # as if it had already been retried many times
        s.execute(update(Delivery).values(attempts=defaults.MAX_ATTEMPTS + 3))
    Outbox(svc.store, make_poster(svc.settings)).drain(deadline=5)
    assert statuses(svc, "COUT") == ["pending", "pending"]
    with svc.store.session() as s:
        rows = list(s.scalars(select(Delivery).where(Delivery.channel_id == "COUT")))
        assert all(r.not_before is not None and r.last_error == "internal_error" for r in rows)
        # one of them has been waiting longer than the outage patience
        s.execute(
            update(Delivery)
            .where(Delivery.id == rows[0].id)
            .values(
                created_at=rows[0].created_at - defaults.OUTAGE_PATIENCE - timedelta(minutes=1),
                not_before=None,
            )
        )
        s.execute(update(Delivery).where(Delivery.id == rows[1].id).values(not_before=None))
    Outbox(svc.store, make_poster(svc.settings)).drain(deadline=5)
    assert statuses(svc, "COUT") == ["failed", "pending"]


def test_html_answers_from_slack_are_an_outage_waited_out(world: tuple[FakeSlack, FeedServer, Path]) -> None:
    """A 200 with an HTML page (a proxy in the way) is no answer from Slack: the alert waits, however
    many attempts it has had, instead of being marked failed and never posted."""
    from sqlalchemy import update

    from spyglass import defaults

    slack, feeds, tmp = world
    feeds.route("/f.xml", body=rss([story(1)]))
    svc = make_svc(tmp, slack, feeds.url("/f.xml"))
    subscribe(svc, "CHTML")
    slack.answer_html("CHTML")
    assert poll(svc, "t").planned == 1
    with svc.store.session() as s:
        s.execute(update(Delivery).values(attempts=defaults.MAX_ATTEMPTS + 3))
    Outbox(svc.store, make_poster(svc.settings)).drain(deadline=5)
    assert any(c["error"] == "html" for c in slack.calls("chat.postMessage"))  # the page was served
    assert statuses(svc, "CHTML") == ["pending"]
    with svc.store.session() as s:
        row = s.scalars(select(Delivery).where(Delivery.channel_id == "CHTML")).one()
        assert row.not_before is not None and "non-JSON" in (row.last_error or "")


def test_control_characters_never_reach_a_stored_keyword(world: tuple[FakeSlack, FeedServer, Path]) -> None:
    from spyglass.store.schema import Subscription

    slack, feeds, tmp = world
    feeds.route("/f.xml", body=rss([story(1)]))
    svc = make_svc(tmp, slack, feeds.url("/f.xml"))
    handle(svc, Caller("T1", "CCTRL", "U1"), 'subscribe "Clear\x07view\x1b AI" -"App\x00le"')
    with svc.store.session() as s:
        sub = s.scalars(select(Subscription).where(Subscription.channel_id == "CCTRL")).one()
        assert (sub.phrase, sub.excludes) == ("Clearview AI", ["Apple"])


def _due_now(svc: Services) -> None:
    """Skip the short backoff after an unanswered post instead of sleeping through it."""
    from sqlalchemy import update

    with svc.store.session() as s:
        s.execute(update(Delivery).values(not_before=None))


def _rows(svc: Services, channel: str) -> list[Delivery]:
    with svc.store.session() as s:
        return list(s.scalars(select(Delivery).where(Delivery.channel_id == channel).order_by(Delivery.id)))


def test_a_post_whose_answer_is_lost_is_found_not_posted_twice(
    world: tuple[FakeSlack, FeedServer, Path],
) -> None:
    slack, feeds, tmp = world
    feeds.route("/f.xml", body=rss([story(1)]))
    svc = make_svc(tmp, slack, feeds.url("/f.xml"))
    subscribe(svc, "CLOST")
    slack.lose_answers("CLOST")  # Slack posts it, then the connection drops before the answer
    assert poll(svc, "t").planned == 1
    Outbox(svc.store, make_poster(svc.settings)).drain(deadline=5)
    [row] = _rows(svc, "CLOST")
    assert (
        row.status == "pending" and row.unconfirmed_at is not None and "no answer" in (row.last_error or "")
    )
    assert len(slack.messages["CLOST"]) == 1

    _due_now(svc)
    report = Outbox(svc.store, make_poster(svc.settings)).drain(deadline=5)
    [row] = _rows(svc, "CLOST")
    assert len(slack.messages["CLOST"]) == 1, "posted twice"
    assert row.status == "sent" and row.ts == slack.messages["CLOST"][0]["ts"] and report.sent == 1
    # The cost: one history read for the one lost answer, none for the posts that were answered.
    assert len(slack.calls("conversations.history")) == 1
    assert len(slack.calls("chat.postMessage")) == 1


def test_a_post_lost_on_the_way_in_is_posted_after_the_check(
    world: tuple[FakeSlack, FeedServer, Path],
) -> None:
    slack, feeds, tmp = world
    feeds.route("/f.xml", body=rss([story(1)]))
    svc = make_svc(tmp, slack, feeds.url("/f.xml"))
    subscribe(svc, "CGONE1")
    slack.lose_answers("CGONE1", posted=False)
    assert poll(svc, "t").planned == 1
    Outbox(svc.store, make_poster(svc.settings)).drain(deadline=5)
    assert not slack.messages.get("CGONE1")
    _due_now(svc)
    Outbox(svc.store, make_poster(svc.settings)).drain(deadline=5)
    assert len(slack.messages["CGONE1"]) == 1
    assert [r.status for r in _rows(svc, "CGONE1")] == ["sent"]
    assert len(slack.calls("conversations.history")) == 1


def test_a_lost_thread_reply_is_looked_for_in_its_thread(world: tuple[FakeSlack, FeedServer, Path]) -> None:
    slack, feeds, tmp = world
    title, url, text = story(1)
    feeds.route("/f.xml", body=rss([(title, url, text)]))
    svc = make_svc(tmp, slack, feeds.url("/f.xml"))
    subscribe(svc, "CTHREAD")
    poll(svc, "t")
    Outbox(svc.store, make_poster(svc.settings)).drain(deadline=5)
    # A syndicated copy: a thread reply, whose answer is lost.
    feeds.route("/f.xml", body=rss([(title, url, text), ("Copy: " + title, url + "-copy", text)]))
    slack.lose_answers("CTHREAD")
    assert poll(svc, "t").planned == 1
    Outbox(svc.store, make_poster(svc.settings)).drain(deadline=5)
    _due_now(svc)
    Outbox(svc.store, make_poster(svc.settings)).drain(deadline=5)
    replies = [m for m in slack.messages["CTHREAD"] if m["thread_ts"]]
    assert len(replies) == 1
    assert [r.status for r in _rows(svc, "CTHREAD")] == ["sent", "sent"]
    assert len(slack.calls("conversations.replies")) == 1 and not slack.calls("conversations.history")


def test_without_history_access_a_lost_answer_costs_at_most_one_duplicate(
    world: tuple[FakeSlack, FeedServer, Path], caplog: pytest.LogCaptureFixture
) -> None:
    slack, feeds, tmp = world
    feeds.route("/f.xml", body=rss([story(1)]))
    svc = make_svc(tmp, slack, feeds.url("/f.xml"))
    subscribe(svc, "CNOSCOPE")
    slack.lose_answers("CNOSCOPE")
    slack.deny_history("missing_scope")
    poll(svc, "t")
    Outbox(svc.store, make_poster(svc.settings)).drain(deadline=5)
    _due_now(svc)
    with caplog.at_level(logging.WARNING):
        Outbox(svc.store, make_poster(svc.settings)).drain(deadline=5)
    assert len(slack.messages["CNOSCOPE"]) == 2  # the documented bound: one extra copy
    assert [r.status for r in _rows(svc, "CNOSCOPE")] == ["sent"]
    assert any("missing_scope" in r.getMessage() for r in caplog.records)


def test_a_paused_channel_is_told_to_its_subscriber_once_and_listed(
    world: tuple[FakeSlack, FeedServer, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    from spyglass.cli import main

    slack, feeds, tmp = world
    feeds.route("/f.xml", body=rss([story(i) for i in range(3)]))
    svc = make_svc(tmp, slack, feeds.url("/f.xml"))
    handle(svc, Caller("T1", "CKICKED", "UADA"), "subscribe face-recognition")
    handle(svc, Caller("T1", "CKICKED", "UBOB"), 'subscribe "facial recognition"')
    slack.fail_channel("CKICKED", "not_in_channel")
    poll(svc, "t")
    Outbox(svc.store, make_poster(svc.settings)).drain(deadline=10)
    notes = [
        c["args"]
        for c in slack.calls("chat.postMessage")
        if str(c["args"].get("channel", "")).startswith("U")
    ]
    assert sorted(n["channel"] for n in notes) == ["UADA", "UBOB"]  # each subscriber, once
    assert all(
        "<#CKICKED>" in n["text"] and "not_in_channel" in n["text"] and "/spyglass resume" in n["text"]
        for n in notes
    )
    capsys.readouterr()
    assert main(["--config", str(tmp / "spyglass.toml"), "channels"]) == 0
    out = capsys.readouterr().out
    assert "CKICKED  [PAUSED]" in out and "not_in_channel" in out and "held" in out
