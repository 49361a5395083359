"""A worker that died but was not yet reaped by its parent is a zombie: its pid still exists, in state Z.
Recovery must see it as gone (strategies/recovery.py `process_gone`), or the run waits for the hard time limit."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

import pytest
from django.utils import timezone

from strategies.models import Execution, Strategy
from strategies.recovery import executions_recover
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
        claim(execution_id, started_at=timezone.now(), worker=f"{socket.gethostname()}:{zombie.pid}")
        assert executions_recover(enqueue=lambda pk: None).failed == 1
    finally:
        zombie.wait()
    assert Execution.objects.get(pk=execution_id).status == "failed"


def test_a_run_claimed_by_a_live_worker_of_this_host_is_left_running(quiet: Strategy,
                                                                      django_capture_on_commit_callbacks) -> None:
    [execution_id] = tick(django_capture_on_commit_callbacks, quiet.next_run_at)
    claim(execution_id, started_at=timezone.now(), worker=f"{socket.gethostname()}:{os.getpid()}")
    assert executions_recover(enqueue=lambda pk: None).failed == 0
    assert Execution.objects.get(pk=execution_id).status == "running"
