"""Shared fixtures. No test touches the internet: proxies are cleared for every test."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")
FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(autouse=True)
def _no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in PROXY_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "*")
    monkeypatch.setenv("no_proxy", "*")
    for var in (
        "SLACK_BOT_TOKEN",
        "SLACK_SIGNING_SECRET",
        "SLACK_APP_TOKEN",
        "SLACK_API_URL",
        "DATABASE_URL",
        "SPYGLASS_CONFIG",
        "PORT",
    ):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'spyglass.db'}"


@pytest.fixture
def pg_url() -> Iterator[str]:
    """The real PostgreSQL given by SPYGLASS_TEST_POSTGRES_URL, in a fresh schema of its own.

    Each test gets an empty schema (via search_path in the URL), so concurrent test runs against
    one database never see each other's tables; the schema is dropped afterwards.
    """
    url = os.environ.get("SPYGLASS_TEST_POSTGRES_URL")
    if not url:
        pytest.skip(
            "PostgreSQL tests need SPYGLASS_TEST_POSTGRES_URL (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test)"
        )
    from sqlalchemy import create_engine, text

    schema = f"t_{uuid.uuid4().hex[:12]}"
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in url else "?"
    try:
        yield f"{url}{sep}options=-csearch_path%3D{schema}"
    finally:
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The per-topic quality table, when the quality tests ran (see tests/test_topic_quality.py)."""
    from support.labels import QUALITY_REPORT

    for line in QUALITY_REPORT:
        terminalreporter.write_line(line)
