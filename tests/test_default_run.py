"""The promise to a new user: the bundled config polls the bundled samples offline and prints alerts."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from spyglass.cli import main
from support.labels import SHIPPED_TOPICS

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(ROOT / "config", tmp_path / "config")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'spyglass.db'}")
    return tmp_path / "config" / "spyglass.toml"


def test_poll_once_prints_alerts_then_nothing_new(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", str(config), "poll", "--once"]) == 0
    out, err = capsys.readouterr()
    # the seed story, with provider, topic, why, link and related coverage
    assert "Push to have Cleveland at 'forefront' of face recognition technology" in out
    assert "The Northern Echo" in out and "Face recognition" in out
    assert 'why: "face recognition"' in out
    assert "https://www.thenorthernecho.co.uk/news/19439337" in out
    assert "Teesside Gazette" in out
    # the same-outlet republish in the sample feed is not a second alert: it is an update in the
    # thread, and not repeated in the alert's related coverage
    assert out.count("Push to put Cleveland Police") == 1
    assert "updated by The Northern Echo: Push to put Cleveland Police" in out
    # hard negative in the sample feed
    assert "Boxing" not in out
    assert "new stories" in err

    assert main(["--config", str(config), "poll", "--once"]) == 0
    out2, err2 = capsys.readouterr()
    assert out2 == ""
    assert "0 new stories, 0 alert(s) delivered" in err2


def test_search_finds_the_seed_story_after_a_poll(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", str(config), "poll", "--once"]) == 0
    capsys.readouterr()
    assert main(["--config", str(config), "search", "facial recognition"]) == 0
    out = capsys.readouterr().out
    assert "Cleveland" in out and "thenorthernecho.co.uk/news/19439337" in out


def test_topics_and_sources_commands(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", str(config), "topics"]) == 0
    out = capsys.readouterr().out
    for slug in SHIPPED_TOPICS:
        assert slug in out
    assert main(["--config", str(config), "poll"]) == 0
    capsys.readouterr()
    assert main(["--config", str(config), "sources"]) == 0
    out = capsys.readouterr().out
    assert "Sample stories  [ok]" in out and "Sample feed  [ok]" in out


def test_db_upgrade_is_idempotent(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", str(config), "db", "upgrade"]) == 0
    assert "was empty" in capsys.readouterr().out
    assert main(["--config", str(config), "db", "upgrade"]) == 0
    assert "up to date" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--config", "/nonexistent/spyglass.toml", "poll"], "config file not found"),
        (["search", 'since:"forever"', "x"], "since:forever is not understood"),
    ],
)
def test_user_mistakes_are_one_line_and_exit_2(
    config: Path, args: list[str], fragment: str, capsys: pytest.CaptureFixture[str]
) -> None:
    if "--config" not in args:
        args = ["--config", str(config), *args]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert fragment in err and "Traceback" not in err
    assert err.strip().count("\n") == 0


def test_bad_config_value_exits_2_naming_file_and_key(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text('[[sources]]\nname = "x"\nurl = "https://example.org/feed"\ninterval = "soon"\n')
    p = subprocess.run(
        [sys.executable, "-m", "spyglass", "--config", str(cfg), "poll", "--once"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert p.returncode == 2
    assert str(cfg) in p.stderr and "sources[0] (x).interval" in p.stderr and "Traceback" not in p.stderr


def test_serve_without_credentials_exits_2(config: Path) -> None:
    p = subprocess.run(
        [sys.executable, "-m", "spyglass", "--config", str(config), "serve", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert p.returncode == 2
    assert "SLACK_BOT_TOKEN is not set" in p.stderr and "Traceback" not in p.stderr


def test_every_command_has_help() -> None:
    from spyglass.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name, action in sub.choices.items():  # type: ignore[union-attr]
        assert action.description or action.format_help(), name
        helps = sub._choices_actions  # type: ignore[attr-defined]  # argparse keeps subcommand help here
        assert any(c.dest == name for c in helps) and all(c.help for c in helps)


def test_global_options_work_after_the_command_too(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # `spyglass poll --once --config x -v` is the same as `spyglass --config x -v poll --once`.
    assert main(["poll", "--once", "--config", str(config), "-v"]) == 0
    out, err = capsys.readouterr()
    assert "Push to have Cleveland" in out and "polled 2 source(s)" in err
    assert main(["sources", "--config", str(config)]) == 0
    assert "Sample stories" in capsys.readouterr().out
    # Given after the command, it wins over the one before it.
    assert main(["--config", str(tmp_path / "missing.toml"), "topics", "--config", str(config)]) == 0
    assert main(["db", "current", "--config", str(config)]) == 0


def test_the_config_files_relative_database_is_found_from_any_directory(tmp_path: Path) -> None:
    """`cd elsewhere && spyglass --config /path/spyglass.toml poll --once` opens the same history
    (beside the config file), so nothing is sent twice; `spyglass sources` names the database."""
    shutil.copytree(ROOT / "config", tmp_path / "config")
    cfg = tmp_path / "config" / "spyglass.toml"
    env = {k: v for k, v in __import__("os").environ.items() if k != "DATABASE_URL"}
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    first = subprocess.run(
        [sys.executable, "-m", "spyglass", "--config", str(cfg), "poll", "--once"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=tmp_path,
    )
    assert first.returncode == 0 and "Cleveland" in first.stdout, first.stderr
    again = subprocess.run(
        [sys.executable, "-m", "spyglass", "--config", str(cfg), "poll", "--once"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=elsewhere,
    )
    assert again.returncode == 0 and "0 alert(s) delivered" in again.stderr, again.stderr
    assert (tmp_path / "config" / "spyglass.db").exists() and not list(elsewhere.iterdir())
    shown = subprocess.run(
        [sys.executable, "-m", "spyglass", "--config", str(cfg), "sources"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=elsewhere,
    )
    assert f"database: sqlite:///{(tmp_path / 'config' / 'spyglass.db').resolve()}" in shown.stdout


def test_with_a_slack_token_the_archival_samples_never_reach_a_channel(
    config: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from spyglass.config import load_settings
    from spyglass.service import build_services
    from spyglass.slack.commands import Caller, handle
    from support.fakeslack import TOKEN, FakeSlack

    with FakeSlack() as slack:
        monkeypatch.setenv("SLACK_BOT_TOKEN", TOKEN)
        monkeypatch.setenv("SLACK_API_URL", slack.api_url)
        svc = build_services(load_settings(config))
        assert handle(svc, Caller("T1", "CREAL", "U1"), "subscribe face-recognition").in_channel
        assert main(["--config", str(config), "poll", "--once"]) == 0
        err = capsys.readouterr().err
        assert slack.posts() == []  # 2021 stories are not news
        assert "demo source(s), never alerted to Slack" in err
        assert main(["--config", str(config), "search", "facial recognition"]) == 0
        assert "thenorthernecho.co.uk/news/19439337" in capsys.readouterr().out  # still searchable
