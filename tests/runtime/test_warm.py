"""Warm sessions (runtime/warm.py): one sandboxed session per strategy version of one owner, a fresh child
per cycle. What must hold: a cycle sees exactly what a cold run sees, nothing crosses to another
strategy's session, and a session held hostage is stopped and replaced."""

from __future__ import annotations

import json
import os
import resource
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from runtime import CycleOutcome, Sandbox
from runtime.warm import WarmSessions
from tests.runtime.conftest import BENIGN, FAST_LIMITS, Listener, no_op_on_call, run_is_gone, scripts
from tests.runtime.test_hostile import hostile_files

COUNTING = scripts(
    "import os\nSEEN = []\n"
    "def should_enter(ctx):\n"
    "    SEEN.append(1)\n"
    "    ctx.state['cycles'] = ctx.state.get('cycles', 0) + 1\n"
    "    ctx.log(json.dumps({'globals': len(SEEN), 'pid': os.getpid()}))\n"
    "    return []\n"
    "import json\n"
)


@pytest.fixture
def sessions() -> Iterator[WarmSessions]:
    made = WarmSessions()
    yield made
    made.close()


def results(outcome: CycleOutcome) -> dict[str, Any]:
    lines = [line.message for line in outcome.logs if line.message.startswith("RESULT ")]
    assert lines, (outcome.status, outcome.error, [line.message for line in outcome.logs][:5])
    found: dict[str, Any] = json.loads(lines[-1].removeprefix("RESULT "))
    return found


def cycle(sessions: WarmSessions, sandbox: Sandbox, files: dict[str, str], *, owner: str = "owner-1",
          version: str = "version-1", state: dict[str, Any] | None = None, strategy_id: str = "7") -> CycleOutcome:
    ctx = {"strategy_id": strategy_id, "mode": "paper", "state": state or {}}
    return sessions.run_cycle((owner, version), files, ctx, no_op_on_call, FAST_LIMITS, sandbox=sandbox)


def test_cycles_of_one_version_share_a_session_and_only_ctx_state(sessions: WarmSessions, sandbox: Sandbox) -> None:
    state: dict[str, Any] = {}
    pids = set()
    for expected in (1, 2, 3):
        outcome = cycle(sessions, sandbox, COUNTING, state=state)
        assert outcome.status == "succeeded", outcome.error
        logged = json.loads(outcome.logs[0].message)
        assert logged["globals"] == 1  # the module ran anew: its globals start as a cold run's
        state = outcome.state
        assert state == {"cycles": expected}
        pids.add(logged["pid"])
    assert sessions.started == 1
    assert len(pids) == 3  # a fresh process per cycle


def test_each_warm_cycle_draws_its_own_random_numbers(sessions: WarmSessions, sandbox: Sandbox) -> None:
    """A session forks its cycles without CPython's after-fork handlers (runtime/forking.py), random's reseed redone."""
    from tests.runtime.test_sandbox import FRESH_RANDOM, fresh_random_draw

    draws = [fresh_random_draw(cycle(sessions, sandbox, FRESH_RANDOM)) for _ in range(4)]
    assert sessions.started == 1
    assert len(set(draws)) == 4, draws


def test_a_cycle_leaves_nothing_behind_for_its_next_cycle(
    sessions: WarmSessions, sandbox: Sandbox, listeners: dict[str, Listener], tmp_path: Path
) -> None:
    files = hostile_files("34_leave_behind", tmp_path, listeners)
    three_clean_cycles(sessions, sandbox, files)
    assert sessions.started == 1, "the session served every cycle"


def three_clean_cycles(sessions: WarmSessions, sandbox: Sandbox, files: dict[str, str],
                       after_first: Callable[[], None] = lambda: None) -> None:
    """Three cycles of an attack, each succeeding with nothing it reached for in its RESULT."""
    state: dict[str, Any] = {}
    for number in (1, 2, 3):
        outcome = cycle(sessions, sandbox, files, state=state)
        assert outcome.status == "succeeded", outcome.error
        found = results(outcome)
        assert not [key for key in found if key.startswith("PWNED:")], found
        state = {"cycle": number}
        if number == 1:
            after_first()


