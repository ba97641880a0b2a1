"""The whole job as a user runs it: `spyglass poll --once` as a process, cold and warm, against a
naive script and lemon24/reader on the same feeds, side by side in one run.

200 feeds × 50 generated stories (fewer with --quick) are served from 20 loopback addresses
(127.0.0.1–127.0.0.20), each request answered after 100 ms, with ETag/Last-Modified → 304.
Spyglass delivers to the console (the README's default, no Slack token), with no age limit so
every matched story is an alert. The naive bot is `feedparser.parse(url)` in turn, printing the
stories that contain a surveillance word. reader (`reader[search]` from PyPI, installed into a
venv of the benchmark's own, never a project dependency) fetches, parses, stores and indexes
with 16 workers and matches nothing. Every contender starts from an empty database.

    python bench/whole_job.py [--quick] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import gen  # noqa: E402  (puts tests/ on sys.path for the feed server)
from support.feedserver import FeedServer  # noqa: E402

HOSTS = [f"127.0.0.{i}" for i in range(1, 21)]
LATENCY = 0.1
READER_VENV = gen.CACHE_DIR / "reader-venv"
NAIVE = """
import sys, feedparser
words = ("surveillance", "facial recognition", "drone", "licence plate", "spyware", "cctv", "biometric")
n = 0
for url in open(sys.argv[1]).read().split():
    for e in feedparser.parse(url).entries:
        text = (e.get("title", "") + " " + e.get("summary", "")).lower()
        if any(w in text for w in words):
            print(e.get("title", ""), e.get("link", ""))
            n += 1
print(n, "matches", file=sys.stderr)
"""
# `spyglass` itself, reporting its peak RSS (VmHWM) on the way out, whatever ran before it.
PEAK = (
    "import atexit, runpy, sys\n"
    "atexit.register(lambda: print('PEAK_KB=' + open('/proc/self/status').read().split('VmHWM:')[1].split()[0],"
    " file=sys.stderr))\n"
    "sys.argv[0] = 'spyglass'\n"
    "runpy.run_module('spyglass', run_name='__main__')\n"
)
READER = """
import sys
from reader import make_reader
reader = make_reader(sys.argv[2])
reader.enable_search()
for url in open(sys.argv[1]).read().split():
    reader.add_feed(url, exist_ok=True)
# scheduled=False: update every feed now. reader's default (scheduled=True) skips a feed updated
# within the hour, so its warm run made no requests at all and had nothing to compare with.
reader.update_feeds(workers=16, scheduled=False)
reader.update_search()
print(reader.get_entry_counts().total, "entries", file=sys.stderr)
"""


def serve(n_feeds: int, per_feed: int, seed: int = 12) -> tuple[list[FeedServer], list[str]]:
    """Generated feeds on the loopback hosts, LATENCY per request, 304 for a conditional GET."""
    bodies = gen.make_feeds(n_feeds, per_feed, seed=seed)
    servers = [FeedServer(host=h) for h in HOSTS]
    urls = []
    for i, body in enumerate(bodies):
        srv = servers[i % len(servers)]
        srv.route(
            gen.feed_path(i),
            body,
            content_type="application/rss+xml; charset=utf-8",
            etag=f'"feed-{i}-v1"',
            last_modified=gen.LAST_MODIFIED,
            delay=LATENCY,
        )
        urls.append(srv.url(gen.feed_path(i)))
    for srv in servers:
        srv.start()
    return servers, urls


def timed(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, str, str]:
    dt, out, err, _ = timed_tree(cmd, env, sample=False)
    return dt, out, err


def _pss_kb(pid: int) -> int:
    try:
        return int((Path("/proc") / str(pid) / "smaps_rollup").read_text().split("Pss:")[1].split()[0])
    except (OSError, IndexError, ValueError):
        return 0


def _children(pid: int) -> list[int]:
    kids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    kids.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    return kids


def timed_tree(
    cmd: list[str], env: dict[str, str] | None = None, *, sample: bool = True
) -> tuple[float, str, str, float]:
    """Run ``cmd``; its wall time, output, and (``sample``) the peak summed PSS in MB of it and its
    child processes (poll --once's read-ahead worker), sampled every 50 ms from /proc."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    peak = [0]

    def watch() -> None:
        while proc.poll() is None:
            peak[0] = max(peak[0], _pss_kb(proc.pid) + sum(_pss_kb(k) for k in _children(proc.pid)))
            time.sleep(0.05)

    watcher = threading.Thread(target=watch, daemon=True)
    if sample:
        watcher.start()
    out, err = proc.communicate(timeout=1800)
    dt = time.perf_counter() - t0
    if sample:
        watcher.join()
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"{cmd[:3]} failed ({proc.returncode}): {err[-2000:]}")
    return dt, out, err, peak[0] / 1024


