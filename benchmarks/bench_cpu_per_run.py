"""CPU per scheduled run, all processes included, measured around bench_schedule (docs/deploying.md, Sizing).

    python benchmarks/bench_cpu_per_run.py [--strategies 500] [--interval 10] [--seconds 90] [--concurrency 3]

Runs benchmarks/bench_schedule.py as a child and, in a window that leaves out its set-up (the database, the
strategies, the processes starting) and its end, samples the CPU time (user + system, /proc) of every process
under it (beat, worker, pool, zygotes and the runs they fork, once reaped) and of the Postgres backends serving
its database; it counts the runs that started in that window from the database. Redis is shared with other
users of the server here, so its CPU is printed apart (an upper bound). Per run = CPU in the window / runs.
Needs what bench_schedule needs: DATABASE_URL (Postgres) and REDIS_URL. Prints the load average beside it.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parent.parent
TICKS = os.sysconf("SC_CLK_TCK")


def bench_database_name(url: str) -> tuple[str, str]:
    """The database bench_schedule creates for itself (`<name>_bench`): its URL and its name."""
    parsed = urlparse(url)
    name = parsed.path.lstrip("/") + "_bench"
    return urlunparse(parsed._replace(path=f"/{name}")), name


def cpu_seconds(pid: int, *, with_children: bool = True) -> float:
    """utime + stime (+ the reaped children's) of one process; 0 when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    own = int(fields[11]) + int(fields[12])
    return (own + (int(fields[13]) + int(fields[14]) if with_children else 0)) / TICKS


def tree(root: int) -> list[int]:
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rpartition(")")[2].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            parents.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(parents.get(pid, []))
    return found


def redis_servers() -> list[int]:
    return [int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit()
            and (entry / "comm").exists() and (entry / "comm").read_text().strip() == "redis-server"]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--strategies", type=int, default=500)
    parser.add_argument("--interval", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=90)
    parser.add_argument("--concurrency", type=int, default=3)
    parser.add_argument("--margin", type=float, default=15, help="seconds left out after the first run and at the end")
    options = parser.parse_args()
    import psycopg

    url, name = bench_database_name(os.environ["DATABASE_URL"])
    bench = subprocess.Popen(
        [sys.executable, str(ROOT / "benchmarks" / "bench_schedule.py"), "--strategies", str(options.strategies),
         "--interval", str(options.interval), "--seconds", str(options.seconds),
         "--concurrency", str(options.concurrency)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def first_run() -> datetime | None:
        try:
            with psycopg.connect(url, autocommit=True, connect_timeout=2) as db:
                row = db.execute("SELECT min(started_at) FROM strategies_execution").fetchone()
                return row[0] if row else None
        except psycopg.Error:
            return None

    backends: dict[int, list[float]] = {}  # pid: [CPU when first seen in the window, CPU when last seen]

    def sample_backends() -> None:
        """Backends come and go (connections live 60 s): each counts from the window's start or its own."""
        with psycopg.connect(url, autocommit=True) as db:
            pids = [pid for pid, in db.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", (name,)).fetchall()]
        for pid in pids:
            seen = cpu_seconds(pid, with_children=False)
            backends.setdefault(pid, [0.0 if window_open else seen, seen])[1] = seen

    def sample() -> tuple[float, float, float, datetime]:
        sample_backends()
        processes = sum(cpu_seconds(pid) for pid in tree(bench.pid))
        postgres = sum(last - first for first, last in backends.values())
        return processes, postgres, sum(cpu_seconds(pid) for pid in redis_servers()), datetime.now(UTC)

    started, window_open = None, False
    while started is None and bench.poll() is None:
        time.sleep(1)
        started = first_run()
    if started is None:
        print(bench.communicate()[0])
        return 1
    time.sleep(options.margin)
    before = sample()
    window_open = True
    until = time.monotonic() + max(5.0, options.seconds - 2 * options.margin)
    while time.monotonic() < until:
        time.sleep(1)
        sample_backends()
    after = sample()
    load = os.getloadavg()
    output = bench.communicate()[0]
    with psycopg.connect(url, autocommit=True) as db:
        row = db.execute("SELECT count(*), count(*) FILTER (WHERE status IN ('succeeded', 'failed', 'timed_out'))"
                         " FROM strategies_execution"
                         " WHERE started_at >= %s AND started_at < %s", (before[3], after[3])).fetchone()
    started_runs, runs = row if row else (0, 0)
    window = (after[3] - before[3]).total_seconds()
    processes, postgres, redis_cpu = after[0] - before[0], after[1] - before[1], after[2] - before[2]
    print(output)
    print(f"CPU per run, {options.strategies} strategies at {options.interval} s, {window:.0f} s window, "
          f"{runs} cycles run ({started_runs - runs} more claimed and skipped), "
          f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    per_run = 1000 / max(runs, 1)
    print(f"  beat + worker + pool + sandboxed runs  {processes * per_run:6.2f} ms")
    print(f"  Postgres backends of its database      {postgres * per_run:6.2f} ms")
    print(f"  together                               {(processes + postgres) * per_run:6.2f} ms "
          f"({(processes + postgres) / window * 100:.0f} % of one core)")
    print(f"  Redis server (shared here, upper bound) {redis_cpu * per_run:5.2f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
