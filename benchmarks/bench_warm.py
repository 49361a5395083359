"""CPU per scheduled cycle: cold (a run forked by the zygote per cycle) against a warm session (one
sandboxed process per strategy version, a fresh child forked per cycle), measured in the same run.

    python benchmarks/bench_warm.py [--cycles 300]

Beside them, the design the warm session was chosen against: re-executing the module in ONE long-lived
process (a backtest's step session, ``StepSession.step``), which pays no fork per cycle but keeps every
cycle's leftovers in the process (module globals of imported modules, builtins, threads, files, signal
handlers): its figure is a lower bound, before any leftover detection.

CPU is every process's: this one (the worker's side) plus the sandbox's (bubblewrap, the zygote, its
runs and sessions and the children they reaped), from /proc, over the whole measured stretch, with the
sessions still alive (a live process's CPU includes its reaped children). A do-nothing strategy, with
the lean zygote (nothing preloaded) and the numpy+pandas one; cycles 5 ms apart, as a worker meets them.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_sandbox import _family
from cpu_accounting import _stat

from runtime import Sandbox, SandboxLimits
from runtime.step_session import StepSession
from runtime.warm import WarmSessions

NOTHING = {
    "entry.py": "def should_enter(ctx):\n    ctx.log('tick')\n    return []\n",
    "exit.py": "def should_exit(ctx, position):\n    return None\n",
    "config.json": json.dumps({"platform": "polymarket"}),
}
CTX = {"strategy_id": "bench", "mode": "paper", "state": {"seen": list(range(20))}}
GAP = 0.005


def no_call(venue: str, method: str, kwargs: dict[str, Any]) -> None:
    return None


def sandbox_cpu(box: Sandbox) -> float:
    assert box._zygote is not None
    return sum(found[2] for pid in _family(box._zygote.process.pid) if (found := _stat(pid)) is not None)


def own_cpu() -> float:
    times = os.times()
    return times.user + times.system


def measure(box: Sandbox, cycle: Callable[[], Any], runs: int) -> tuple[float, float, float]:
    """(worker CPU ms, sandbox CPU ms, median wall ms) per cycle."""
    for _ in range(20):
        cycle()
    worker, sandbox = own_cpu(), sandbox_cpu(box)
    walls = []
    for _ in range(runs):
        started = time.perf_counter()
        outcome = cycle()
        walls.append((time.perf_counter() - started) * 1000)
        assert outcome.status == "succeeded", outcome.error
        time.sleep(GAP)
    return ((own_cpu() - worker) * 1000 / runs, (sandbox_cpu(box) - sandbox) * 1000 / runs,
            statistics.median(walls))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=300)
    options = parser.parse_args()
    limits = SandboxLimits(wall_seconds=10)
    rows: list[tuple[str, tuple[float, float, float]]] = []
    for name, preload in (("nothing preloaded", ()), ("numpy+pandas preloaded", ("numpy", "pandas"))):
        box = Sandbox(preload=preload)
        sessions = WarmSessions()
        try:
            cold = functools.partial(box.run_cycle, NOTHING, CTX, no_call, limits)
            warm = functools.partial(sessions.run_cycle, ("owner", "version"), NOTHING, CTX, no_call, limits,
                                     sandbox=box)
            rows.append((f"cold: a run per cycle, {name}", measure(box, cold, options.cycles)))
            rows.append((f"warm: a child per cycle, {name}", measure(box, warm, options.cycles)))
            assert sessions.started == 1, sessions.started
            with StepSession(NOTHING, CTX, limits, sandbox=box) as steps:
                step = functools.partial(steps.step, CTX, no_call)
                rows.append((f"in-process re-execution (lower bound), {name}", measure(box, step, options.cycles)))
        finally:
            sessions.close()
            box.close()
    print(f"CPU per cycle of a do-nothing strategy, {options.cycles} cycles each (load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}; {os.cpu_count()} cores)")
    print(f"{'what':<56} {'worker ms':>9} {'sandbox ms':>10} {'total ms':>8} {'wall ms':>8}")
    for label, (worker, sandbox, wall) in rows:
        print(f"{label:<56} {worker:>9.2f} {sandbox:>10.2f} {worker + sandbox:>8.2f} {wall:>8.2f}")


if __name__ == "__main__":
    main()
