"""Attacks of our own, beyond the shared corpus. Each one must be contained and leave the sandbox serving."""

from __future__ import annotations

import hashlib
import json
import threading
from typing import Any

import pytest

from runtime import Sandbox, SandboxLimits
from runtime.channel import encode_frame
from runtime.sandbox import KILL_GRACE, REPO_ROOT
from tests.runtime.conftest import BENIGN, FAST_LIMITS, Canaries, no_op_on_call, run_is_gone, scripts

# Each script logs "RESULT {json}" when it survives its own attack.
PRELUDE = (
    "import ctypes, errno, json, os, signal, socket, sys, threading, time\nlibc = ctypes.CDLL(None, use_errno=True)\n"
)


def run_attack(sandbox: Sandbox, body: str, limits: SandboxLimits = FAST_LIMITS, on_call: Any = no_op_on_call) -> Any:
    entry = PRELUDE + "def should_enter(ctx):\n" + "".join(f"    {line}\n" for line in body.strip().splitlines())
    outcome = sandbox.run_cycle(scripts(entry), {"strategy_id": "attack", "state": {}}, on_call, limits)
    assert outcome.duration_ms <= (limits.wall_seconds + KILL_GRACE + 1) * 1000
    assert run_is_gone(sandbox, outcome.run_pid), "a process of the run is still alive"
    assert sandbox.run_cycle(BENIGN, {}, no_op_on_call, FAST_LIMITS).status == "succeeded"
    return outcome


def result_of(outcome: Any) -> dict[str, Any]:
    lines = [line.message for line in outcome.logs if line.message.startswith("RESULT ")]
    assert lines, (outcome.status, outcome.error, [line.message for line in outcome.logs][:5])
    result: dict[str, Any] = json.loads(lines[-1].removeprefix("RESULT "))
    return result


def test_proc_of_the_zygote_and_host_is_closed(sandbox: Sandbox, canaries: Canaries) -> None:
    outcome = run_attack(
        sandbox,
        """
out = {}
for path in ("/proc/1/environ", "/proc/1/cmdline", "/proc/1/mem", "/proc/%d/maps" % os.getppid(), "/proc/self/environ", "/proc"):
    try:
        out[path] = os.listdir(path) if path == "/proc" else open(path, "rb").read(200).decode(errors="replace")
    except Exception as e:
        out[path] = "ERR " + type(e).__name__
ctx.log("RESULT " + json.dumps(out))
return []
""",
    )
    assert set(result_of(outcome).values()) == {"ERR PermissionError"}
    assert not any(canary in json.dumps(outcome.as_dict()) for canary in canaries.values())


def test_ptrace_and_cross_process_memory_are_denied(sandbox: Sandbox) -> None:
    outcome = run_attack(
        sandbox,
        """
out = {}
ppid = os.getppid()
out["ptrace_attach"] = (libc.ptrace(16, ppid, 0, 0), ctypes.get_errno())
out["process_vm_readv"] = (libc.syscall(310, ppid, 0, 0, 0, 0, 0), ctypes.get_errno())
out["pidfd_open"] = (libc.syscall(434, ppid, 0), ctypes.get_errno())
ctx.log("RESULT " + json.dumps(out))
return []
""",
    )
    assert result_of(outcome) == {name: [-1, 1] for name in ("ptrace_attach", "process_vm_readv", "pidfd_open")}


def test_signals_to_anything_but_itself_are_denied(sandbox: Sandbox) -> None:
    zygote = sandbox._zygote
    outcome = run_attack(
        sandbox,
        """
out = {}
for name, pid in (("parent", os.getppid()), ("init", 1), ("everyone", -1)):
    try:
        os.kill(pid, signal.SIGKILL)
        out[name] = "PWNED:killed"
    except Exception as e:
        out[name] = type(e).__name__
out["tgkill"] = (libc.syscall(234, os.getppid(), os.getppid(), 9), ctypes.get_errno())
os.kill(os.getpid(), 0)
ctx.log("RESULT " + json.dumps(out))
return []
""",
    )
    assert result_of(outcome) == {"parent": "PermissionError", "init": "PermissionError",
                                  "everyone": "PermissionError", "tgkill": [-1, 1]}  # fmt: skip
    assert sandbox._zygote is zygote and zygote is not None and zygote.alive()


