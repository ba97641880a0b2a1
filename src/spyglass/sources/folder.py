"""Folder sources: every *.md file is one story; unchanged files are skipped by size, mtime and hash."""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from spyglass.clock import now_utc
from spyglass.config import SourceConfig
from spyglass.defaults import MAX_FILE_BYTES, MAX_FILES
from spyglass.errors import FolderError
from spyglass.models import Story
from spyglass.parse.story_file import StoryFileError, parse_story_text
from spyglass.sources.base import Reading
from spyglass.store.db import Store
from spyglass.store.schema import FolderFile

log = logging.getLogger(__name__)

SUFFIXES = (".md", ".markdown")


@dataclass
class FileResult:
    path: str  # relative to the folder
    mtime_ns: int
    size: int
    digest: str
    story: Story | None = None
    error: str = ""


@dataclass(frozen=True)
class Seen:
    mtime_ns: int
    size: int
    digest: str


def scan_folder(folder: Path, *, source: str, seen: Mapping[str, Seen], now: datetime) -> list[FileResult]:
    """Read new or changed story files. A bad file yields a FileResult with an error, never an exception.

    A result with neither story nor error is a file whose bytes did not change (only its mtime):
    the caller records the new mtime so the next scan skips it without reading.
    """
    if not folder.is_dir():
        raise FolderError(f"folder {folder} does not exist or is not a directory")
    results: list[FileResult] = []
    paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in SUFFIXES and p.is_file())
    for path in paths:
        if len(results) >= MAX_FILES:  # the rest are read on the next polls, not never
            break
        rel = path.relative_to(folder).as_posix()
        try:
            st = path.stat()
        except OSError as e:
            results.append(FileResult(rel, 0, 0, "", error=f"cannot stat: {e.strerror}"))
            continue
        prior = seen.get(rel)
        if prior and prior.mtime_ns == st.st_mtime_ns and prior.size == st.st_size:
            continue  # cheap check first: nothing to read
        results.append(_read_one(path, rel, st.st_mtime_ns, st.st_size, source, prior, now))
    return results


def _read_one(
    path: Path, rel: str, mtime_ns: int, size: int, source: str, prior: Seen | None, now: datetime
) -> FileResult:
    if size > MAX_FILE_BYTES:
        return FileResult(
            rel, mtime_ns, size, "", error=f"file is {size:,} bytes, over the {MAX_FILE_BYTES:,}-byte limit"
        )
    try:
        data = path.read_bytes()
    except OSError as e:
        return FileResult(rel, mtime_ns, size, "", error=f"cannot read: {e.strerror}")
    digest = hashlib.sha256(data).hexdigest()
    result = FileResult(rel, mtime_ns, size, digest)
    if prior and prior.digest == digest:
        return result  # touched, not changed
    if b"\x00" in data[:8192]:
        result.error = "binary file (contains NUL bytes), not a Markdown story"
        return result
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        result.error = f"not UTF-8 text (bad byte at offset {e.start})"
        return result
    try:
        result.story = parse_story_text(text, source=source, file_id=f"file:{source}:{rel}", now=now)
    except StoryFileError as e:
        result.error = str(e)
    except Exception as e:  # a parser bug must not stop the folder; say which file
        log.exception("unexpected error parsing %s", path)
        result.error = f"unexpected error: {type(e).__name__}"
    return result


class FolderSource:
    """A folder of Markdown stories. Bad files are remembered (with their digest) in the same
    transaction as the stories, so they are not read again until they change."""

    def __init__(self, cfg: SourceConfig) -> None:
        assert cfg.path is not None
        self.cfg, self.path = cfg, cfg.path

    def read(self, store: Store, source_id: int) -> Reading:
        with store.session() as s:
            rows = s.scalars(select(FolderFile).where(FolderFile.source_id == source_id))
            seen = {f.path: Seen(f.mtime_ns, f.size, f.digest) for f in rows}
        files = scan_folder(self.path, source=self.cfg.name, seen=seen, now=now_utc())
        for f in files:
            if f.error:
                log.warning("source %s: %s: %s", self.cfg.name, f.path, f.error)

        def remember(s: Session) -> None:
            for f in files:
                row = s.get(FolderFile, (source_id, f.path))
                if row is None:
                    row = FolderFile(source_id=source_id, path=f.path)
                    s.add(row)
                row.mtime_ns, row.size, row.digest, row.error = f.mtime_ns, f.size, f.digest, f.error or None

        bad = sum(1 for f in files if f.error)
        return Reading(
            stories=[f.story for f in files if f.story],
            seen=len(files),
            # Why files were skipped, by the first words of their error ("a draft (…)", "front matter has no title").
            skips=Counter(f.error.split(":")[0] for f in files if f.error),
            remember=remember,
            note=f"{bad} file(s) skipped; see the log" if bad else "",
        )
