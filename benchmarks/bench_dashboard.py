"""Server time of the dashboard: /strategies/ with 200 strategies, a strategy's tabs with 10,000 runs, and its
Execution History with 100,000 runs (the first page and one 3,000 pages deep, by keyset).

    python benchmarks/bench_dashboard.py [--requests 100] [--strategies 200] [--runs 10000] [--deep-runs 100000]

Requests go through Django's test client (the whole middleware stack and template rendering, no network) on a
throwaway test database (tests.settings: the embedded PostgreSQL unless DATABASE_URL is set). Target: p99 <= 150 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--strategies", type=int, default=200)
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--deep-runs", type=int, default=100_000)
    args = parser.parse_args()

    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.utils import timezone

    from strategies.models import Execution, ExecutionLog, Strategy
    from strategies.services import strategy_deploy
    from strategyhub.lib import embedded_postgres
    from trading.models import Position

    embedded_postgres.run_until_exit()
    settings.ALLOWED_HOSTS = ["testserver"]
    test_db = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        staff = get_user_model().objects.create_user("bench-staff", is_staff=True, is_superuser=True)  # approves
        owner = get_user_model().objects.create_user("bench-owner")
        folder = Path(settings.BASE_DIR) / "strategies/examples/kalshi_favourite_longshot"
        files = {path.name: path.read_text() for path in folder.iterdir() if path.is_file()}
        config = json.loads(files["config.json"])
        started = time.perf_counter()
        strategies = []
        for index in range(args.strategies):
            files["config.json"] = json.dumps({**config, "name": f"Bench strategy {index:03d}"})
            reviewer = staff if index % 2 else None  # half approved, half waiting
            strategies.append(strategy_deploy(owner=owner, files=files, approve_by=reviewer).strategy)
        busy = strategies[1]
        now = timezone.now()

        def add_runs(count: int, offset: int) -> None:
            for start in range(0, count, 5000):
                batch = Execution.objects.bulk_create([
                    Execution(strategy=busy, version=busy.current_version, trigger="scheduled", mode="paper",
                              status="succeeded" if index % 10 else "failed", error="" if index % 10 else "boom",
                              scheduled_for=now - timedelta(seconds=60 * (offset + index)),
                              started_at=now - timedelta(seconds=60 * (offset + index)),
                              finished_at=now - timedelta(seconds=60 * (offset + index) - 1))
                    for index in range(start, min(count, start + 5000))])
                ExecutionLog.objects.bulk_create([ExecutionLog(execution=run, seq=seq, ts=now, message=f"line {seq}")
                                                  for run in batch for seq in (1, 2, 3)])

        add_runs(args.runs, 0)
        Position.objects.bulk_create([
            Position(strategy=busy, book="paper", venue="kalshi", market_id=f"M{index}", side="yes", status="closed",
                     quantity=0, cost_basis_usd=0, realized_pnl_usd=Decimal(index % 7 - 3),
                     opened_at=now - timedelta(hours=index + 1), closed_at=now - timedelta(hours=index))
            for index in range(200)])
        Strategy.objects.filter(pk=busy.pk).update(runs_total=args.runs, runs_succeeded=args.runs - args.runs // 10,
                                                   runs_failed=args.runs // 10)
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        setup = time.perf_counter() - started
        print(f"{connection.vendor}: {args.strategies} strategies, {args.runs} runs (setup {setup:.1f} s)")

        client = Client()
        client.force_login(owner)

        def measure(label: str, path: str, headers: dict[str, str] | None = None) -> None:
            for _ in range(5):
                assert client.get(path, headers=headers).status_code == 200, path  # warm-up: templates, caches
            timings = []
            for _ in range(args.requests):
                began = time.perf_counter()
                client.get(path, headers=headers)
                timings.append((time.perf_counter() - began) * 1000)
            p99 = percentile(timings, 0.99)
            print(f"{label:<46}{statistics.median(timings):>9.1f}{p99:>9.1f}  {'ok' if p99 <= 150 else 'OVER 150 ms'}")

        print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        print(f"{'page':<46}{'p50 ms':>9}{'p99 ms':>9}  (query counts: tests/strategies/test_dashboard.py)")
        measure(f"/strategies/ ({args.strategies} cards)", "/strategies/")
        for tab in ("", "history/", "live/", "versions/", "backtests/"):
            measure(f"/strategies/<id>/{tab} ({args.runs} runs)", f"/strategies/{busy.pk}/{tab}")
        if args.deep_runs > args.runs:
            add_runs(args.deep_runs - args.runs, args.runs)
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
            measure(f"history, first page ({args.deep_runs} runs)", f"/strategies/{busy.pk}/history/")
            depth = min(75_000, args.deep_runs // 2)
            deep = Execution.objects.filter(strategy=busy).order_by("-scheduled_for", "-id")[depth]
            before = f"{deep.scheduled_for.isoformat()}_{deep.pk}".replace("+", "%2B")
            measure(f"history, {depth // 25:,} pages deep ({args.deep_runs} runs)",
                    f"/strategies/{busy.pk}/history/?before={before}", {"HX-Request": "true"})
    finally:
        connection.creation.destroy_test_db(test_db, verbosity=0)


if __name__ == "__main__":
    main()
