"""Secrets never reach logs, error messages or `spyglass sources`: bot tokens, signing secrets,
database passwords and feed URL credentials. Every case runs the real CLI as a subprocess (with
-v, the most talkative setting) and searches everything it printed."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from support.fakeslack import FakeSlack
from support.feedserver import FeedServer

BAD_TOKEN = "xoxb-0000-SECRETBOTTOKEN-bad"
SIGNING_SECRET = "signing-SECRET-5f3a9c1e"
APP_TOKEN = "xapp-1-SECRETAPPTOKEN"
DB_PASSWORD = "Db-Pa55word-SECRET"
FEED_PASSWORD = "feed-Pa55-SECRET"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run(
    args: list[str], env: dict[str, str], timeout: float = 60, *, verbose: bool = True
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "spyglass", *(["-v"] if verbose else []), *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def assert_clean(text: str, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in text, f"secret {secret!r} leaked:\n{text}"
        # Not even a recognisable piece of it (e.g. a token cut in the middle of a log line).
        assert secret[-10:] not in text, f"part of {secret!r} leaked:\n{text}"


def config(tmp: Path, body: str = "") -> Path:
    cfg = tmp / "spyglass.toml"
    cfg.write_text(f'[storage]\nurl = "sqlite:///{tmp / "sg.db"}"\n' + body)
    return cfg


@pytest.mark.parametrize("mode", ["http", "socket"])
def test_serve_with_a_bad_token(mode: str, tmp_path: Path) -> None:
    cfg = config(tmp_path)
    with FakeSlack() as slack:
        env = {
            "SLACK_BOT_TOKEN": BAD_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": slack.api_url,
            "SPYGLASS_CONFIG": str(cfg),
            "PORT": str(free_port()),
        }
        if mode == "socket":
            env["SLACK_APP_TOKEN"] = APP_TOKEN
        quiet = run(["serve"], env, verbose=False)
        loud = run(["serve"], env)
        assert slack.calls("auth.test")  # it really asked Slack
    for res in (quiet, loud):
        out = res.stdout + res.stderr
        assert res.returncode == 2, out
        assert "Traceback" not in out
        assert_clean(out, BAD_TOKEN, SIGNING_SECRET, APP_TOKEN)
    # One clear line, last, saying what to fix.
    lines = [ln for ln in quiet.stderr.splitlines() if ln.strip()]
    assert lines[-1] == "spyglass: error: Slack rejected SLACK_BOT_TOKEN: invalid_auth", quiet.stderr
    assert not [ln for ln in lines[:-1] if "ERROR" in ln or "error:" in ln], quiet.stderr


def test_serve_with_slack_unreachable(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    env = {
        "SLACK_BOT_TOKEN": BAD_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": f"http://127.0.0.1:{free_port()}/api/",
        "SPYGLASS_CONFIG": str(cfg),
        "PORT": str(free_port()),
    }
    res = run(["serve"], env)
    out = res.stdout + res.stderr
    assert res.returncode == 2 and "cannot reach the Slack API" in res.stderr, out
    assert "Traceback" not in out
    assert_clean(out, BAD_TOKEN, SIGNING_SECRET)


def test_worker_with_a_bad_token_does_not_log_it(tmp_path: Path) -> None:
    """The delivery path: Slack refuses the token on a post; the log says so without the token."""
    with FakeSlack() as slack, FeedServer() as feeds:
        now = "Mon, 01 Jan 2024 00:00:00 GMT"
        feeds.route(
            "/f.xml",
            body=(
                '<?xml version="1.0"?><rss version="2.0"><channel><title>T</title><item>'
                "<title>Police roll out live facial recognition vans</title><link>https://n.example/1</link>"
                f"<description>Live facial recognition cameras.</description><pubDate>{now}</pubDate>"
                "</item></channel></rss>"
            ).encode(),
        )
        cfg = config(tmp_path)
        cfg.write_text(
            'max_age = "0"\n'
            + cfg.read_text()
            + f'[[sources]]\nname = "Feed"\nurl = "{feeds.url("/f.xml")}"\n'
        )
        env = {"SLACK_BOT_TOKEN": BAD_TOKEN, "SLACK_API_URL": slack.api_url, "SPYGLASS_CONFIG": str(cfg)}
        # Subscribe a channel straight in the database (the slash command needs a valid token).
        from sqlalchemy import create_engine, text

        from spyglass.store.db import open_store

        open_store(f"sqlite:///{tmp_path / 'sg.db'}").dispose()
        engine = create_engine(f"sqlite:///{tmp_path / 'sg.db'}")
        with engine.begin() as c:
            c.execute(
                text(
                    "INSERT INTO subscriptions (team_id, channel_id, kind, key, phrase, excludes, created_by, "
                    "created_at) VALUES ('T', 'CX', 'topic', 'face-recognition', '', '[]', 'U', "
                    "'2024-01-01 00:00:00')"
                )
            )
        engine.dispose()
        res = run(["poll", "--once", "--deadline", "5"], env)
        assert slack.calls("chat.postMessage")
    out = res.stdout + res.stderr
    assert res.returncode == 0, out
    assert "invalid_auth" in out
    assert_clean(out, BAD_TOKEN)


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql+psycopg://spy:{DB_PASSWORD}@127.0.0.1:{{port}}/spyglass",  # nothing listening
        f"postgresql://spy:{DB_PASSWORD}@127.0.0.1:{{port}}/spyglass",  # the host-style URL, rewritten
        f"postgresql+nosuchdriver://spy:{DB_PASSWORD}@127.0.0.1:{{port}}/spyglass",  # not a usable driver
        f"postgresql+psycopg://spy:{DB_PASSWORD}@256.1.1.1:5432/spyglass",  # not a host
    ],
)
def test_database_password_never_shown(url: str, tmp_path: Path) -> None:
    cfg = config(tmp_path)
    res = run(["--config", str(cfg), "poll", "--once"], {"DATABASE_URL": url.format(port=free_port())})
    out = res.stdout + res.stderr
    assert res.returncode == 2, out
    assert "Traceback" not in out and "spyglass: error: " in out, out
    assert "cannot " in out or "psycopg 3" in out, out  # unreachable, or a driver Spyglass does not use
    assert_clean(out, DB_PASSWORD)
    assert "***" in out or "cannot" in out or "psycopg 3" in out


def test_database_password_never_shown_when_postgres_refuses(tmp_path: Path) -> None:
    """A real server answering with an error (a database that does not exist)."""
    base = os.environ.get("SPYGLASS_TEST_POSTGRES_URL")
    if not base:
        pytest.skip("needs SPYGLASS_TEST_POSTGRES_URL")
    from sqlalchemy.engine import make_url

    url = make_url(base).set(password=DB_PASSWORD, database="no_such_database_here")
    cfg = config(tmp_path)
    res = run(
        ["--config", str(cfg), "poll", "--once"], {"DATABASE_URL": url.render_as_string(hide_password=False)}
    )
    out = res.stdout + res.stderr
    assert res.returncode == 2 and "no_such_database_here" in out, out
    assert_clean(out, DB_PASSWORD)


def test_feed_credentials_never_shown(tmp_path: Path) -> None:
    with FeedServer() as feeds:
        feeds.route("/private.xml", status=500, body=b"boom")
        feeds.route("/moved.xml", redirect="/ok.xml")
        feeds.route(
            "/ok.xml",
            body=b'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title><item>'
            b"<title>Drones</title><link>https://n.example/d</link></item></channel></rss>",
        )
        dead = free_port()
        host = f"127.0.0.1:{feeds.port}"
        cfg = config(
            tmp_path,
            "".join(
                f'[[sources]]\nname = "{name}"\nurl = "{url}"\n'
                for name, url in [
                    ("Private", f"http://reader:{FEED_PASSWORD}@{host}/private.xml"),
                    ("Missing", f"http://reader:{FEED_PASSWORD}@{host}/missing.xml"),
                    ("Dead", f"http://reader:{FEED_PASSWORD}@127.0.0.1:{dead}/feed.xml"),
                    ("Moved", f"http://reader:{FEED_PASSWORD}@{host}/moved.xml"),
                ]
            ),
        )
        env = {"SPYGLASS_CONFIG": str(cfg)}
        poll = run(["poll", "--once"], env)
        assert poll.returncode == 1, poll.stderr  # three sources failed, which poll --once reports
        # The credentials were used (as Basic auth), just never shown.
        assert feeds.last("/private.xml").headers.get("authorization", "").startswith("Basic ")
        assert feeds.count("/ok.xml") == 1
        sources = run(["sources"], env)
        assert sources.returncode == 0, sources.stderr
    out = poll.stdout + poll.stderr + sources.stdout + sources.stderr
    assert "Private  [error]" in sources.stdout and "HTTP 500" in sources.stdout
    assert "Missing  [error]" in sources.stdout and "Dead  [error]" in sources.stdout
    assert_clean(out, FEED_PASSWORD)
    # Nor does the database keep it anywhere it would be shown from.
    from sqlalchemy import create_engine, text

    engine = create_engine(f"sqlite:///{tmp_path / 'sg.db'}")
    with engine.connect() as c:
        rows = c.execute(text("SELECT last_error, final_url, disabled_reason FROM sources")).all()
    engine.dispose()
    assert_clean(repr(rows), FEED_PASSWORD)


def test_rows_stored_with_credentials_are_redacted_without_losing_state(tmp_path: Path) -> None:
    """A database written before locations were redacted: the row is cleaned, its fetch state kept."""
    from sqlalchemy import select

    from spyglass.config import load_settings
    from spyglass.service import build_services
    from spyglass.sources.state import sync_sources
    from spyglass.store.schema import Source

    url = f"http://reader:{FEED_PASSWORD}@127.0.0.1:9/feed.xml"
    cfg = config(tmp_path, f'[[sources]]\nname = "Private"\nurl = "{url}"\n')
    svc = build_services(load_settings(cfg, env={}))
    sync_sources(svc)
    with svc.store.session() as s:
        row = s.scalar(select(Source))
        assert row is not None and FEED_PASSWORD not in row.location
        row.location, row.error_count, row.etag = url, 3, '"v1"'  # as an older version stored it
    sync_sources(svc)
    with svc.store.session() as s:
        row = s.scalar(select(Source))
        assert row is not None
        assert row.location == "http://127.0.0.1:9/feed.xml"
        assert row.error_count == 3 and row.etag == '"v1"'
    svc.store.dispose()


@pytest.mark.timeout(60)
def test_worker_logs_never_show_any_secret(tmp_path: Path) -> None:
    """A long-running worker at -v (debug logs from every library) with every kind of secret configured."""
    import signal
    import time

    with FakeSlack() as slack, FeedServer() as feeds:
        feeds.route("/private.xml", status=503, headers={"Retry-After": "60"})
        feeds.route("/moved.xml", redirect="/gone.xml")
        feeds.route("/gone.xml", status=410)
        host = f"127.0.0.1:{feeds.port}"
        cfg = config(
            tmp_path,
            "".join(
                f'[[sources]]\nname = "{name}"\nurl = "{url}"\ninterval = "30s"\n'
                for name, url in [
                    ("Private", f"http://reader:{FEED_PASSWORD}@{host}/private.xml"),
                    ("Moved", f"http://reader:{FEED_PASSWORD}@{host}/moved.xml"),
                ]
            ),
        )
        env = {
            **os.environ,
            "SLACK_BOT_TOKEN": BAD_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": slack.api_url,
            "SPYGLASS_CONFIG": str(cfg),
        }
        proc = subprocess.Popen(
            [sys.executable, "-m", "spyglass", "-v", "run", "--no-http"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        try:
            assert slack.wait_for(
                lambda: feeds.count("/private.xml") and feeds.count("/gone.xml"), timeout=20
            )
            time.sleep(0.5)
        finally:
            proc.send_signal(signal.SIGTERM)
            out = proc.communicate(timeout=20)[0].decode(errors="replace")
        assert proc.returncode == 0, out
        sources = run(["sources"], {"SPYGLASS_CONFIG": str(cfg)})
    assert "Moved  [DISABLED]" in sources.stdout, sources.stdout
    assert_clean(out + sources.stdout + sources.stderr, BAD_TOKEN, SIGNING_SECRET, FEED_PASSWORD)
