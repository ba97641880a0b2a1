"""How many feeds `spyglass worker` keeps fresh, with 1, 2 and 3 workers on one PostgreSQL database.

The figure the README quotes: a deployment keeps F feeds fresh at a 15-minute interval when the
warm polls of those F feeds take at most half of the interval, so F = 0.5 × 900 s × (warm polls
per second). That rate is measured on whole processes, saturated: many feeds (10,000 by default,
one story each) on 20 loopback hosts answering 304 after 100 ms, every source at the shortest
interval the config allows (30 s, so ten times more polls are due than get done), and N
`spyglass worker` processes against one fresh PostgreSQL database. The rate counted is the feed
servers' own count of 304s answered in a window after a warm-up, not anything Spyglass reports.

    python bench/scale.py [--feeds 10000] [--workers 1,2,3] [--window 60] [--json out.json]

Needs PostgreSQL: SPYGLASS_BENCH_POSTGRES_URL, else SPYGLASS_TEST_POSTGRES_URL, else
postgresql+psycopg://postgres@127.0.0.1:5432/test. It makes (and drops) a database of its own.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from whole_job import HOSTS, LATENCY, FeedServer, serve, spyglass_env  # noqa: E402

DB = "spyglass_scale"
INTERVAL_S = 900  # the interval the figure is for
BUDGET = 0.5  # the share of it the warm polls may take


def admin_url() -> str:
    return os.environ.get("SPYGLASS_BENCH_POSTGRES_URL") or os.environ.get(
        "SPYGLASS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    )


def connect(url: str, *, autocommit: bool = False) -> Any:
    import psycopg

    return psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=autocommit)


def fresh_database() -> str:
    drop_database()
    with connect(admin_url(), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {DB}")
    return admin_url().rsplit("/", 1)[0] + "/" + DB


def drop_database() -> None:
    with connect(admin_url(), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")


def answered_304(servers: list[FeedServer]) -> int:
    return sum(s.answered[304] for s in servers)


def measure(
    cmd: list[str],
    env: dict[str, str],
    servers: list[FeedServer],
    n: int,
    warmup: float,
    window: float,
    logs: Path,
    url: str,
) -> tuple[float, int]:
    """Warm polls per second with ``n`` workers (304s answered during ``window`` after ``warmup``),
    and how many sources were overdue by more than 10 s at the end: a backlog means the workers
    were the limit, none means they polled everything that fell due (the rate is a lower bound)."""
    procs = []
    for k in range(n):
        out = open(logs / f"worker-{n}-{k}.log", "wb")  # noqa: SIM115 - closed with the process
        procs.append((subprocess.Popen([*cmd, "worker"], env=env, stdout=out, stderr=subprocess.STDOUT), out))
    try:
        time.sleep(warmup)
        for p, _ in procs:
            if p.poll() is not None:
                raise RuntimeError(f"a worker exited early ({p.returncode}); see {logs}")
        c0, t0 = answered_304(servers), time.monotonic()
        time.sleep(window)
        c1, t1 = answered_304(servers), time.monotonic()
        backlog = overdue(url)
    finally:
        for p, _ in procs:
            p.send_signal(signal.SIGTERM)
        for p, out in procs:
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()
            out.close()
    return (c1 - c0) / (t1 - t0), backlog


def overdue(url: str) -> int:
    with connect(url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM sources WHERE next_attempt_at < now() - interval '10 seconds'"
        ).fetchone()
    return int(row[0]) if row else 0


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--feeds", type=int, default=10000)
    ap.add_argument("--workers", default="1,2,3")
    ap.add_argument("--warmup", type=float, default=45.0)
    ap.add_argument("--window", type=float, default=60.0)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    counts = [int(x) for x in args.workers.split(",")]
    url = fresh_database()
    servers, urls = serve(args.feeds, 1, seed=21)
    rows = []
    try:
        with tempfile.TemporaryDirectory() as tmp_s:
            tmp = Path(tmp_s)
            cfg = tmp / "spyglass.toml"
            lines = [f'first_poll_alerts = "0"\n[storage]\nurl = "{url}"\n']
            lines += [
                f'[[sources]]\nname = "feed{i}"\nurl = "{u}"\ninterval = "30s"\n' for i, u in enumerate(urls)
            ]
            cfg.write_text("\n".join(lines))
            env = spyglass_env()
            cmd = [sys.executable, "-m", "spyglass", "--config", str(cfg)]
            subprocess.run([*cmd, "db", "upgrade"], env=env, check=True, capture_output=True)
            t = time.perf_counter()
            subprocess.run([*cmd, "poll", "--once"], env=env, check=True, capture_output=True, timeout=1800)
            print(
                f"{args.feeds} feeds on {len(HOSTS)} hosts, {LATENCY * 1000:.0f} ms each; "
                f"cold poll --once {time.perf_counter() - t:.1f} s"
            )
            demand = args.feeds / 30
            for n in counts:
                rate, backlog = measure(cmd, env, servers, n, args.warmup, args.window, tmp, url)
                if rate == 0:  # the cold poll made every feed due 30 s later: the warm-up was shorter
                    print(f"  {n} worker(s): no warm poll in the window; give a --warmup of 30 s or more")
                    continue
                keeps = int(BUDGET * INTERVAL_S * rate)
                saturated = backlog > 0
                rows.append(
                    dict(
                        workers=n,
                        polls_per_s=rate,
                        ms_per_feed=1000 / rate,
                        feeds_at_15m=keeps,
                        saturated=saturated,
                        feeds=args.feeds,
                    )
                )
                print(
                    f"  {n} worker(s): {rate:.1f} warm polls/s ({1000 / rate:.1f} ms a feed) → "
                    f"{keeps:,} feeds at 15 min within half the interval"
                    + (
                        ""
                        if saturated
                        else f"  (NOT saturated: no backlog at the end, {demand:.0f}/s fall due; a lower bound)"
                    )
                )
    finally:
        for srv in servers:
            srv.stop()
        drop_database()
    if args.json:
        args.json.write_text(
            json.dumps(dict(date=time.strftime("%Y-%m-%d"), cpus=os.cpu_count(), rows=rows), indent=2)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
