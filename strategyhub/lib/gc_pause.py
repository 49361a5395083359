"""The cyclic garbage collector held off while a backtest builds and reads a large heap in this process.

A backtest on 100,000 one-minute bars keeps about a million tracked objects alive in the worker (the bars, the
equity curve, the run's records), and each full collection walks all of them while freeing next to nothing: the
worker's side of such a backtest spent ≈ 0.6–1.0 s of its ≈ 7 s in collections (docs/backtest.md, "Speed").
Reference counting still frees everything that is not in a cycle; what a cycle holds waits for the young
collection the pause runs as it ends (the collector's allocation count went on during it, so the next allocation
would run it anyway, in code that did not cause it). The pause is process-wide (the collector is), so it is
counted: the collector comes back when the last holder leaves, as it was before the first came (a caller that had
turned it off keeps it off). It never reaches a sandboxed run: that is another process, with its own collector,
untouched.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_holders = 0
_was_enabled = False


@contextmanager
def collection_paused() -> Iterator[None]:
    """Cyclic collection off inside the block (and inside any other thread's block that overlaps it)."""
    global _holders, _was_enabled
    with _lock:
        if _holders == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _holders += 1
    try:
        yield
    finally:
        with _lock:
            _holders -= 1
            if _holders == 0 and _was_enabled:
                gc.enable()
                # The young objects of the pause, collected now: the first allocation after it would, in whatever
                # code comes next (a benchmark's other side, another task), and with them any cycle it left.
                gc.collect(0)