def spyglass_env() -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.upper().endswith("_PROXY") and not k.startswith("SLACK_")
    }
    env["NO_PROXY"] = "*"
    return env


def reader_python(install: bool = True) -> Path | None:
    """The benchmark's own venv with reader, made on first use (None: it could not be, or may not)."""
    py = READER_VENV / "bin" / "python"
    if not py.exists():
        if not install:
            return None
        subprocess.run([sys.executable, "-m", "venv", str(READER_VENV)], check=True)
        got = subprocess.run(
            [str(py), "-m", "pip", "install", "-q", "reader[search]", "sgmllib3k"], capture_output=True
        )
        if got.returncode != 0:
            return None
    return py


def run(
    quick: bool,
    record: Callable[..., None],
    log: Callable[[str], None] = print,
    *,
    install_reader: bool = True,
) -> dict[str, float]:
    n_feeds, per_feed = (40, 50) if quick else (200, 50)
    servers, urls = serve(n_feeds, per_feed)
    results: dict[str, float] = {}
    try:
        with tempfile.TemporaryDirectory() as tmp_s:
            tmp = Path(tmp_s)
            url_file = tmp / "urls.txt"
            url_file.write_text("\n".join(urls))
            cfg = tmp / "spyglass.toml"
            lines = [f'max_age = "0"\n[storage]\nurl = "sqlite:///{tmp / "sg.db"}"\nretention = "0"\n']
            lines += [f'[[sources]]\nname = "feed{i}"\nurl = "{u}"\n' for i, u in enumerate(urls)]
            cfg.write_text("\n".join(lines))
            spy = [sys.executable, "-c", PEAK, "--config", str(cfg), "poll", "--once"]
            log(
                f"[W] whole job: {n_feeds} feeds × {per_feed} stories on {len(HOSTS)} hosts, {LATENCY * 1000:.0f} ms each"
            )
            cold, out, err, tree_mb = timed_tree(spy, spyglass_env())  # stderr ends with its own peak RSS
            peak_mb = int(err.rsplit("PEAK_KB=", 1)[1].split()[0]) / 1024
            alerts = out.count("\n\n")
            warm = statistics.median(timed(spy, spyglass_env())[0] for _ in range(3))
            naive_script = tmp / "naive.py"
            naive_script.write_text(NAIVE)
            naive = timed([sys.executable, str(naive_script), str(url_file)])[0]
            results.update(
                spyglass_cold=cold, spyglass_warm=warm, naive=naive, alerts=alerts, tree_pss_mb=tree_mb
            )
            record(
                "W whole job",
                "poll --once, cold (console alerts)",
                cold,
                "s",
                naive,
                "naive bot",
                cold / naive,
                "≥ 10 × faster than naive",
                naive / cold >= 10,
                f"{alerts} alerts printed",
            )
            record(
                "W whole job",
                "peak RSS, poll --once cold",
                peak_mb,
                "MB",
                150.0,
                "target",
                peak_mb / 150,
                "≤ 150 MB",
                peak_mb <= 150,
                "VmHWM of the process",
            )
            record(
                "W whole job",
                "peak PSS, poll --once cold, with its read-ahead worker",
                tree_mb,
                "MB",
                150.0,
                "target",
                tree_mb / 150,
                "≤ 150 MB",
                tree_mb <= 150,
                "both processes, shared pages counted once (sampled every 50 ms)",
            )
            py = reader_python(install_reader)
            if py is not None:
                reader_script = tmp / "reader_run.py"
                reader_script.write_text(READER)
                r_cold = timed([str(py), str(reader_script), str(url_file), str(tmp / "reader.db")])[0]
                r_warm = statistics.median(
                    timed([str(py), str(reader_script), str(url_file), str(tmp / "reader.db")])[0]
                    for _ in range(3)
                )
                results.update(reader_cold=r_cold, reader_warm=r_warm)
                record(
                    "W whole job",
                    "poll --once, cold vs reader",
                    cold,
                    "s",
                    r_cold,
                    "reader, 16 workers",
                    cold / r_cold,
                    "≥ 3 × faster than reader",
                    r_cold / cold >= 3,
                    "",
                )
                record(
                    "W whole job",
                    "poll --once, warm (all 304)",
                    warm,
                    "s",
                    r_warm,
                    "reader, warm",
                    warm / r_warm,
                    "≤ reader's warm",
                    warm <= r_warm,
                    "",
                )
            else:
                log("  reader is not installed (a full run installs it): its rows are left out")
            for name, args in (
                ("spyglass --help", ["--help"]),
                ("spyglass topics", ["--config", str(cfg), "topics"]),
                ("spyglass search face", ["--config", str(cfg), "search", "face"]),
            ):
                t = statistics.median(
                    timed([sys.executable, "-m", "spyglass", *args], spyglass_env())[0] for _ in range(3)
                )
                results[name] = t
                limit = 0.1 if name.endswith("--help") else 0.3
                record(
                    "W whole job",
                    name,
                    t,
                    "s",
                    limit,
                    "target",
                    t / limit,
                    f"≤ {limit} s",
                    t <= limit,
                    "wall time of the process",
                )
    finally:
        for srv in servers:
            srv.stop()
    return results


