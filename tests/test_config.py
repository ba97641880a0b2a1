from __future__ import annotations

from pathlib import Path

import pytest

from spyglass.config import ConfigError, load_settings, parse_duration


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "spyglass.toml"
    p.write_text(text, encoding="utf-8")
    return p


def test_defaults_and_relative_paths(tmp_path: Path) -> None:
    (tmp_path / "stories").mkdir()
    p = write(
        tmp_path,
        '[[sources]]\nname = "Inbox"\npath = "stories"\n\n[[sources]]\nname = "F"\nurl = "https://example.org/feed"\ninterval = "30m"\n',
    )
    s = load_settings(p, env={})
    assert s.database_url == f"sqlite:///{(tmp_path / 'spyglass.db').resolve()}"  # beside the config file
    assert load_settings(p, env={"DATABASE_URL": "sqlite:///here.db"}).database_url == "sqlite:///here.db"
    assert s.max_age == 72 * 3600
    assert s.sources[0].path == (tmp_path / "stories").resolve()
    assert s.sources[0].kind == "folder"
    assert s.sources[1].interval == 1800
    assert s.sources[1].kind == "feed"
    assert s.sources[0].interval == 15 * 60


def test_environment_overrides(tmp_path: Path) -> None:
    p = write(tmp_path, '[storage]\nurl = "sqlite:///other.db"\n')
    s = load_settings(
        p, env={"DATABASE_URL": "postgres://u@h/db", "SLACK_BOT_TOKEN": "xoxb-1", "PORT": "8080"}
    )
    assert s.database_url == "postgresql+psycopg://u@h/db"
    assert s.slack.bot_token == "xoxb-1"
    assert s.port == 8080
    assert "xoxb-1" not in repr(s.slack)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("max_age = 72\n", "max_age"),
        ('[[sources]]\nname = "A"\n', "sources[0] (A): give exactly one of url"),
        ('[[sources]]\nname = "A"\nurl = "ftp://x"\n', "sources[0] (A).url"),
        ('[[sources]]\nname = "A"\nurl = "https://x.org/f"\ninterval = 15\n', "interval"),
        (
            '[[sources]]\nname = "A"\nurl = "https://x.org/f"\n[[sources]]\nname = "A"\nurl = "https://y.org/f"\n',
            "duplicate source name",
        ),
        ('[[sources]]\nname = "A"\nurl = "https://x.org/f"\ncolour = "red"\n', "unknown key"),
        ('[storage]\nurl = "nonsense"\n', "storage.url"),
        ("bogus = 1\n", "bogus: unknown key"),
        ('[fetch]\nmax_bytes = "lots"\n', "fetch.max_bytes"),
        ("this is = = not toml", "invalid TOML"),
    ],
)
def test_bad_config_names_file_key_and_problem(tmp_path: Path, text: str, fragment: str) -> None:
    p = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_settings(p, env={})
    message = str(err.value)
    assert message.startswith(str(p))
    assert fragment in message
    assert "\n" not in message


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_settings(tmp_path / "nope.toml", env={})


@pytest.mark.parametrize(
    ("value", "seconds"), [("15m", 900), ("72h", 259200), ("7d", 604800), ("30s", 30), ("0", 0)]
)
def test_durations(value: str, seconds: float) -> None:
    assert parse_duration(value, "f", "k") == seconds


def test_the_removed_classifier_switch_is_ignored_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    p = write(tmp_path, "[topics]\nclassifier = true\n")
    with caplog.at_level("WARNING"):
        load_settings(p, env={})  # an older config still loads
    assert "topics.classifier is no longer used" in caplog.text
