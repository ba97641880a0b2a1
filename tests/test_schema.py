"""The migrations and the SQLAlchemy models describe the same database (Alembic's own comparison),
on SQLite here and on PostgreSQL when it is available."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import JSON, Column, Integer, MetaData, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeDecorator

from spyglass.store.db import make_engine, open_store
from spyglass.store.migrate import upgrade
from spyglass.store.schema import Base

# Full-text search lives outside the models on purpose: FTS5 virtual tables on SQLite, a generated
# tsvector column and its index on PostgreSQL (migrations 0002, 0003 and 0011).
NOT_MODELLED = {
    "stories_fts",
    "stories_fts_data",
    "stories_fts_idx",
    "stories_fts_docsize",
    "stories_fts_config",
    "fts_pending",  # stories stored but not yet indexed (0011)
}


def _include(obj: Any, name: str | None, kind: str, reflected: bool, compare_to: Any) -> bool:
    if kind == "table" and name in NOT_MODELLED:
        return False
    if kind == "column" and name == "search" and obj.table.name == "stories":
        return False
    return not (kind == "index" and name == "ix_stories_search")


def _same_type(
    ctx: Any, inspected: Any, metadata: Any, inspected_type: Any, metadata_type: Any
) -> bool | None:
    if isinstance(metadata_type, TypeDecorator):  # the type the dialect actually gets (JSONData)
        metadata_type = metadata_type.load_dialect_impl(ctx.dialect)
    # SQLite has no JSON type: SQLAlchemy's JSON is text there. Anything else: Alembic decides.
    if ctx.dialect.name == "sqlite" and isinstance(metadata_type, JSON) and isinstance(inspected_type, Text):
        return False
    if isinstance(metadata_type, JSON) and isinstance(inspected_type, JSONB):
        return False
    return None


def _drift(url: str, metadata: MetaData = Base.metadata) -> list[Any]:
    store = open_store(url)
    try:
        with store.engine.connect() as conn:
            opts = {"compare_type": _same_type, "include_object": _include}
            return list(compare_metadata(MigrationContext.configure(conn, opts=opts), metadata))
    finally:
        store.dispose()


def test_sqlite_schema_matches_the_models(db_url: str) -> None:
    assert _drift(db_url) == []


def test_postgres_schema_matches_the_models(pg_url: str) -> None:
    assert _drift(pg_url) == []


def test_the_comparison_sees_a_difference(db_url: str) -> None:
    """Guard for the guard: a column the migrations never made is reported."""
    copy = MetaData()
    for table in Base.metadata.sorted_tables:
        table.to_metadata(copy)
    copy.tables["meta"].append_column(Column("not_migrated", Integer))
    drift = _drift(db_url, copy)
    assert any(d[0] == "add_column" and d[3].name == "not_migrated" for d in drift), drift


def _upgrade_with_a_story(url: str) -> list[tuple[int, str]]:
    engine = make_engine(url, migrate=False)
    upgrade(engine, "0006")
    matches = '{"drones": ["drone"], "kw:abc": ["\\"drones\\" too"]}'  # a phrase naming another topic
    when = datetime(2026, 1, 1, tzinfo=UTC)
    with engine.begin() as c:
        c.execute(text("INSERT INTO clusters (id, created_at, size) VALUES (1, :t, 1)"), {"t": when})
        c.execute(
            text(
                "INSERT INTO stories (id, url, original_url, title, summary, published_at, fetched_at, provider,"
                " provider_domain, image, cluster_id, signature, matches, related) VALUES (7, 'u', 'u', 't', 's',"
                " :t, :t, '', '', '', 1, :sig, :m, '[]')"
            ),
            {"t": when, "sig": b"\x00", "m": matches},
        )
    upgrade(engine)
    with engine.connect() as c:
        rows = c.execute(text("SELECT story_id, slug FROM story_topics ORDER BY slug")).all()
        found = c.execute(text("SELECT story_id FROM story_topics WHERE slug = 'drones'")).scalars().all()
    engine.dispose()
    assert found == [7]
    return [(int(r[0]), str(r[1])) for r in rows]


def test_upgrading_an_older_database_indexes_the_topics_it_already_holds(db_url: str) -> None:
    """Migration 0007 fills story_topics from the stories already stored, so `topic:` keeps finding them."""
    assert _upgrade_with_a_story(db_url) == [(7, "drones"), (7, "kw:abc")]


def test_upgrading_an_older_postgres_database_indexes_its_topics(pg_url: str) -> None:
    assert _upgrade_with_a_story(pg_url) == [(7, "drones"), (7, "kw:abc")]


def test_the_cheap_head_revision_is_alembics_own() -> None:
    """Start-up reads the head from the file names; Alembic reads the migrations' revision chain."""
    from alembic.script import ScriptDirectory

    from spyglass.store.migrate import alembic_config, head_revision

    assert head_revision() == ScriptDirectory.from_config(alembic_config()).get_current_head()


def test_current_revision_of_an_empty_database_is_none(tmp_path: Path) -> None:
    from spyglass.store.migrate import current_revision

    engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}", migrate=False)
    assert current_revision(engine) is None
    upgrade(engine)
    from spyglass.store.migrate import head_revision

    assert current_revision(engine) == head_revision()
    engine.dispose()
