"""A prediction-market backtest on the recorded Polymarket books, through a resolution, in the sandbox."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from strategies.backtests import BacktestData, backtest_execute_files
from trading.backtest.data import recorded_polymarket
from trading.fees import order_fee

HOLD_BOTH = '''
from strategies.sdk import EntrySignal


def should_enter(ctx):
    if ctx.state.get("bought"):
        return []
    markets = ctx.polymarket.get_markets()["data"]
    if not markets:
        return []
    market = sorted(markets, key=lambda m: m["market_slug"])[0]
    ctx.state["bought"] = market["condition_id"]
    return [EntrySignal(token["token_id"], "yes", "hold to resolution", market_name=market["question"],
                        limit_price=0.99, size_usd=20) for token in market["tokens"]]
'''
NEVER_EXIT = "def should_exit(ctx, position):\n    return None\n"
CONFIG = {
    "name": "hold both sides", "thesis": "none: a test", "platform": "polymarket", "polling_interval": 60,
    "capital": {"total_capital": 1000, "capital_per_trade": 50, "max_positions": 5, "max_position_size": 100,
                "max_daily_loss": 500, "sizing_method": "fixed"},
    "risk_limits": {"allowed_services": ["polymarket"]}, "parameters": {},
}


def test_positions_settle_at_one_or_zero_at_resolution_with_fees_per_fill(settings) -> None:
    files = {"entry.py": HOLD_BOTH, "exit.py": NEVER_EXIT, "config.json": json.dumps(CONFIG)}
    market = sorted(recorded_polymarket("books").markets.values(), key=lambda m: m.opens_at)[0]
    assert market.resolves_at is not None and market.winner is not None

    run = backtest_execute_files(files, CONFIG, BacktestData("polymarket_recorded", {"set": "books"}), start=None,
                                 end=datetime.fromtimestamp(market.resolves_at + 120, UTC), cash=None,
                                 commission=None, strategy_id="t", lookahead=False)

    result = run.result
    assert result.status == "succeeded", result.error
    assert result.open_positions == []
    settled = {t["market_id"]: t for t in result.trades}
    assert set(settled) == set(market.token_ids)
    fills = {a["client_order_id"]: a for a in result.actions if a["kind"] == "order_filled"}
    assert len(fills) == 2
    total_pnl = Decimal(0)
    for index, token in enumerate(market.token_ids):
        trade = settled[token]
        payout = Decimal(1) if index == market.winner else Decimal(0)
        assert (trade["exit_kind"], Decimal(trade["exit_price"])) == ("settle", payout)
        assert trade["exit_time"] == datetime.fromtimestamp(market.resolves_at, UTC).isoformat().replace("+00:00", "Z")
        fill = next(f for f in fills.values() if f["message"].split()[2] == token)
        levels = [(Decimal(q), Decimal(p)) for q, p in fill["fills"]]
        # the crypto rate: 0.07 × shares × p × (1 − p) per level, rounded once per order
        fee = order_fee("polymarket", side="buy", fills=levels, polymarket_rate=Decimal("0.07"))
        assert Decimal(fill["fee"]) == fee > 0
        assert Decimal(trade["fees"]) == fee  # settlement is fee-free
        cost = sum(q * p for q, p in levels) + fee
        assert cost <= Decimal(20)  # the signal's size_usd, checked at worst cost
        assert Decimal(trade["pnl"]) == (sum(q for q, _ in levels) * payout - cost).quantize(Decimal("0.000001"))
        total_pnl += Decimal(trade["pnl"])
    assert result.equity[-1][1] == Decimal(1000) + total_pnl
    assert run.metrics["trades"] == 2 and run.metrics["open_positions"] == 0
    assert run.metrics["fees_usd"] == str(sum((Decimal(t["fees"]) for t in result.trades), Decimal(0)).quantize(Decimal("0.01")))


@pytest.mark.parametrize("kind", ["quotes"])
def test_the_recorded_quotes_are_a_data_source_too(settings, kind: str) -> None:
    data = recorded_polymarket(kind)
    assert len(data.markets) == 40
    token = next(iter(data.books))
    books = data.books[token]
    first = books.snapshot(0)
    assert first.bids and first.asks and first.bids[0].price < first.asks[0].price
    assert books.as_of(first.at - 1) is None  # nothing before the recording began


HOLD_MARKET = '''
from strategies.sdk import EntrySignal


def should_enter(ctx):
    if ctx.state.get("bought"):
        return []
    market = ctx.polymarket.get_market(ctx.params["market"])
    ctx.state["bought"] = True
    return [EntrySignal(token["token_id"], "yes", "hold to resolution", limit_price=0.99, size_usd=20)
            for token in market["tokens"]]
'''


def test_a_market_of_the_recorded_quotes_settles_through_its_resolution(settings) -> None:
    data = recorded_polymarket("quotes")
    market = min((m for m in data.markets.values() if m.resolves_at is not None), key=lambda m: m.resolves_at or 0)
    assert market.resolves_at is not None and market.winner is not None
    config = {**CONFIG, "polling_interval": 600, "parameters": {"market": market.condition_id}}
    files = {"entry.py": HOLD_MARKET, "exit.py": NEVER_EXIT, "config.json": json.dumps(config)}

    run = backtest_execute_files(files, config, BacktestData("polymarket_recorded", {"set": "quotes"}),
                                 start=datetime.fromtimestamp(market.opens_at, UTC),
                                 end=datetime.fromtimestamp(market.resolves_at + 600, UTC), cash=None,
                                 commission=None, strategy_id="t", lookahead=False)

    result = run.result
    assert result.status == "succeeded", result.error
    assert result.open_positions == [] and len(result.trades) == 2
    for trade in result.trades:
        won = market.token_ids.index(trade["market_id"]) == market.winner
        assert (trade["exit_kind"], Decimal(trade["exit_price"])) == ("settle", Decimal(1 if won else 0))
        assert Decimal(trade["fees"]) > 0  # the entry's taker fee at the market's category rate
    assert result.equity[-1][1] == Decimal(1000) + sum((Decimal(t["pnl"]) for t in result.trades), Decimal(0))
