"""The run of a backtest on bars builds each step's `ctx` from its engine: the very ctx the step's frame gives."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from runtime.backtest_child import OneRunRunner, _Transport
from runtime.cycle import build_context
from runtime.loader import load_strategy
from runtime.sdk import Context
from tests.backtest.conftest import goog_csv, sma_cross_files
from trading.backtest.data import load_csv
from trading.backtest.engine import BacktestEngine, BacktestSpec, OnCall, StepOutcome
from trading.capital import CapitalPlan


def _seen(ctx: Context) -> dict[str, Any]:
    return {"strategy_id": ctx.strategy_id, "platform": ctx.platform, "mode": ctx.mode, "dry_run": ctx.dry_run,
            "now": ctx.now, "utcoffset": ctx.now.utcoffset(), "params": ctx.params, "state": ctx.state,
            "capital": ctx.capital, "positions": ctx.positions,
            "types": [type(value) for value in (ctx.now, ctx.capital, *ctx.positions)]}


def test_each_step_s_ctx_is_the_one_its_frame_gives(sma_cross_config: dict[str, Any]) -> None:
    sma_cross_config["capital"]["total_capital"] = 10_000
    spec = BacktestSpec("alpaca", CapitalPlan.from_config(sma_cross_config, "alpaca"),
                        sma_cross_config["polling_interval"], commission=Decimal("0.002"),
                        params=sma_cross_config["parameters"], strategy_id="sma")
    engine = BacktestEngine(spec, bars={"GOOG": load_csv(goog_csv(), symbol="GOOG")})
    runner = OneRunRunner(sma_cross_files(), _Transport(4096), 1 << 16, lambda records, upto: None, engine)
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
