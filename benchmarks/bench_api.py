"""The agent API's main read routes under load: 50 concurrent clients against daphne, while 200 strategies run.

    python benchmarks/bench_api.py [--strategies 200] [--runs 30] [--clients 50] [--seconds 20] [--idle]

Needs DATABASE_URL (Postgres) and REDIS_URL. It creates its own database (`<name>_apibench`, dropped and
re-created each run), deploys N strategies for one user with `runs` finished executions each (logs and
actions included), approves them and starts a Celery worker and beat that run their cycles (`--idle`: no
worker, the API alone), starts one daphne process, and has `clients` concurrent HTTP clients (httpx,
keep-alive) read GET /api/v1/strategies/, GET /api/v1/strategies/{id}/executions/ and
GET /api/v1/executions/{id}/ in turn for `seconds`. Prints requests/s and p50/p99 per route, and what a
request costs whatever the machine's load: its database queries and daphne's CPU milliseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_schedule import NO_EXIT, QUIET_ENTRY, bench_database_url, percentile, recreate_database  # noqa: E402


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _uptime() -> str:
    return "load average " + ", ".join(Path("/proc/loadavg").read_text().split()[:3])


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (/proc/PID/stat fields 14 and 15, in clock ticks)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def queries_per_route(key: str, strategy_ids: list[int], execution_ids: list[int]) -> dict[str, int]:
    """Database queries of one request per route, counted in this process (the same views daphne runs)."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
    counts = {}
    for route, path in (("GET /strategies/", "/api/v1/strategies/"),
                        ("GET /strategies/{id}/executions/", f"/api/v1/strategies/{strategy_ids[0]}/executions/"),
                        ("GET /executions/{id}/", f"/api/v1/executions/{execution_ids[0]}/")):
        client.get(path)
        with CaptureQueriesContext(connection) as captured:
            client.get(path)
        counts[route] = len(captured.captured_queries)
    return counts


def seed(strategies: int, runs: int) -> tuple[str, list[int], list[int]]:
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from accounts.services import api_key_issue
    from strategies.models import Execution, ExecutionAction, ExecutionLog
    from strategies.services import strategy_deploy
    from tests.conftest import scripts_files

    user = get_user_model().objects.create_superuser("bench")  # approves its own strategies for paper
    key = api_key_issue(user=user)
    strategy_ids: list[int] = []
    now = timezone.now()
    executions: list[Execution] = []
    for number in range(strategies):
        files = scripts_files(name=f"Bench strategy {number:03d}", polling_interval=60)
        files["entry.py"], files["exit.py"] = QUIET_ENTRY, NO_EXIT
        version = strategy_deploy(owner=user, files=files, approve_by=user)
        strategy_ids.append(version.strategy_id)
        for run in range(runs):
            at = now - timedelta(seconds=60 * (runs - run))
            executions.append(Execution(strategy_id=version.strategy_id, version=version, trigger="scheduled",
                                        mode="paper", status="succeeded", scheduled_for=at, started_at=at,
                                        finished_at=at + timedelta(milliseconds=40), worker="bench:1"))
    executions = Execution.objects.bulk_create(executions, batch_size=2000)
    ExecutionLog.objects.bulk_create([ExecutionLog(execution=e, seq=seq, ts=e.scheduled_for, message=f"line {seq}")
                                      for e in executions for seq in (1, 2, 3)], batch_size=5000)
    ExecutionAction.objects.bulk_create([ExecutionAction(execution=e, seq=1, ts=e.scheduled_for, kind="order_refused",
                                                         message="order refused (sizing): nothing to buy")
                                         for e in executions], batch_size=5000)
    return key, strategy_ids, [e.pk for e in executions]


