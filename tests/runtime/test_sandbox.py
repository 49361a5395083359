"""Cycles through the real sandbox: both layouts, venue calls, state, logs, limits, weak mode."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import threading
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from runtime import CycleOutcome, Sandbox, SandboxLimits, SandboxUnavailable, VenueCallError
from tests.runtime.conftest import BENIGN, FAST_LIMITS, no_op_on_call, scripts

EXAMPLES = Path(__file__).resolve().parents[2] / "strategies" / "examples"


def example_files(name: str) -> dict[str, str]:
    return {path.name: path.read_text() for path in (EXAMPLES / name).iterdir() if path.is_file()}


class FakeVenues:
    """Answers like the venues would; records every call, orders included."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, dict[str, Any]]] = []

    def __call__(self, venue: str, method: str, kwargs: dict[str, Any]) -> Any:
        self.calls.append((venue, method, kwargs))
        if method == "get_trade_history":
            return [{"transactionHash": "0xabc", "side": "BUY", "price": "0.42", "asset": "tok-1", "size": "100",
                     "outcome": "Yes", "title": "Will it rain?"}]  # fmt: skip
        if method == "get_bars":
            return [{"t": f"2026-03-{day:02d}T05:00:00Z", "o": 100.0, "h": 101.0, "l": 99.0, "c": close, "v": 1000.0}
                    for day, close in enumerate([100.0] * 19 + [80.0], start=1)]  # Alpaca's bar shape
        if method == "get_market":
            return {"yes_ask_dollars": "0.9", "title": kwargs["ticker"]}
        if method == "create_order":
            return {"order_id": f"o{len(self.calls)}", "status": "accepted"}
        raise VenueCallError(f"no data for {method}")


def test_class_layout_example_runs_async_with_state_and_orders(sandbox: Sandbox) -> None:
    venues = FakeVenues()
    ctx = {
        "strategy_id": "7", "mode": "paper", "dry_run": True, "state": {"copied_trade_ids": []},
        "capital": {"total": Decimal("5000"), "deployed": Decimal("0"), "available": Decimal("5000"), "pnl_today": 0},
        "positions": [{"position_id": "p1", "market_id": "tok-0", "size": Decimal("100"), "unrealized_pnl": Decimal("30")}],
    }  # fmt: skip
    outcome = sandbox.run_cycle(example_files("polymarket_copy_trader"), ctx, venues, FAST_LIMITS)
    assert outcome.status == "succeeded", (outcome.error, outcome.traceback)
    assert outcome.state == {"copied_trade_ids": ["0xabc"]}
    assert [e["market_id"] for e in outcome.entries] == ["tok-1"]
    assert outcome.exits == [{"position_id": "p1", "reason": "take profit at +30%", "fraction": 1.0}]
    orders = [kwargs for _, method, kwargs in venues.calls if method == "create_order"]
    assert [(o["intent"], o["signal_index"]) for o in orders] == [("exit", 0), ("entry", 0)]
    assert [line.message for line in outcome.logs] == ["checked 1 wallets, 1 new entries"]
    assert outcome.layers["landlock"] and outcome.layers["seccomp"] and outcome.layers["namespaces"]


@pytest.mark.parametrize("example", ["alpaca_mean_reversion", "kalshi_favourite_longshot"])
def test_scripts_layout_examples_run(sandbox: Sandbox, example: str) -> None:
    outcome = sandbox.run_cycle(example_files(example), {"strategy_id": "1"}, FakeVenues(), FAST_LIMITS)
    assert outcome.status == "succeeded", (outcome.error, outcome.traceback)
    assert outcome.entries


