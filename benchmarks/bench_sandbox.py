"""What one sandboxed cycle costs, beside the cost of starting a bare interpreter.

    python benchmarks/bench_sandbox.py [--cycles 300] [--concurrent 8]

Measures, in one run on this machine:
- ``python3 -c pass``: starting a bare interpreter (the cost a fresh process per cycle would pay
  before doing anything);
- one cycle of a strategy that does nothing, through ``Sandbox.run_cycle`` (spawn from the
  pre-forked zygote, rlimits, ready, load, cycle, result, exit and reap), median and p99, with the
  default preload (numpy, pandas) and with none;
- the private memory (USS) of each of N concurrent runs, while they all wait inside a cycle;
- with a Postgres DATABASE_URL and REDIS_URL: ``strategy_run ID --dry-run`` of a do-nothing strategy
  in a warm process (the whole command: the row, the sandbox cycle, the persisted result) against a
  bare ``python -S -c pass`` measured in the same run (target: at most half of it), wall and CPU
  (every process: this one, the zygote and its run, the Postgres backend).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from runtime import Sandbox, SandboxLimits

NOTHING = {
    "entry.py": "def should_enter(ctx):\n    return []\n",
    "exit.py": "def should_exit(ctx, position):\n    return None\n",
    "config.json": json.dumps({"platform": "polymarket"}),
}
WAITING = {**NOTHING, "entry.py": "import time\ndef should_enter(ctx):\n    time.sleep(1.5)\n    return []\n"}


def no_call(venue: str, method: str, kwargs: dict[str, Any]) -> None:
    return None


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def bare_start(runs: int, *flags: str) -> list[float]:
    return bare_start_cpu(runs, *flags)[0]


def bare_start_cpu(runs: int, *flags: str) -> tuple[list[float], list[float]]:
    """Wall and CPU ms of starting `python [flags] -c pass`, `runs` times."""
    python = os.path.realpath(sys.executable)
    times, cpus = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        subprocess.run([python, *flags, "-c", "pass"], check=True)
        times.append((time.perf_counter() - started) * 1000)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append((after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) * 1000)
    return times, cpus


def dry_runs(runs: int) -> tuple[list[float], list[float]] | None:
    """`strategy_run ID --dry-run` of a do-nothing strategy, in this (warm) process: wall and CPU ms of
    each, CPU counted in every process (this one, the zygote and its runs, the Postgres backend).
    None without a Postgres DATABASE_URL (it creates `<name>_bench`, as bench_schedule does)."""
    if not os.environ.get("DATABASE_URL", "").startswith("postgres") or not os.environ.get("REDIS_URL"):
        return None
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_schedule import bench_environment
    from cpu_accounting import CpuMeter

    bench_environment(flush_redis=False)
    from io import StringIO

    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection

    from runtime import shared_sandbox
    from strategies.services import strategy_deploy

    owner = get_user_model().objects.create_superuser("bench-dry-run")
    files = {**NOTHING, "config.json": json.dumps({
        "name": "dry run", "thesis": "benchmark", "platform": "kalshi", "polling_interval": 60,
        "capital": {"total_capital": 1000, "capital_per_trade": 10, "max_positions": 1, "max_position_size": 10,
                    "max_daily_loss": 10, "sizing_method": "fixed"}})}
    strategy = strategy_deploy(owner=owner, files=files, approve_by=owner).strategy

    def once() -> None:
        call_command("strategy_run", str(strategy.pk), "--dry-run", stdout=StringIO())

    for _ in range(20):  # warm: zygote, connection, caches
        once()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    zygote = shared_sandbox(preload=False)._zygote
    assert zygote is not None
    walls, cpus = [], []
    for _ in range(runs):
        meter = CpuMeter(roots={"sandbox": zygote.process.pid, "postgres": backend})
        meter.start()
        own = time.process_time()
        started = time.perf_counter()
        once()
        walls.append((time.perf_counter() - started) * 1000)
        own = time.process_time() - own
        meter.sample()
        roles = meter.by_role()
        cpus.append((own + roles.get("sandbox", 0.0) + roles.get("postgres", 0.0)) * 1000)
    return walls, cpus


def cycles(box: Sandbox, runs: int, limits: SandboxLimits, gap: float) -> list[float]:
    """Wall time of `runs` cycles, `gap` seconds apart (0: back to back)."""
    for _ in range(20):  # warm-up: zygote start, first spare, page cache
        box.run_cycle(NOTHING, {"strategy_id": "bench"}, no_call, limits)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        outcome = box.run_cycle(NOTHING, {"strategy_id": "bench"}, no_call, limits)
        times.append((time.perf_counter() - started) * 1000)
        assert outcome.status == "succeeded", outcome.error
        time.sleep(gap)
    return times


def _family(root: int) -> set[int]:
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
    family, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent and pid not in family]
        family.update(children)
        frontier.extend(children)
    return family


def _memory_kib(pid: int, *fields: str) -> int:
    """Sum of `fields` (kB) from /proc/<pid>/smaps_rollup: private pages are what a run costs."""
    total = 0
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in fields:
            total += int(rest.split()[0])
    return total


def private_memory_per_run(box: Sandbox, concurrent: int, limits: SandboxLimits) -> tuple[float, float]:
    """Median private memory (USS) of `concurrent` runs waiting inside a cycle, and the zygote's RSS (MiB)."""
    box.run_cycle(NOTHING, {}, no_call, limits)
    zygote = box._zygote
    assert zygote is not None
    before = _family(zygote.process.pid)
    threads = [threading.Thread(target=box.run_cycle, args=(WAITING, {}, no_call, limits)) for _ in range(concurrent)]
    for thread in threads:
        thread.start()
    time.sleep(0.8)
    uss = []
    for pid in _family(zygote.process.pid) - before:  # the runs, plus the idle spare forked after the last one
        try:
            uss.append(_memory_kib(pid, "Private_Clean", "Private_Dirty") / 1024)
        except (OSError, ValueError):
            continue
    rss = []
    for pid in before:  # bwrap, its init, the zygote (the largest) and the spare that was since handed a run
        try:
            rss.append(_memory_kib(pid, "Rss") / 1024)
        except (OSError, ValueError):
            continue
    for thread in threads:
        thread.join()
    return statistics.median(uss), max(rss)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=300)
    parser.add_argument("--concurrent", type=int, default=8)
    parser.add_argument("--dry-runs", type=int, default=100, help="strategy_run --dry-run cycles (0: skip)")
    options = parser.parse_args()
    limits = SandboxLimits(wall_seconds=10)

    bare = bare_start(40)
    rows = [("python3 -c pass (bare start)", bare)]
    for name, preload in (("numpy+pandas preloaded", ("numpy", "pandas")), ("nothing preloaded", ())):
        box = Sandbox(preload=preload)
        try:
            # 20 ms apart is how a worker meets them (a cycle is one task among others); back to back,
            # each cycle also pays for the previous run's teardown and the next spare's fork.
            rows.append((f"cycle, {name}, 20 ms apart", cycles(box, options.cycles, limits, 0.02)))
            rows.append((f"cycle, {name}, back to back", cycles(box, options.cycles, limits, 0.0)))
            if preload:
                uss, zygote_rss = private_memory_per_run(box, options.concurrent, limits)
        finally:
            box.close()

    bare_median = statistics.median(bare)
    print(f"{'what':<48} {'n':>5} {'median ms':>10} {'p99 ms':>8} {'vs bare':>8}")
    for label, times in rows:
        median = statistics.median(times)
        print(
            f"{label:<48} {len(times):>5} {median:>10.2f} {percentile(times, 0.99):>8.2f} {median / bare_median:>7.0%}"
        )
    print(f"{'private memory per concurrent run':<48} {options.concurrent:>5} {uss:>8.1f} MiB (USS, median)")
    print(f"{'zygote resident memory (shared by runs)':<48} {'':>5} {zygote_rss:>8.1f} MiB (RSS)")
    sandbox_median = max(statistics.median(rows[1][1]), statistics.median(rows[2][1]))  # the default preload
    verdict = "met" if sandbox_median <= 5 and sandbox_median <= bare_median / 4 else "NOT met"
    print(f"target (median <= 5 ms and <= 1/4 of a bare start): {verdict}")
    dry_run_table(options.dry_runs)


