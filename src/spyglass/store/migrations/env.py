"""Alembic environment: always driven from spyglass.store.migrate with a live connection."""

from __future__ import annotations

from alembic import context

from spyglass.store.schema import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise SystemExit("run migrations with `spyglass db upgrade`")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    transaction_per_migration=False,
)
context.run_migrations()
