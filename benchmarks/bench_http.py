"""The three hottest read routes served over HTTP, open loop: requests arrive on a fixed schedule whatever the
answers (a generator in its own process), at 50, 100, 200 and 400 req/s, while 100 strategies run.

    python benchmarks/bench_http.py [--rates 50,100,200,400] [--seconds 15] [--servers daphne,front]
                                    [--strategies 100] [--runs 30] [--idle]

Servers (each started, measured at every rate, stopped):
- `daphne`: the web process as `make run` served it before issue 22: one daphne, the DRF views (API_LEAN_READS=0);
- `front`: as `make run` serves it now: strategyhub/front.py → gunicorn gthread (2 workers × 4 threads, the lean
  read path, the queue deadline), daphne beside it for /ws/ and /mcp;
- `gunicorn`: the same gunicorn without the front (as the Procfile's `web` behind a platform's router);
- `uvicorn`, `granian`: the other servers considered, 2 workers each, lean path on (uvicorn: the ASGI app;
  granian: the WSGI app with 4 blocking threads a worker and backpressure).

Without DATABASE_URL / REDIS_URL it starts a private PostgreSQL cluster and redis-server of its own. It seeds one
user with `strategies` strategies of `runs` finished runs each, and (unless --idle) a Celery worker and beat run
their cycles meanwhile. A request's latency is measured from its scheduled arrival, so a server that falls
behind is charged for the wait (no coordinated omission); one not answered in 5 s is a timeout. Goodput: 200s a
second. Then, per route alone at 100 req/s, the server's CPU per request (all its processes, the front's
included; not Postgres's). The machine may be shared: the load average is printed beside every table.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

TIMEOUT = 5.0
MAX_CONNECTIONS = 800
ROUTES = ("GET /strategies/", "GET /strategies/{id}/executions/", "GET /executions/{id}/")


def _load() -> str:
    return "load average " + ", ".join(Path("/proc/loadavg").read_text().split()[:3])


# --- the generator (its own process: `bench_http.py --generate`) ------------------------------------------------

class Connections:
    """Keep-alive HTTP/1.1 connections over raw asyncio streams: far less client CPU than an HTTP library."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self.open = 0

    async def get(self, head: bytes) -> int:
        if self.idle:
            reader, writer = self.idle.pop()
        else:
            if self.open >= MAX_CONNECTIONS:
                raise ConnectionError("the generator's connection cap")
            self.open += 1
            try:
                reader, writer = await asyncio.open_connection(self.host, self.port)
            except OSError:
                self.open -= 1
                raise
        try:
            writer.write(head)
            status_line = await reader.readuntil(b"\r\n")
            headers = await reader.readuntil(b"\r\n\r\n")
            length, close = 0, False
            for line in headers.split(b"\r\n"):
                lower = line.lower()
                if lower.startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
                elif lower.startswith(b"connection:") and b"close" in lower:
                    close = True
            await reader.readexactly(length)
        except BaseException:
            writer.close()
            self.open -= 1
            raise
        if close:
            writer.close()
            self.open -= 1
        else:
            self.idle.append((reader, writer))
        return int(status_line.split(b" ", 2)[1])


async def generate(base: str, key: str, paths: dict[str, list[str]], rate: float, seconds: float,
                   routes: list[str]) -> dict[str, object]:
    host, port = base.removeprefix("http://").split(":")
    connections = Connections(host, int(port))
    pick = random.Random(11).choice  # noqa: S311 - which row to read, not a secret
    results: list[tuple[str, float, int]] = []  # route, latency from the scheduled arrival, status (0: timeout)

    async def one(route: str, scheduled: float) -> None:
        path = pick(paths[route])
        head = (f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {key}\r\n\r\n").encode()
        try:
            status = await asyncio.wait_for(connections.get(head), timeout=max(0.001, scheduled + TIMEOUT
                                                                               - time.perf_counter()))
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError, IndexError):
            status = 0
        elapsed = time.perf_counter() - scheduled
        results.append((route, min(elapsed, TIMEOUT) if status else TIMEOUT, status))

    tasks = []
    start = time.perf_counter() + 0.05
    total = int(rate * seconds)
    for index in range(total):
        scheduled = start + index / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(routes[index % len(routes)], scheduled)))
    await asyncio.gather(*tasks)
    return {"results": results, "seconds": seconds}


def generator_main(argv: list[str]) -> None:
    base, key, paths_file, rate, seconds, routes = argv
    paths = json.loads(Path(paths_file).read_text())
    print(json.dumps(asyncio.run(generate(base, key, paths, float(rate), float(seconds), routes.split(",")))))


def run_generator(base: str, key: str, paths_file: Path, rate: float, seconds: float,
                  routes: tuple[str, ...] = ROUTES) -> dict[str, object]:
    out = subprocess.run([sys.executable, __file__, "--generate", base, key, str(paths_file), str(rate),
                          str(seconds), ",".join(routes)], capture_output=True, check=True, cwd=ROOT)
    return dict(json.loads(out.stdout))


