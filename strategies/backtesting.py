"""The strategies side of a backtest: load a version's files, drive them step by step, store the run.

The engine (`trading.backtest`) owns the clock, the data, the fills and the books; this module only
runs the strategy for it: in the sandbox (one long-lived process for the whole run,
`strategies.runtime.stepper`), or in this process for tests of the engine itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from strategies.runtime.cycle import run_cycle_in_process
from strategies.runtime.loader import load_strategy
from strategies.sdk import VenueError
from trading.backtest.engine import BacktestCallError, OnCall, StepOutcome

STATE_BYTES = 64 * 1024


class _InProcessTransport:
    def __init__(self, on_call: OnCall) -> None:
        self.on_call = on_call
        self.logs: list[tuple[str, str]] = []

    def call(self, venue: str, method: str, kwargs: dict[str, Any]) -> Any:
        try:
            return self.on_call(venue, method, kwargs)
        except BacktestCallError as error:
            raise VenueError(str(error)) from None

    def log(self, level: str, message: str) -> None:
        self.logs.append((level, message))


class InProcessRunner:
    """Runs the strategy's cycles in this process: only for trusted code (tests, the reference case)."""

    def __init__(self, files: Mapping[str, str]) -> None:
        self.definition = load_strategy(files)

    def step(self, frame: dict[str, Any], on_call: OnCall) -> StepOutcome:
        transport = _InProcessTransport(on_call)
        result = run_cycle_in_process(self.definition, frame, transport, state_bytes_limit=STATE_BYTES)
        state = result["state"] if result["state"] is not None else dict(frame.get("state") or {})
        return StepOutcome("failed" if result["error"] else "succeeded", result["entries"], result["exits"], state,
                           result["error"], result["traceback"], transport.logs)

    def close(self) -> None:
        pass