def test_no_strategy_reaches_another_strategys_run_or_session(
    sessions: WarmSessions, sandbox: Sandbox, listeners: dict[str, Listener], tmp_path: Path
) -> None:
    files = hostile_files("35_reach_other_session", tmp_path, listeners)
    seen = []
    for owner, warm in (("owner-a", True), ("owner-b", True), ("owner-c", False), ("owner-a", True)):
        if warm:
            outcome = cycle(sessions, sandbox, files, owner=owner, strategy_id=owner)
        else:
            outcome = sandbox.run_cycle(files, {"strategy_id": owner}, no_op_on_call, FAST_LIMITS)
        assert outcome.status == "succeeded", outcome.error
        seen.append(results(outcome))
    for found in seen:
        assert not [key for key in found if key.startswith("PWNED:")], found
        assert found["shmget"].startswith("ERR") and found["msgget"].startswith("ERR"), found
        assert found["semget"].startswith("ERR"), found
    assert sessions.started == 2  # one session per owner


def test_a_session_held_hostage_is_stopped_and_replaced(
    sessions: WarmSessions, sandbox: Sandbox, listeners: dict[str, Listener], tmp_path: Path
) -> None:
    files = hostile_files("36_hold_hostage", tmp_path, listeners)
    held = cycle(sessions, sandbox, files)
    assert held.status == "timed_out", (held.status, held.error)
    assert run_is_gone(sandbox, held.run_pid)
    assert not sessions.sessions, "the session that was held hostage is retired"

    again = cycle(sessions, sandbox, files)
    assert again.status == "timed_out" and again.run_pid != held.run_pid
    assert sessions.started == 2
    benign = cycle(sessions, sandbox, BENIGN, version="version-2")
    assert benign.status == "succeeded" and [line.message for line in benign.logs] == ["benign"]


def test_a_cycles_sandbox_cpu_counts_its_child_and_its_session(sessions: WarmSessions, sandbox: Sandbox) -> None:
    """The session writes its own CPU beside the child's exit status; both count in the cycle's sandbox CPU."""
    for _ in range(2):
        assert cycle(sessions, sandbox, COUNTING).status == "succeeded"
    (session,) = sessions.sessions.values()
    assert session.session_cpu > 0  # read from the status pipe: compiling and rehearsing cost it milliseconds
    assert session.cpu_used > session.session_cpu  # and the two children's CPU on top
    assert sessions.cpu_seconds == pytest.approx(session.cpu_used)


def test_a_new_version_or_owner_gets_its_own_session(sessions: WarmSessions, sandbox: Sandbox) -> None:
    assert cycle(sessions, sandbox, COUNTING).status == "succeeded"
    assert cycle(sessions, sandbox, BENIGN, version="version-2").status == "succeeded"
    assert cycle(sessions, sandbox, COUNTING, owner="owner-2").status == "succeeded"
    assert cycle(sessions, sandbox, COUNTING).status == "succeeded"
    assert sessions.started == 3
    assert len(sessions.sessions) == 3


def test_sessions_are_bounded_and_recycled(sandbox: Sandbox) -> None:
    sessions = WarmSessions(size=2, recycle_cycles=3, evict_idle_seconds=0)
    try:
        for version in ("v1", "v2", "v3"):
            assert cycle(sessions, sandbox, COUNTING, version=version).status == "succeeded"
        assert len(sessions.sessions) == 2 and sessions.started == 3  # the least recently used went
        for _ in range(2):
            assert cycle(sessions, sandbox, COUNTING, version="v3").status == "succeeded"
        assert sessions.started == 3
        assert cycle(sessions, sandbox, COUNTING, version="v3").status == "succeeded"
        assert sessions.started == 4  # after three cycles the session was recycled
    finally:
        sessions.close()


def test_more_versions_than_sessions_keep_the_sessions_they_have_and_run_the_rest_cold(sandbox: Sandbox) -> None:
    """Three versions in turn over two sessions: evicting the least recently used each time would start a session
    for every cycle. The two that hold sessions keep them; the third runs cold, every cycle, and succeeds."""
    sessions = WarmSessions(size=2)
    try:
        for _ in range(3):
            for version in ("v1", "v2", "v3"):
                assert cycle(sessions, sandbox, COUNTING, version=version).status == "succeeded"
        assert sessions.started == 2 and sessions.full == 3
        assert [key[1] for key in sessions.sessions] == ["v1", "v2"]
    finally:
        sessions.close()