def test_prints_become_log_lines_and_errors_keep_user_frames(sandbox: Sandbox) -> None:
    entry = "import sys\ndef should_enter(ctx):\n    print('one', 2)\n    sys.stderr.write('careful\\n')\n    ctx.log('three', level='error')\n    return {}['missing']\n"
    outcome = sandbox.run_cycle(scripts(entry), {"strategy_id": "1", "state": {"kept": 1}}, no_op_on_call, FAST_LIMITS)
    assert outcome.status == "failed"
    assert [(line.seq, line.level, line.message) for line in outcome.logs] == [
        (1, "info", "one 2"), (2, "warning", "careful"), (3, "error", "three"),
    ]  # fmt: skip
    assert outcome.error == "KeyError: 'missing'"
    trace = str(outcome.traceback).splitlines()
    assert trace[:3] == [
        "Traceback (most recent call last):",
        '  File "entry.py", line 6, in should_enter',
        "    return {}['missing']",
    ]
    assert trace[-1] == "KeyError: 'missing'" and "runtime" not in str(outcome.traceback)
    assert outcome.state == {"kept": 1}


def test_venue_errors_reach_the_script_without_worker_secrets(
    sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    def broker(venue: str, method: str, kwargs: dict[str, Any]) -> Any:
        if method == "get_midpoint":
            raise VenueCallError("market closed")
        raise RuntimeError("https://user:hunter2@venue.example failed")

    entry = (
        "def should_enter(ctx):\n"
        "    for call in (lambda: ctx.polymarket.get_midpoint('t'), lambda: ctx.polymarket.get_price('t', 'BUY'),\n"
        "                 lambda: ctx.polymarket.get_secrets()):\n"
        "        try:\n            call()\n        except Exception as e:\n            ctx.log(f'{type(e).__name__}: {e}')\n"
        "    return []\n"
    )
    with caplog.at_level(logging.ERROR, logger="runtime"):
        outcome = sandbox.run_cycle(scripts(entry), {"strategy_id": "1"}, broker, FAST_LIMITS)
    assert outcome.status == "succeeded"
    messages = [line.message for line in outcome.logs]
    assert messages[0] == "VenueError: market closed"
    assert messages[1] == "VenueError: polymarket.get_price failed (RuntimeError)"
    assert messages[2].startswith("AttributeError: ctx.polymarket has no method 'get_secrets'")
    assert "hunter2" not in json.dumps(outcome.as_dict()) and "hunter2" in caplog.text


def test_a_new_version_runs_on_the_next_cycle(sandbox: Sandbox) -> None:
    first = sandbox.run_cycle(scripts("def should_enter(ctx):\n    ctx.log('v1')\n    return []\n"), {}, no_op_on_call)
    second = sandbox.run_cycle(scripts("def should_enter(ctx):\n    ctx.log('v2')\n    return []\n"), {}, no_op_on_call)
    assert [first.logs[0].message, second.logs[0].message] == ["v1", "v2"]


def test_state_over_the_cap_fails_the_run_and_keeps_the_old_state(sandbox: Sandbox) -> None:
    entry = "def should_enter(ctx):\n    ctx.state['blob'] = 'x' * 70000\n    return []\n"
    outcome = sandbox.run_cycle(scripts(entry), {"state": {"old": True}}, no_op_on_call, FAST_LIMITS)
    assert outcome.status == "failed"
    assert outcome.error is not None and "over the 64 KiB limit" in outcome.error
    assert outcome.state == {"old": True}


def test_state_that_is_not_json_fails_clearly(sandbox: Sandbox) -> None:
    entry = "def should_enter(ctx):\n    ctx.state['when'] = object()\n    return []\n"
    outcome = sandbox.run_cycle(scripts(entry), {"state": {}}, no_op_on_call, FAST_LIMITS)
    assert (
        outcome.status == "failed" and outcome.error is not None and outcome.error.startswith("ctx.state must be JSON")
    )


def test_exit_signals_must_name_the_position_asked_about(sandbox: Sandbox) -> None:
    exit_ = (
        "from strategies.sdk import ExitSignal\ndef should_exit(ctx, position):\n    return ExitSignal('other', 'x')\n"
    )
    ctx = {"positions": [{"position_id": "p1", "market_id": "m"}]}
    outcome = sandbox.run_cycle(scripts("def should_enter(ctx):\n    return []\n", exit_), ctx, no_op_on_call)
    assert outcome.status == "failed" and outcome.error is not None and "'p1'" in outcome.error


def test_limits_come_from_the_settings_dict() -> None:
    settings_sandbox = {"wall_seconds": 30, "cpu_seconds": 10, "memory_mb": 256, "file_size_mb": 8, "open_files": 64,
                        "output_kb": 256, "state_kb": 64, "calls_per_cycle": 200, "allow_weak": False}  # fmt: skip
    assert SandboxLimits.from_settings(settings_sandbox).calls_per_cycle == 200
    with pytest.raises(ValueError, match="unknown keys"):
        SandboxLimits.from_settings({**settings_sandbox, "wall_secnds": 3})
    with pytest.raises(ValueError, match="SANDBOX.memory_mb must be a positive number"):
        SandboxLimits(memory_mb=0)


def test_it_refuses_without_bubblewrap_unless_weak_mode_is_allowed(caplog: pytest.LogCaptureFixture) -> None:
    box = Sandbox(bwrap="/nonexistent/bwrap", preload=())
    try:
        with pytest.raises(SandboxUnavailable, match=r"bubblewrap .* is not installed"):
            box.run_cycle(BENIGN, {}, no_op_on_call, FAST_LIMITS)
        weak = SandboxLimits(wall_seconds=3, allow_weak=True)
        with caplog.at_level(logging.WARNING, logger="runtime"):
            outcome = box.run_cycle(BENIGN, {"strategy_id": "9"}, no_op_on_call, weak)
        assert outcome.status == "succeeded" and outcome.weak
        assert outcome.logs[0].level == "warning" and "WEAK MODE" in outcome.logs[0].message
        assert "WEAK MODE" in caplog.text
        assert outcome.layers["landlock"] and outcome.layers["seccomp"] and not outcome.layers["namespaces"]
        with pytest.raises(SandboxUnavailable, match="allow_weak is off"):
            box.run_cycle(BENIGN, {}, no_op_on_call, FAST_LIMITS)
    finally:
        box.close()


def test_a_dead_zygote_is_replaced(canaries: object) -> None:
    box = Sandbox(preload=())
    try:
        assert box.run_cycle(BENIGN, {}, no_op_on_call).status == "succeeded"
        zygote = box._zygote
        assert zygote is not None
        os.killpg(zygote.process.pid, signal.SIGKILL)
        zygote.process.wait()
        assert box.run_cycle(BENIGN, {}, no_op_on_call).status == "succeeded"
        assert box._zygote is not zygote
    finally:
        box.close()


def test_a_zygote_started_by_a_thread_that_ended_keeps_serving(canaries: object) -> None:
    """bwrap's --die-with-parent follows the THREAD that started the zygote: a sweep lane's thread that ends must not
    take the zygote, and the runs the other lanes have in it, with it."""
    box = Sandbox(preload=())
    try:
        lane = threading.Thread(target=lambda: box.run_cycle(BENIGN, {}, no_op_on_call))
        lane.start()
        lane.join()
        zygote = box._zygote
        assert zygote is not None
        with pytest.raises(subprocess.TimeoutExpired):  # it was SIGKILLed within milliseconds of the thread's end
            zygote.process.wait(timeout=1)
        assert box.run_cycle(BENIGN, {}, no_op_on_call).status == "succeeded"
        assert box._zygote is zygote
    finally:
        box.close()


def test_a_worn_zygote_serves_while_its_successor_starts_then_hands_over() -> None:
    """Recycling never stalls the runs (a lean zygote takes ~130 ms to start, under the sandbox's lock before):
    the successor starts on the starter thread while the worn one serves, and takes over once it is up."""
    box = Sandbox(preload=(), recycle_runs=2)
    gate = threading.Event()
    try:
        for _ in range(2):
            assert box.run_cycle(BENIGN, {}, no_op_on_call).status == "succeeded"
        worn = box._zygote
        assert worn is not None and box._starter is not None
        box._starter.submit(gate.wait, 20)  # the successor cannot start before the gate opens (or 20 s pass)
        for _ in range(2):  # its quota is over, and it serves on
            assert box.run_cycle(BENIGN, {}, no_op_on_call).status == "succeeded"
            assert box._zygote is worn and box._next is not None and not box._next.done()
        late = threading.Thread(target=lambda: box.run_cycle(BENIGN, {}, no_op_on_call))
        late.start()  # at twice its quota a run waits for the successor instead
        late.join(timeout=0.5)
        assert late.is_alive()
        gate.set()
        late.join(timeout=30)
        successor = box._zygote
        assert successor is not None and successor is not worn and worn.process.wait(timeout=10) is not None
        assert box.run_cycle(BENIGN, {}, no_op_on_call).status == "succeeded" and box._zygote is successor
    finally:
        gate.set()
        box.close()


def test_a_prestarted_zygote_serves_the_first_run() -> None:
    box = Sandbox(preload=())
    try:
        box.prestart(SandboxLimits())
        assert box._zygote is None and box._next is not None  # started, not waited for
        ahead = box._next.result(timeout=30)
        assert box.run_cycle(BENIGN, {}, no_op_on_call).status == "succeeded"
        assert box._zygote is ahead
    finally:
        box.close()


def test_strategies_importing_numpy_or_pandas_get_the_preloaded_zygote_and_the_rest_a_lean_one() -> None:
    from runtime import run_cycle, shared_sandbox, wants_preload

    pandas_user = scripts("import pandas as pd\n\ndef should_enter(ctx):\n    ctx.log(str(pd.Series([1, 2]).sum()))\n"
                          "    return []\n")
    assert wants_preload(pandas_user)
    assert wants_preload(scripts("from numpy import mean\n\ndef should_enter(ctx):\n    return []\n"))
    assert not wants_preload(BENIGN)
    sneaky = scripts("def should_enter(ctx):\n    np = __import__('num' + 'py')\n    ctx.log(str(np.add(1, 2)))\n"
                     "    return []\n")
    assert not wants_preload(sneaky)  # not named: the lean zygote, where numpy still imports (only slower)

    outcomes = {name: run_cycle(files, {"strategy_id": "1"}, no_op_on_call, FAST_LIMITS)
                for name, files in (("pandas", pandas_user), ("sneaky", sneaky))}
    assert [line.message for line in outcomes["pandas"].logs] == ["3"]
    assert [line.message for line in outcomes["sneaky"].logs] == ["3"]
    preloaded = shared_sandbox(preload=True).layers(FAST_LIMITS)["preloaded"]
    lean = shared_sandbox(preload=False).layers(FAST_LIMITS)["preloaded"]
    assert {"numpy", "pandas"} <= set(preloaded) and not {"numpy", "pandas"} & set(lean)


def test_the_zygote_s_preloaded_heap_is_made_of_huge_pages_so_a_fork_copies_it_in_batches(canaries: object) -> None:
    """`harden.collapse_heap`: where the kernel can (MADV_COLLAPSE, Linux 6.1, THP not `never`), the zygote collapses
    its preloaded heap into 2 MiB pages before its first fork, and says how much in its hello (docs/sandbox.md, Cost);
    the runs it forks are unchanged (every other test here)."""
    thp = Path("/sys/kernel/mm/transparent_hugepage/enabled")
    release = tuple(int(part) for part in os.uname().release.split(".")[:2])
    box = Sandbox(preload=())
    try:
        assert box.run_cycle(BENIGN, {}, no_op_on_call).status == "succeeded"
        zygote = box._zygote
        assert zygote is not None
        if release >= (6, 1) and thp.exists() and "[never]" not in thp.read_text():
            assert int(zygote.hello["huge_pages_kb"]) >= 2048
        else:
            assert zygote.hello["huge_pages_kb"] == 0
        # Nothing persistent: no mapping asks for huge pages on later faults (MADV_HUGEPAGE shows as `hg`), so a
        # run's own memory grows 4 KiB at a time, as before.
        smaps = Path(f"/proc/{_zygote_python(zygote.process.pid)}/smaps").read_text()
        flags = [line.split()[1:] for line in smaps.splitlines() if line.startswith("VmFlags:")]
        assert flags and not any("hg" in line for line in flags)
    finally:
        box.close()


def _zygote_python(bwrap_pid: int) -> int:
    """The zygote's interpreter: the first process under its bubblewrap whose program is Python."""
    frontier = [bwrap_pid]
    while frontier:
        pid = frontier.pop(0)
        if b"python" in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]:  # bwrap's arguments name it too
            return pid
        frontier += [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    raise AssertionError(f"no Python process under {bwrap_pid}")


WHERE_AM_I = scripts('''
import os
import tempfile


def should_enter(ctx):
    with tempfile.NamedTemporaryFile("w", delete=False) as note:
        note.write("scratch")
    ctx.log(" ".join([os.getcwd(), os.environ["HOME"], os.environ["TMPDIR"], tempfile.gettempdir(),
                      os.path.dirname(note.name)]))
    return []
''')


def test_each_run_s_home_tmpdir_and_tempfile_folder_are_its_own_scratch_folder(sandbox: Sandbox) -> None:
    folders = []
    for _ in range(3):
        outcome = sandbox.run_cycle(WHERE_AM_I, {"strategy_id": "w"}, no_op_on_call, FAST_LIMITS)
        assert outcome.status == "succeeded", (outcome.error, outcome.traceback)
        places = set(outcome.logs[0].message.split())
        assert len(places) == 1, places  # the working folder, HOME, TMPDIR, tempfile's folder: one and the same
        folders.append(places.pop())
    assert len(set(folders)) == 3  # a folder of its own each run


ALLOCATE = scripts('''
def should_enter(ctx):
    held = bytearray(ctx.params["mb"] * 1024 * 1024)
    ctx.log(f"held {len(held) // (1024 * 1024)} MiB")
    return []
''')


@pytest.mark.parametrize(("mb", "fits"), [(96, True), (400, False)])
def test_memory_mb_is_what_a_run_may_allocate_on_top_of_the_runtime(sandbox: Sandbox, mb: int, fits: bool) -> None:
    outcome = sandbox.run_cycle(ALLOCATE, {"strategy_id": "m", "params": {"mb": mb}}, no_op_on_call, FAST_LIMITS)
    if fits:  # 96 of FAST_LIMITS' 256 MiB
        assert outcome.status == "succeeded", (outcome.error, outcome.traceback)
        assert [line.message for line in outcome.logs] == [f"held {mb} MiB"]
    else:
        assert outcome.status == "failed" and "MemoryError" in (outcome.error or "")


FRESH_RANDOM = scripts('''
import random
import threading


def should_enter(ctx):
    box = []
    worker = threading.Thread(target=lambda: box.append(threading.current_thread() is not threading.main_thread()))
    worker.start()
    worker.join()
    main = threading.current_thread() is threading.main_thread()
    ctx.log(f"{random.getrandbits(64)} {main} {box}")
    return []
''')


def fresh_random_draw(outcome: CycleOutcome) -> str:
    """The number a FRESH_RANDOM cycle drew, once its thread is seen to have worked."""
    assert outcome.status == "succeeded", (outcome.error, outcome.traceback)
    draw, main, threaded = outcome.logs[0].message.split(" ", 2)
    assert (main, threaded) == ("True", "[True]")
    return draw


def test_each_run_draws_its_own_random_numbers_and_threads_work(sandbox: Sandbox) -> None:
    """Runs are forked from one zygote without CPython's after-fork handlers (runtime/forking.py); random's reseed is
    redone, or every run would draw the zygote's sequence."""
    draws = [fresh_random_draw(sandbox.run_cycle(FRESH_RANDOM, {"strategy_id": "r"}, no_op_on_call, FAST_LIMITS))
             for _ in range(4)]
    assert len(set(draws)) == 4, draws
