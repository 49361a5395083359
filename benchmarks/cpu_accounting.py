"""CPU time of every process a scheduled cycle touches, read from /proc (Linux), for the benchmarks.

A process's CPU is utime + stime of /proc/<pid>/stat, plus cutime + cstime: what its reaped
children used (a zygote's runs, a worker's dead pool children). Processes are grouped by role:
the worker (its pool, zygotes and runs), beat, the Postgres backends serving the benchmark's
database (and the server's own background processes), and redis-server. Redis and Postgres's
background processes are shared with whatever else runs on the machine: on a busy machine their
share is an upper bound.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")
SERVER_OWN = {"checkpointer", "background", "walwriter", "autovacuum", "logical", "stats", "archiver"}


def _stat(pid: int) -> tuple[int, str, float] | None:
    """(parent pid, command name, CPU seconds incl. reaped children) of `pid`, or None if it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    name = text[text.index("(") + 1 : text.rindex(")")]
    fields = text[text.rindex(")") + 2 :].split()
    # fields[0] is state; utime, stime, cutime, cstime are stat fields 14..17 (1-based), here 11..14
    cpu = sum(int(value) for value in fields[11:15]) / TICKS
    return int(fields[1]), name, cpu


def processes() -> dict[int, tuple[int, str, float]]:
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = _stat(int(entry))
            if stat is not None:
                found[int(entry)] = stat
    return found


def parts(root: int, table: dict[int, tuple[int, str, float]]) -> dict[int, str]:
    """The processes of `root`'s tree, each named by its part: the root itself, the sandbox (bubblewrap and
    everything beneath it: zygotes and runs), or the root's other children (a Celery worker's pool)."""
    if root not in table:
        return {}
    named, frontier = {root: ": main process"}, [root]
    while frontier:
        parent = frontier.pop()
        for pid, (ppid, name, _) in table.items():
            if ppid == parent and pid not in named:
                named[pid] = ": sandbox" if name == "bwrap" or named[parent] == ": sandbox" else ": pool"
                frontier.append(pid)
    return named


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


@dataclass
class CpuMeter:
    """Samples the roles' CPU; `sample()` often enough that processes which exit are still counted
    up to their last sample (a pool child or a Postgres backend is long-lived, a run is reaped by its zygote)."""

    roots: dict[str, int | list[int]]  # role -> root pid or pids (each one's whole process tree counts)
    database: str | None = None  # Postgres backends of this database count as "postgres"
    baseline: dict[tuple[str, int], float] = field(default_factory=dict)
    last: dict[tuple[str, int], float] = field(default_factory=dict)

    def _postgres_pids(self, table: dict[int, tuple[int, str, float]]) -> set[int]:
        pids = set()
        for pid, (_, name, _) in table.items():
            if name != "postgres":
                continue
            words = cmdline(pid).split()
            # a backend is "postgres: 15/main: <user> <database> <client> <state>"; the server's own
            # processes ("postgres: 15/main: walwriter" …) are shared, and counted too
            if ((len(words) > 3 and words[3] == self.database) or (len(words) > 2 and words[2] in SERVER_OWN)
                    or "-D" in words):  # the postmaster, which forks the backends
                pids.add(pid)
        return pids

    def sample(self) -> None:
        table = processes()
        for role, roots in self.roots.items():
            for root in roots if isinstance(roots, list) else [roots]:
                for pid, part in parts(root, table).items():
                    self.last[(f"{role}{part}", pid)] = table[pid][2]
        if self.database is not None:
            for pid in self._postgres_pids(table):
                words = cmdline(pid).split()
                part = ": backends" if len(words) > 3 and words[3] == self.database else ": server (shared)"
                self.last[(f"postgres{part}", pid)] = table[pid][2]
        for pid, (_, name, cpu) in table.items():
            if name == "redis-server":
                self.last[("redis", pid)] = cpu

    def start(self) -> None:
        self.sample()
        self.baseline = dict(self.last)  # what ran before the start does not count

    def by_role(self, *, parts: bool = False) -> dict[str, float]:
        """CPU seconds per role (with `parts`: per part of each role's tree) since `start`; a process that
        appeared later counts from zero."""
        totals: dict[str, float] = {}
        for key, cpu in self.last.items():
            name = key[0] if parts else key[0].split(":")[0]
            totals[name] = totals.get(name, 0.0) + cpu - self.baseline.get(key, 0.0)
        return totals


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"