def test_a_worker_starts_one_session_per_gap_and_runs_the_other_newcomers_cold(sandbox: Sandbox) -> None:
    """A worker meeting many versions at once (its first seconds) starts one session per `start_gap_seconds`;
    the others run cold meanwhile and get their sessions at a later cycle."""
    sessions = WarmSessions(start_gap_seconds=0.5)
    try:
        assert cycle(sessions, sandbox, COUNTING, version="v1").status == "succeeded"
        for version in ("v2", "v3"):
            assert cycle(sessions, sandbox, COUNTING, version=version).status == "succeeded"
        assert (sessions.started, sessions.spaced) == (1, 2)
        assert [key[1] for key in sessions.sessions] == ["v1"]
        assert cycle(sessions, sandbox, COUNTING, version="v1").status == "succeeded"  # its session serves it
        assert sessions.started == 1
        time.sleep(0.5)
        assert cycle(sessions, sandbox, COUNTING, version="v2").status == "succeeded"
        assert sessions.started == 2 and [key[1] for key in sessions.sessions] == ["v1", "v2"]
    finally:
        sessions.close()


def settled(sessions: WarmSessions, count: int) -> None:
    """Wait (at most 20 s) until `count` sessions have started beside their cycles and none is starting."""
    deadline = time.monotonic() + 20
    while (sessions.started < count or sessions._starting) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sessions.started == count and not sessions._starting, (sessions.started, sessions._starting)


def test_a_session_starts_beside_the_cold_cycle_that_asked_and_serves_the_next(sandbox: Sandbox) -> None:
    """start_in_background: the cycle that finds no session runs cold at once, its session starts on a thread
    of its own (off the slot's path), and the next cycle runs in it."""
    sessions = WarmSessions(start_in_background=True)
    try:
        first = cycle(sessions, sandbox, COUNTING)
        assert first.status == "succeeded", first.error
        assert sessions.deferred == 1
        settled(sessions, 1)
        (session,) = sessions.sessions.values()
        assert session.cycles == 0 and not session.busy  # the first cycle ran cold, beside it
        pids = set()
        for number in (1, 2):
            outcome = cycle(sessions, sandbox, COUNTING)
            assert outcome.status == "succeeded", outcome.error
            assert json.loads(outcome.logs[0].message)["globals"] == 1
            pids.add(outcome.run_pid)
            assert session.cycles == number  # served warm, a fresh child each time
        assert len(pids) == 2 and sessions.started == 1 and sessions.deferred == 1
    finally:
        sessions.close()


def test_one_session_starts_beside_the_cycles_at_a_time(sandbox: Sandbox) -> None:
    """While one session starts, another version's cycle runs cold and starts none (it gets its session at a
    later cycle): a worker's first seconds never start a burst of sessions beside its cold runs."""
    sessions = WarmSessions(start_in_background=True)
    try:
        assert cycle(sessions, sandbox, COUNTING, version="v1").status == "succeeded"
        with sessions._lock:  # as if v1's start were still under way when v2's cycle comes
            sessions._starting.add(("held",))
        assert cycle(sessions, sandbox, COUNTING, version="v2").status == "succeeded"
        assert sessions.spaced == 1
        with sessions._lock:
            sessions._starting.discard(("held",))
        settled(sessions, 1)
        assert [key[1] for key in sessions.sessions] == ["v1"]
        assert cycle(sessions, sandbox, COUNTING, version="v2").status == "succeeded"
        settled(sessions, 2)
        assert [key[1] for key in sessions.sessions] == ["v1", "v2"]
    finally:
        sessions.close()


def test_close_while_a_session_starts_leaves_no_session_behind(sandbox: Sandbox) -> None:
    """A worker closing its sessions (shutdown, a fork) while one starts beside a cycle: close() waits for the
    start, and the session that comes in is closed, not filed; its process is gone."""
    sessions = WarmSessions(start_in_background=True)
    # The start is held until close() has begun, so that close() meets it under way however fast it would be.
    proceed, start = threading.Event(), sessions._start

    def held_start(*args: Any, **kwargs: Any) -> Any:
        proceed.wait(10)
        return start(*args, **kwargs)

    sessions._start = held_start  # type: ignore[method-assign]
    assert cycle(sessions, sandbox, COUNTING).status == "succeeded"
    (thread,) = sessions._threads
    generation = sessions._generation
    closing = threading.Thread(target=sessions.close)
    closing.start()
    deadline = time.monotonic() + 10
    while sessions._generation == generation and time.monotonic() < deadline:
        time.sleep(0.001)
    proceed.set()
    closing.join(15)
    assert not closing.is_alive() and not thread.is_alive()
    assert sessions.sessions == {} and sessions.started == 0
    # the one it started was closed as it came in: the zygote reaped it, and nothing of it is hosted
    assert all(count <= 0 for count in sessions.hosted.values())


