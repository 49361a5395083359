"""Run the whole system in one terminal for development: `python -m strategyhub.stack`.

Starts the embedded PostgreSQL (when DATABASE_URL is unset), migrates and seeds the demo, starts the embedded
Redis (when REDIS_URL is unset), then the processes of the Procfile: web (gunicorn, HTTP), asgi (daphne:
websockets and /mcp), worker, worker-slow, beat, and the venue simulator, with `front` on the one public port
routing by path to web and asgi (strategyhub/front.py), each log line prefixed with its name. Ctrl-C, or any part
exiting, stops all, the embedded PostgreSQL last.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType
from typing import IO

COLOURS = ["\033[36m", "\033[33m", "\033[35m", "\033[32m", "\033[34m", "\033[31m"]
RESET = "\033[0m"


@dataclass
class Part:
    name: str
    argv: list[str]
    stops_last: bool = False  # what the other parts use (the embedded Redis): stopped once they have exited


def serving_parts(host: str, port: int, web_port: int, asgi_port: int) -> list[Part]:
    """The HTTP side: `front` on host:port, routing /ws/ and /mcp to daphne and the rest to gunicorn (both on
    loopback ports of their own). The browser tests start these same three."""
    python = sys.executable
    return [
        Part("web", [python, "-m", "gunicorn", "-c", "strategyhub/gunicorn.conf.py", "--bind",
                     f"127.0.0.1:{web_port}", "strategyhub.wsgi:application"]),
        Part("asgi", [python, "-m", "daphne", "-b", "127.0.0.1", "-p", str(asgi_port), "strategyhub.asgi:application"]),
        Part("front", [python, "-m", "strategyhub.front", "--bind", f"{host}:{port}",
                       "--http", f"127.0.0.1:{web_port}", "--asgi", f"127.0.0.1:{asgi_port}"]),
    ]


def parts(host: str, port: int, *, simulator: bool) -> list[Part]:
    python = sys.executable
    venue_simulator = [Part("simulator", [python, "manage.py", "venue_simulator"])] if simulator else []
    web_port, asgi_port = int(os.environ.get("WEB_PORT", port + 1)), int(os.environ.get("ASGI_PORT", port + 2))
    return [
        *venue_simulator,
        *serving_parts(host, port, web_port, asgi_port),
        Part(
            "worker",
            [
                python,
                "-m",
                "celery",
                "-A",
                "strategyhub",
                "worker",
                "--loglevel=info",
                f"--concurrency={os.environ.get('WORKER_CONCURRENCY', '2')}",
            ],
        ),
        Part(  # the slow lane (docs/scheduling.md): strategies whose last cycle was slow
            "worker-slow",
            [
                python,
                "-m",
                "celery",
                "-A",
                "strategyhub",
                "worker",
                "--loglevel=info",
                f"--queues={os.environ.get('CELERY_QUEUE', 'celery')}.slow",
                f"--concurrency={os.environ.get('SLOW_WORKER_CONCURRENCY', '2')}",
                "-n",
                "slow@%h",
            ],
        ),
        Part("beat", [python, "-m", "celery", "-A", "strategyhub", "beat", "--loglevel=info"]),
    ]


def _pump(name: str, colour: str, stream: IO[bytes], width: int) -> None:
    prefix = f"{colour}{name.ljust(width)} |{RESET} " if sys.stdout.isatty() else f"{name.ljust(width)} | "
    for raw in iter(stream.readline, b""):
        sys.stdout.write(prefix + raw.decode(errors="replace"))
        sys.stdout.flush()


class Stack:
    def __init__(self) -> None:
        self.children: list[tuple[Part, subprocess.Popen[bytes]]] = []
        self.stopping = False
        self.after_stop: list[Callable[[], None]] = []  # once every part has exited (the embedded PostgreSQL)

    def start(self, part: Part, colour: str, width: int) -> None:
        process = subprocess.Popen(  # noqa: S603 - our own argv
            part.argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.children.append((part, process))
        assert process.stdout is not None
        threading.Thread(target=_pump, args=(part.name, colour, process.stdout, width), daemon=True).start()

    def stop(self, *_: object) -> None:
        if self.stopping:
            return
        self.stopping = True
        for last in (False, True):  # the parts, then what they use (a worker says goodbye through Redis)
            group = [process for part, process in self.children if part.stops_last is last]
            for process in group:
                if process.poll() is None:
                    os.killpg(process.pid, signal.SIGTERM)
            deadline = time.monotonic() + 10
            for process in group:
                try:
                    process.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
        for step in self.after_stop:
            step()

    def watch(self) -> int:
        while not self.stopping:
            for part, process in self.children:
                if process.poll() is not None:
                    print(f"stack | {part.name} exited with {process.returncode}; stopping everything", flush=True)
                    self.stop()
                    return process.returncode or 1
            time.sleep(0.2)
        return 0


def serve() -> int:
    """`python -m strategyhub.stack web`: the Procfile's `web`, the HTTP side alone (front, gunicorn, daphne) on
    $PORT, for a platform that routes all of a host's traffic to one process type; nothing else is started."""
    host, port = os.environ.get("HOST", "0.0.0.0"), int(os.environ.get("PORT", "8000"))  # noqa: S104
    web_port, asgi_port = int(os.environ.get("WEB_PORT", port + 1)), int(os.environ.get("ASGI_PORT", port + 2))
    stack = Stack()
    signal.signal(signal.SIGINT, lambda *_: stack.stop())
    signal.signal(signal.SIGTERM, lambda *_: stack.stop())
    web_parts = serving_parts(host, port, web_port, asgi_port)
    for index, part in enumerate(web_parts):
        stack.start(part, COLOURS[index % len(COLOURS)], 5)
    return stack.watch()


