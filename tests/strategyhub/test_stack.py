"""`make run`'s stack stops its parts on Ctrl-C: the embedded Redis only after the parts that use it are gone, so a
worker can still say that it stops (the cycle workers' registry) and no part logs a connection refused."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from strategyhub.stack import Part, Stack

PART = """
import pathlib, signal, sys, time
name, folder = sys.argv[1], pathlib.Path(sys.argv[2])
def bye(*_):
    time.sleep(0.3 if name == "worker" else 0)  # a worker's goodbye takes a moment
    with open(folder / "stopped", "a") as out:
        out.write(name + "\\n")
    sys.exit(0)
signal.signal(signal.SIGTERM, bye)
(folder / f"{name}.ready").touch()
while True:
    time.sleep(0.05)
"""


def test_the_stack_stops_redis_after_the_parts_that_use_it(tmp_path: Path) -> None:
    stack = Stack()
    stack.start(Part("redis", [sys.executable, "-c", PART, "redis", str(tmp_path)], stops_last=True), "", 6)
    stack.start(Part("worker", [sys.executable, "-c", PART, "worker", str(tmp_path)]), "", 6)
    deadline = time.monotonic() + 20
    while not all((tmp_path / f"{name}.ready").exists() for name in ("redis", "worker")):
        assert time.monotonic() < deadline, "the parts did not start"
        time.sleep(0.05)
    stack.stop()
    assert (tmp_path / "stopped").read_text().split() == ["worker", "redis"]
    assert all(process.returncode == 0 for _, process in stack.children)
