"""A cold run's sandbox CPU, split between the zygote's own work (its fork of the next spare, reaping, the scratch
folder, the Landlock ruleset) and its runs', over N runs of one zygote (fewer than it serves before it is recycled).

    python benchmarks/bench_zygote.py [--runs 450] [--repeat 3]

From /proc: the zygote's own user+system time, the runs it reaped, and every process of the sandbox. A do-nothing
strategy, the lean zygote and the numpy+pandas one, 5 ms between runs. Compare versions by running this in each,
alternating (docs/sandbox.md, Cost: the zygote's heap in 2 MiB pages); `huge` is what the zygote collapsed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_sandbox import _family
from bench_warm import CTX, GAP, NOTHING, no_call

from runtime import Sandbox, SandboxLimits

TICK = os.sysconf("SC_CLK_TCK")


def times(pid: int) -> tuple[float, float]:
    """(own, reaped children's) CPU seconds of `pid`."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK, (int(fields[13]) + int(fields[14])) / TICK


def sandbox_cpu(root: int) -> float:
    total = 0.0
    for pid in _family(root):
        try:
            total += sum(times(pid))
        except OSError:  # a run that ended between the listing and the read
            continue
    return total


def zygote_of(root: int) -> int:
    """The zygote's interpreter: the first Python process under its bubblewrap (or the plain child, weak mode)."""
    for pid in sorted(_family(root)):
        try:
            if b"python" in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]:
                return pid
        except OSError:
            continue
    raise RuntimeError(f"no zygote under {root}")


def measure(preload: tuple[str, ...], runs: int) -> tuple[float, float, float, int]:
    """(zygote's own, its runs', every sandbox process's) CPU ms a run, and the zygote's huge pages in KiB."""
    box = Sandbox(preload=preload)
    limits = SandboxLimits()
    try:
        for _ in range(30):
            box.run_cycle(NOTHING, CTX, no_call, limits)
        assert box._zygote is not None
        root = box._zygote.process.pid
        zygote = zygote_of(root)
        own, reaped = times(zygote)
        everything = sandbox_cpu(root)
        for _ in range(runs):
            outcome = box.run_cycle(NOTHING, CTX, no_call, limits)
            assert outcome.status == "succeeded", outcome.error
            time.sleep(GAP)
        assert box._zygote is not None and box._zygote.process.pid == root, "the zygote was recycled: fewer --runs"
        own_after, reaped_after = times(zygote)
        return ((own_after - own) * 1000 / runs, (reaped_after - reaped) * 1000 / runs,
                (sandbox_cpu(root) - everything) * 1000 / runs, int(box._zygote.hello.get("huge_pages_kb", 0)))
    finally:
        box.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=450, help="runs measured in one zygote (it recycles at 500)")
    parser.add_argument("--repeat", type=int, default=3, help="zygotes measured of each kind; the median is shown")
    args = parser.parse_args()
    print(f"a cold run's sandbox CPU, {args.runs} runs of a do-nothing strategy in one zygote, median of "
          f"{args.repeat} zygotes (load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}; "
          f"{os.cpu_count()} cores)")
    print(f"{'zygote':<14}{'its own ms':>12}{'its runs ms':>13}{'sandbox ms':>12}{'huge KiB':>10}")
    for label, preload in (("lean", ()), ("numpy+pandas", ("numpy", "pandas"))):
        rows = [measure(preload, args.runs) for _ in range(args.repeat)]
        own, runs, total = (statistics.median(row[i] for row in rows) for i in range(3))
        print(f"{label:<14}{own:>12.2f}{runs:>13.2f}{total:>12.2f}{rows[-1][3]:>10}")


if __name__ == "__main__":
    main()