def compare(other_src: Path, rounds: int, log: Callable[[str], None] = print) -> None:
    """Cold and warm `poll --once` of this checkout and of another one (its `src/`), alternating
    round by round on the same feeds, so a machine whose speed drifts treats both alike; medians."""
    servers, urls = serve(200, 50)
    times: dict[str, dict[str, list[float]]] = {
        "this": {"cold": [], "warm": []},
        "other": {"cold": [], "warm": []},
    }
    try:
        for _ in range(rounds):
            for who in ("this", "other"):
                env = spyglass_env()
                if who == "other":
                    env["PYTHONPATH"] = str(other_src)
                with tempfile.TemporaryDirectory() as tmp_s:
                    cfg = Path(tmp_s) / "spyglass.toml"
                    lines = [
                        f'max_age = "0"\n[storage]\nurl = "sqlite:///{Path(tmp_s) / "sg.db"}"\nretention = "0"\n'
                    ]
                    lines += [f'[[sources]]\nname = "feed{i}"\nurl = "{u}"\n' for i, u in enumerate(urls)]
                    cfg.write_text("\n".join(lines))
                    spy = [sys.executable, "-m", "spyglass", "--config", str(cfg), "poll", "--once"]
                    times[who]["cold"].append(timed(spy, env)[0])
                    times[who]["warm"].append(timed(spy, env)[0])
    finally:
        for srv in servers:
            srv.stop()
    for kind in ("cold", "warm"):
        a, b = statistics.median(times["this"][kind]), statistics.median(times["other"][kind])
        log(
            f"  {kind}: this checkout {a:.2f} s, {other_src} {b:.2f} s (medians of {rounds}; ratio {a / b:.2f})"
        )


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--against", type=Path, help="another checkout's src/: compare poll --once with it")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    if args.against:
        compare(args.against, args.rounds)
        return 0
    rows: list[dict[str, object]] = []

    def record(
        section: str,
        figure: str,
        value: float,
        unit: str,
        base: float,
        base_name: str,
        ratio: float,
        target: str,
        met: bool,
        note: str,
    ) -> None:
        rows.append(
            dict(
                figure=figure,
                value=value,
                unit=unit,
                baseline=base,
                baseline_name=base_name,
                ratio=ratio,
                target=target,
                met=met,
                note=note,
            )
        )
        print(
            f"  → {figure}: {value:.3f} {unit} (baseline {base_name}: {base:.3f}; ratio {ratio:.3g}) {target}: "
            f"{'yes' if met else 'NO'} {note}"
        )

    run(args.quick, record)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
