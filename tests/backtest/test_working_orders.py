"""An order waiting for its fill counts against the limits like a working order (docs/money.md)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from strategies.backtests import InProcessRunner
from trading.backtest.data import load_csv
from trading.backtest.engine import BacktestEngine, BacktestSpec
from trading.capital import CapitalPlan

TWO_AT_ONCE = '''
from strategies.sdk import EntrySignal


def should_enter(ctx):
    if ctx.state.get("done"):
        return []
    ctx.state["done"] = True
    return [EntrySignal("AAA", "buy", "first", size_usd=600), EntrySignal("BBB", "buy", "second", size_usd=600),
            EntrySignal("AAA", "buy", "more of the first", size_usd=600)]
'''
EXIT = "def should_exit(ctx, position):\n    return None\n"
CSV = "date,open,high,low,close\n" + "".join(f"2024-01-0{day},10,11,9,10\n" for day in range(1, 6))


def config(**capital: object) -> dict[str, Any]:
    return {"platform": "alpaca", "polling_interval": 86400, "parameters": {},
            "capital": {"total_capital": 1000, "capital_per_trade": 600, "max_positions": 1,
                        "max_position_size": 1000, "max_daily_loss": 1000, "sizing_method": "fixed", **capital},
            "risk_limits": {"allowed_services": ["alpaca"]}}


def run(plan_config: dict[str, Any]) -> list[dict[str, Any]]:
    files = {"entry.py": TWO_AT_ONCE, "exit.py": EXIT, "config.json": json.dumps(plan_config)}
    bars = {symbol: load_csv(f"{symbol}.csv", symbol=symbol, text=CSV) for symbol in ("AAA", "BBB")}
    spec = BacktestSpec("alpaca", CapitalPlan.from_config(plan_config, "alpaca"), 86400)
    result = BacktestEngine(spec, bars=bars).run(InProcessRunner(files))
    assert result.status == "succeeded", result.error
    return result.actions


def test_an_unfilled_entry_counts_as_an_open_position_and_reserves_its_cost() -> None:
    actions = run(config(max_position_size=5000))  # only capital binds
    placed = [a for a in actions if a["kind"] == "order_placed"]
    refused = [a for a in actions if a["kind"] == "order_refused"]
    # AAA waits for the next open; BBB would be a second position while AAA is only working
    assert [(a["check"], a["market_id"]) for a in refused] == [("max_positions", "BBB")]
    # adding to AAA is allowed, but only what the first order left of the capital: $400, not $600
    assert [a["sizing"]["budget_usd"] for a in placed] == ["600.00", "400.00"]
    assert placed[1]["sizing"]["binding"] == "available_capital"
    fills = [a for a in actions if a["kind"] == "order_filled"]
    assert sum((Decimal(f["fills"][0][0]) * Decimal(f["fills"][0][1]) for f in fills), Decimal(0)) == Decimal(1000)
