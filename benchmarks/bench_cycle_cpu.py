"""CPU per scheduled run, split by where it goes: the worker's task (ORM, SQL, sandbox client, JSON,
broadcast), the zygote and the runs it forks, the Postgres backend and redis-server.

    python benchmarks/bench_cycle_cpu.py [--runs 160] [--profile] [--statements]

Needs DATABASE_URL (Postgres) and REDIS_URL; creates its own database (`<name>_bench`). It deploys
`--runs` strategies, lets the real tick (`strategies_tick`) create their executions, then runs
the worker's task bodies in this process, as a Celery worker's pool process would, minus Celery's
own message handling (bench_schedule.py measures that, with the real worker), twice: one run at a
time (`execution_cycle`: its own claim and end), then the tick's messages (`execution_cycles`: one
claim a message, the runs side by side on threads, their ends together). CPU is read from getrusage
and /proc (cpu_accounting.py), not wall clock, so it is steady on a busy machine. `--profile` adds a
cProfile of the task (CPU time) by category.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import resource
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_schedule import NO_EXIT, QUIET_ENTRY, bench_database_url, recreate_database  # noqa: E402
from cpu_accounting import CpuMeter, load_average  # noqa: E402

BEFORE_MS = 20.0  # issue 14: ~20 ms of CPU per run, all processes (sandbox ~9 ms)
# The "before" column: this benchmark on the code before issue 14's cuts (commit c039ba0), load average 3.
TARGET_MS = 5.0

# cProfile categories: the first whose marker appears in a function's file (or name) wins.
CATEGORIES: list[tuple[str, tuple[str, ...]]] = [
    ("broadcast (channels, redis)", ("channels_redis", "/channels/", "/redis/", "msgpack", "events.py")),
    ("SQL round trips (psycopg)", ("psycopg",)),
    ("ORM (django.db)", ("django/db",)),
    ("sandbox, worker side", ("runtime/",)),
    ("JSON", ("json",)),
    ("selectors / sockets (waiting)", ("selectors", "socket")),
    ("money layer (desk, trading)", ("strategies/cycle/desk", "trading/", "strategies/cycle/venue_reads")),
    ("executor, scheduling", ("strategies/cycle/", "strategies/tasks", "strategies/scheduling")),
    ("django, other", ("django",)),
]


def _cpu_self() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@contextmanager
def counting_statements(counts: list[str]) -> Iterator[None]:
    from django.db import connection

    def wrapper(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        counts.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper):
        yield


def categorised(profile: cProfile.Profile) -> list[tuple[str, float]]:
    """Own (tottime) CPU seconds per category."""
    stats = pstats.Stats(profile)
    totals: dict[str, float] = {}
    for (filename, _line, function), (_cc, _nc, tottime, _ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        where = f"{filename}:{function}"
        label = next((name for name, markers in CATEGORIES if any(m in where for m in markers)), "other (stdlib, …)")
        totals[label] = totals.get(label, 0.0) + tottime
    return sorted(totals.items(), key=lambda item: -item[1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=160,
                        help="at most 160: warm-up and two measured rounds fit in one zygote (recycled every 500 runs)")
    parser.add_argument("--profile", action="store_true", help="cProfile the task (CPU time) by category")
    parser.add_argument("--statements", action="store_true", help="print the SQL of one run")
    parser.add_argument("--top", type=int, default=0, help="with --profile: also print the N costliest functions")
    args = parser.parse_args()
    if args.runs > 160:
        parser.error("--runs: at most 160 (a zygote recycled mid-measurement would take its CPU with it)")
    if not os.environ.get("DATABASE_URL", "").startswith("postgres") or not os.environ.get("REDIS_URL"):
        print("bench_cycle_cpu needs DATABASE_URL=postgres://… and REDIS_URL=redis://…", file=sys.stderr)
        return 2
    database_url, admin_url, name = bench_database_url(os.environ["DATABASE_URL"])
    recreate_database(admin_url, name)
    os.environ.update(DATABASE_URL=database_url, DJANGO_SETTINGS_MODULE="strategyhub.settings",
                      SECRET_KEY=os.environ.get("SECRET_KEY", "bench-only"), STRATEGYHUB_DOTENV="off",
                      LOG_LEVEL="WARNING")
    import subprocess

    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, check=True)
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.db.models import Count

    from runtime import shared_sandbox
    from runtime.warm import shared_sessions
    from strategies.models import Execution, Strategy
    from strategies.scheduling import CYCLES_PER_MESSAGE, CycleMessage, strategies_tick
    from strategies.services import strategy_deploy
    from strategies.tasks import execution_cycle, execution_cycles

    owner = get_user_model().objects.create_superuser("bench")
    config = {"thesis": "benchmark", "platform": "kalshi", "polling_interval": 60,
              "capital": {"total_capital": 1000, "capital_per_trade": 10, "max_positions": 1, "max_position_size": 10,
                          "max_daily_loss": 10, "sizing_method": "fixed"}}
    for index in range(args.runs):
        strategy_deploy(owner=owner, files={"entry.py": QUIET_ENTRY, "exit.py": NO_EXIT,
                                            "config.json": json.dumps({**config, "name": f"bench {index:04d}"})},
                        approve_by=owner)

    def tick() -> list[list[int]]:
        Strategy.objects.update(next_run_at=datetime.now(UTC) - timedelta(seconds=1))
        messages: list[CycleMessage] = []
        strategies_tick(enqueue=lambda pk: None, send=messages.append, batch=args.runs)
        assert sum(len(message.execution_ids) for message in messages) == args.runs, messages
        return [message.execution_ids for message in messages]

    # One warm-up round, as in steady state: zygotes started, each version's files and AST check cached.
    for ids in tick():
        execution_cycles(ids)
    sandbox = shared_sandbox(preload=False)
    measured = {}
    for mode in ("one run a message", f"{CYCLES_PER_MESSAGE} runs a message"):
        messages = tick()
        # This process's sandboxes (bubblewrap and below), whichever zygote serves, and every backend of the bench
        # database (a message's runs each hold a connection of their own).
        meter = CpuMeter(roots={"bench": os.getpid()}, database=name)
        statements: list[str] = []
        profile = cProfile.Profile(time.process_time) if args.profile else None
        load = load_average()
        meter.start()
        warm_before = shared_sessions().cpu_seconds
        worker_before, wall_before = _cpu_self(), time.monotonic()
        with counting_statements(statements):
            if profile is not None:
                profile.enable()
            for ids in messages:
                if mode == "one run a message":
                    for execution_id in ids:
                        execution_cycle(execution_id)
                else:
                    execution_cycles(ids)
            if profile is not None:
                profile.disable()
        worker = _cpu_self() - worker_before
        warm_cpu = shared_sessions().cpu_seconds - warm_before
        wall = time.monotonic() - wall_before
        meter.sample()
        roles = meter.by_role(parts=True)
        queued = [pk for ids in messages for pk in ids]
        statuses = dict(Execution.objects.filter(pk__in=queued).values_list("status")
                        .annotate(n=Count("id")).values_list("status", "n"))
        runs = args.runs
        print(f"\n{mode}: CPU per scheduled run, {runs} runs in one process (load average {load} → {load_average()})")
        print(f"statuses: {statuses}; wall {wall / runs * 1000:.1f} ms/run")
        rows = [("worker task (this process, incl. its threads)", worker, 8.1),
                ("zygote and the runs it forks", roles.get("bench: sandbox", 0.0), 8.7),
                *([("warm sessions and their cycles' children (as measured by them)", warm_cpu, 0.0)]
                  if settings.SANDBOX_WARM_SESSIONS else []),
                ("Postgres backends", roles.get("postgres: backends", 0.0), 2.7),
                ("redis-server (shared with the machine)", roles.get("redis", 0.0), 0.15)]
        total = sum(cpu for _, cpu, _ in rows)
        measured[mode] = total / runs * 1000
        print(f"{'where':<54}{'ms/run':>8}{'before':>8}")
        for label, cpu, before in rows:
            print(f"{label:<54}{cpu / runs * 1000:>8.2f}{before:>8.2f}")
        if settings.SANDBOX_WARM_SESSIONS:
            print("  (the sessions' own row: /proc counts CPU in 10 ms ticks and misses most of hundreds of sessions'\n"
                  "   few ms each, so they report their own and their children's CPU from getrusage and wait4)")
        print(f"{'total, without Celery (bench_schedule has it)':<54}{total / runs * 1000:>8.2f}{19.6:>8.2f}"
              f"   issue 14: {BEFORE_MS:.0f} with Celery; target ≤ {TARGET_MS:.0f} with Celery")
        kinds: dict[str, int] = {}
        for sql in statements:
            kind = sql.split(None, 1)[0].upper()
            kinds[kind] = kinds.get(kind, 0) + 1
        print(f"SQL statements per run: {len(statements) / runs:.2f} (before issue 14: 7; the main connection's only)  "
              + ", ".join(f"{kind} {count / runs:.2f}" for kind, count in sorted(kinds.items(), key=lambda kv: -kv[1])))
        if args.statements:
            print(*(f"  {sql[:160]}" for sql in statements[:4]), sep="\n")
        if profile is not None:
            print("\ncProfile of the worker task (CPU, own time; the profiler itself inflates it) per run:")
            for label, seconds in categorised(profile):
                print(f"  {label:<52}{seconds / runs * 1000:>8.2f} ms")
            if args.top:
                pstats.Stats(profile).sort_stats("cumulative").print_stats(args.top)
    print("\n" + "  ".join(f"{mode}: {ms:.2f} ms/run" for mode, ms in measured.items()) + " (same run)")
    sandbox.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