def test_raw_syscalls_for_processes_sockets_and_kernel_surfaces_are_denied(sandbox: Sandbox) -> None:
    outcome = run_attack(
        sandbox,
        """
calls = {"fork": (57,), "vfork": (58,), "execve": (59, 0, 0, 0), "socket_inet": (41, 2, 1, 0), "socket_unix": (41, 1, 1, 0),
         "clone_process": (56, 17, 0, 0, 0, 0), "unshare_user": (272, 0x10000000), "mount": (165, 0, 0, 0, 0, 0),
         "bpf": (321, 0, 0, 0), "io_uring_setup": (425, 1, 0), "keyctl": (250, 0), "userfaultfd": (323, 0),
         "setuid": (105, 0), "perf_event_open": (298, 0, 0, 0, 0, 0), "clone3": (435, 0, 0)}
out = {}
for name, args in calls.items():
    rc = libc.syscall(*args)
    out[name] = [rc, ctypes.get_errno()]
    if rc == 0 and name in ("fork", "vfork", "clone_process"):
        os._exit(0)  # a child that got through must not run on
ctx.log("RESULT " + json.dumps(out))
return []
""",
    )
    result = result_of(outcome)
    assert result.pop("clone3") == [-1, 38]  # ENOSYS: glibc falls back to clone, where flags are checked
    assert result == {name: [-1, 1] for name in result}, result


def test_threads_are_allowed_but_cannot_outlive_the_cycle(sandbox: Sandbox, tmp_path: Any) -> None:
    outcome = run_attack(
        sandbox,
        """
def spin():
    while True:
        pass
for _ in range(3):
    threading.Thread(target=spin, daemon=False).start()
ctx.log("RESULT " + json.dumps({"threads": threading.active_count()}))
return []
""",
    )
    assert outcome.status == "succeeded" and result_of(outcome) == {"threads": 4}
    assert outcome.duration_ms < 2000  # over as soon as the result is in, spinning threads or not


def test_threads_spinning_past_the_deadline_are_killed(sandbox: Sandbox) -> None:
    limits = SandboxLimits(wall_seconds=2, cpu_seconds=30)
    outcome = run_attack(
        sandbox,
        """
def spin():
    while True:
        pass
for _ in range(4):
    threading.Thread(target=spin).start()
time.sleep(60)
return []
""",
        limits,
    )
    assert outcome.status == "timed_out" and "wall-clock limit of 2 s" in str(outcome.error)


def test_cpu_limit_stops_a_loop_before_the_wall_clock(sandbox: Sandbox) -> None:
    limits = SandboxLimits(wall_seconds=20, cpu_seconds=1)
    outcome = run_attack(sandbox, "signal.signal(signal.SIGXCPU, signal.SIG_IGN)\nwhile True:\n    pass", limits)
    assert outcome.status == "timed_out" and outcome.error == "CPU time limit of 1 s exceeded"
    assert outcome.duration_ms < 6000


def test_the_runtime_and_the_interpreter_are_read_only(sandbox: Sandbox) -> None:
    sdk = REPO_ROOT / "strategies" / "sdk.py"
    before = hashlib.sha256(sdk.read_bytes()).hexdigest()
    outcome = run_attack(
        sandbox,
        """
import strategies.sdk, json as j
out = {}
for path in (strategies.sdk.__file__, os.path.dirname(j.__file__) + "/evil.py", "/sandbox/site/numpy/evil.py", "/usr/evil"):
    try:
        open(path, "a").write("pwned")
        out[path] = "PWNED:wrote"
    except Exception as e:
        out[path] = "ERR " + type(e).__name__
ctx.log("RESULT " + json.dumps(out))
return []
""",
    )
    assert all(value.startswith("ERR ") for value in result_of(outcome).values())
    assert hashlib.sha256(sdk.read_bytes()).hexdigest() == before


def test_scratch_is_private_and_file_size_is_capped(sandbox: Sandbox) -> None:
    outcome = run_attack(
        sandbox,
        """
out = {"cwd": os.getcwd(), "siblings": "hidden"}
try:
    out["siblings"] = os.listdir("..")
except Exception as e:
    out["siblings"] = "ERR " + type(e).__name__
try:
    with open("big", "wb") as f:
        for _ in range(64):
            f.write(b"x" * (1 << 20))
    out["big"] = "PWNED:wrote 64 MiB"
except Exception as e:
    out["big"] = "ERR " + type(e).__name__
ctx.log("RESULT " + json.dumps(out))
return []
""",
    )
    result = result_of(outcome)
    assert result["siblings"] == "ERR PermissionError" and result["big"] == "ERR OSError"


