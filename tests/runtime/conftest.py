"""Fixtures for the sandbox tests: one sandbox for the session, canaries planted before it starts.

None of these tests touches the database. The canaries are planted before the zygote starts,
so a leak through inheritance (environment, descriptors) would be caught too.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from runtime import Sandbox, SandboxLimits
from runtime.sandbox import REPO_ROOT

CANARY_ENV = "STRATEGYHUB_CANARY"
CANARY_FILE = REPO_ROOT / ".canary_secret"
FAST_LIMITS = SandboxLimits(wall_seconds=3, cpu_seconds=2, memory_mb=256, output_kb=256, calls_per_cycle=50)


@dataclass
class Canaries:
    env: str
    file: str
    secret_key: str

    def values(self) -> list[str]:
        return [self.env, self.file, self.secret_key]


@dataclass
class Listener:
    """A TCP, unix or abstract-unix server on this machine that counts who connects."""

    family: int
    address: Any
    connections: int = 0
    sock: socket.socket = field(init=False)

    def __post_init__(self) -> None:
        self.sock = socket.socket(self.family, socket.SOCK_STREAM)
        self.sock.bind(self.address)
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


@pytest.fixture(scope="session")
def canaries() -> Iterator[Canaries]:
    planted = Canaries(
        env=f"canary-env-{secrets.token_hex(12)}",
        file=f"canary-file-{secrets.token_hex(12)}",
        secret_key=f"canary-key-{secrets.token_hex(12)}",
    )
    saved = {name: os.environ.get(name) for name in (CANARY_ENV, "SECRET_KEY")}
    os.environ[CANARY_ENV] = planted.env
    os.environ["SECRET_KEY"] = planted.secret_key
    CANARY_FILE.write_text(planted.file)
    try:
        yield planted
    finally:
        CANARY_FILE.unlink(missing_ok=True)
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@pytest.fixture(scope="session")
def sandbox(canaries: Canaries) -> Iterator[Sandbox]:
    box = Sandbox()
    box.layers(FAST_LIMITS)  # start the zygote now, with the canaries already planted
    yield box
    box.close()


@pytest.fixture
def listeners(tmp_path: Path) -> Iterator[dict[str, Listener]]:
    made = {
        "tcp": Listener(socket.AF_INET, ("127.0.0.1", 0)),
        "unix": Listener(socket.AF_UNIX, str(tmp_path / "listener.sock")),
        "abstract": Listener(socket.AF_UNIX, f"\0strategyhub-test-{secrets.token_hex(6)}"),
    }
    yield made
    for listener in made.values():
        listener.close()


def descendants(root: int) -> set[int]:
    """`root` and every process below it, read from /proc (no psutil needed)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    family, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent and pid not in family]
        family.update(children)
        frontier.extend(children)
    return family


def zygote_family(box: Sandbox) -> set[int]:
    """Pids of every process of the sandbox (bwrap, its init, the zygote, the spare, runs)."""
    zygote = box._zygote
    return descendants(zygote.process.pid) if zygote is not None else set()


def run_is_gone(box: Sandbox, run_pid: int | None, within: float = 1.0) -> bool:
    """True when, within `within` seconds, no process of the sandbox has `run_pid` as its pid
    inside the sandbox's namespace. A run that finished was SIGKILLed as run_cycle returned;
    the kernel may still be tearing its address space down for a few milliseconds."""
    assert run_pid is not None
    deadline = time.monotonic() + within
    while _run_alive(box, run_pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def _run_alive(box: Sandbox, run_pid: int) -> bool:
    for pid in zygote_family(box):
        try:
            with open(f"/proc/{pid}/status") as status:
                nspids = next(line for line in status if line.startswith("NSpid:")).split()[1:]
        except (FileNotFoundError, ProcessLookupError, StopIteration):  # it exited while we looked
            continue
        if len(nspids) > 1 and int(nspids[-1]) == run_pid:
            return True
    return False


def no_op_on_call(venue: str, method: str, kwargs: dict[str, Any]) -> Any:
    return {"venue": venue, "method": method}


def scripts(
    entry: str, exit_: str = "def should_exit(ctx, position):\n    return None\n", **config: Any
) -> dict[str, str]:
    return {"entry.py": entry, "exit.py": exit_, "config.json": json.dumps({"platform": "polymarket", **config})}


BENIGN = scripts("def should_enter(ctx):\n    ctx.log('benign')\n    return []\n")
