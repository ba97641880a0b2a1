"""Alembic, driven from code: `spyglass db upgrade`, and every command that opens the store.

Every command checks the schema on start, so the check is cheap: one query of `alembic_version`,
compared with the newest migration file's revision (files are named `NNNN_….py` with revision
"NNNN"; a test holds that to Alembic's own head). Alembic itself is imported only to migrate.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from spyglass.store.revision import MIGRATIONS, head_revision

if TYPE_CHECKING:
    from alembic.config import Config

_PG_LOCK = 7_262_533_001  # advisory lock id: one migrator at a time across workers


__all__ = ["MIGRATIONS", "head_revision"]


def alembic_config() -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def current_revision(engine: Engine) -> str | None:
    """The database's revision; None for a database Alembic never touched."""
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except DBAPIError as e:
        if "alembic_version" in str(e.orig):  # no such table: an empty database
            return None
        raise


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Upgrade to `revision`. Cheap when already there; serialized when several processes start at once."""
    if revision == "head" and current_revision(engine) == head_revision():
        return
    from alembic import command

    cfg = alembic_config()
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK})
        # On SQLite the BEGIN IMMEDIATE issued for this transaction already serializes migrators.
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def downgrade(engine: Engine, revision: str) -> None:
    from alembic import command

    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)
