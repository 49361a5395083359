"""Inside the sandbox: a backtest's long-lived run, one cycle per step frame (see step_session.py).

The worker sends ``{"type": "step", "step": n, "ctx": {now, positions, capital, state, ...}}``; the
run answers each with one ``{"type": "result", "step": n, ...}`` frame (the same result a live cycle
sends), its venue calls going out as ``call`` frames in between. ``{"type": "end"}`` or end of file
ends the run. Each step gets a fresh strategy object *and fresh module globals* (the files' compiled
code is re-executed), so nothing but ``ctx.state`` carries over from one step to the next: exactly
as across live cycles, where every cycle is a new process.
"""

from __future__ import annotations

import traceback
from typing import Any

from strategies.runtime.channel import BlockingChannel
from strategies.runtime.cycle import run_cycle_in_process, user_traceback
from strategies.runtime.loader import StrategyLoadError, load_strategy_fresh, strategy_hash


def serve_steps(channel: BlockingChannel, spec: dict[str, Any], transport: Any, state_bytes_limit: int,
                flush: Any) -> None:
    files = spec["files"]
    base_ctx = dict(spec["ctx"])
    version_hash = strategy_hash(files)
    while True:
        frame = channel.receive()
        if frame.get("type") != "step":
            return
        result: dict[str, Any]
        try:
            definition = load_strategy_fresh(files, version_hash)
        except StrategyLoadError as error:
            result = {"entries": [], "exits": [], "state": None, "error": str(error), "traceback": None}
        except BaseException as error:  # the module body of a user file raised
            names = frozenset(name for name in files if name.endswith(".py"))
            summary = "".join(traceback.format_exception_only(type(error), error)).strip()
            result = {"entries": [], "exits": [], "state": None, "error": summary,
                      "traceback": user_traceback(error, names)}
        else:
            ctx = {**base_ctx, **dict(frame.get("ctx") or {})}
            result = run_cycle_in_process(definition, ctx, transport, state_bytes_limit=state_bytes_limit)
        flush()
        channel.send({"type": "result", "step": frame.get("step"), **result})
