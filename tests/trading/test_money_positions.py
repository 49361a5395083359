"""Fills build positions: open, increase, reduce, close, with realized P&L at average cost, fees included."""

from __future__ import annotations

import itertools
from decimal import Decimal as D

import pytest
from django.utils import timezone

from strategies.models import Execution, Strategy
from strategies.services import strategy_deploy
from tests.conftest import scripts_files
from trading.models import Fill, Order, Position
from trading.orders import (
    IllegalTransition,
    client_order_id_for,
    fill_record,
    order_transition,
)
from trading.selectors import capital_state, fills_replay

pytestmark = pytest.mark.django_db
_signals = itertools.count()


@pytest.fixture
def strategy(alice, staff) -> Strategy:
    return strategy_deploy(owner=alice, files=scripts_files(), approve_by=staff).strategy


@pytest.fixture
def execution(strategy: Strategy) -> Execution:
    now = timezone.now()
    version = strategy.current_version
    assert version is not None
    return Execution.objects.create(strategy=strategy, version=version, trigger="manual",
                                    mode="paper", status="running", scheduled_for=now, started_at=now)


def order(execution: Execution, *, action: str = "open", side: str = "yes", quantity: str = "100",
          price: str = "0.40", market: str = "KX-A") -> Order:
    index = next(_signals)
    return Order.objects.create(
        strategy=execution.strategy, version=execution.version, execution=execution, signal_index=index,
        book="paper", venue="kalshi", market_id=market, side=side, action=action,
        client_order_id=client_order_id_for(strategy_id=execution.strategy_id, execution_id=execution.pk,
                                            signal_index=index, action=action),
        quantity=D(quantity), limit_price=D(price), notional_usd=D(quantity) * D(price), status="submitted",
    )


def fill(o: Order, quantity: str, price: str, fee: str, name: str = "f1") -> None:
    fill_record(o, venue_fill_id=name, quantity=D(quantity), price=D(price), fee=D(fee), at=timezone.now())


def test_open_increase_reduce_close_with_realized_pnl(execution: Execution) -> None:
    fill(order(execution), "100", "0.40", "1.20")  # cost 40 + 1.20
    position = Position.objects.get()
    assert (position.status, position.quantity, position.cost_basis_usd) == ("open", D(100), D("41.20"))

    fill(order(execution, quantity="50", price="0.50"), "50", "0.50", "0.625")  # + 25.625
    position.refresh_from_db()
    assert (position.quantity, position.cost_basis_usd) == (D(150), D("66.825"))

    fill(order(execution, action="close", quantity="60", price="0.55"), "60", "0.55", "0.7425")
    position.refresh_from_db()
    # releases 66.825 × 60/150 = 26.73; realized 33 − 0.7425 − 26.73 = 5.5275
    assert (position.quantity, position.cost_basis_usd, position.realized_pnl_usd) == (D(90), D("40.095"), D("5.5275"))

    fill(order(execution, action="close", quantity="90", price="0.30"), "90", "0.30", "0.945")
    position.refresh_from_db()
    # 27 − 0.945 − 40.095 = −14.04; in all: 58.3125 received − 66.825 paid = −8.5125
    assert (position.status, position.quantity, position.cost_basis_usd) == ("closed", D(0), D(0))
    assert position.realized_pnl_usd == D("-8.5125")
    assert position.fees_usd == D("3.5125")
    assert position.closed_at is not None


def test_yes_and_no_of_one_market_are_separate_positions(execution: Execution) -> None:
    fill(order(execution, side="yes"), "10", "0.60", "0.17")
    fill(order(execution, side="no"), "10", "0.38", "0.17")
    yes, no = Position.objects.get(side="yes"), Position.objects.get(side="no")
    assert (yes.cost_basis_usd, no.cost_basis_usd) == (D("6.17"), D("3.97"))
    fill(order(execution, action="close", side="no", quantity="10"), "10", "0.45", "0.18")
    yes.refresh_from_db()
    no.refresh_from_db()
    assert (yes.status, no.status, no.realized_pnl_usd) == ("open", "closed", D("0.35"))  # 4.50 − 0.18 − 3.97


