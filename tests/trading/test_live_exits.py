"""An exit never sells more than is held net of exits still working or unresolved, nor (live) more than the
venue says the account holds; Kalshi exits are reduce-only; and one order that cannot be settled never stops
reconciliation of the others."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal as D
from typing import Any

import pytest
from django.utils import timezone

from strategies.cycle.recovery import executions_recover
from strategies.models import Execution, Strategy
from strategies.tasks import worker_started
from tests.trading.test_money_live import deploy_live, fresh_accounts
from tests.trading.test_paper_cycle import FED, FED_425, frozen_simulator, run, venues
from trading.models import Order, Position
from trading.venues import venue_client
from trading.venues.domain import OrderRequest

pytestmark = pytest.mark.django_db
__all__ = ["fresh_accounts", "frozen_simulator", "venues"]  # fixtures shared with the live tests
ORDERS = "/portfolio/events/orders"
EXIT_ALL = {"enter": False, "exit_fraction": 1.0}


def venue_holds(ticker: str = FED) -> D:
    kalshi = venue_client("kalshi")
    try:
        return sum((p.quantity for p in kalshi.get_positions() if p.instrument_id == ticker), D(0))
    finally:
        kalshi.close()


def run_with_answers_lost(strategy: Strategy, sim, *, state: dict[str, Any] | None = None) -> dict[str, Any]:
    """A cycle whose orders the venue takes (and fills), every answer lost on the way back: each is unresolved."""
    sim.faults.inject("disconnect", venue="kalshi", method="POST", path_contains=ORDERS, phase="after")
    try:
        return run(strategy, state=state)
    finally:
        sim.faults.clear()


def forget_positions(strategy: Strategy, **where: str) -> None:
    """The ledger loses the strategy's positions (a person edited it by hand, a bug…): their exits' fills cannot apply."""
    Position.objects.filter(strategy=strategy, **where).update(status="closed", quantity=0, cost_basis_usd=0,
                                                               closed_at=timezone.now())


def lose_the_answer_of_the_exit(strategy: Strategy, sim) -> Order:
    """The venue sells the whole position, but every answer is lost on the way back: the exit is unresolved."""
    run_with_answers_lost(strategy, sim, state=EXIT_ALL)
    order = Order.objects.get(strategy=strategy, action="close")
    assert order.status == "unresolved"
    return order


def test_a_second_exit_is_refused_while_the_first_is_unresolved_and_the_venue_position_never_turns_negative(
        alice, staff, frozen_simulator) -> None:
    strategy = deploy_live(alice, staff, name="No oversell")
    run(strategy)
    assert venue_holds() == D(88)
    first = lose_the_answer_of_the_exit(strategy, frozen_simulator)
    assert venue_holds() == 0  # it did sell

    # Next cycle the venue cannot be asked (503s on the look-up and on any re-send); the script asks to exit again.
    frozen_simulator.faults.inject("status", venue="kalshi", method="POST", path_contains=ORDERS, status=503, count=3)
    frozen_simulator.faults.inject("status", venue="kalshi", method="GET", path_contains="/portfolio/orders",
                                   status=503, count=3)
    try:
        result = run(strategy, state=EXIT_ALL)
    finally:
        frozen_simulator.faults.clear()
    [refused] = [action for action in result["actions"] if action["kind"] == "order_refused"]
    assert refused["payload"]["check"] == "position"
    assert "exits still working or unresolved may sell 88" in refused["payload"]["reason"]
    assert Order.objects.filter(strategy=strategy, action="close").count() == 1
    assert venue_holds() == 0  # not −88: nothing was sold twice

    result = run(strategy, state=EXIT_ALL)  # the venue answers again: the first exit is settled, the run succeeds
    first.refresh_from_db()
    assert (first.status, first.filled_quantity) == ("filled", D(88))
    assert Position.objects.get(strategy=strategy).status == "closed"
    assert not [line for line in result["logs"] if line["level"] == "error"]


def test_a_live_exit_sells_no_more_than_the_venue_holds(alice, staff) -> None:
    strategy = deploy_live(alice, staff, name="Venue holds less")
    run(strategy)
    Position.objects.filter(strategy=strategy).update(quantity=D(100))  # the ledger claims 12 the venue never had
    result = run(strategy, state=EXIT_ALL)
    [placed] = [action for action in result["actions"] if action["kind"] == "order_placed"]
    assert (placed["payload"]["quantity"], placed["payload"]["filled_quantity"]) == ("88", "88")
    assert venue_holds() == 0  # never short
    assert Position.objects.get(strategy=strategy).quantity == D(12)  # left for a person: reconciliation says so


def test_a_kalshi_exit_is_reduce_only_so_the_venue_caps_it_at_what_is_held(frozen_simulator) -> None:
    kalshi = venue_client("kalshi")
    try:
        kalshi.place_order(OrderRequest(FED, "buy", D(5), "reduce-only-buy", limit_price=D("0.99"),
                                        time_in_force="ioc"))
        sold = kalshi.place_order(OrderRequest(FED, "sell", D(9), "reduce-only-sell", limit_price=D("0.01"),
                                               time_in_force="ioc", reduce_only=True))
        assert (sold.quantity, sold.filled_quantity) == (D(5), D(5))
        assert venue_holds() == 0
    finally:
        kalshi.close()


def test_an_order_that_cannot_be_settled_is_reported_and_never_stops_the_others(
        alice, staff, frozen_simulator) -> None:
    broken = deploy_live(alice, staff, name="Broken ledger")
    run(broken)
    bad = lose_the_answer_of_the_exit(broken, frozen_simulator)
    forget_positions(broken)
    healthy = deploy_live(alice, staff, name="Healthy")
    run_with_answers_lost(healthy, frozen_simulator)
    good = Order.objects.get(strategy=healthy)
    assert good.status == "unresolved"

    worker_started()  # reconciles every live strategy: the broken one first

    good.refresh_from_db()
    bad.refresh_from_db()
    assert (good.status, good.filled_quantity) == ("filled", D(88))
    assert bad.status == "unresolved" and bad.filled_quantity == 0  # nothing half-written
    result = run(broken, state={"enter": False})  # its own cycles still run, and say what is wrong
    assert [line["message"] for line in result["logs"] if line["level"] == "error"] == [
        f"reconcile: order {bad.client_order_id} could not be settled: order {bad.client_order_id} closes {FED} yes, "
        "which is not open; a person must resolve this"]


def test_recovering_a_lost_run_settles_its_other_orders_when_one_cannot_be_settled(
        alice, staff, frozen_simulator, caplog) -> None:
    strategy = deploy_live(alice, staff, name="Lost run", tickers=(FED, FED_425))
    run(strategy)  # holds both
    # The next cycle sells both; the venue takes both sales, and the worker dies before recording either answer.
    result = run_with_answers_lost(strategy, frozen_simulator, state=EXIT_ALL)
    lost = Execution.objects.get(pk=result["id"])
    bad, good = Order.objects.filter(execution=lost).order_by("id")
    assert (bad.market_id, good.market_id) == (FED, FED_425)
    Order.objects.filter(execution=lost).update(status="submitted", reject_reason="")
    an_hour_ago = timezone.now() - timedelta(hours=1)  # older than any cycle may run: its worker is gone
    Execution.objects.filter(pk=lost.pk).update(status="running", worker="another-host:4242", finished_at=None,
                                                scheduled_for=an_hour_ago, started_at=an_hour_ago, error="")
    Position.objects.filter(strategy=strategy, market_id=FED).update(  # the ledger lost the position it sells
        status="closed", quantity=0, cost_basis_usd=0, closed_at=timezone.now())

    assert executions_recover(enqueue=lambda pk: None).failed == 1

    bad.refresh_from_db()
    good.refresh_from_db()
    assert good.status == "filled" and good.filled_quantity > 0
    assert bad.status == "unresolved" and bad.filled_quantity == 0
    lost.refresh_from_db()
    assert lost.status == "failed"
    assert (f"order {bad.client_order_id} could not be settled: order {bad.client_order_id} closes {FED} yes, "
            "which is not open") in [line.message for line in lost.logs.all()]
    assert (f"order {bad.client_order_id} stays unresolved: order {bad.client_order_id} closes {FED} yes, which is "
            "not open") in caplog.messages  # and in the worker's log