def test_a_failing_strategy_fails_alike_cold_and_warm_and_its_session_starts_again_beside_a_cold_cycle(
    sandbox: Sandbox
) -> None:
    """A strategy that does not compile fails the same way in its cold cycle and in its warm one; the failed
    warm cycle retires the session (any sign of trouble), so the next cycle runs cold again beside a new start."""
    broken = scripts("def should_enter(ctx):\n    return [\n")
    sessions = WarmSessions(start_in_background=True)
    try:
        errors = []
        for started, deferred, warm in ((1, 1, False), (1, 1, True), (2, 2, False)):
            before = sessions.cpu_seconds  # grows only by a warm cycle's sandbox CPU
            outcome = cycle(sessions, sandbox, broken)
            assert outcome.status == "failed", outcome.error
            errors.append(outcome.error)
            assert (sessions.deferred, sessions.cpu_seconds > before) == (deferred, warm)
            settled(sessions, started)
            assert len(sessions.sessions) == (0 if warm else 1)
        assert errors == ["entry.py: line 2: '[' was never closed"] * 3
    finally:
        sessions.close()


@pytest.mark.parametrize("attack", ["34_leave_behind", "35_reach_other_session"])
def test_a_session_started_beside_its_cycle_contains_the_warm_attacks(
    attack: str, sandbox: Sandbox, listeners: dict[str, Listener], tmp_path: Path
) -> None:
    """The workers' default: the first cycle runs cold while the session starts beside it, the next ones run in
    that session. Nothing the attack leaves or reaches for crosses a cycle, cold or warm."""
    files = hostile_files(attack, tmp_path, listeners)
    sessions = WarmSessions(start_in_background=True)
    try:
        three_clean_cycles(sessions, sandbox, files, after_first=lambda: settled(sessions, 1))
        (session,) = sessions.sessions.values()
        assert session.cycles == 2  # the second and third cycles ran in the session started beside the first
        assert {name: listener.connections for name, listener in listeners.items()} == {
            "tcp": 0, "unix": 0, "abstract": 0}
    finally:
        sessions.close()


def test_a_session_started_beside_its_cycle_and_held_hostage_is_stopped_and_retired(
    sandbox: Sandbox, listeners: dict[str, Listener], tmp_path: Path
) -> None:
    files = hostile_files("36_hold_hostage", tmp_path, listeners)
    sessions = WarmSessions(start_in_background=True)
    try:
        cold = cycle(sessions, sandbox, files)
        assert cold.status == "timed_out", (cold.status, cold.error)
        settled(sessions, 1)
        held = cycle(sessions, sandbox, files)  # in the session
        assert held.status == "timed_out", (held.status, held.error)
        assert run_is_gone(sandbox, held.run_pid) and run_is_gone(sandbox, cold.run_pid)
        assert not sessions.sessions, "the session that was held hostage is retired"
    finally:
        sessions.close()


def test_a_worker_process_starts_no_session_in_its_first_seconds(sandbox: Sandbox) -> None:
    """first_start_after_seconds: a worker process's first cycles all run cold (its cold zygote and its first
    runs have the cores); the first cycle after that starts its session."""
    sessions = WarmSessions(first_start_after_seconds=0.6)
    try:
        for _ in range(2):
            assert cycle(sessions, sandbox, COUNTING).status == "succeeded"
        assert (sessions.started, sessions.spaced) == (0, 2) and not sessions.sessions
        time.sleep(0.6)
        for _ in range(2):
            assert cycle(sessions, sandbox, COUNTING).status == "succeeded"
        assert sessions.started == 1 and sessions.spaced == 2
        (session,) = sessions.sessions.values()
        assert session.cycles == 2
    finally:
        sessions.close()


