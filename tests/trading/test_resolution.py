"""Positions on a prediction market that resolved are closed at $1 a winning contract and $0 a losing one."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from tests.trading.test_paper_cycle import FED, FED_425, deploy, frozen_simulator, kinds, run, venues
from trading.models import Fill, Order, Position
from trading.selectors import capital_state

pytestmark = pytest.mark.django_db
__all__ = ["frozen_simulator", "venues"]  # this module's own simulator: resolving a market here touches no other test


def test_a_resolved_market_closes_the_winning_and_the_losing_position_at_their_payout(
        alice, staff, frozen_simulator) -> None:
    winner = deploy(alice, staff, tickers=(FED,), name="Holds the winner")
    loser = deploy(alice, staff, tickers=(FED_425,), name="Holds the loser")
    run(winner)
    run(loser)
    won, lost = Position.objects.get(strategy=winner), Position.objects.get(strategy=loser)
    assert won.cost_basis_usd == lost.cost_basis_usd == D("49.09")  # 88 YES at 0.54/0.55 plus the taker fee

    frozen_simulator.kalshi.settle(FED, "yes")
    frozen_simulator.kalshi.settle(FED_425, "no")
    result = run(winner, state={"enter": False})
    assert kinds(result) == ["position_closed"]
    assert result["actions"][0]["message"] == (
        f"position {won.pk} {FED} yes settled: the market resolved YES, $1.00 a contract; realized $38.91 after "
        "$1.53 fees")  # 88 × $1 − 49.09
    result = run(loser, state={"enter": False})
    assert result["actions"][0]["message"] == (
        f"position {lost.pk} {FED_425} yes settled: the market resolved NO, $0.00 a contract; realized $-49.09 after "
        "$1.53 fees")

    won.refresh_from_db()
    lost.refresh_from_db()
    assert (won.status, won.quantity, won.realized_pnl_usd) == ("closed", 0, D("38.91"))
    assert (lost.status, lost.realized_pnl_usd) == ("closed", D("-49.09"))
    settle = Order.objects.get(strategy=winner, action="settle")
    assert (settle.status, settle.limit_price, settle.client_order_id) == (
        "filled", None, f"sh-{winner.pk}-{settle.execution_id}-{won.pk}-s")
    assert [(f.quantity, f.price, f.fee_usd) for f in Fill.objects.filter(order=settle)] == [(D(88), D(1), D(0))]
    # Derived from the fills, the capital engine agrees: the payout is available again.
    state = capital_state(strategy_id=winner.pk, book="paper", total_capital=D(2000), now=settle.created_at)
    assert (state.deployed_usd, state.realized_usd, state.available_usd) == (D(0), D("38.91"), D("2038.91"))
    assert run(winner, state={"enter": False})["actions"] == []  # settled once
