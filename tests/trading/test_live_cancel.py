"""A cancel the venue accepts is followed by a look-up: what filled since the last look-up is recorded."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from django.utils import timezone

from strategies.models import Strategy, StrategyVersion
from strategies.services import strategy_deploy
from tests.conftest import scripts_files
from tests.trading.test_money_live import fresh_accounts
from tests.trading.test_paper_cycle import frozen_simulator, run, venues
from trading.models import Fill, Order, Position

pytestmark = pytest.mark.django_db
__all__ = ["fresh_accounts", "frozen_simulator", "venues"]  # fixtures shared with the live tests

ENTRY = """
from strategies.sdk import EntrySignal


def should_enter(ctx):
    if not ctx.state.get("enter", True):
        return []
    if ctx.state.get("cancel"):
        answer = ctx.alpaca.cancel_order(order_id=ctx.state["cancel"])
        ctx.log(f"cancel: {answer['status']} {answer['cancelled']}")
        return []
    # Far below the market: a day order that rests.
    return [EntrySignal(market_id="SPY", side="buy", reason="test", confidence=0.6, limit_price=100)]
"""
EXIT = "def should_exit(ctx, position):\n    return None\n"


def deploy_alpaca_live(owner, staff) -> Strategy:
    files = scripts_files(
        name="Cancel and fills", platform="alpaca",
        capital={"total_capital": 10000, "capital_per_trade": 1000, "max_positions": 3, "max_position_size": 3000,
                 "max_daily_loss": 300, "sizing_method": "fixed", "kelly_fraction": None, "percent": None},
        risk_limits={"max_order_usd": 1000, "max_daily_usd": 3000, "allowed_services": ["alpaca"]})
    files["entry.py"], files["exit.py"] = ENTRY, EXIT
    version = strategy_deploy(owner=owner, files=files, mode="live", approve_by=staff)
    StrategyVersion.objects.filter(pk=version.pk).update(approved_live_by=staff, approved_live_at=timezone.now())
    return Strategy.objects.get(pk=version.strategy_id)


def test_fills_made_before_a_cancel_are_recorded_when_the_cancel_succeeds(alice, staff, frozen_simulator) -> None:
    strategy = deploy_alpaca_live(alice, staff)
    run(strategy)
    order = Order.objects.get()
    assert (order.status, order.quantity) == ("submitted", D(10))  # resting at ≤ 100
    frozen_simulator.alpaca.trade_against(order.venue_order_id, D(4))  # a counterparty takes 4 of the 10
    # This cycle's reconciliation cannot look the order up (503s), so only the cancel can learn of the 4.
    frozen_simulator.faults.inject("status", venue="alpaca", method="GET", path_contains="/v2/orders/", status=503,
                                   count=3)
    try:
        result = run(strategy, state={"cancel": order.client_order_id})
    finally:
        frozen_simulator.faults.clear()
    assert "cancel: cancelled True" in [line["message"] for line in result["logs"]]
    order.refresh_from_db()
    assert (order.status, order.filled_quantity) == ("cancelled", D(4))
    assert [(f.quantity, f.price) for f in Fill.objects.all()] == [(D(4), D(100))]
    assert Position.objects.get().quantity == D(4)


def test_a_resting_alpaca_order_filled_in_parts_is_recorded_part_by_part(alice, staff, frozen_simulator) -> None:
    strategy = deploy_alpaca_live(alice, staff)
    run(strategy)
    order = Order.objects.get()
    frozen_simulator.alpaca.trade_against(order.venue_order_id, D(1))
    run(strategy, state={"enter": False})  # reconciliation looks it up: 1 of 10
    order.refresh_from_db()
    assert (order.status, order.filled_quantity) == ("partially_filled", D(1))
    frozen_simulator.alpaca.trade_against(order.venue_order_id, D(9), price=D(99))  # Alpaca: 10 filled at 99.1
    run(strategy, state={"enter": False})
    order.refresh_from_db()
    assert (order.status, order.filled_quantity) == ("filled", D(10))
    assert sorted((f.quantity, f.price) for f in Fill.objects.all()) == [(D(1), D(100)), (D(9), D(99))]
    # Each part is named by the venue's fill and the cumulative quantity it brought the order to.
    assert sorted(f.venue_fill_id.rpartition(":")[2] for f in Fill.objects.all()) == ["1", "10"]
    assert Position.objects.get().quantity == D(10)


def test_a_resting_alpaca_order_the_broker_rejects_is_recorded_as_rejected(
        alice, staff, frozen_simulator) -> None:
    strategy = deploy_alpaca_live(alice, staff)
    run(strategy)
    order = Order.objects.get()
    assert order.status == "submitted"
    frozen_simulator.alpaca.reject(order.venue_order_id)

    run(strategy, state={"enter": False})  # reconciliation looks it up: the broker rejected it

    order.refresh_from_db()
    assert (order.status, order.filled_quantity, order.reject_reason) == ("rejected", 0, "rejected by the venue")
    assert not Position.objects.exists()