# --- the servers -----------------------------------------------------------------------------------------------

def _free_port() -> int:
    from tests.faults.services import free_port

    return free_port()


def _cpu_of_tree(pids: list[int]) -> float:
    """User + system CPU seconds of these processes and all their descendants."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
    tree, frontier = set(pids), list(pids)
    while frontier:
        parent = frontier.pop()
        for child, its_parent in parents.items():
            if its_parent == parent and child not in tree:
                tree.add(child)
                frontier.append(child)
    total = 0.0
    for pid in tree:
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


@contextlib.contextmanager
def serving(kind: str, env: dict[str, str], log_dir: Path) -> Iterator[tuple[str, list[int]]]:
    """Start `kind`; yield its base URL and the pids whose process trees make it up."""
    python = sys.executable
    port, web, asgi = _free_port(), _free_port(), _free_port()
    lean = {**env, "API_LEAN_READS": "1"}
    commands: list[tuple[list[str], dict[str, str]]]
    if kind == "daphne":
        commands = [([python, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "strategyhub.asgi:application"],
                     {**env, "API_LEAN_READS": "0"})]
    elif kind in ("front", "gunicorn"):
        gunicorn = [python, "-m", "gunicorn", "-c", "strategyhub/gunicorn.conf.py", "strategyhub.wsgi:application"]
        bind = f"127.0.0.1:{web if kind == 'front' else port}"
        commands = [(gunicorn, {**lean, "WEB_BIND": bind, "WEB_CONCURRENCY": "2", "WEB_THREADS": "4"})]
        if kind == "front":
            commands += [([python, "-m", "daphne", "-b", "127.0.0.1", "-p", str(asgi), "strategyhub.asgi:application"],
                          lean),
                         ([python, "-m", "strategyhub.front", "--bind", f"127.0.0.1:{port}",
                           "--http", f"127.0.0.1:{web}", "--asgi", f"127.0.0.1:{asgi}"], lean)]
    elif kind == "uvicorn":
        commands = [([python, "-m", "uvicorn", "--host", "127.0.0.1", "--port", str(port), "--workers", "2",
                      "--no-access-log", "--backlog", "64", "strategyhub.asgi:application"], lean)]
    elif kind == "granian":
        commands = [([python, "-m", "granian", "--interface", "wsgi", "--host", "127.0.0.1", "--port", str(port),
                      "--workers", "2", "--blocking-threads", "4", "--backpressure", "8", "--backlog", "128",
                      "--log-level", "warning", "strategyhub.wsgi:application"],
                     lean)]
    else:
        raise SystemExit(f"unknown server {kind}")
    processes = []
    for index, (argv, environment) in enumerate(commands):
        log = (log_dir / f"{kind}-{index}.log").open("w")
        processes.append(subprocess.Popen(argv, cwd=ROOT, env=environment, stdout=log, stderr=log,
                                          start_new_session=True))
    try:
        import httpx

        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code < 500:
                    break
            if time.monotonic() > deadline or any(p.poll() is not None for p in processes):
                raise RuntimeError(f"{kind} did not start; see {log_dir}")
            time.sleep(0.3)
        yield f"http://127.0.0.1:{port}", [p.pid for p in processes]
    finally:
        for process in processes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


# --- the run -------------------------------------------------------------------------------------------------------

def summary(run: dict[str, object]) -> dict[str, float]:
    results = run["results"]
    assert isinstance(results, list)
    seconds = float(run["seconds"])  # type: ignore[arg-type]
    latencies = sorted(latency for _, latency, _ in results)
    from bench_schedule import percentile

    return {
        "sent": len(results), "ok": sum(1 for *_, status in results if status == 200),
        "shed": sum(1 for *_, status in results if status in (429, 503)),
        "errors": sum(1 for *_, status in results if status not in (0, 200, 429, 503)),
        "timeouts": sum(1 for *_, status in results if status == 0),
        "p50": percentile(latencies, 0.5) * 1000, "p99": percentile(latencies, 0.99) * 1000,
        "goodput": sum(1 for *_, status in results if status == 200) / seconds,
    }


def measure(kind: str, env: dict[str, str], log_dir: Path, key: str, paths_file: Path, rates: list[float],
            args: argparse.Namespace) -> None:
    """One server: every rate, then CPU per request by route; its rows printed as soon as they are measured."""
    with serving(kind, env, log_dir) as (base, pids):
        run_generator(base, key, paths_file, 50, 2)  # warm up
        load_before = _load()
        for rate in rates:
            row = summary(run_generator(base, key, paths_file, rate, args.seconds))
            print(f"{kind:<10}{rate:>6.0f}{row['sent']:>7.0f}{row['ok']:>7.0f}{row['shed']:>6.0f}"
                  f"{row['errors']:>5.0f}{row['timeouts']:>6.0f}{row['p50']:>9.1f}{row['p99']:>9.1f}"
                  f"{row['goodput']:>11.1f}", flush=True)
            time.sleep(2)  # let a collapsed server drain before the next rate
        cpu = {}
        for route in ROUTES:
            before = _cpu_of_tree(pids)
            run = run_generator(base, key, paths_file, 100, args.cpu_seconds, (route,))
            sent = len(run["results"])  # type: ignore[arg-type]
            cpu[route] = (_cpu_of_tree(pids) - before) * 1000 / max(1, sent)
        print(f"{kind:<10}CPU ms per request: " + ", ".join(f"{route} {ms:.2f}" for route, ms in cpu.items())
              + f"; {load_before} → {_load()}", flush=True)


@contextlib.contextmanager
def services() -> Iterator[tuple[str, str]]:
    """DATABASE_URL and REDIS_URL: the environment's (a fresh database of its own), or private servers."""
    from bench_schedule import bench_database_url, recreate_database

    if os.environ.get("DATABASE_URL", "").startswith("postgres") and os.environ.get("REDIS_URL"):
        database_url, admin_url, name = bench_database_url(os.environ["DATABASE_URL"])
        database_url = database_url.replace(f"/{name}", f"/{name}_http")
        recreate_database(admin_url, f"{name}_http")
        yield database_url, os.environ["REDIS_URL"]
        return
    from tests.faults.services import private_postgres, private_redis

    with private_postgres() as cluster, private_redis(Path(tempfile.mkdtemp(prefix="strategyhub-bench-"))) as server:
        cluster.create_database("strategyhub_bench")
        yield cluster.url("strategyhub_bench"), server.url


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rates", default="50,100,200,400")
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--servers", default="daphne,front")
    parser.add_argument("--strategies", type=int, default=100)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--cpu-seconds", type=float, default=5, help="per route, for CPU per request")
    parser.add_argument("--idle", action="store_true", help="no worker: the strategies do not run meanwhile")
    args = parser.parse_args()
    rates = [float(rate) for rate in args.rates.split(",")]
    log_dir = ROOT / "var" / "bench_http"
    log_dir.mkdir(parents=True, exist_ok=True)
    with services() as (database_url, redis_url):
        env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url,
               "DJANGO_SETTINGS_MODULE": "strategyhub.settings", "SECRET_KEY": os.environ.get("SECRET_KEY", "bench"),
               "STRATEGYHUB_DOTENV": "off", "LOG_LEVEL": "WARNING", "API_THROTTLE_READ": "100000000/min",
               "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver", "DEBUG": "0", "SECURE_SSL_REDIRECT": "0",
               "SESSION_COOKIE_SECURE": "0", "CSRF_COOKIE_SECURE": "0"}
        os.environ.update(env)
        subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
        import django

        django.setup()
        from bench_api import seed

        key, strategy_ids, execution_ids = seed(args.strategies, args.runs)
        paths = {ROUTES[0]: ["/api/v1/strategies/"],
                 ROUTES[1]: [f"/api/v1/strategies/{i}/executions/" for i in strategy_ids],
                 ROUTES[2]: [f"/api/v1/executions/{i}/" for i in execution_ids]}
        paths_file = log_dir / "paths.json"
        paths_file.write_text(json.dumps(paths))
        workers = []
        if not args.idle:
            log = (log_dir / "celery.log").open("w")
            workers = [subprocess.Popen([sys.executable, "-m", "celery", "-A", "strategyhub", *command], cwd=ROOT,
                                        env=env, stdout=log, stderr=log, start_new_session=True)
                       for command in (["worker", "--loglevel=WARNING", "--concurrency=2", "--without-gossip",
                                        "--without-mingle"],
                                       ["beat", "--loglevel=WARNING", "-s", str(log_dir / "beat-schedule")])]
            time.sleep(8)  # beat's first ticks: cycles are running
        running = "no worker" if args.idle else f"{len(strategy_ids)} strategies running (a Celery worker and beat)"
        print(f"\nopen loop, {args.seconds:.0f} s per rate, the three routes in turn, {running}; "
              f"timeout {TIMEOUT:.0f} s; target p99 ≤ 50 ms at 200 req/s, goodput at capacity past it; then the "
              "server's CPU ms per request (all its processes, not Postgres's), each route alone at 100 req/s",
              flush=True)
        print(f"{'server':<10}{'rate':>6}{'sent':>7}{'200':>7}{'shed':>6}{'err':>5}{'t/o':>6}{'p50 ms':>9}"
              f"{'p99 ms':>9}{'goodput/s':>11}", flush=True)
        try:
            for kind in args.servers.split(","):
                try:
                    measure(kind, env, log_dir, key, paths_file, rates, args)
                except RuntimeError as exc:
                    print(f"{kind:<10}not measured: {exc}", flush=True)
        finally:
            for worker in workers:
                os.killpg(worker.pid, signal.SIGTERM)
            for worker in workers:
                worker.wait(timeout=30)
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--generate":
        generator_main(sys.argv[2:])
        sys.exit(0)
    sys.exit(main())