def main() -> int:
    if sys.argv[1:] == ["web"]:
        return serve()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "strategyhub.settings")
    import django

    django.setup()
    from django.conf import settings

    from strategyhub.lib import embedded_postgres, embedded_redis

    host = os.environ.get("HOST", "127.0.0.1")
    port = int(os.environ.get("PORT", "8000"))
    stack = Stack()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stack.stop()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    from trading.venues import points_at_simulator

    simulator = any(points_at_simulator(config) for config in settings.VENUES.values())
    all_parts = parts(host, port, simulator=simulator)
    width = max(len(p.name) for p in [*all_parts, Part("redis", [])])
    if settings.EMBEDDED_POSTGRES:
        cluster = embedded_postgres.project_cluster()
        fresh = not cluster.initialised()
        if cluster.ensure_running():
            def stop_postgres() -> None:
                cluster.stop()
                print("stack | embedded PostgreSQL stopped", flush=True)

            stack.after_stop.append(stop_postgres)
            print(f"stack | embedded PostgreSQL {'created and ' if fresh else ''}started in {cluster.directory} "
                  f"(log: {cluster.log})", flush=True)
        else:
            print(f"stack | embedded PostgreSQL already answers in {cluster.sockets}; using it", flush=True)
    if settings.EMBEDDED_REDIS:  # before the seed: issuing its API key bumps the key cache's version in Redis
        socket_path = settings.EMBEDDED_REDIS_SOCKET
        if embedded_redis.is_running(socket_path):
            print(f"stack | embedded redis already answers on {socket_path}; using it", flush=True)
        else:
            redis = Part("redis", embedded_redis.server_command(socket_path, daemonize=False), stops_last=True)
            stack.start(redis, COLOURS[-1], width)
            embedded_redis.wait_until_ready(socket_path)
    for argv in (["migrate", "--noinput"], ["seed_demo"]):
        if stack.stopping or subprocess.run([sys.executable, "manage.py", *argv]).returncode:  # noqa: S603
            stack.stop()
            return 1
    for index, part in enumerate(all_parts):
        stack.start(part, COLOURS[index % len(COLOURS)], width)
    print(f"stack | StrategyHub is starting on http://{host}:{port}/strategies/ (Ctrl-C stops everything)", flush=True)
    return stack.watch()


if __name__ == "__main__":
    sys.exit(main())
