"""The look-ahead check, as Freqtrade's lookahead analysis does it.

A signal that depends on data from after its own moment cannot be traded. For each signal of a
finished run (up to `MAX_SIGNALS`, spread evenly over the run), the backtest is run again with the
data cut just after that signal's moment: the step at that moment must produce the very same
entries and exits. One that differs is flagged "look-ahead": it saw data it would not have had
live. The engine already answers every read as of `ctx.now`; the check also catches a strategy that
is not a function of what it read (randomness, the wall clock), which would not repeat live either.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from trading.backtest.data import iso
from trading.backtest.engine import BacktestEngine, StepRunner

MAX_SIGNALS = 10  # each is a partial re-run: on the reference case 20 cost a minute


def _pick(signals: list[dict[str, Any]], limit: int) -> list[dict[str, Any]]:
    if len(signals) <= limit:
        return signals
    stride = len(signals) / limit
    return [signals[int(index * stride)] for index in range(limit)]


def lookahead_check(signals: list[dict[str, Any]], *, engine_at: Callable[[float], BacktestEngine],
                    runner: Callable[[], StepRunner], close: Callable[[StepRunner], None],
                    limit: int = MAX_SIGNALS, cancelled: Callable[[], bool] | None = None) -> dict[str, Any]:
    """Re-run with the data cut after each signal; `engine_at(cut)` builds a fresh engine on the cut data."""
    checked: list[dict[str, Any]] = []
    flagged: list[dict[str, Any]] = []
    for signal in _pick(signals, limit):
        if cancelled is not None and cancelled():
            break
        moment = float(signal["time"])
        engine = engine_at(moment)
        step_runner = runner()
        try:
            result = engine.run(step_runner)
        finally:
            close(step_runner)
        again: dict[str, Any] = next((s for s in result.signals if s["time"] == moment), {"entries": [], "exits": []})
        same = again["entries"] == signal["entries"] and again["exits"] == signal["exits"]
        checked.append({"time": iso(moment), "same": same})
        if not same:
            flagged.append({"time": iso(moment), "entries": signal["entries"], "exits": signal["exits"],
                            "with_data_cut": {"entries": again["entries"], "exits": again["exits"]},
                            "error": result.error})
    return {"signals": len(signals), "checked": len(checked), "flagged": flagged,
            "biased": bool(flagged), "limit": limit}
