"""Every order that may still fill (new, submitted, partially filled, unresolved) reserves its worst cost
against every limit: available capital, the market side's position size, the position count and today's
spend, whatever day it was placed. Live cycles against the venue simulator, with its faults."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal as D
from typing import Any

import pytest
from django.utils import timezone

from strategies.models import Strategy, StrategyVersion
from strategies.services import strategy_deploy
from tests.conftest import scripts_files
from tests.trading.test_paper_cycle import CAPITAL, FED, LIMITS, frozen_simulator, run, venues
from trading.models import Order, Position
from trading.simulator import VenueSimulator

pytestmark = pytest.mark.django_db
__all__ = ["frozen_simulator", "venues"]  # fixtures shared with the paper cycle tests

# Enters what the state lists, every cycle it lists it: a script that forgets what it already asked for.
ENTRY = """
from strategies.sdk import EntrySignal


def should_enter(ctx):
    return [EntrySignal(market_id=m, side=ctx.params["side"], reason="test", confidence=0.6,
                        limit_price=ctx.params.get("limit"))
            for m in ctx.state.get("enter", [])]
"""
EXIT = "def should_exit(ctx, position):\n    return None\n"
SYMBOLS = ("AAPL", "MSFT", "NVDA", "SPY", "TSLA")
ORDER_POST = "/portfolio/events/orders"


def deploy_live(owner, staff, *, platform: str, side: str, limit: float, capital: dict[str, Any],
                limits: dict[str, Any], name: str) -> Strategy:
    files = scripts_files(name=name, platform=platform, parameters={"side": side, "limit": limit},
                          capital={**CAPITAL, **capital},
                          risk_limits={**LIMITS, "allowed_services": [platform], **limits})
    files["entry.py"], files["exit.py"] = ENTRY, EXIT
    version = strategy_deploy(owner=owner, files=files, mode="live", approve_by=staff)
    StrategyVersion.objects.filter(pk=version.pk).update(approved_live_by=staff, approved_live_at=timezone.now())
    return Strategy.objects.get(pk=version.strategy_id)


@pytest.fixture
def alpaca_quote(monkeypatch, frozen_simulator: VenueSimulator) -> dict[str, tuple[D, D]]:
    """Every symbol quoted at 100.00 / 100.02 until a test moves it (the synthetic walk moves each minute)."""
    quotes: dict[str, tuple[D, D]] = {}
    monkeypatch.setattr(frozen_simulator.alpaca, "quote",
                        lambda instrument: quotes.get(instrument.symbol, (D("100.00"), D("100.02"))))
    return quotes


def refusals(result: dict[str, Any]) -> list[str]:
    return [action["payload"]["check"] for action in result["actions"] if action["kind"] == "order_refused"]


def test_an_unresolved_entry_reserves_its_worst_cost_against_the_position_limit(
        alice, staff, frozen_simulator: VenueSimulator) -> None:
    """Two signals on one market, the first one's answer lost: before, 176 contracts against a $60 limit."""
    strategy = deploy_live(alice, staff, platform="kalshi", side="yes", limit=0.55, name="Unresolved twice",
                           capital={"max_position_size": 60}, limits={})
    # The venue takes the first order, and the answer to it and to both retries is lost on the way back.
    frozen_simulator.faults.inject("disconnect", venue="kalshi", method="POST", path_contains=ORDER_POST,
                                   phase="after", count=3)
    try:
        result = run(strategy, state={"enter": [FED, FED]})
    finally:
        frozen_simulator.faults.clear()
    first, second = Order.objects.order_by("signal_index")
    assert (first.status, first.quantity) == ("unresolved", D(88))  # $49.94 at worst, not yet in any position
    sizing = result["actions"][1]["payload"]["sizing"]

    run(strategy, state={"enter": []})  # the next cycle asks the venue: both orders filled
    first.refresh_from_db()
    assert first.status == "filled"
    position = Position.objects.get(strategy=strategy)
    assert position.quantity == D(88 + 17)  # before: 88 + 88 = 176 contracts, $98.2 against the $60 limit
    assert position.cost_basis_usd <= 60
    # $60 − $49.94 reserved left $10.06: 17 contracts, 9.35 + roundup(0.07 × 17 × 0.2475) = 9.65 at worst
    assert (sizing["binding"], second.quantity) == ("max_position_size", D(17))


