"""Positions, orders with fills, performance and graduation, after a real paper cycle on the simulator."""

from __future__ import annotations

from decimal import Decimal

import pytest

from strategies.cycle.run import execution_run
from strategies.services import strategy_deploy
from tests.api.conftest import kalshi_files
from tests.api.test_actions import buyer_files

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("venues_on_simulator")]


@pytest.fixture
def traded(alice, staff):
    strategy = strategy_deploy(owner=alice, files=buyer_files(), approve_by=staff).strategy
    execution = execution_run(strategy_id=strategy.pk, trigger="manual")
    assert execution.status == "succeeded", execution.error
    return strategy


def test_positions_show_the_open_paper_position(api, traded) -> None:
    body = api.get(f"/api/v1/strategies/{traded.pk}/positions/").json()
    [position] = body["results"]
    assert (position["book"], position["venue"], position["market_id"], position["side"], position["status"]) == (
        "paper", "kalshi", "KXSIMFED-26DEC31-T4.00", "yes", "open")
    assert Decimal(position["quantity"]) > 0 and Decimal(position["cost_basis_usd"]) > 0
    assert position["unrealized_pnl_usd"] is not None
    assert api.get(f"/api/v1/strategies/{traded.pk}/positions/?status=closed").json()["count"] == 0
    assert api.get(f"/api/v1/strategies/{traded.pk}/positions/?book=live").json()["count"] == 0


def test_orders_come_with_their_fills(api, traded) -> None:
    [order] = api.get(f"/api/v1/strategies/{traded.pk}/orders/").json()["results"]
    assert (order["book"], order["action"], order["status"]) == ("paper", "open", "filled")
    assert order["fills"] and sum(Decimal(f["quantity"]) for f in order["fills"]) == Decimal(order["quantity"])


def test_performance_per_book(api, traded) -> None:
    body = api.get(f"/api/v1/strategies/{traded.pk}/performance/").json()
    [paper] = body["books"]
    assert (paper["book"], paper["open_positions"], paper["closed_trades"]) == ("paper", 1, 0)
    assert Decimal(paper["deployed_usd"]) > 0
    # Marked to market: bought at the ask with the fee, the open position is a loss today, in the win rate
    # (0 of 1) and at the end of the equity curve.
    assert Decimal(paper["unrealized_pnl_usd"]) < 0 and paper["win_rate"] == "0.0000"
    [now] = paper["equity"]
    assert now["equity_usd"] == paper["equity_usd"] == str(Decimal(paper["total_capital_usd"])
                                                           + Decimal(paper["total_pnl_usd"]))
    assert Decimal(paper["max_drawdown"]) > 0


def test_graduation_is_the_checklist_with_todays_values(api, traded) -> None:
    body = api.get(f"/api/v1/strategies/{traded.pk}/graduation/").json()
    assert body["passed"] is False
    assert [c["name"] for c in body["checks"]] == ["closed paper trades", "win rate", "paper P&L", "max drawdown"]
    assert body["checks"][0]["actual"] == "0"


def test_a_strategy_with_no_trades_has_empty_money_answers(api, alice) -> None:
    strategy = strategy_deploy(owner=alice, files=kalshi_files()).strategy
    assert api.get(f"/api/v1/strategies/{strategy.pk}/orders/").json()["count"] == 0
    [paper] = api.get(f"/api/v1/strategies/{strategy.pk}/performance/").json()["books"]
    assert paper["realized_pnl_usd"] == "0.00"
