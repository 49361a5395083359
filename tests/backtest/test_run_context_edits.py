"""The run keeps the figures of `ctx.capital` and `ctx.positions` from step to step while the engine's values do not
change: what a step edits in its `ctx` (lists, dicts, even frozen objects through `object.__setattr__`) never reaches
a later step, which sees exactly what its frame gives."""

from __future__ import annotations

import json
from typing import Any

from runtime.cycle import build_context
from runtime.loader import load_strategy
from tests.backtest.conftest import reference_run, sma_cross_files
from trading.backtest.engine import OnCall, StepOutcome

# Appended to the reference strategy's files: say what this step's ctx shows before its first call edits it, then
# edit every part of it that can be reached.
SHOW = """

def _show(ctx):
    if not getattr(ctx, "shown", False):
        ctx.shown = True
        ctx.log(repr((ctx.now, ctx.capital, ctx.positions, ctx.params, ctx.state)))
"""
ENTRY_EDITS = SHOW + """

def _edit(ctx):
    for shown in [ctx.capital, *ctx.positions]:
        for name in list(vars(shown)):
            object.__setattr__(shown, name, 1e9)
    ctx.positions.append("a position that is not there")
    ctx.params["fast"] = 3
    ctx.state["edited"] = True


_should_enter = should_enter


def should_enter(ctx):
    _show(ctx)
    decided = _should_enter(ctx)
    _edit(ctx)
    return decided
"""
EXIT_EDITS = SHOW + """

_should_exit = should_exit


def should_exit(ctx, position):
    _show(ctx)
    decided = _should_exit(ctx, position)
    object.__setattr__(position, "current_price", -1.0)
    object.__setattr__(ctx.capital, "total", -1.0)
    ctx.params["slow"] = 5
    return decided
"""


def _files() -> dict[str, str]:
    files = sma_cross_files()
    files["entry.py"] += ENTRY_EDITS
    files["exit.py"] += EXIT_EDITS
    return files


def test_a_step_never_sees_what_an_earlier_step_edited(sma_cross_config: dict[str, Any]) -> None:
    files = _files()
    engine, runner = reference_run(sma_cross_config, files, max_log_chars=1 << 20)
    definition = load_strategy(files)
    expected: list[str] = []
    shown: list[str] = []

    class FromFrames:
        frames_on_demand = True

        def step(self, frame: dict[str, Any], on_call: OnCall) -> StepOutcome:
            ctx = build_context(definition, engine.frame(frame["state"]), runner.transport)
            expected.append(repr((ctx.now, ctx.capital, ctx.positions, ctx.params, ctx.state)))
            runner.transport.log_lines = 0  # the run keeps its first 2,000 lines: here every step's is wanted
            outcome = runner.step(frame, on_call)
            shown.extend(message for _, message in outcome.logs)
            return outcome

    result = engine.run(FromFrames())
    assert result.status == "succeeded", result.error
    assert len(shown) == len(expected) == result.steps == 2148
    assert shown == expected
    assert len(result.trades) == 46  # the edits come after each decision: the reference trades stand
    assert json.dumps(result.final_state) == '{"edited": true}'