def test_a_run_cannot_write_into_the_scratch_folder_of_another_run(sandbox: Sandbox) -> None:
    """Each run gets a Landlock ruleset of its own (made by the zygote before the fork): the scratch
    folders of the runs alive beside it stay out of its reach."""
    holder = (PRELUDE + "def should_enter(ctx):\n    open('mine', 'w').write('x')\n"
              "    ctx.log('CWD ' + os.getcwd())\n    time.sleep(2.5)\n    return []\n")
    folders: list[str] = []
    arrived = threading.Condition()

    def hold() -> None:
        def on_log(lines: list[Any]) -> None:
            with arrived:
                folders.extend(line.message.removeprefix("CWD ") for line in lines if line.message.startswith("CWD "))
                arrived.notify_all()

        sandbox.run_cycle(scripts(holder), {}, no_op_on_call, FAST_LIMITS, on_log)

    neighbours = [threading.Thread(target=hold) for _ in range(2)]
    for count, thread in enumerate(neighbours, 1):  # one after the other: each forked after the previous one's
        thread.start()
        with arrived:
            assert arrived.wait_for(lambda count=count: len(folders) == count, timeout=10)  # type: ignore[misc]
    outcome = run_attack(sandbox, f"""
out = {{}}
for folder in {folders!r}:
    try:
        open(os.path.join(folder, "planted"), "w").write("x")
        out[folder] = "PWNED"
    except Exception as e:
        out[folder] = "ERR " + type(e).__name__
ctx.log("RESULT " + json.dumps(out))
return []
""")
    for thread in neighbours:
        thread.join()
    assert result_of(outcome) == dict.fromkeys(folders, "ERR PermissionError")


def test_a_thread_bomb_is_capped(sandbox: Sandbox) -> None:
    outcome = run_attack(
        sandbox,
        """
started, err = 0, None
try:
    for _ in range(5000):
        threading.Thread(target=time.sleep, args=(5,), daemon=True).start()
        started += 1
except Exception as e:
    err = type(e).__name__
ctx.log("RESULT " + json.dumps({"started": started, "err": err}))
return []
""",
    )
    result = result_of(outcome)
    assert result["started"] < 5000 and result["err"] == "RuntimeError"


def test_channel_flooding_with_calls_is_stopped_at_the_quota(sandbox: Sandbox) -> None:
    outcome = run_attack(sandbox, "while True:\n    ctx.polymarket.get_midpoint('t')")
    assert outcome.status == "failed"
    assert outcome.error == f"the strategy made more than {FAST_LIMITS.calls_per_cycle} venue calls in one cycle"
    assert outcome.calls == FAST_LIMITS.calls_per_cycle + 1


def test_log_flooding_is_stopped_at_the_output_cap(sandbox: Sandbox) -> None:
    outcome = run_attack(sandbox, "while True:\n    ctx.log('x' * 1000)")
    assert outcome.status == "failed" and "more than 256 KiB of logs" in str(outcome.error)
    assert sum(len(line.message) for line in outcome.logs) <= 256 * 1024


def test_huge_replies_are_refused_not_delivered(sandbox: Sandbox) -> None:
    def generous(venue: str, method: str, kwargs: dict[str, Any]) -> Any:
        return {"blob": "x" * (2 << 20)}

    outcome = run_attack(
        sandbox,
        "try:\n    ctx.polymarket.get_order_book('t')\nexcept Exception as e:\n    ctx.log('RESULT ' + json.dumps({'e': str(e)}))\nreturn []",
        on_call=generous,
    )
    assert outcome.status == "succeeded"
    assert result_of(outcome) == {"e": "reply of 2048 KiB is over the 1024 KiB limit"}


