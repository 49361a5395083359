"""A worker that died but was not yet reaped by its parent is a zombie: its pid still exists, in state Z.
Recovery must see it as gone (strategyhub/lib/workers.py `process_gone`), or the run waits for the hard time limit."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.utils import timezone

from strategies.cycle.recovery import executions_recover
from strategies.models import Execution, Strategy
from strategyhub.lib.workers import worker_id
from tests.strategies.test_recovery import claim
from tests.strategies.test_scheduling import quiet, tick

pytestmark = pytest.mark.django_db
__all__ = ["quiet"]


def state_of(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]


def test_a_run_claimed_by_a_zombie_worker_is_recovered_at_once(quiet: Strategy,
                                                               django_capture_on_commit_callbacks) -> None:
    [execution_id] = tick(django_capture_on_commit_callbacks, quiet.next_run_at)
    zombie = subprocess.Popen(["true"])  # exits at once; not waited for, so it stays a zombie
    try:
        deadline = time.monotonic() + 10
        while state_of(zombie.pid) != "Z":
            assert time.monotonic() < deadline, "the child never became a zombie"
            time.sleep(0.01)
        claim(execution_id, started_at=timezone.now(), worker=worker_id(zombie.pid))
        assert executions_recover(enqueue=lambda pk: None).failed == 1
    finally:
        zombie.wait()
    assert Execution.objects.get(pk=execution_id).status == "failed"


def test_a_run_claimed_by_a_live_worker_of_this_host_is_left_running(quiet: Strategy,
                                                                      django_capture_on_commit_callbacks) -> None:
    [execution_id] = tick(django_capture_on_commit_callbacks, quiet.next_run_at)
    claim(execution_id, started_at=timezone.now(), worker=worker_id())
    assert executions_recover(enqueue=lambda pk: None).failed == 0
    assert Execution.objects.get(pk=execution_id).status == "running"


def test_a_run_claimed_on_another_host_with_the_same_hostname_is_left_running(
        quiet: Strategy, django_capture_on_commit_callbacks) -> None:
    """Hostnames repeat (containers, cloned images): a pid that does not exist here may run there."""
    [execution_id] = tick(django_capture_on_commit_callbacks, quiet.next_run_at)
    exited = subprocess.Popen(["true"])
    exited.wait()  # no such process here; on the twin host it is the worker running this cycle
    for twin in (f"{socket.gethostname()}:{exited.pid}", f"{socket.gethostname()}@0badb007.4026531836:{exited.pid}"):
        claim(execution_id, started_at=timezone.now(), worker=twin)
        assert executions_recover(enqueue=lambda pk: None).failed == 0, twin
        assert Execution.objects.get(pk=execution_id).status == "running"


def test_a_run_claimed_in_another_pid_namespace_of_this_machine_is_left_running(
        quiet: Strategy, django_capture_on_commit_callbacks) -> None:
    """A worker host in a PID namespace of its own (a container) numbers its processes from 1 again."""
    [execution_id] = tick(django_capture_on_commit_callbacks, quiet.next_run_at)
    inside = subprocess.run(  # the worker identity a process of a fresh PID namespace claims runs with
        ["unshare", "--pid", "--fork", "--mount-proc", sys.executable, "-c",
         "import os, sys; sys.path.insert(0, os.getcwd()); os.environ['DJANGO_SETTINGS_MODULE'] = 'tests.settings'; "
         "import django; django.setup(); from strategyhub.lib.workers import worker_id; print(worker_id(4242))"],
        capture_output=True, text=True, check=True, timeout=60)
    worker = inside.stdout.split()[-1]
    assert worker.startswith(socket.gethostname()) and worker != worker_id(4242)
    claim(execution_id, started_at=timezone.now(), worker=worker)
    assert executions_recover(enqueue=lambda pk: None).failed == 0
    assert Execution.objects.get(pk=execution_id).status == "running"