def test_a_worker_holding_descriptors_past_1024_still_runs_its_warm_cycles(sandbox: Sandbox) -> None:
    """A worker process with hundreds of warm sessions holds descriptors numbered past select()'s limit (1,024):
    bench_schedule at 1,000 warm strategies failed 4,022 runs with "filedescriptor out of range in select()"."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 2048:
        pytest.fail(f"this test needs RLIMIT_NOFILE's hard limit of at least 2048 (it is {hard})")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 2048), hard))
    held = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]  # the session's descriptors come after these
    sessions = WarmSessions()
    try:
        for _ in range(2):
            outcome = cycle(sessions, sandbox, COUNTING)
            assert outcome.status == "succeeded", outcome.error
        assert sessions.started == 1
    finally:
        sessions.close()
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_a_failed_cycle_retires_its_session_and_the_next_runs_in_a_new_one(
    sessions: WarmSessions, sandbox: Sandbox
) -> None:
    failing = scripts("def should_enter(ctx):\n    raise ValueError('no')\n")
    first = cycle(sessions, sandbox, failing)
    assert first.status == "failed" and first.error == "ValueError: no"
    assert cycle(sessions, sandbox, failing).status == "failed"
    assert sessions.started == 2


def test_sessions_live_in_sandboxes_of_their_own_a_few_in_each() -> None:
    sessions = WarmSessions(per_sandbox=2)
    try:
        for version in ("v1", "v2", "v3"):
            outcome = sessions.run_cycle(("owner", version), COUNTING, {"strategy_id": "7"}, no_op_on_call,
                                         FAST_LIMITS)
            assert outcome.status == "succeeded", outcome.error
        boxes = sessions.sandboxes[False]
        assert len(boxes) == 2 and sorted(sessions.hosted[id(box)] for box in boxes) == [1, 2]
    finally:
        sessions.close()
    assert sessions.sandboxes == {True: [], False: []}


def test_a_cycle_has_a_cold_runs_cpu_limit_and_the_session_outlives_it(
    sessions: WarmSessions, sandbox: Sandbox
) -> None:
    limits = replace(FAST_LIMITS, cpu_seconds=1, wall_seconds=10)
    burning = scripts("def should_enter(ctx):\n    n = 0\n    while n < 2_500_000:\n        n += 1\n    return []\n")
    for _ in range(4):  # about 0.3 s of CPU each: the session's children together pass one second
        outcome = sessions.run_cycle(("owner", "v"), burning, {}, no_op_on_call, limits, sandbox=sandbox)
        assert outcome.status == "succeeded", outcome.error
    spinning = scripts("def should_enter(ctx):\n    while True:\n        pass\n")
    stopped = sessions.run_cycle(("owner", "v"), spinning, {}, no_op_on_call, limits, sandbox=sandbox)
    assert stopped.status == "timed_out" and stopped.error == "CPU time limit of 1 s exceeded"
    assert sessions.started == 2


def test_a_child_that_lingers_after_a_forged_result_dies_with_its_cycle(
    sessions: WarmSessions, sandbox: Sandbox
) -> None:
    lingering = scripts(
        "import os\nfrom runtime.channel import encode_frame\n"
        "def should_enter(ctx):\n"
        "    result = {'type': 'result', 'entries': [], 'exits': [], 'state': {}, 'error': None, 'traceback': None}\n"
        "    os.write(3, encode_frame(result))\n"
        "    for fd in (1, 2, 3):\n"
        "        os.close(fd)\n"
        "    while True:\n"
        "        pass\n"
    )
    outcome = cycle(sessions, sandbox, lingering)
    assert run_is_gone(sandbox, outcome.run_pid), "the child outlived its cycle"
    assert not sessions.sessions, "its session was killed with it"
    assert cycle(sessions, sandbox, lingering).run_pid is not None
    assert sessions.started == 2


class Interrupted(BaseException):
    """What Celery's soft time limit raises in the worker, mid-cycle."""


def test_a_cycle_interrupted_in_the_worker_takes_its_session_with_it(
    sessions: WarmSessions, sandbox: Sandbox
) -> None:
    calling = scripts("import time\ndef should_enter(ctx):\n    ctx.polymarket.get_midpoint(token_id='1')\n"
                      "    time.sleep(60)\n    return []\n")

    def interrupt(venue: str, method: str, kwargs: dict[str, Any]) -> Any:
        raise Interrupted

    with pytest.raises(Interrupted):
        sessions.run_cycle(("owner", "v"), calling, {}, interrupt, FAST_LIMITS, sandbox=sandbox)
    assert not sessions.sessions, "the interrupted cycle's session is retired, its child with it"
    assert cycle(sessions, sandbox, COUNTING).status == "succeeded"
