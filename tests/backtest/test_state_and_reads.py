"""Across steps only ctx.state carries over (as across live cycles); reads answer as of ctx.now."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from strategies.backtests import backtest_execute_files, csv_store

pytestmark = pytest.mark.django_db  # the CSV is stored in the database

COUNTER = '''
from datetime import timedelta

from strategies.sdk import EntrySignal

CALLS = []  # module globals start afresh every step, as in a live cycle's new process


def should_enter(ctx):
    CALLS.append(1)
    ctx.state["steps"] = ctx.state.get("steps", 0) + 1
    ctx.state.setdefault("nows", []).append(ctx.now.isoformat())
    ctx.state["globals_seen"] = max(ctx.state.get("globals_seen", 0), len(CALLS))
    everything = ctx.alpaca.get_bars("TEST", "1Day", start="1970-01-01", end="2100-01-01", limit=10000)
    latest = ctx.alpaca.get_bars("TEST", "1Day")
    ahead = ctx.alpaca.get_bars("TEST", "1Day", start=(ctx.now + timedelta(days=1)).isoformat())
    ctx.state["visible"] = len(everything)
    ctx.state.setdefault("last_t", []).append(latest[-1]["t"] if latest else None)
    ctx.state["ahead"] = ctx.state.get("ahead", 0) + len(ahead)
    if ctx.state["steps"] == 2:
        return [EntrySignal("TEST", "buy", "second step", size_usd=100)]
    return []
'''
EXIT = "def should_exit(ctx, position):\n    return None\n"
CONFIG = {
    "name": "counter", "thesis": "none: a test", "platform": "alpaca", "polling_interval": 86400,
    "capital": {"total_capital": 1000, "capital_per_trade": 100, "max_positions": 1, "max_position_size": 100,
                "max_daily_loss": 100, "sizing_method": "fixed"},
    "risk_limits": {"allowed_services": ["alpaca"]}, "parameters": {},
}
CSV = "Date,Open,High,Low,Close,Volume\n" + "".join(
    f"2024-01-{day:02d},{100 + day},{101 + day},{99 + day},{100.5 + day},1000\n" for day in range(1, 11))


def test_state_carries_across_steps_and_module_globals_do_not(settings) -> None:
    data = csv_store(CSV, symbol="TEST", filename="test.csv")
    run = backtest_execute_files({"entry.py": COUNTER, "exit.py": EXIT, "config.json": json.dumps(CONFIG)}, CONFIG,
                                 data, start=None, end=None, cash=None, commission=None, strategy_id="t",
                                 lookahead=False)
    result = run.result
    assert result.status == "succeeded", result.error
    state = result.final_state
    assert state["steps"] == result.steps == 10
    assert state["globals_seen"] == 1
    # ctx.now is each bar's close (the next midnight): the bar of that day is visible, none after it
    assert state["nows"][:2] == ["2024-01-02T00:00:00+00:00", "2024-01-03T00:00:00+00:00"]
    assert state["last_t"][:2] == ["2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z"]
    assert state["visible"] == 10 and state["ahead"] == 0
    # the signal at the close of Jan 2 filled at the open of Jan 3, at $100 of it
    assert result.open_positions[0]["opened_at"].startswith("2024-01-03")
    assert Decimal(result.open_positions[0]["entry_price"]) == Decimal(103)
    assert Decimal(result.open_positions[0]["size"]) == Decimal(100)


KALSHI_BUY_ONCE = '''
from strategies.sdk import EntrySignal


def should_enter(ctx):
    candles = ctx.kalshi.get_candlesticks("KXTEST", "KXTEST-1", start_ts=0, end_ts=4102444800)["candlesticks"]
    ctx.state["seen"] = len(candles)
    if ctx.positions or ctx.state.get("bought") or len(candles) < 2:
        return []
    ctx.state["bought"] = True
    return [EntrySignal("KXTEST-1", "yes", "test", size_usd=50)]
'''
KALSHI_CSV = "timestamp,open,high,low,close\n" + "".join(
    f"{1704067200 + hour * 3600},0.{40 + hour},0.{41 + hour},0.{39 + hour},0.{40 + hour}\n" for hour in range(6))


def test_a_kalshi_csv_backtest_reads_candlesticks_and_pays_kalshi_s_fee(settings) -> None:
    from trading.fees import kalshi_fee

    config = {**CONFIG, "platform": "kalshi", "polling_interval": 3600,
              "risk_limits": {"allowed_services": ["kalshi"]}}
    data = csv_store(KALSHI_CSV, symbol="KXTEST-1", filename="kalshi.csv")
    run = backtest_execute_files({"entry.py": KALSHI_BUY_ONCE, "exit.py": EXIT, "config.json": json.dumps(config)},
                                 config, data, start=None, end=None, cash=None, commission=None, strategy_id="t",
                                 lookahead=False)
    result = run.result
    assert result.status == "succeeded", result.error
    assert result.final_state["seen"] == 6  # every hourly candle, one more visible each step
    fill = next(a for a in result.actions if a["kind"] == "order_filled")
    quantity, price = (Decimal(v) for v in fill["fills"][0])
    assert price == Decimal("0.42")  # signalled at the second close, filled at the third open
    assert quantity == quantity.to_integral()  # whole contracts
    assert Decimal(fill["fee"]) == kalshi_fee(quantity, price) > 0
    assert quantity * price + Decimal(fill["fee"]) <= Decimal(50)  # the fee fits in what the order reserved


MEMORY_DIGGER = '''
import gc
from datetime import datetime, timedelta


def should_enter(ctx):
    """Counts the bars it finds anywhere in the run's memory: a decision that is not a function of its reads."""
    found = [thing for thing in gc.get_objects() if type(thing).__name__ == "BarSeries"]
    later = sum(1 for series in found for start in series.starts if start + 86400 > ctx.now.timestamp())
    ctx.state["bars_after_now"] = later
    return []
