"""An unresolved order is settled by looking it up at the venue. While trading is stopped (kill switch, paused,
archived) it is only looked up, never sent again; a re-send happens only while the strategy may trade, and
only if the order passes the risk checks again."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from strategies.models import Strategy
from strategies.services import strategy_enable
from strategies.tasks import worker_started
from tests.trading.test_live_exits import run_with_answers_lost
from tests.trading.test_money_live import deploy_live, fresh_accounts
from tests.trading.test_paper_cycle import frozen_simulator, run, venues
from trading.models import Order

pytestmark = pytest.mark.django_db
__all__ = ["fresh_accounts", "frozen_simulator", "venues"]  # fixtures shared with the live tests
ORDERS = "/portfolio/events/orders"


def never_delivered(strategy: Strategy, sim) -> Order:
    """The entry never reaches the venue (every attempt times out before it is read): it is unresolved."""
    sim.faults.inject("disconnect", venue="kalshi", method="POST", path_contains=ORDERS, phase="before")
    try:
        run(strategy)
    finally:
        sim.faults.clear()
    order = Order.objects.get(strategy=strategy)
    assert order.status == "unresolved"
    return order


def test_under_the_kill_switch_an_unresolved_order_is_only_looked_up_and_is_resent_once_trading_may_resume(
        alice, staff, frozen_simulator, settings) -> None:
    strategy = deploy_live(alice, staff, name="Settle under the kill switch")
    order = never_delivered(strategy, frozen_simulator)
    placed = frozen_simulator.orders.count("kalshi")
    settings.KILL_SWITCH = True

    worker_started()  # pauses live strategies, then reconciles them

    order.refresh_from_db()
    assert order.status == "unresolved" and "not re-sent" in order.reject_reason
    assert frozen_simulator.orders.count("kalshi") == placed  # nothing was sent

    settings.KILL_SWITCH = False  # released, but the strategy stays paused until a person enables it
    worker_started()
    order.refresh_from_db()
    assert order.status == "unresolved" and "the strategy is paused (kill switch" in order.reject_reason
    assert frozen_simulator.orders.count("kalshi") == placed

    strategy_enable(strategy=strategy)
    result = run(strategy, state={"enter": False})
    order.refresh_from_db()
    assert (order.status, order.filled_quantity) == ("filled", D(88))
    assert frozen_simulator.orders.count("kalshi") == placed + 1  # sent once, under its own client order id
    assert f"reconcile: order {order.client_order_id} was unresolved; the venue says filled, filled 88 of 88" in [
        line["message"] for line in result["logs"]]


def test_an_archived_strategy_never_resends(alice, staff, frozen_simulator) -> None:
    strategy = deploy_live(alice, staff, name="Archived")
    order = never_delivered(strategy, frozen_simulator)
    placed = frozen_simulator.orders.count("kalshi")
    Strategy.objects.filter(pk=strategy.pk).update(status=Strategy.Status.ARCHIVED)
    worker_started()
    order.refresh_from_db()
    assert order.status == "unresolved" and order.reject_reason.endswith("not re-sent: the strategy is archived")
    assert frozen_simulator.orders.count("kalshi") == placed


def test_a_resend_is_checked_against_the_limits_as_they_are_now(alice, staff, frozen_simulator) -> None:
    strategy = deploy_live(alice, staff, name="Limits re-checked")
    order = never_delivered(strategy, frozen_simulator)
    placed = frozen_simulator.orders.count("kalshi")
    config = strategy.config
    config["risk_limits"]["max_order_usd"] = 10  # the order is worth $49.94 at worst
    Strategy.objects.filter(pk=strategy.pk).update(config=config)

    result = run(strategy, state={"enter": False})

    order.refresh_from_db()
    assert order.status == "rejected"
    assert order.reject_reason == ("not re-sent (max_order_usd): order of $49.94 exceeds risk_limits.max_order_usd "
                                   "$10")
    assert frozen_simulator.orders.count("kalshi") == placed
    assert result["status"] == "succeeded"


def test_an_order_the_venue_has_is_found_by_its_client_order_id_even_under_the_kill_switch(
        alice, staff, frozen_simulator, settings) -> None:
    strategy = deploy_live(alice, staff, name="Found by client order id")
    run_with_answers_lost(strategy, frozen_simulator)
    placed = frozen_simulator.orders.count("kalshi", "received")
    settings.KILL_SWITCH = True
    worker_started()
    order = Order.objects.get(strategy=strategy)
    assert (order.status, order.filled_quantity) == ("filled", D(88))
    assert frozen_simulator.orders.count("kalshi", "received") == placed  # looked up, never re-sent
