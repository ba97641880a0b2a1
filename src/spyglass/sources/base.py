"""What every kind of source gives the refresh: a `Reading` (the stories, what was skipped and why,
and what to remember for next time), or a `SourceError` naming why it could not be read.

Three kinds share the protocol: a feed over HTTP (`sources/feed.py`), a feed saved on disk (same
module), and a folder of Markdown stories (`sources/folder.py`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy.orm import Session

from spyglass.config import SourceConfig
from spyglass.models import Story
from spyglass.sources.state import HttpState
from spyglass.store.db import Store


@dataclass
class Reading:
    """One reading of one source. ``unchanged``: nothing new to read (HTTP 304, an unchanged file)."""

    stories: list[Story] = field(default_factory=list)
    seen: int = 0  # entries (or files) read
    skips: Counter[str] = field(default_factory=Counter)  # why entries did not become stories
    unchanged: bool = False
    http: HttpState | None = None  # a feed's validators, for the next conditional request
    # Written in the transaction that stores the stories (a folder's file digests): all or nothing.
    remember: Callable[[Session], None] | None = None
    note: str = ""  # shown with the source's result, e.g. "2 file(s) skipped; see the log"


class SourceReader(Protocol):
    cfg: SourceConfig

    def read(self, store: Store, source_id: int) -> Reading:
        """Read the source; raise `SourceError` (or a subclass) when it cannot be read at all."""
        ...
