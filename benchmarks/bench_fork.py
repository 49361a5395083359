"""What a run's fork costs with and without CPython's after-fork handlers (runtime/forking.py).

    python benchmarks/bench_fork.py [--forks 400] [--rounds 3]

In a process that has imported what the lean zygote imports (the runtime and `BASE_PRELOAD`), rehearsed a cycle and
frozen its heap, as the zygote does before its first fork: N children that exit at once, forked by `os.fork()` and by
`forking.fork()` (libc's fork with the GIL held, random reseeded), alternating rounds. Per fork: the child's CPU and
minor faults (from `wait4`, the kernel's figures) and the parent's CPU (`time.process_time`, the fork's copy of the page
tables is the parent's). Each figure is the median of the rounds.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from runtime import forking
from runtime.cycle import cycle_rehearse
from runtime.zygote import BASE_PRELOAD


def forks(fork: Callable[[], int], count: int) -> tuple[float, float, float]:
    """(child CPU µs, child minor faults, parent CPU µs) a fork, over `count` children that exit at once."""
    child_cpu = faults = 0.0
    started = time.process_time()
    for _ in range(count):
        pid = fork()
        if pid == 0:
            os._exit(0)
        _, _, usage = os.wait4(pid, 0)
        child_cpu += usage.ru_utime + usage.ru_stime
        faults += usage.ru_minflt
    parent = time.process_time() - started
    return child_cpu / count * 1e6, faults / count, parent / count * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--forks", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    for name in BASE_PRELOAD:
        importlib.import_module(name)
    cycle_rehearse()
    gc.collect()
    gc.freeze()
    kinds: dict[str, Callable[[], int]] = {"os.fork()": os.fork, "forking.fork(), no handlers": forking.fork}
    figures: dict[str, list[tuple[float, float, float]]] = {kind: [] for kind in kinds}
    for _ in range(args.rounds):
        for kind, fork in kinds.items():
            figures[kind].append(forks(fork, args.forks))
    load = " ".join(f"{value:.2f}" for value in os.getloadavg())
    print(f"a fork of the lean zygote's runtime, {args.forks} children that exit at once, median of {args.rounds} "
          f"rounds (load average {load})")
    print(f"{'fork':32} {'child CPU µs':>13} {'child faults':>13} {'parent CPU µs':>14}")
    for kind, rounds in figures.items():
        child, fault, parent = (statistics.median(values) for values in zip(*rounds, strict=True))
        print(f"{kind:32} {child:13.1f} {fault:13.1f} {parent:14.1f}")


if __name__ == "__main__":
    main()