'''


def test_a_script_that_digs_the_run_s_memory_for_later_bars_fails_the_sealed_check(settings) -> None:
    """The whole range is in the run's memory (the loop runs there); the sealed re-run of a step holds only the
    bars closed by then, so a decision (here: the state it leaves) built on later bars comes out different."""
    data = csv_store(CSV, symbol="TEST", filename="test.csv")
    run = backtest_execute_files({"entry.py": MEMORY_DIGGER, "exit.py": EXIT, "config.json": json.dumps(CONFIG)},
                                 CONFIG, data, start=None, end=None, cash=None, commission=None, strategy_id="t")
    assert run.result.status == "failed"
    flagged = run.lookahead["flagged"][0]
    assert flagged["step"] == 1 and flagged["changed"] == ["state"]
    assert flagged["ran"]["state"]["bars_after_now"] == 9 and flagged["sealed"]["state"]["bars_after_now"] == 0
    assert "look-ahead check: step 1 (2024-01-02T00:00:00Z)" in (run.result.error or "")


DEFAULT_ARGUMENT = '''
def should_enter(ctx, seen=[]):  # a mutable default outlives the call: the run must re-execute this module
    seen.append(1)
    ctx.state["most_seen"] = max(ctx.state.get("most_seen", 0), len(seen))
    return []
'''

CLASS_ATTRIBUTE = '''
class Seen:
    moments = []  # a class body's list outlives the call too


def should_enter(ctx):
    Seen.moments.append(1)
    ctx.state["most_seen"] = max(ctx.state.get("most_seen", 0), len(Seen.moments))
    return []
'''


@pytest.mark.parametrize("entry", [DEFAULT_ARGUMENT, CLASS_ATTRIBUTE], ids=["default argument", "class attribute"])
def test_a_module_that_keeps_state_of_its_own_is_executed_anew_every_step(settings, entry: str) -> None:
    data = csv_store(CSV, symbol="TEST", filename="test.csv")
    run = backtest_execute_files({"entry.py": entry, "exit.py": EXIT, "config.json": json.dumps(CONFIG)},
                                 CONFIG, data, start=None, end=None, cash=None, commission=None, strategy_id="t")
    assert run.result.status == "succeeded", run.result.error
    assert run.result.final_state["most_seen"] == 1  # as across live cycles, each a new process
    assert run.lookahead["summary"] == "checked 0 signal steps and 10 quiet steps: identical"


CRASH_AT_STEP_FIVE = '''
import ctypes


def should_enter(ctx):
    if ctx.now.day == 6:  # the fifth step: the bar of Jan 5 closes at Jan 6 00:00
        ctypes.string_at(0)
    return []
'''


def test_a_run_that_dies_mid_way_fails_and_nothing_it_had_not_reported_counts(settings) -> None:
    data = csv_store(CSV, symbol="TEST", filename="test.csv")
    run = backtest_execute_files({"entry.py": CRASH_AT_STEP_FIVE, "exit.py": EXIT, "config.json": json.dumps(CONFIG)},
                                 CONFIG, data, start=None, end=None, cash=None, commission=None, strategy_id="t")
    assert run.result.status == "failed"
    assert "the backtest's sandbox run ended before this step" in (run.result.error or ""), run.result.error
    assert run.result.steps <= 5 and run.result.trades == []
