"""`ctx.capital` in a backtest's run adds up, at every step of the reference case, with what the rest of the run shows:
deployed is the open positions' cost, total the starting cash plus the closed trades' P&L, and on a day no trade
closed, today's P&L is the open positions' unrealized P&L."""

from __future__ import annotations

from typing import Any

from tests.backtest.conftest import reference_run
from trading.backtest.engine import OnCall, StepOutcome

CENT = 0.005 + 1e-9  # figures shown in cents against sums of floats


def test_ctx_capital_adds_up_at_every_step(sma_cross_config: dict[str, Any]) -> None:
    engine, runner = reference_run(sma_cross_config)
    checked = {"held": 0, "quiet_day_held": 0}

    class Checking:
        frames_on_demand = True

        def step(self, frame: dict[str, Any], on_call: OnCall) -> StepOutcome:
            ctx = runner.context(frame["state"])
            capital, positions = ctx.capital, ctx.positions
            closed = list(engine.trades)
            assert abs(capital.total - (10_000 + sum(float(trade["pnl"]) for trade in closed))) <= CENT
            assert abs(capital.deployed - sum(position.size for position in positions)) <= CENT
            assert capital.available <= capital.total - capital.deployed + 2 * CENT  # each of the three rounded
            today = ctx.now.date().isoformat()
            if positions:
                checked["held"] += 1
                if not any(trade["exit_time"].startswith(today) for trade in closed):
                    checked["quiet_day_held"] += 1
                    unrealized = sum(position.unrealized_pnl for position in positions)
                    assert unrealized != 0
                    assert abs(capital.pnl_today - unrealized) <= CENT
            return runner.step(frame, on_call)

    result = engine.run(Checking())
    assert result.status == "succeeded"
    assert len(result.trades) == 46
    assert checked["quiet_day_held"] > 1000 and checked["held"] >= checked["quiet_day_held"]