def dry_run_table(runs: int) -> None:
    """`strategy_run --dry-run` in a warm process against a bare `python -S -c pass`, measured in the same run."""
    measured = dry_runs(runs) if runs else None
    if measured is None:
        print("\nstrategy_run --dry-run: skipped (needs DATABASE_URL=postgres://… and REDIS_URL)")
        return
    walls, cpus = measured
    bare_walls, bare_cpus = bare_start_cpu(40, "-S")
    bare_wall, bare_cpu = statistics.median(bare_walls), statistics.median(bare_cpus)
    print(f"\nstrategy_run ID --dry-run of a do-nothing strategy, warm process (load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}; {os.cpu_count()} cores)")
    print(f"{'what':<44} {'n':>5} {'wall ms':>8} {'p99':>7} {'CPU ms':>7} {'wall vs bare':>13} {'before':>8}")
    print(f"{'python -S -c pass (bare start)':<44} {len(bare_walls):>5} {bare_wall:>8.2f} "
          f"{percentile(bare_walls, 0.99):>7.2f} {bare_cpu:>7.2f} {'100%':>13} {'~11 ms':>8}")
    wall = statistics.median(walls)
    print(f"{'strategy_run --dry-run (all processes CPU)':<44} {len(walls):>5} {wall:>8.2f} "
          f"{percentile(walls, 0.99):>7.2f} {statistics.median(cpus):>7.2f} {wall / bare_wall:>12.0%} "
          f"{'22 ms':>8}")
    print(f"target: dry run <= 0.5x a bare start: {'met' if wall <= bare_wall / 2 else 'NOT met'} "
          f"(before: 2x, about 22 ms against 11 ms)")


if __name__ == "__main__":
    main()
