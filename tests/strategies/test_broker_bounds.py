"""A script's venue reads have a cost bound (each refusal names the argument and the bound) and never run past
the script's wall-clock deadline."""

from __future__ import annotations

import time

import pytest

from strategies.cycle.run import execution_run
from strategies.models import Execution
from tests.strategies.test_strategy_run import deploy, run

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("venues_on_simulator")]

READ = """
def should_enter(ctx):
    try:
        ctx.VENUE.CALL
    except Exception as error:
        ctx.log(f"refused: {error}")
    return []
"""
PLATFORMS = {
    "kalshi": {},
    "alpaca": {"platform": "alpaca", "risk_limits": {"max_order_usd": 50, "max_daily_usd": 300,
                                                      "allowed_services": ["alpaca"]}},
    "polymarket": {"platform": "polymarket", "risk_limits": {"max_order_usd": 50, "max_daily_usd": 300,
                                                              "allowed_services": ["polymarket"]}},
}


def refusal(alice, staff, venue: str, call: str) -> str:
    entry = READ.replace("VENUE", venue).replace("CALL", call)
    strategy = deploy(alice, entry=entry, approve_by=staff, **PLATFORMS[venue])
    result = run(strategy.pk)
    assert result["status"] == "succeeded", result["error"]
    [line] = [str(line["message"]) for line in result["logs"] if line["message"].startswith("refused: ")]
    return line


@pytest.mark.parametrize(("venue", "call", "expected"), [
    ("alpaca", 'get_bars(symbol="SPY", timeframe="1Min", start="1970-01-01T00:00:00Z")',
     "alpaca.get_bars: start and end span"),
    ("alpaca", 'get_bars(symbol="SPY", limit=10**9)', "alpaca.get_bars: limit must be between 1 and 10000"),
    ("polymarket", 'get_trade_history(maker_address="0xabc", limit=10**9)',
     "polymarket.get_trade_history: limit must be between 1 and 500, got 1000000000"),
    ("polymarket", 'get_prices_history(market="1", start_ts=0)', "polymarket.get_prices_history: start_ts and end_ts"),
    ("kalshi", 'get_candlesticks(ticker="KXSIMFED-26DEC31-T4.00", start_ts=0, period_interval=1)',
     "kalshi.get_candlesticks: start_ts and end_ts span"),
    ("kalshi", "get_markets(limit=10**6)", "kalshi.get_markets: limit must be between 1 and 1000"),
])
def test_a_read_past_its_bound_is_refused_naming_the_argument_and_the_bound(alice, staff, venue, call,
                                                                             expected) -> None:
    assert expected in refusal(alice, staff, venue, call)


def test_a_slow_read_fails_at_the_scripts_deadline_instead_of_holding_the_cycle(
        alice, staff, settings, venues_on_simulator) -> None:
    settings.SANDBOX = {**settings.SANDBOX, "wall_seconds": 2}
    entry = READ.replace("VENUE", "kalshi").replace("CALL", 'get_orderbook(ticker="KXSIMFED-26DEC31-T4.00")')
    strategy = deploy(alice, entry=entry, approve_by=staff)
    venues_on_simulator.faults.inject("latency", venue="kalshi", path_contains="/orderbook", delay_seconds=6)
    started = time.monotonic()
    execution = execution_run(strategy_id=strategy.pk, trigger=Execution.Trigger.MANUAL)
    took = time.monotonic() - started
    assert took < 4.5, f"the cycle took {took:.1f} s with a 2-second deadline"
    assert execution.status in ("timed_out", "succeeded"), execution.error
