"""Scheduling under load: N strategies at a fixed interval, with the real beat, worker, Postgres and Redis.

    python benchmarks/bench_schedule.py [--strategies 1000] [--interval 10] [--seconds 120] [--concurrency 4]

Needs DATABASE_URL (Postgres) and REDIS_URL. It creates its own database (`<name>_bench`, dropped and
re-created each run) so it never touches real data, starts one beat and one worker, lets them run,
then reports from the executions: lag from scheduled_for to started_at, executions per second,
duplicates, overlaps and missed intervals, and the time from a script's ctx.log to the websocket
follower (the worker's receipt time of the log line → the message arriving at a subscribed client).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

QUIET_ENTRY = "def should_enter(ctx):\n    ctx.log('tick')\n    return []\n"
NO_EXIT = "def should_exit(ctx, position):\n    return None\n"


def bench_database_url(url: str) -> tuple[str, str, str]:
    parsed = urlparse(url)
    name = parsed.path.lstrip("/") + "_bench"
    admin = urlunparse(parsed._replace(path="/postgres"))
    return urlunparse(parsed._replace(path=f"/{name}")), admin, name


def recreate_database(admin_url: str, name: str) -> None:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--strategies", type=int, default=1000)
    parser.add_argument("--interval", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--concurrency", type=int, default=3, help="3 measured best on 2 cores (4 and 6 were slower)")
    parser.add_argument("--followers", type=int, default=20, help="strategies followed over a websocket")
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres") or not os.environ.get("REDIS_URL"):
        print("bench_schedule needs DATABASE_URL=postgres://… and REDIS_URL=redis://…", file=sys.stderr)
        return 2
    database_url, admin_url, name = bench_database_url(os.environ["DATABASE_URL"])
    recreate_database(admin_url, name)
    env = {**os.environ, "DATABASE_URL": database_url, "DJANGO_SETTINGS_MODULE": "strategyhub.settings",
           "SECRET_KEY": os.environ.get("SECRET_KEY", "bench-only"), "STRATEGYHUB_DOTENV": "off",
           "LOG_LEVEL": "WARNING"}
    os.environ.update(env)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)

    import django

    django.setup()
    import redis
    from django.contrib.auth import get_user_model
    from django.db.models import Count, Q

    from strategies.models import Execution, Strategy
    from strategies.services import strategy_deploy

    redis.Redis.from_url(env["REDIS_URL"]).flushdb()  # no stale tasks from an earlier run
    owner = get_user_model().objects.create_superuser("bench")  # approves its own strategies for paper
    print(f"deploying {args.strategies} strategies at {args.interval} s …", flush=True)
    config = {"thesis": "benchmark", "platform": "kalshi", "polling_interval": args.interval,
              "capital": {"total_capital": 1000, "capital_per_trade": 10, "max_positions": 1, "max_position_size": 10,
                          "max_daily_loss": 10, "sizing_method": "fixed"}}
    for index in range(args.strategies):
        files = {"entry.py": QUIET_ENTRY, "exit.py": NO_EXIT,
                 "config.json": json.dumps({**config, "name": f"bench {index:04d}"})}
        strategy_deploy(owner=owner, files=files, approve_by=owner)
    start_at = datetime.now(UTC) + timedelta(seconds=5)
    for strategy in Strategy.objects.all():  # spread over one interval from a common start
        Strategy.objects.filter(pk=strategy.pk).update(
            next_run_at=start_at + timedelta(seconds=(strategy.pk % (args.interval * 100)) / 100))

    processes = [
        subprocess.Popen([sys.executable, "-m", "celery", "-A", "strategyhub", "worker", "--loglevel=WARNING",
                          f"--concurrency={args.concurrency}", "--without-gossip", "--without-mingle"],
                         cwd=ROOT, env=env, start_new_session=True),
        subprocess.Popen([sys.executable, "-m", "celery", "-A", "strategyhub", "beat", "--loglevel=WARNING",
                          "-s", "/tmp/strategyhub-bench-beat"], cwd=ROOT, env=env, start_new_session=True),
    ]
    followed = list(Strategy.objects.order_by("pk").values_list("pk", flat=True)[: args.followers])
    deliveries: list[float] = []
    try:
        asyncio.run(follow(followed, deliveries, start_at, args.seconds))
    finally:
        for process in processes:
            os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
    window_end = start_at + timedelta(seconds=args.seconds)
    runs = Execution.objects.filter(scheduled_for__gte=start_at, scheduled_for__lt=window_end - timedelta(seconds=5))
    started = runs.filter(started_at__isnull=False)
    lags = [(s - d).total_seconds() for d, s in started.values_list("scheduled_for", "started_at") if s is not None]
    finished = [f for f in started.values_list("finished_at", flat=True) if f is not None]
    duplicates = runs.values("strategy", "scheduled_for").annotate(n=Count("id")).filter(n__gt=1).count()
    overlaps = 0
    last_finish: dict[int, datetime] = {}
    for strategy_id, began, ended in started.order_by("strategy", "started_at").values_list(
            "strategy", "started_at", "finished_at"):
        if began is None:
            continue
        if strategy_id in last_finish and began < last_finish[strategy_id]:
            overlaps += 1
        last_finish[strategy_id] = ended or began
    expected_slots = args.strategies * int((args.seconds - 5) / args.interval)
    skipped = runs.filter(status="skipped").count()
    missed = max(0, expected_slots - started.count())
    span = (max(finished) - min(finished)).total_seconds() if len(finished) > 1 else float("nan")
    statuses = dict(runs.values_list("status").annotate(n=Count("id")).values_list("status", "n"))
    failures = list(runs.filter(~Q(status__in=["succeeded", "queued", "running"])).values_list("error", flat=True)[:3])
    print()
    print(f"{'measure':<42}{'value':>14}{'target':>14}")
    print("-" * 70)
    rows = [
        ("strategies × interval", f"{args.strategies} × {args.interval}s", ""),
        ("window measured (s)", f"{args.seconds - 5:.0f}", "≥ 120"),
        ("executions in window", f"{runs.count()}", f"{expected_slots}"),
        ("statuses", json.dumps(statuses), ""),
        ("lag scheduled→started median (ms)", f"{statistics.median(lags) * 1000:.0f}" if lags else "—", ""),
        ("lag p99 (ms)", f"{percentile(lags, 0.99) * 1000:.0f}" if lags else "—", "≤ 1000"),
        ("lag max (ms)", f"{max(lags) * 1000:.0f}" if lags else "—", ""),
        ("executions per second", f"{len(finished) / span:.1f}" if span == span else "—",
         f"{args.strategies / args.interval:.0f}"),
        ("duplicates", str(duplicates), "0"),
        ("overlaps", str(overlaps), "0"),
        ("missed intervals (incl. skipped)", f"{missed} ({skipped} skipped)", "0"),
        ("log→follower median (ms)", f"{statistics.median(deliveries):.0f}" if deliveries else "—", ""),
        ("log→follower p99 (ms)", f"{percentile(deliveries, 0.99):.0f}" if deliveries else "—", "≤ 200"),
    ]
    for row in rows:
        print(f"{row[0]:<42}{row[1]:>14}{row[2]:>14}")
    if failures:
        print("\nfirst failures:", *failures, sep="\n  ")
    return 0


async def follow(strategy_ids: list[int], deliveries: list[float], start_at: datetime, seconds: float) -> None:
    """Subscribe to some strategies' groups on the channel layer, as the websocket consumer does."""
    from channels.layers import get_channel_layer

    from strategies.events import strategy_group

    layer = get_channel_layer()
    assert layer is not None
    channel = await layer.new_channel()
    for strategy_id in strategy_ids:
        await layer.group_add(strategy_group(strategy_id), channel)
    deadline = start_at.timestamp() + seconds
    while time.time() < deadline:
        try:
            message = await asyncio.wait_for(layer.receive(channel), timeout=1)
        except TimeoutError:
            continue
        arrived = time.time()
        for line in message["event"]["logs"]:
            logged = datetime.fromisoformat(line["ts"]).timestamp()
            deliveries.append((arrived - logged) * 1000)


if __name__ == "__main__":
    sys.exit(main())
