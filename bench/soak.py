"""Soak: `spyglass run` for a long time on growing feeds and steady Slack traffic; does anything grow?

    .venv/bin/python bench/soak.py --minutes 60            # about an hour; samples once a minute
    .venv/bin/python bench/soak.py --minutes 5 --sample 10 # a quick look

Not part of CI. Feeds on 127.0.0.1 gain a story every `--every` seconds each (half about
surveillance), five channels follow topics, and a signed slash command (`list`, `search …`,
`topics`) arrives every few seconds, as a busy workspace would send. Once per sample it reads the
process's resident memory, open file descriptors and threads from /proc, and the SQLite WAL and
database sizes. It prints a row per sample and a summary: the growth per hour over the whole run
and over its second half. Memory that levels off grows in the first half and not in the second.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))  # tests/support: the stand-ins the tests use

import gen  # noqa: E402
from support.fakeslack import TOKEN, FakeSlack  # noqa: E402
from support.slackreq import slash  # noqa: E402

SECRET = "soak-signing-secret"
CHANNELS = {
    "CSOAK1": "face-recognition",
    "CSOAK2": "drones",
    "CSOAK3": "alpr",
    "CSOAK4": "spyware cctv",
    "CSOAK5": '"police"',
}
COMMANDS = ["list", "topics", "search facial recognition", "search drones since:1d", "search police*"]
WINDOW = 40  # items per feed document


class GrowingFeeds:
    """Feed k holds its newest WINDOW stories; a new one appears every `every` seconds."""

    def __init__(self, n: int, every: float) -> None:
        self.n, self.every, self.t0 = n, every, time.time()
        self.fetches = 0
        feeds = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                feeds.fetches += 1
                k = int(self.path.strip("/").removeprefix("feed").removesuffix(".xml") or 0)
                body = feeds.body(k)
                self.send_response(200)
                self.send_header("Content-Type", "application/rss+xml")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def body(self, k: int) -> bytes:
        newest = int((time.time() - self.t0) / self.every) + WINDOW
        items = []
        for j in range(max(0, newest - WINDOW), newest):
            rng = random.Random(k * 1_000_003 + j)
            when = datetime.fromtimestamp(self.t0, UTC) + timedelta(seconds=(j - WINDOW) * self.every)
            items.append(gen.make_story(rng, k * 1_000_000 + j, surv_ratio=0.5, when=when))
        return gen.rss(f"feed{k}", items)


def command(port: int, text: str, channel: str, api_port: int, n: int) -> int:
    """One signed /spyglass command (the tests' helper); its HTTP status, or 0 if it never answered."""
    try:
        status, _ = slash(
            port,
            text,
            channel=channel,
            response_url=f"http://127.0.0.1:{api_port}/response/{n}",
            secret=SECRET,
            trigger_id=f"soak.{n}",
        )
        return status
    except Exception:  # noqa: BLE001 - counted, the soak goes on
        return 0


def sample(pid: int, db: Path) -> dict[str, float]:
    status = Path(f"/proc/{pid}/status").read_text()
    fields = {line.split(":")[0]: line.split(":")[1].strip() for line in status.splitlines() if ":" in line}
    wal = db.with_name(db.name + "-wal")
    return {
        "rss_mib": int(fields["VmRSS"].split()[0]) / 1024,
        "fds": len(os.listdir(f"/proc/{pid}/fd")),
        "threads": int(fields["Threads"]),
        "wal_mib": (wal.stat().st_size if wal.exists() else 0) / 2**20,
        "db_mib": db.stat().st_size / 2**20,
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def per_hour(rows: list[dict[str, float]], key: str) -> float:
    if len(rows) < 2 or rows[-1]["t"] <= rows[0]["t"]:
        return 0.0
    return (rows[-1][key] - rows[0][key]) / ((rows[-1]["t"] - rows[0]["t"]) / 3600)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=60)
    ap.add_argument("--sample", type=float, default=60, help="seconds between samples")
    ap.add_argument("--feeds", type=int, default=20)
    ap.add_argument("--interval", default="30s", help="each source's poll interval")
    ap.add_argument("--every", type=float, default=45, help="seconds between new stories in each feed")
    ap.add_argument("--json", type=Path, help="write the samples and summary here")
    args = ap.parse_args()

    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        os.environ.pop(name, None)
    tmp = Path(tempfile.mkdtemp(prefix="spyglass-soak-"))
    db = tmp / "soak.db"
    feeds = GrowingFeeds(args.feeds, args.every)
    with FakeSlack() as slack:
        cfg = tmp / "spyglass.toml"
        cfg.write_text(
            f'[storage]\nurl = "sqlite:///{db}"\n[slack]\npost_interval = 0.05\n'
            + "".join(
                f'[[sources]]\nname = "Feed {k}"\nurl = "http://127.0.0.1:{feeds.port}/feed{k}.xml"\n'
                f'interval = "{args.interval}"\n'
                for k in range(args.feeds)
            )
        )
        port = free_port()
        env = {
            **os.environ,
            "SLACK_BOT_TOKEN": TOKEN,
            "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_API_URL": slack.api_url,
            "PORT": str(port),
            "NO_PROXY": "*",
        }
        log = open(tmp / "run.log", "w")  # noqa: SIM115 - lives as long as the process
        proc = subprocess.Popen(
            [sys.executable, "-m", "spyglass", "--config", str(cfg), "run"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            for _ in range(200):
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                except OSError:
                    time.sleep(0.1)
            n = 0
            for channel, what in CHANNELS.items():
                n += 1
                command(port, f"subscribe {what}", channel, slack.port, n)
            start = time.time()
            end = start + args.minutes * 60
            rows: list[dict[str, float]] = []
            failed = 0
            next_sample = start
            print(
                f"{'min':>6} {'RSS MiB':>8} {'fds':>5} {'thr':>4} {'WAL MiB':>8} {'DB MiB':>7} "
                f"{'fetches':>8} {'posts':>6} {'cmds':>5}",
                flush=True,
            )
            while time.time() < end and proc.poll() is None:
                if time.time() >= next_sample:
                    row = {
                        "t": time.time() - start,
                        **sample(proc.pid, db),
                        "fetches": feeds.fetches,
                        "posts": slack.total,
                        "commands": n,
                        "failed_commands": failed,
                    }
                    rows.append(row)
                    print(
                        f"{row['t'] / 60:6.1f} {row['rss_mib']:8.1f} {row['fds']:5.0f} {row['threads']:4.0f} "
                        f"{row['wal_mib']:8.2f} {row['db_mib']:7.2f} {row['fetches']:8.0f} {row['posts']:6.0f} "
                        f"{n:5d}",
                        flush=True,
                    )
                    next_sample += args.sample
                n += 1
                channel = list(CHANNELS)[n % len(CHANNELS)]
                if command(port, COMMANDS[n % len(COMMANDS)], channel, slack.port, n) != 200:
                    failed += 1
                time.sleep(3)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
            log.close()
        half = [r for r in rows if r["t"] >= rows[-1]["t"] / 2] if rows else []
        summary = {
            key: {
                "whole_per_hour": round(per_hour(rows, key), 2),
                "second_half_per_hour": round(per_hour(half, key), 2),
                "first": rows[0][key] if rows else None,
                "last": rows[-1][key] if rows else None,
            }
            for key in ("rss_mib", "fds", "threads", "wal_mib", "db_mib")
        }
        print("\ngrowth per hour (whole run / second half):")
        for key, s in summary.items():
            print(
                f"  {key:8} {s['whole_per_hour']:+8.2f} / {s['second_half_per_hour']:+8.2f}   "
                f"({s['first']:.2f} → {s['last']:.2f})"
            )
        print(f"exit code {proc.returncode}; {failed} of {n} commands failed; log: {tmp / 'run.log'}")
        if args.json:
            args.json.write_text(
                json.dumps(
                    {
                        "args": vars(args) | {"json": str(args.json)},
                        "date": time.strftime("%F"),
                        "samples": rows,
                        "summary": summary,
                    },
                    indent=1,
                    default=str,
                )
            )
    return 0 if proc.returncode == 0 and failed == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
