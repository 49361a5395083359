"""Live orders go through the venue adapter with the derived client order id; an order whose outcome
is unknown is marked unresolved and settled by asking the venue, never re-sent as a new order."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from django.utils import timezone

from strategies.models import Strategy, StrategyVersion
from strategies.services import strategy_deploy
from tests.conftest import scripts_files
from tests.trading.test_paper_cycle import CAPITAL, ENTRY, EXIT, FED, LIMITS, frozen_simulator, run, venues
from trading.models import Fill, Order, Position

pytestmark = pytest.mark.django_db
__all__ = ["frozen_simulator", "venues"]  # fixtures shared with the paper cycle tests


def deploy_live(owner, staff, *, name: str) -> Strategy:
    files = scripts_files(name=name, parameters={"tickers": [FED], "limit": 0.55}, capital=CAPITAL,
                          risk_limits=LIMITS)
    files["entry.py"], files["exit.py"] = ENTRY, EXIT
    version = strategy_deploy(owner=owner, files=files, mode="live", approve_by=staff)
    # Graduation (20 closed paper trades…) is the approval service's business, tested there; here the
    # version is simply recorded as approved for live.
    StrategyVersion.objects.filter(pk=version.pk).update(approved_live_by=staff, approved_live_at=timezone.now())
    return Strategy.objects.get(pk=version.strategy_id)


def test_a_live_entry_is_placed_with_its_client_order_id_and_its_venue_fills_build_the_position(
        alice, staff) -> None:
    strategy = deploy_live(alice, staff, name="Live fills")
    result = run(strategy)
    [placed] = result["actions"]
    assert placed["kind"] == "order_placed", placed
    order = Order.objects.get()
    assert (order.book, order.client_order_id, order.status) == ("live", f"sh-{strategy.pk}-{result['id']}-0-o",
                                                                 "filled")
    assert order.venue_order_id
    # The simulator fills at the book (84 @ 0.54, 4 @ 0.55) and charges Kalshi's fee per fill:
    # roundup(0.07 × 84 × 0.54 × 0.46 = 1.4606) = 1.47 and roundup(0.0693) = 0.07
    assert sorted((f.quantity, f.price, f.fee_usd) for f in Fill.objects.all()) == [
        (D(4), D("0.55"), D("0.07")), (D(84), D("0.54"), D("1.47"))]
    position = Position.objects.get()
    assert (position.book, position.quantity, position.cost_basis_usd) == ("live", D(88), D("49.10"))


def test_an_unknown_outcome_is_unresolved_then_settled_by_asking_the_venue(alice, staff, frozen_simulator) -> None:
    strategy = deploy_live(alice, staff, name="Live unresolved")
    # The venue takes the order, but every answer is lost on the way back.
    frozen_simulator.faults.inject("disconnect", venue="kalshi", method="POST", path_contains="/portfolio/events/orders",
                                   phase="after")
    try:
        result = run(strategy)
    finally:
        frozen_simulator.faults.clear()
    order = Order.objects.get()
    assert order.status == "unresolved" and "outcome unknown" in order.reject_reason
    assert result["actions"][0]["payload"]["status"] == "unresolved"
    assert Position.objects.count() == 0

    result = run(strategy, state={"enter": False})
    order.refresh_from_db()
    assert order.status == "filled" and order.filled_quantity == D(88)
    assert Order.objects.count() == 1  # settled, not placed again
    assert Position.objects.get().quantity == D(88)
    assert any(f"order {order.client_order_id} was unresolved; the venue says filled" == line["message"]
               for line in result["logs"])
