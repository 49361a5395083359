"""An order the venue reports fills for stays open until those fills are in the ledger, and reconciliation
reports the venue holding more than the ledger as well as less."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from tests.trading.test_money_live import deploy_live, fresh_accounts
from tests.trading.test_paper_cycle import FED, frozen_simulator, run, venues
from trading.models import Fill, Order, Position

pytestmark = pytest.mark.django_db
__all__ = ["fresh_accounts", "frozen_simulator", "venues"]  # fixtures shared with the live tests


def test_an_ioc_order_cancelled_after_a_partial_fill_keeps_its_fills_when_they_cannot_be_read_at_once(
        alice, staff, frozen_simulator, caplog) -> None:
    # At ≤ 0.54 the book has 84 contracts: the IOC order of 90 fills 84 and the venue cancels the rest.
    strategy = deploy_live(alice, staff, name="Partial fills", limit=0.54)
    frozen_simulator.faults.inject("status", venue="kalshi", method="GET", path_contains="/portfolio/fills",
                                   status=503)
    try:
        run(strategy)
        order = Order.objects.get()
        assert order.quantity > D(84)
        assert (order.status, order.filled_quantity) == ("submitted", 0)  # not cancelled: its fills are not read yet
        assert (f"order {order.client_order_id}: the venue reports 84 filled, the ledger has 0; it stays open until "
                "they are read (kalshi: Internal server error (HTTP 503))") in caplog.messages

        result = run(strategy, state={"enter": False})  # still unreadable: the venue holds more than the ledger
        order.refresh_from_db()
        assert order.status == "submitted"
        assert (f"reconcile: kalshi holds 84 of {FED} yes, the ledger 0 across live strategies: the venue holds "
                "more; a person must resolve this") in [line["message"] for line in result["logs"]]
    finally:
        frozen_simulator.faults.clear()

    result = run(strategy, state={"enter": False})
    order.refresh_from_db()
    assert (order.status, order.filled_quantity) == ("cancelled", D(84))
    assert [(f.quantity, f.price) for f in Fill.objects.all()] == [(D(84), D("0.54"))]
    assert Position.objects.get().quantity == D(84)
    assert not [line for line in result["logs"] if "the venue holds" in line["message"]]
