"""The disk's bad days: a database on a small file system that fills mid-poll, or turns read-only.

Each test mounts its own tmpfs (root only; skipped with the reason otherwise) and unmounts it after.
What must hold: the poll of the other sources goes on, no traceback reaches the user, the errors and
lease releases the database refused are written once space comes back, and no story is lost.
"""

from __future__ import annotations

import errno
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from spyglass.cli import main
from spyglass.config import load_settings
from spyglass.refresh import poll
from spyglass.service import build_services
from support.feeds import distinct_story, rss
from support.feedserver import FeedServer, Reply


class SmallDisk:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.filler = root / "filler"

    def fill(self) -> None:
        """Take every free byte, so the next write that needs a new page fails with ENOSPC."""
        with open(self.filler, "ab", buffering=0) as f:
            for size in (1 << 20, 1 << 14, 1 << 10, 64, 1):
                try:
                    while True:
                        f.write(b"\0" * size)
                except OSError as e:
                    assert e.errno == errno.ENOSPC

    def free(self) -> None:
        self.filler.unlink(missing_ok=True)

    def read_only(self, on: bool) -> None:
        subprocess.run(["mount", "-o", f"remount,{'ro' if on else 'rw'}", str(self.root)], check=True)


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[SmallDisk]:
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    root = tmp_path / "disk"
    root.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(root)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield SmallDisk(root)
    finally:
        subprocess.run(["umount", "-l", str(root)], check=False)


def _config(tmp_path: Path, disk: SmallDisk, feeds: FeedServer) -> Path:
    cfg = tmp_path / "spyglass.toml"
    cfg.write_text(
        f'[storage]\nurl = "sqlite:///{disk.root / "sg.db"}"\n'
        f'[[sources]]\nname = "A"\nurl = "{feeds.url("/a.xml")}"\ninterval = "30m"\n'
        f'[[sources]]\nname = "B"\nurl = "{feeds.url("/b.xml")}"\ninterval = "30m"\n'
    )
    return cfg


def _rows(db: Path) -> dict[str, tuple[object, ...]]:
    with sqlite3.connect(db) as c:
        return {
            r[0]: r[1:] for r in c.execute("SELECT name, lease_owner, error_count, last_error FROM sources")
        }


def _stories(db: Path) -> int:
    with sqlite3.connect(db) as c:
        return int(c.execute("SELECT count(*) FROM stories").fetchone()[0])


def test_a_disk_that_fills_mid_poll_loses_no_bookkeeping(
    tmp_path: Path, disk: SmallDisk, capsys: pytest.CaptureFixture[str]
) -> None:
    with FeedServer() as feeds:
        feeds.route("/a.xml", body=rss([distinct_story(i, "a") for i in range(3)]))
        feeds.route("/b.xml", body=rss([distinct_story(i, "b") for i in range(3)]))
        svc = build_services(load_settings(_config(tmp_path, disk, feeds), env={}))
        assert all(r.status == "ok" for r in poll(svc, "w1").sources)
        db = disk.root / "sg.db"
        assert _stories(db) == 6

        # The next reading is big, and the disk fills while the feeds are being fetched (after the claim).
        big_a = rss([distinct_story(i, "a") for i in range(300)])
        big_b = rss([distinct_story(i, "b") for i in range(300)])

        def fill_then_answer(_req: object) -> Reply:
            disk.fill()
            return Reply(body=big_a, headers={"Content-Type": "application/rss+xml"})

        feeds.route("/a.xml", handler=fill_then_answer)
        feeds.route("/b.xml", body=big_b)
        report = poll(svc, "w1")  # must not raise
        assert [r.status for r in report.sources] == ["error", "error"]
        assert all("disk is full" in r.error for r in report.sources), [r.error for r in report.sources]
        assert set(svc.unsaved.failures) == {"A", "B"}
        assert svc.unsaved.leases == {"A", "B"}

        # Space comes back: the next (scheduled) poll writes the errors and gives the leases back first.
        disk.free()
        feeds.route("/a.xml", body=big_a)
        poll(svc, "w1", only_due=True)
        rows = _rows(db)
        assert rows["A"][0] is None and rows["B"][0] is None, rows  # not leased
        assert rows["A"][1] == 1 and "disk is full" in str(rows["A"][2]), rows
        assert not svc.unsaved.failures and not svc.unsaved.leases

        capsys.readouterr()
        assert main(["--config", str(tmp_path / "spyglass.toml"), "sources"]) == 0
        shown = capsys.readouterr().out
        assert shown.count("[error]") == 2 and "disk is full" in shown

        # Nothing was lost: a poll now stores every story the full disk refused.
        assert all(r.status == "ok" for r in poll(svc, "w1").sources)
        assert _stories(db) == 600


def _cli(cfg: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "spyglass", "--config", str(cfg), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_full_and_read_only_disks_are_one_line_errors(tmp_path: Path, disk: SmallDisk) -> None:
    with FeedServer() as feeds:
        feeds.route("/a.xml", body=rss([distinct_story(i, "a") for i in range(3)]))
        feeds.route("/b.xml", body=rss([distinct_story(i, "b") for i in range(3)]))
        cfg = _config(tmp_path, disk, feeds)
        assert _cli(cfg, "poll", "--once").returncode == 0
        feeds.route("/a.xml", body=rss([distinct_story(i, "a") for i in range(300)]))
        feeds.route("/b.xml", body=rss([distinct_story(i, "b") for i in range(300)]))

        disk.fill()
        full = _cli(cfg, "poll", "--once")
        disk.free()
        assert full.returncode != 0
        assert "Traceback" not in full.stderr, full.stderr[-3000:]
        assert "disk is full" in full.stderr, full.stderr[-3000:]

        disk.read_only(True)
        try:
            for args in (["poll", "--once"], ["sources"], ["search", "facial"]):
                done = _cli(cfg, *args)
                assert "Traceback" not in done.stderr, (args, done.stderr[-3000:])
                if done.returncode != 0:
                    assert "read-only" in done.stderr or "cannot be opened" in done.stderr, (
                        args,
                        done.stderr,
                    )
        finally:
            disk.read_only(False)
        assert _cli(cfg, "poll", "--once").returncode == 0
