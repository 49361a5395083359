"""`get_bars(..., columns=True)`: the very bars `get_bars` answers, as columns, in a backtest (its run and the sealed
re-run), in paper and live alike: same bounds, same errors, never a bar after `ctx.now`."""

from __future__ import annotations

import json

import pytest

from strategies.backtests import backtest_execute_files, csv_store
from tests.strategies.test_strategy_run import deploy, run

pytestmark = pytest.mark.django_db

# Every step: each read both ways must agree; an edit of one read must not reach the next; errors must match.
COMPARE = '''
from datetime import timedelta

from strategies.sdk import BarColumns


def as_columns(rows):
    return [[bar["t"] for bar in rows]] + [[float(bar[key]) for bar in rows] for key in "ohlcv"]


def error_of(read, **kwargs):
    try:
        read("SYMBOL", "1Day", **kwargs)
    except Exception as error:
        return f"{type(error).__name__}: {error}"
    return None


def should_enter(ctx):
    read = ctx.alpaca.get_bars
    asked = [{}, {"limit": 3}, {"start": "1970-01-01", "end": "2100-01-01", "limit": 10000},
             {"end": (ctx.now - timedelta(days=3)).isoformat()}]
    for kwargs in asked:
        columns = read("SYMBOL", "1Day", columns=True, **kwargs)
        assert isinstance(columns, BarColumns) and len(columns) == len(columns.close)
        got = [columns.time, columns.open, columns.high, columns.low, columns.close, columns.volume]
        if got != as_columns(read("SYMBOL", "1Day", **kwargs)):
            ctx.state["different"] = ctx.state.get("different", 0) + 1
        columns.close.append(-1.0)  # the script's own copy
    ctx.state["seen"] = len(read("SYMBOL", "1Day", columns=True, limit=10000).close)
    ctx.state["to_3_days_ago"] = len(read("SYMBOL", "1Day", end=(ctx.now - timedelta(days=3)).isoformat()))
    ahead = (ctx.now + timedelta(days=1)).isoformat()  # nothing in a backtest; refused in paper: alike both ways
    for kwargs in ({"limit": 0}, {"limit": 10**9}, {"start": "not a time"}, {"start": ahead}):
        if error_of(read, columns=True, **kwargs) != error_of(read, **kwargs):
            ctx.state.setdefault("errors", []).append([error_of(read, columns=True, **kwargs), error_of(read, **kwargs)])
    return []
'''
EXIT = "def should_exit(ctx, position):\n    return None\n"
CONFIG = {
    "name": "columns", "thesis": "none: a test", "platform": "alpaca", "polling_interval": 86400,
    "capital": {"total_capital": 1000, "capital_per_trade": 100, "max_positions": 1, "max_position_size": 100,
                "max_daily_loss": 100, "sizing_method": "fixed"},
    "risk_limits": {"allowed_services": ["alpaca"]}, "parameters": {},
}
CSV = "Date,Open,High,Low,Close,Volume\n" + "".join(
    f"2024-01-{day:02d},{100 + day}.25,{101 + day},{99 + day},{100.5 + day},{1000 + day}\n" for day in range(1, 11))


def test_columns_are_get_bars_own_bars_in_the_run_and_in_the_sealed_re_run(settings) -> None:
    settings.BACKTEST_LOOKAHEAD_SAMPLE = 64  # every one of the 10 steps is re-run sealed, with its own kept bars
    entry = COMPARE.replace("SYMBOL", "TEST")
    data = csv_store(CSV, symbol="TEST", filename="test.csv")
    run_ = backtest_execute_files({"entry.py": entry, "exit.py": EXIT, "config.json": json.dumps(CONFIG)}, CONFIG,
                                  data, start=None, end=None, cash=None, commission=None, strategy_id="t")
    result = run_.result
    assert result.status == "succeeded", result.error
    assert run_.lookahead["summary"] == "checked 0 signal steps and 10 quiet steps: identical"
    # No difference, no error that differs; the last step sees all 10, and (a bound by time) 8 up to 3 days ago.
    assert result.final_state == {"seen": 10, "to_3_days_ago": 8}


def test_a_paper_cycle_builds_the_columns_from_the_venue_s_bars(alice, staff, venues_on_simulator) -> None:
    entry = COMPARE.replace("SYMBOL", "SPY").replace('"start": "1970-01-01", "end": "2100-01-01", "limit": 10000',
                                                    '"limit": 50')
    entry = entry.replace("return []", 'ctx.log(f"state {sorted(ctx.state.items())}")\n    return []')
    strategy = deploy(alice, entry=entry, approve_by=staff, platform="alpaca",
                      risk_limits={"max_order_usd": 50, "max_daily_usd": 300, "allowed_services": ["alpaca"]})
    result = run(strategy.pk)
    assert result["status"] == "succeeded", result["error"]
    [line] = [str(line["message"]) for line in result["logs"] if line["message"].startswith("state ")]
    assert "different" not in line and "errors" not in line, line
    assert "('seen', " in line
