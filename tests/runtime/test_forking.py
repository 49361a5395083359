"""runtime/forking.py: the zygote's and a warm session's fork skips CPython's after-fork handlers only in a process
with one Python thread, and redoes random's reseed. Run in a fresh interpreter: pytest's own process has threads."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import json, os, random, sys, threading
sys.path.insert(0, sys.argv[1])
from runtime import forking

handlers = []
os.register_at_fork(after_in_child=lambda: handlers.append(1))


def probe():
    read, write = os.pipe()
    pid = forking.fork()
    if pid == 0:
        os.write(write, json.dumps({"handlers": bool(handlers), "draw": random.getrandbits(64)}).encode())
        os._exit(0)
    os.close(write)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    return json.loads(os.read(read, 4096))


alone = [probe(), probe()]
stop = threading.Event()
other = threading.Thread(target=stop.wait)
other.start()
beside = probe()
stop.set()
other.join()
print(json.dumps({"alone": alone, "beside": beside, "parent_draw": random.getrandbits(64)}))
"""


def test_one_thread_forks_without_the_handlers_and_reseeds_random_and_two_threads_fork_as_os_fork() -> None:
    done = subprocess.run([sys.executable, "-c", PROBE, str(ROOT)], capture_output=True, text=True, timeout=60,
                          check=True)
    found = json.loads(done.stdout)
    assert [child["handlers"] for child in found["alone"]] == [False, False]  # libc's fork: no after-fork handler
    assert found["beside"]["handlers"] is True  # another thread alive: os.fork(), every handler
    draws = {child["draw"] for child in found["alone"]} | {found["beside"]["draw"], found["parent_draw"]}
    assert len(draws) == 4  # each child reseeded, none drawing the parent's sequence
