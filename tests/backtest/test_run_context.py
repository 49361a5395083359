"""The run of a backtest on bars builds each step's `ctx` from its engine: the very ctx the step's frame gives."""

from __future__ import annotations

from typing import Any

from runtime.cycle import build_context
from runtime.loader import load_strategy
from runtime.sdk import Context
from tests.backtest.conftest import reference_run, sma_cross_files
from trading.backtest.engine import OnCall, StepOutcome


def _seen(ctx: Context) -> dict[str, Any]:
    return {"strategy_id": ctx.strategy_id, "platform": ctx.platform, "mode": ctx.mode, "dry_run": ctx.dry_run,
            "now": ctx.now, "utcoffset": ctx.now.utcoffset(), "params": ctx.params, "state": ctx.state,
            "capital": ctx.capital, "positions": ctx.positions,
            "types": [type(value) for value in (ctx.now, ctx.capital, *ctx.positions)],
            "texts": [repr(value) for value in (ctx.capital, *ctx.positions)]}  # repr tells -0.0 from 0.0


def test_each_step_s_ctx_is_the_one_its_frame_gives(sma_cross_config: dict[str, Any]) -> None:
    engine, runner = reference_run(sma_cross_config)
    definition = load_strategy(sma_cross_files())
    held: set[int] = set()

    class Comparing:
        frames_on_demand = True

        def step(self, frame: dict[str, Any], on_call: OnCall) -> StepOutcome:
            state = {"step": len(held), "nested": {"seen": [1, 2]}}
            direct = runner.context(state)
            from_frame = build_context(definition, engine.frame(state), runner.transport)
            assert _seen(direct) == _seen(from_frame)
            held.add(len(direct.positions))
            return runner.step(frame, on_call)

    result = engine.run(Comparing())
    assert result.status == "succeeded"
    assert len(result.trades) == 46
    assert held == {0, 1}  # steps with a position held (marked, with its P&L) and without



def test_a_run_s_step_outcome_is_the_dataclass_s_own() -> None:
    entries: list[dict[str, Any]] = [{"market_id": "GOOG"}]
    fields: tuple[Any, ...] = ("succeeded", entries, [], {"seen": [1]}, None, None, [("info", "hello")])
    quick, made = StepOutcome.of_run(*fields), StepOutcome(*fields)
    assert (quick, list(vars(quick).items()), repr(quick)) == (made, list(vars(made).items()), repr(made))
    assert quick.orders == [] and quick.orders is not StepOutcome.of_run(*fields).orders