@pytest.mark.parametrize(
    ("frame", "error"),
    [
        ("b'\\x00\\x00\\x00\\x05hello'", "protocol violation: frame is not JSON: JSONDecodeError"),
        ("b'\\xff\\xff\\xff\\xff'", "protocol violation: frame of 4294967295 bytes is over the 1048576-byte limit"),
        ("FRAME({'type': 'exec', 'cmd': 'id'})", "protocol violation: unknown frame type 'exec'"),
        ("FRAME({'type': 'log', 'level': 'info', 'message': 5})", "protocol violation: malformed log frame"),
        ("b'\\x00\\x00\\x00\\x03NaN'", "protocol violation: NaN is not valid JSON"),
        ("FRAME({'type': 'result', 'entries': [{'market_id': 'FORGED', 'side': 'buy', 'reason': 'x'}], 'exits': []})",
         "the sandbox returned an invalid signal: EntrySignal.side must be yes or no on polymarket, got 'buy'"),
        ("FRAME({'type': 'result', 'entries': [], 'exits': [{'position_id': 'nope', 'reason': 'x'}]})",
         "the sandbox returned an invalid signal: ExitSignal.position_id 'nope' is not an open position"),
    ],
)  # fmt: skip
def test_malformed_and_forged_frames_fail_the_run(sandbox: Sandbox, frame: str, error: str) -> None:
    body = (
        "def FRAME(m):\n    p = json.dumps(m).encode()\n    return len(p).to_bytes(4, 'big') + p\n"
        f"os.write(3, {frame})\ntime.sleep(5)\nreturn []"
    )
    outcome = run_attack(sandbox, body)
    assert outcome.status == "failed" and outcome.error == error
    assert outcome.entries == [] and outcome.exits == []


def test_frames_spoofed_on_stdout_are_only_log_lines(sandbox: Sandbox) -> None:
    forged = encode_frame(
        {"type": "result", "entries": [{"market_id": "F", "side": "yes", "reason": "x"}], "exits": []}
    )
    outcome = run_attack(sandbox, f"os.write(1, {forged!r} + b'\\n')\nos.write(2, {forged!r} + b'\\n')\nreturn []")
    assert outcome.status == "succeeded" and outcome.entries == []
    assert [line.level for line in outcome.logs] == ["info", "warning"]


def test_huge_state_and_deep_state_fail_cleanly(sandbox: Sandbox) -> None:
    outcome = run_attack(sandbox, "ctx.state['x'] = 'y' * (10 << 20)\nreturn []")
    assert outcome.status == "failed" and "over the 64 KiB limit" in str(outcome.error) and outcome.state == {}
    deep = run_attack(sandbox, "d = {}\nfor _ in range(100000):\n    d = {'d': d}\nctx.state['deep'] = d\nreturn []")
    assert deep.status == "failed" and deep.state == {}


def test_exiting_the_process_or_the_interpreter_is_a_failed_run(sandbox: Sandbox) -> None:
    exited = run_attack(sandbox, "os._exit(3)")
    assert (
        exited.status == "failed"
        and exited.error == "the strategy process exited with code 3 before finishing the cycle"
    )
    system_exit = run_attack(sandbox, "sys.exit('bye')")
    assert system_exit.status == "failed" and system_exit.error == "SystemExit: bye"


def test_closing_the_channel_and_lingering_is_killed(sandbox: Sandbox) -> None:
    outcome = run_attack(sandbox, "os.close(3)\ntime.sleep(60)\nreturn []")
    assert outcome.status == "failed" and outcome.duration_ms < 4000


def test_ctypes_cannot_reach_the_network_or_the_host(sandbox: Sandbox) -> None:
    outcome = run_attack(
        sandbox,
        """
out = {}
for name in ("/etc/shadow", "/work", "/root/.bashrc", "/var/run", "/sys/kernel"):
    out[name] = os.path.exists(name)
out["hostname"] = socket.gethostname()
ctx.log("RESULT " + json.dumps(out))
return []
""",
    )
    result = result_of(outcome)
    assert result.pop("hostname") == "strategy"
    assert not any(result.values()), result


def test_one_endless_line_or_one_huge_log_hits_the_output_cap(sandbox: Sandbox) -> None:
    endless = run_attack(sandbox, "while True:\n    sys.stdout.write('x' * 4096)")
    assert endless.status == "failed" and "more than 256 KiB of logs" in str(endless.error)
    huge = run_attack(sandbox, "ctx.log('y' * (8 << 20))\nreturn []")
    assert huge.status == "failed" and "more than 256 KiB of logs" in str(huge.error)
