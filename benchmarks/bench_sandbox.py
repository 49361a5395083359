"""What one sandboxed cycle costs, beside the cost of starting a bare interpreter.

    python benchmarks/bench_sandbox.py [--cycles 300] [--concurrent 8]

Measures, in one run on this machine:
- ``python3 -c pass``: starting a bare interpreter (the cost a fresh process per cycle would pay
  before doing anything);
- one cycle of a strategy that does nothing, through ``Sandbox.run_cycle`` (spawn from the
  pre-forked zygote, rlimits, ready, load, cycle, result, exit and reap), median and p99, with the
  default preload (numpy, pandas) and with none;
- the private memory (USS) of each of N concurrent runs, while they all wait inside a cycle.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from strategies.runtime import Sandbox, SandboxLimits

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


def bare_start(runs: int) -> list[float]:
    python = os.path.realpath(sys.executable)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([python, "-c", "pass"], check=True)
        times.append((time.perf_counter() - started) * 1000)
    return times


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


if __name__ == "__main__":
    main()