def test_a_fill_is_recorded_once_however_often_it_is_reported(execution: Execution) -> None:
    o = order(execution)
    fill(o, "40", "0.40", "0.68", name="venue-fill-1")
    fill(o, "40", "0.40", "0.68", name="venue-fill-1")
    o.refresh_from_db()
    assert (Fill.objects.count(), o.filled_quantity, Position.objects.get().quantity) == (1, D(40), D(40))


def test_capital_is_derived_from_the_ledger_and_adds_up(execution: Execution, strategy: Strategy) -> None:
    fill(order(execution), "100", "0.40", "1.20")
    fill(order(execution, market="KX-B", quantity="50", price="0.50"), "50", "0.50", "0.88")
    fill(order(execution, action="close", quantity="100"), "100", "0.50", "1.75")
    state = capital_state(strategy_id=strategy.pk, book="paper", total_capital=D(2000), now=timezone.now())
    # realized 50 − 1.75 − 41.20 = 7.05; KX-B deployed 25.88, worth 50 × 0.50 = 25: today 7.05 − 0.88
    assert (state.realized_usd, state.deployed_usd, state.pnl_today_usd) == (D("7.05"), D("25.88"), D("6.17"))
    assert state.capital_usd == D("2007.05")
    assert state.available_usd == D("1981.17")  # the cash the fills left: 2000 − 41.20 − 25.88 + (50 − 1.75)
    assert state.spent_today_usd == D("41.20") + D("25.88")
    lots, events = fills_replay(strategy_id=strategy.pk, book="paper")
    assert lots[("kalshi", "KX-B", "yes")].cost_usd == D("25.88") and [e.realized_usd for e in events] == [D("7.05")]


def test_an_exit_of_what_is_not_held_is_refused(execution: Execution) -> None:
    with pytest.raises(ValueError, match="not open"):
        fill(order(execution, action="close"), "10", "0.40", "0")


def test_the_order_state_machine_refuses_illegal_moves(execution: Execution) -> None:
    o = order(execution)
    order_transition(o, "unresolved")
    order_transition(o, "cancelled")
    with pytest.raises(IllegalTransition, match="cancelled → submitted"):
        order_transition(o, "submitted")
    rejected = order(execution)
    order_transition(rejected, "rejected", reason="insufficient balance")
    assert Order.objects.get(pk=rejected.pk).reject_reason == "insufficient balance"


def test_an_order_another_worker_moved_on_is_not_moved_back_from_a_stale_copy(execution: Execution) -> None:
    """A worker cut off mid-order holds its copy `submitted`; meanwhile recovery, on another host, settled the
    order with the venue (filled). Coming back, the worker's venue call has timed out and it would mark its
    copy unresolved: that must not reopen an order the venue filled."""
    stale = order(execution)  # submitted
    settled = Order.objects.get(pk=stale.pk)  # recovery's own copy
    order_transition(settled, "unresolved")
    fill(settled, "100", "0.40", "0")
    settled.refresh_from_db()
    order_transition(settled, "filled")
    with pytest.raises(IllegalTransition, match="is filled, no longer submitted, in the ledger"):
        order_transition(stale, "unresolved")
    assert stale.status == "filled"  # the copy now says what the ledger does
    assert Order.objects.get(pk=stale.pk).status == "filled"
    other = order(execution)
    Order.objects.filter(pk=other.pk).update(status="cancelled")  # e.g. cancelled by a reconcile elsewhere
    with pytest.raises(IllegalTransition, match="is cancelled"):
        order_transition(other, "rejected", reason="refused by the venue")
    assert Order.objects.filter(pk=other.pk).values_list("status", "reject_reason").get() == ("cancelled", "")


def test_client_order_ids_are_derived_and_fit_every_venue() -> None:
    coid = client_order_id_for(strategy_id=12, execution_id=3456, signal_index=7, action="close")
    assert coid == "sh-12-3456-7-c"
    assert client_order_id_for(strategy_id=12, execution_id=3456, signal_index=7, action="open") != coid