def test_resting_day_orders_of_several_cycles_never_fill_beyond_the_capital(
        alice, staff, alpaca_quote: dict[str, tuple[D, D]]) -> None:
    """Before: five cycles each left a $50 order resting on $100 of capital, and all five filled: $250."""
    strategy = deploy_live(alice, staff, platform="alpaca", side="buy", limit=95.0, name="Resting orders",
                           capital={"total_capital": 100, "capital_per_trade": 50, "max_position_size": 100,
                                    "max_daily_loss": 100},
                           limits={"max_order_usd": 50, "max_daily_usd": 1000})
    reasons = []
    for symbol in SYMBOLS:  # one new symbol a cycle, each bid at 95 under a 100.02 ask: it rests (a day order)
        result = run(strategy, state={"enter": [symbol]})
        reasons.append([action["payload"]["reason"] for action in result["actions"]
                        if action["kind"] == "order_refused"])
    for symbol in SYMBOLS:  # the price falls through every limit: whatever rests fills at 95
        alpaca_quote[symbol] = (D("90.00"), D("90.02"))
    run(strategy, state={"enter": []})
    positions = Position.objects.filter(strategy=strategy, status="open")
    assert sum((p.cost_basis_usd for p in positions), D(0)) <= 100  # before: $250 of positions
    assert positions.count() == 2 and reasons[:2] == [[], []]
    # $100 reserved by the two resting orders (0.526315 shares × 95 each): no capital left for a third
    assert reasons[2:] == [["sized to nothing: available_capital leaves $0.00, less than one unit at 95.0"]] * 3


def test_an_order_placed_yesterday_and_still_working_counts_against_todays_max_daily_usd(
        alice, staff, alpaca_quote: dict[str, tuple[D, D]]) -> None:
    strategy = deploy_live(alice, staff, platform="alpaca", side="buy", limit=95.0, name="Yesterday's order",
                           capital={"total_capital": 1000, "capital_per_trade": 50, "max_position_size": 100,
                                    "max_daily_loss": 100},
                           limits={"max_order_usd": 50, "max_daily_usd": 60})
    assert refusals(run(strategy, state={"enter": ["AAPL"]})) == []
    Order.objects.filter(strategy=strategy).update(created_at=timezone.now() - timedelta(days=1))  # placed yesterday

    result = run(strategy, state={"enter": ["MSFT"]})
    assert refusals(result) == ["max_daily_usd"]
    reason = result["actions"][0]["payload"]["reason"]
    assert "$50.00 spent today (UTC) or reserved by working orders" in reason
    assert Order.objects.filter(strategy=strategy).count() == 1


def test_a_working_entry_on_a_new_market_counts_as_a_position(
        alice, staff, alpaca_quote: dict[str, tuple[D, D]]) -> None:
    strategy = deploy_live(alice, staff, platform="alpaca", side="buy", limit=95.0, name="Working counts",
                           capital={"total_capital": 1000, "capital_per_trade": 50, "max_positions": 1,
                                    "max_position_size": 200, "max_daily_loss": 100},
                           limits={"max_order_usd": 50, "max_daily_usd": 1000})
    result = run(strategy, state={"enter": ["AAPL", "MSFT"]})
    assert refusals(result) == ["max_positions"]
    assert "1 open (or being opened by working orders)" in result["actions"][1]["payload"]["reason"]
    # Adding to the market side that is being opened is no new position: only its size limit applies.
    assert refusals(run(strategy, state={"enter": ["AAPL"]})) == []