async def load(base: str, key: str, strategy_ids: list[int], execution_ids: list[int], *, clients: int,
               seconds: float) -> dict[str, list[float]]:
    import httpx

    pick = random.Random(7).choice  # noqa: S311 - which row to read, not a secret
    routes: dict[str, Callable[[], str]] = {"GET /strategies/": lambda: "/api/v1/strategies/",
              "GET /strategies/{id}/executions/": lambda: f"/api/v1/strategies/{pick(strategy_ids)}/executions/",
              "GET /executions/{id}/": lambda: f"/api/v1/executions/{pick(execution_ids)}/"}
    names = list(routes)
    timings: dict[str, list[float]] = {name: [] for name in names}
    errors: dict[int, int] = {}
    deadline = time.monotonic() + seconds

    async def client(index: int) -> None:
        nonlocal errors
        async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=30) as http:
            turn = index
            while time.monotonic() < deadline:
                name = names[turn % len(names)]
                turn += 1
                started = time.perf_counter()
                response = await http.get(routes[name]())
                timings[name].append(time.perf_counter() - started)
                if response.status_code != 200:
                    errors[response.status_code] = errors.get(response.status_code, 0) + 1

    await asyncio.gather(*(client(i) for i in range(clients)))
    if errors:
        print(f"answers that were not 200, by status: {errors}", file=sys.stderr)
    return timings


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--strategies", type=int, default=200)
    parser.add_argument("--runs", type=int, default=30, help="finished executions per strategy")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--idle", action="store_true", help="no worker: the strategies do not run meanwhile")
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres") or not os.environ.get("REDIS_URL"):
        print("bench_api needs DATABASE_URL=postgres://… and REDIS_URL=redis://…", file=sys.stderr)
        return 2
    database_url, admin_url, name = bench_database_url(os.environ["DATABASE_URL"])
    database_url, name = database_url.replace(f"/{name}", f"/{name}_api"), f"{name}_api"
    recreate_database(admin_url, name)
    env = {**os.environ, "DATABASE_URL": database_url, "DJANGO_SETTINGS_MODULE": "strategyhub.settings",
           "SECRET_KEY": os.environ.get("SECRET_KEY", "bench-only"), "STRATEGYHUB_DOTENV": "off",
           "LOG_LEVEL": "WARNING", "API_THROTTLE_READ": "1000000/min",
           "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver"}
    os.environ.update(env)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)

    import django

    django.setup()
    started = time.monotonic()
    key, strategy_ids, execution_ids = seed(args.strategies, args.runs)
    print(f"seeded {len(strategy_ids)} strategies, {len(execution_ids)} executions "
          f"in {time.monotonic() - started:.1f} s")
    counts = queries_per_route(key, strategy_ids, execution_ids)
    workers: list[subprocess.Popen[bytes]] = []
    if not args.idle:
        import redis

        redis.Redis.from_url(env["REDIS_URL"]).flushdb()  # no stale tasks from an earlier run
        log = (ROOT / "var" / "bench_api_celery.log").open("w")
        workers = [subprocess.Popen([sys.executable, "-m", "celery", "-A", "strategyhub", *command], cwd=ROOT, env=env,
                                    stdout=log, stderr=log, start_new_session=True)
                   for command in (["worker", "--loglevel=WARNING", "--concurrency=2", "--without-gossip",
                                    "--without-mingle"],
                                   ["beat", "--loglevel=WARNING", "-s", "/tmp/strategyhub-bench-api-beat"])]
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port),
                               "strategyhub.asgi:application"], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=(ROOT / "var" / "bench_api_daphne.log").open("w"))
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        base = f"http://127.0.0.1:{port}"
        asyncio.run(load(base, key, strategy_ids, execution_ids, clients=5, seconds=2))  # warm up
        if workers:
            time.sleep(5)  # beat's first ticks: cycles are running
        load_before, cpu_before = _uptime(), _cpu_seconds(server.pid)
        timings = asyncio.run(load(base, key, strategy_ids, execution_ids, clients=args.clients,
                                   seconds=args.seconds))
        cpu = _cpu_seconds(server.pid) - cpu_before
        load_after = _uptime()
    finally:
        server.terminate()
        server.wait(timeout=10)
        for worker in workers:
            os.killpg(worker.pid, signal.SIGTERM)
        for worker in workers:
            worker.wait(timeout=30)
    from django.utils import timezone

    from strategies.models import Execution

    cycles = Execution.objects.filter(created_at__gte=timezone.now() - timedelta(seconds=args.seconds + 10),
                                      trigger="scheduled").exclude(worker="bench:1").count()
    total = sum(len(values) for values in timings.values())
    running = "no worker" if args.idle else f"{cycles} cycles of {len(strategy_ids)} strategies ran meanwhile"
    from django.conf import settings

    pool = getattr(settings, "DATABASE_POOL_SIZE", 0)
    print(f"\n{args.clients} clients, {args.seconds:.0f} s, one daphne process ("
          f"{f'a pool of {pool}' if pool else 'a new'} database connection{'s' if pool else ' per request'}), "
          f"{running}; target p99 ≤ 50 ms at 200 req/s")
    print(f"{load_before} before, {load_after} after")
    print(f"{'route':<36}{'requests':>10}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'queries':>9}")
    for route, values in timings.items():
        print(f"{route:<36}{len(values):>10}{len(values) / args.seconds:>9.1f}"
              f"{percentile(values, 0.5) * 1000:>9.1f}{percentile(values, 0.99) * 1000:>9.1f}{counts[route]:>9}")
    every = [value for values in timings.values() for value in values]
    print(f"{'all':<36}{total:>10}{total / args.seconds:>9.1f}{percentile(every, 0.5) * 1000:>9.1f}"
          f"{percentile(every, 0.99) * 1000:>9.1f}")
    print(f"daphne CPU per request: {cpu / max(total, 1) * 1000:.1f} ms ({cpu:.1f} s for {total} requests)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
