"""The newest migration's revision, read from the migration files' names (no SQLAlchemy, no Alembic):
files are named `NNNN_….py` with revision "NNNN", and a test holds that to Alembic's own head."""

from __future__ import annotations

import re
from pathlib import Path

MIGRATIONS = Path(__file__).parent / "migrations"
_REVISION_FILE = re.compile(r"^(\d{4})_\w+\.py$")


def head_revision() -> str:
    revisions = [
        m.group(1) for p in (MIGRATIONS / "versions").iterdir() if (m := _REVISION_FILE.match(p.name))
    ]
    return max(revisions)
