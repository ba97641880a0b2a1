"""Settings, loaded and validated once. The only module that reads os.environ.

Every problem becomes a ConfigError whose message names the file, the key and what is wrong,
so the CLI can print one line and exit 2 instead of a traceback.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spyglass import durations
from spyglass.defaults import CONFIG_FILE, DATABASE_URL, MAX_AGE, POLL_INTERVAL, SLACK_API_URL
from spyglass.errors import ConfigError

log = logging.getLogger(__name__)

FEED_FILE_SUFFIXES = (".xml", ".rss", ".atom", ".rdf")

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(b|kb|kib|mb|mib|gb|gib)?\s*$", re.I)
_SIZE_UNIT = {"b": 1, "kb": 1000, "kib": 1024, "mb": 10**6, "mib": 2**20, "gb": 10**9, "gib": 2**30}


@dataclass(frozen=True)
class SourceConfig:
    name: str
    url: str = ""  # an RSS/Atom feed
    path: Path | None = None  # a folder of front-matter stories
    interval: float = POLL_INTERVAL
    max_age: float | None = None  # None: the global max_age; 0: no limit
    trusted: bool = True  # sources from the config file are the operator's own
    demo: bool = False  # sample stories for the console: stored and searchable, never alerted to Slack
    # On the source's first poll, alert only stories published this recently (0: none; None: all
    # within max_age). Everything is stored and searchable either way: a new feed's backlog is history.
    first_poll_alerts: float | None = None
    origin: str = "config"  # config | slack | opml (see store/schema.py Source.origin)

    @property
    def kind(self) -> str:
        """feed (over HTTP), folder (of front-matter stories) or feedfile (a feed saved on disk)."""
        if self.url:
            return "feed"
        assert self.path is not None
        return "feedfile" if self.path.suffix.lower() in FEED_FILE_SUFFIXES else "folder"

    @property
    def location(self) -> str:
        return self.url or str(self.path)


@dataclass(frozen=True)
class FetchConfig:
    timeout: float = 10.0
    connect_timeout: float = 5.0
    deadline: float = 30.0
    max_bytes: int = 15 * 2**20
    max_redirects: int = 5
    concurrency: int = (
        64  # conditional GETs are tiny and mostly wait on the network; per_host keeps us polite
    )
    per_host: int = 4
    user_agent: str = ""


@dataclass(frozen=True)
class SlackConfig:
    bot_token: str = ""
    signing_secret: str = ""
    app_token: str = ""
    api_url: str = SLACK_API_URL
    post_interval: float = 1.0  # seconds between posts to one channel (Slack allows about 1/s)
    # Who may add and remove sources from Slack; empty: the workspace's admins and owners.
    source_admins: tuple[str, ...] = ()

    def __repr__(self) -> str:  # never let a token reach a log line
        return f"SlackConfig(bot_token={'set' if self.bot_token else 'unset'}, api_url={self.api_url!r})"


@dataclass(frozen=True)
class Settings:
    config_path: Path
    database_url: str = DATABASE_URL
    retention: float = 365 * 86400.0  # stories published longer ago are pruned (0: keep everything)
    tombstone_retention: float = 2 * 365 * 86400.0
    sources: tuple[SourceConfig, ...] = ()
    max_age: float = MAX_AGE
    topics_file: Path | None = None
    custom_topics: tuple[dict[str, Any], ...] = ()
    fetch: FetchConfig = field(default_factory=FetchConfig)
    slack: SlackConfig = field(default_factory=SlackConfig)
    allow_hosts: tuple[str, ...] = ()
    allow_networks: tuple[str, ...] = ()
    port: int = 3000
    max_backoff: float = 24 * 3600.0
    # The first poll of a source added from Slack or an OPML file alerts only this recent a backlog.
    first_poll_alerts: float | None = 3600.0


def parse_duration(value: Any, where: str, key: str) -> float:
    """'15m', '72h', '7d', '2 hours' → seconds (see durations.py). Bare numbers other than 0 are
    refused: minutes or seconds would be a guess."""
    if isinstance(value, str):
        if value.strip().lower() in ("0", "off", "none"):
            return 0.0
        try:
            return durations.parse_duration(value)
        except durations.DurationError as e:
            raise ConfigError(where, key, str(e)) from None
    if value == 0 and not isinstance(value, bool):
        return 0.0
    raise ConfigError(
        where,
        key,
        f"{value!r} is not a duration; write it as a string with a unit, e.g. {durations.EXAMPLES}",
    )


def parse_size(value: Any, where: str, key: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    if isinstance(value, str):
        m = _SIZE.match(value)
        if m and float(m.group(1)) > 0:
            return int(float(m.group(1)) * _SIZE_UNIT[(m.group(2) or "b").lower()])
    raise ConfigError(where, key, f'{value!r} is not a size; write e.g. "15MiB" or a number of bytes')


def _expect(table: dict[str, Any], allowed: set[str], where: str, prefix: str) -> None:
    for key in table:
        if key not in allowed:
            known = ", ".join(sorted(allowed))
            raise ConfigError(where, f"{prefix}{key}", f"unknown key (known keys: {known})")


def _str(value: Any, where: str, key: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(where, key, "must be a non-empty string")
    return value.strip()


def _num(value: Any, where: str, key: str, minimum: float = 0) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
        raise ConfigError(where, key, f"must be a number ≥ {minimum}")
    return float(value)


def config_path_from(arg: str | None, env: dict[str, str] | None = None) -> Path:
    env = os.environ if env is None else env  # type: ignore[assignment]
    assert env is not None
    return Path(arg or env.get("SPYGLASS_CONFIG") or CONFIG_FILE)


def load_settings(path: Path, env: dict[str, str] | None = None) -> Settings:
    env = dict(os.environ) if env is None else env
    where = str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            where, "", "config file not found (pass --config PATH or set SPYGLASS_CONFIG)"
        ) from None
    except OSError as e:
        raise ConfigError(where, "", f"cannot read config file: {e.strerror}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(where, "", "config file is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(where, "", f"invalid TOML: {e}") from None
    return settings_from_dict(data, path, env)


def _str_list(value: Any, where: str, key: str, example: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ConfigError(where, key, f"must be a list of strings ({example}), not {value!r}")
    return tuple(v.strip() for v in value)


_DRIVERS_WE_DO_NOT_SPEAK = {"mysql": "MySQL", "mariadb": "MariaDB", "mssql": "SQL Server", "oracle": "Oracle"}


def _check_database_url(url: Any, where: str, key: str) -> None:
    """Only the two databases Spyglass is tested on, named in words when it is anything else."""
    hint = "use sqlite:///path/to/spyglass.db or postgresql+psycopg://user:password@host/db"
    if not isinstance(url, str) or "://" not in url:
        raise ConfigError(where, key, f"{url!r} is not a database URL; {hint}")
    scheme = url.split("://", 1)[0].lower()
    backend = scheme.split("+", 1)[0]
    if backend in _DRIVERS_WE_DO_NOT_SPEAK:
        raise ConfigError(where, key, f"{_DRIVERS_WE_DO_NOT_SPEAK[backend]} is not supported; {hint}")
    if backend not in ("sqlite", "postgres", "postgresql"):
        raise ConfigError(where, key, f"unsupported database {scheme!r}; {hint}")
    if backend == "sqlite":
        path = url.split("://", 1)[1].lstrip("/").split("?", 1)[0]
        if not path or path == ":memory:":
            raise ConfigError(
                where,
                key,
                f"{url!r} is an in-memory database, which forgets every story "
                "(and would alert them all again) when Spyglass stops; give a file, e.g. sqlite:///spyglass.db",
            )
    elif scheme not in ("postgres", "postgresql", "postgresql+psycopg"):
        raise ConfigError(
            where,
            key,
            f"{scheme!r}: Spyglass talks to PostgreSQL with psycopg 3; "
            "write postgresql+psycopg://… (or postgres://…)",
        )


def _sqlite_beside(url: str, base: Path) -> str:
    """A relative SQLite path in the config file (or the default) is relative to the config file, like
    every other path there: run from another directory, Spyglass still opens the same history
    instead of starting an empty one and re-sending every alert. ($DATABASE_URL is taken as given.)"""
    prefix = "sqlite:///"
    if not url.startswith(prefix):
        return url
    path, sep, query = url[len(prefix) :].partition("?")
    if not path or path.startswith("/") or path == ":memory:":
        return url
    return prefix + str((base / path).resolve()) + sep + query


def settings_from_dict(data: dict[str, Any], path: Path, env: dict[str, str]) -> Settings:
    where = str(path)
    _expect(
        data,
        {
            "storage",
            "sources",
            "max_age",
            "topics",
            "fetch",
            "slack",
            "network",
            "max_backoff",
            "first_poll_alerts",
        },
        where,
        "",
    )
    db_url, retention, tombstone_retention = _storage(data, where, path.parent, env)
    topics = _table(data, "topics", where, {"file", "custom", "classifier"})
    # Older configs: the trained classifier added nothing on real news and was removed.
    if "classifier" in topics:
        log.warning(
            "%s: topics.classifier is no longer used (the classifier was removed); ignoring it", where
        )
    topics_file = (
        (path.parent / _str(topics["file"], where, "topics.file")).resolve() if "file" in topics else None
    )
    custom = topics.get("custom", [])
    if not isinstance(custom, list) or not all(isinstance(t, dict) for t in custom):
        raise ConfigError(where, "topics.custom", "must be an array of tables ([[topics.custom]])")
    allow_hosts, allow_networks = _network(data, where)
    port_raw = env.get("PORT") or "3000"
    if not port_raw.isdigit() or not 0 < int(port_raw) < 65536:
        raise ConfigError("environment", "PORT", f"{port_raw!r} is not a TCP port number")
    return Settings(
        config_path=path,
        database_url=db_url,
        retention=retention,
        tombstone_retention=tombstone_retention or 2 * retention,
        sources=_sources(data, where, path.parent),
        max_age=parse_duration(data.get("max_age", "72h"), where, "max_age"),
        topics_file=topics_file,
        custom_topics=tuple(custom),
        fetch=_fetch(data, where),
        slack=_slack(data, where, env),
        allow_hosts=allow_hosts,
        allow_networks=allow_networks,
        port=int(port_raw),
        max_backoff=parse_duration(data.get("max_backoff", "24h"), where, "max_backoff"),
        first_poll_alerts=first_poll_window(data.get("first_poll_alerts", "1h"), where, "first_poll_alerts"),
    )


def first_poll_window(value: Any, where: str, key: str) -> float | None:
    """`first_poll_alerts`: "all" (None: whatever max_age allows), "0" (none) or a duration."""
    if isinstance(value, str) and value.strip().lower() == "all":
        return None
    return parse_duration(value, where, key)


def _table(data: dict[str, Any], key: str, where: str, allowed: set[str]) -> dict[str, Any]:
    """A [key] table of the config (empty when absent), with unknown keys refused."""
    table = data.get(key, {})
    if not isinstance(table, dict):
        raise ConfigError(where, key, f"must be a table ([{key}])")
    _expect(table, allowed, where, key + ".")
    return table


def _storage(data: dict[str, Any], where: str, base: Path, env: dict[str, str]) -> tuple[str, float, float]:
    storage = _table(data, "storage", where, {"url", "retention", "tombstone_retention"})
    retention = parse_duration(storage.get("retention", "365d"), where, "storage.retention")
    tombstones = parse_duration(storage.get("tombstone_retention", "0"), where, "storage.tombstone_retention")
    from_env = env.get("DATABASE_URL")
    db_url = from_env or storage.get("url") or DATABASE_URL
    _check_database_url(
        db_url, "environment" if from_env else where, "DATABASE_URL" if from_env else "storage.url"
    )
    if not from_env:
        db_url = _sqlite_beside(db_url, base)
    if db_url.startswith(("postgres://", "postgresql://")):
        # Hosts hand out postgres:// URLs; SQLAlchemy needs the driver named.
        db_url = "postgresql+psycopg://" + db_url.split("://", 1)[1]
    return db_url, retention, tombstones


def _sources(data: dict[str, Any], where: str, base: Path) -> tuple[SourceConfig, ...]:
    raw = data.get("sources", [])
    if not isinstance(raw, list):
        raise ConfigError(where, "sources", "must be an array of tables ([[sources]])")
    sources: list[SourceConfig] = []
    for i, src in enumerate(raw):
        cfg = _source(src, i, where, base)
        if any(s.name == cfg.name for s in sources):
            raise ConfigError(where, f"sources[{i}] ({cfg.name}).name", "duplicate source name")
        sources.append(cfg)
    return tuple(sources)


def _source(src: Any, i: int, where: str, base: Path) -> SourceConfig:
    key = f"sources[{i}]"
    if not isinstance(src, dict):
        raise ConfigError(where, key, "must be a table")
    _expect(
        src, {"name", "url", "path", "interval", "max_age", "demo", "first_poll_alerts"}, where, key + "."
    )
    name = _str(src.get("name"), where, key + ".name")
    key = f"sources[{i}] ({name})"
    url, folder = src.get("url"), src.get("path")
    if bool(url) == bool(folder):
        raise ConfigError(
            where, key, "give exactly one of url (a feed) or path (a folder of stories, or a feed file)"
        )
    folder_path = None
    if url:
        url = _str(url, where, key + ".url")
        if not re.match(r"^https?://[^/\s]+", url, re.I):
            raise ConfigError(where, key + ".url", f"{url!r} is not an http(s) URL")
    else:
        folder_path = (base / _str(folder, where, key + ".path")).resolve()
    interval = parse_duration(src.get("interval", "15m"), where, key + ".interval")
    if interval < 30:
        raise ConfigError(where, key + ".interval", "must be at least 30s")
    max_age = parse_duration(src["max_age"], where, key + ".max_age") if "max_age" in src else None
    demo = src.get("demo", False)
    if not isinstance(demo, bool):
        raise ConfigError(where, key + ".demo", "must be true or false")
    # The operator chose this source: its first poll alerts what max_age allows, unless it says otherwise.
    first = (
        first_poll_window(src["first_poll_alerts"], where, key + ".first_poll_alerts")
        if "first_poll_alerts" in src
        else None
    )
    return SourceConfig(
        name=name,
        url=url or "",
        path=folder_path,
        interval=interval,
        max_age=max_age,
        demo=demo,
        first_poll_alerts=first,
    )


_FETCH_KEYS = {
    "timeout",
    "connect_timeout",
    "deadline",
    "max_bytes",
    "max_redirects",
    "concurrency",
    "per_host",
    "user_agent",
}


def _fetch(data: dict[str, Any], where: str) -> FetchConfig:
    fetch = _table(data, "fetch", where, _FETCH_KEYS)
    return FetchConfig(
        timeout=parse_duration(fetch.get("timeout", "10s"), where, "fetch.timeout"),
        connect_timeout=parse_duration(fetch.get("connect_timeout", "5s"), where, "fetch.connect_timeout"),
        deadline=parse_duration(fetch.get("deadline", "30s"), where, "fetch.deadline"),
        max_bytes=parse_size(fetch.get("max_bytes", "15MiB"), where, "fetch.max_bytes"),
        max_redirects=int(_num(fetch.get("max_redirects", 5), where, "fetch.max_redirects")),
        concurrency=int(_num(fetch.get("concurrency", 64), where, "fetch.concurrency", 1)),
        per_host=int(_num(fetch.get("per_host", 4), where, "fetch.per_host", 1)),
        user_agent=str(fetch.get("user_agent", "")),
    )


def _slack(data: dict[str, Any], where: str, env: dict[str, str]) -> SlackConfig:
    slack = _table(data, "slack", where, {"post_interval", "api_url", "source_admins"})
    api_url = env.get("SLACK_API_URL") or slack.get("api_url") or SLACK_API_URL
    if not re.match(r"^https?://", api_url):
        raise ConfigError(where, "SLACK_API_URL", f"{api_url!r} is not an http(s) URL")
    if not api_url.endswith("/"):
        api_url += "/"
    return SlackConfig(
        bot_token=env.get("SLACK_BOT_TOKEN", "").strip(),
        signing_secret=env.get("SLACK_SIGNING_SECRET", "").strip(),
        app_token=env.get("SLACK_APP_TOKEN", "").strip(),
        api_url=api_url,
        post_interval=_num(slack.get("post_interval", 1.0), where, "slack.post_interval"),
        source_admins=_str_list(
            slack.get("source_admins", []), where, "slack.source_admins", 'e.g. ["U012ABCDEF"]'
        ),
    )


def _network(data: dict[str, Any], where: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    network = _table(data, "network", where, {"allow_hosts", "allow_networks"})
    hosts = _str_list(network.get("allow_hosts", []), where, "network.allow_hosts", 'e.g. ["feeds.internal"]')
    networks = _str_list(
        network.get("allow_networks", []), where, "network.allow_networks", 'e.g. ["10.0.0.0/8"]'
    )
    for net in networks:
        try:
            ipaddress.ip_network(net, strict=False)
        except ValueError:
            raise ConfigError(
                where,
                "network.allow_networks",
                f'{net!r} is not a network; write an address or a CIDR block, e.g. "10.0.0.0/8"',
            ) from None
    return hosts, networks
