"""The fork the zygote and a warm session make for each run: libc's, without CPython's after-fork work.

`os.fork()` runs CPython's after-fork work in the child: it rebuilds the GIL and the import lock, forgets other
threads' states, and calls every handler registered with `os.register_at_fork` (threading's, logging's,
concurrent.futures', random's). That work exists for a process whose other threads may hold a lock at the fork; in a
process with one Python thread nothing it resets can be held by anyone else, and in the zygote it cost a run
≈ 0.6 ms of CPU and ≈ 200 copy-on-write faults before the run's first line (each Python call writes reference counts
into the zygote's shared pages). So where the forking process has one Python thread, the child comes from libc's
`fork()` called with the GIL held (ctypes' `PyDLL`: the same `fork()` `os.fork` calls, with the same `pthread_atfork`
handlers of native libraries) and redoes the one handler whose effect a run can see: `random`'s reseed, so that no
two runs share the zygote's random sequence (through the C method under `Random.seed`: the Python wrapper cost a
run ≈ 50 µs and ≈ 12 faults more, `benchmarks/bench_fork.py`). With any other Python thread alive it is
`os.fork()`, unchanged. One difference stays: a signal whose C handler ran in the parent just before the fork, its
Python handler not yet called, has that handler called once in the child (`os.fork()` forgets it). The zygote's only
Python handler, SIGCHLD's, does nothing; a warm session's process has none.
"""

from __future__ import annotations

import _random
import ctypes
import os
import sys
import threading

_libc_fork = ctypes.PyDLL(None, use_errno=True).fork  # PyDLL: the GIL stays held across the call
_libc_fork.restype = ctypes.c_int
_libc_fork.argtypes = []


def fork() -> int:
    """Like `os.fork()`: 0 in the child, the child's pid in the parent; `OSError` when the kernel refuses."""
    if threading.active_count() != 1:
        return os.fork()
    pid = int(_libc_fork())
    if pid < 0:
        error = ctypes.get_errno()
        raise OSError(error, os.strerror(error))
    if pid == 0:
        random = sys.modules.get("random")
        if random is not None:  # what its at-fork handler does (`Random.seed()`), minus that method's Python
            _random.Random.seed(random._inst, None)  # the module's generator, from fresh OS entropy
            random._inst.gauss_next = None
    return pid
