"""What attaching a run's seccomp filter costs (every cold run and every warm cycle's child does it once).

    python benchmarks/bench_seccomp.py [--forks 100] [--rounds 6]

In a forked child (as a run is), after `PR_SET_NO_NEW_PRIVS` and a first one-instruction filter (so the ctypes path
and the first stacked filter are warm), the thread CPU time of attaching: the run's program (`harden.seccomp_program`,
a binary search over ranges of syscall numbers), the same rules as one check after another (the layout before
7 December), and a one-instruction filter, the floor. The kernel copies, translates and JITs the program, then runs
it once per syscall number to cache the ones it always allows, so both its length and its depth count. Alternating
rounds; each figure is the median of the rounds' medians.
"""

from __future__ import annotations

import argparse
import os
import statistics
import struct
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from runtime import harden


def straight_line(own_pid: int) -> bytes:
    """The run's rules as checks one after another: each number's JEQ, then its block."""
    program = harden._prologue()
    for number, block in sorted(harden._syscall_rules(own_pid, session=False).items()):
        program += [harden._insn(harden._JEQ_K, 0, len(block), number), *block]
    program.append(harden._insn(harden._RET_K, 0, 0, harden._RET_ALLOW))
    return b"".join(program)


def attach_us(program: bytes, forks: int) -> float:
    floor = harden._insn(harden._RET_K, 0, 0, harden._RET_ALLOW)
    read, write = os.pipe()
    took = []
    for _ in range(forks):
        pid = os.fork()
        if pid == 0:
            harden._prctl(harden.PR_SET_NO_NEW_PRIVS, 1)
            harden.apply_seccomp(floor)
            started = time.thread_time_ns()
            harden.apply_seccomp(program)
            os.write(write, struct.pack("q", time.thread_time_ns() - started))
            os._exit(0)
        os.waitpid(pid, 0)
        took.append(struct.unpack("q", os.read(read, 8))[0] / 1000)
    os.close(read)
    os.close(write)
    return float(statistics.median(took))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--forks", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=6)
    options = parser.parse_args()
    if not harden.seccomp_supported():
        print("bench_seccomp: skipped, no seccomp on this machine")
        return
    programs = {
        "the run's filter (a search over ranges)": harden.seccomp_program(os.getpid()),
        "the same rules, one check after another": straight_line(os.getpid()),
        "one instruction (the floor)": harden._insn(harden._RET_K, 0, 0, harden._RET_ALLOW),
    }
    figures: dict[str, list[float]] = {name: [] for name in programs}
    for _ in range(options.rounds):
        for name, program in programs.items():
            figures[name].append(attach_us(program, options.forks))
    print(f"attaching a seccomp filter in a forked child, {options.rounds} rounds of {options.forks} forks "
          f"(load average {os.getloadavg()[0]:.2f}; {os.cpu_count()} cores)")
    print(f"{'filter':44}{'instructions':>13}{'µs':>8}   rounds")
    for name, program in programs.items():
        rounds = ", ".join(f"{value:.0f}" for value in figures[name])
        print(f"{name:44}{len(program) // 8:>13}{statistics.median(figures[name]):>8.1f}   {rounds}")


if __name__ == "__main__":
    main()
