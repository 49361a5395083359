"""The live ledger checked against the venue's own record (the simulator's orders, fills and positions, read
through its API), not against itself: every fill the ledger holds is one the venue made, at the price the
venue charged for the side held; every position is what the venue holds; and no order reaches the venue that
a limit, or a cycle still running, should have kept back.

The simulator's account outlives each test (one per module), so every check is on what changed during it,
and each test trades its own market.
"""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from django.db import connection
from django.utils import timezone

from strategies.cycle.rows import execution_finish
from strategies.models import Execution, Strategy, StrategyVersion
from strategies.services import strategy_deploy
from strategies.tasks import worker_started
from strategyhub.lib.workers import worker_id
from tests.conftest import scripts_files
from tests.trading.test_paper_cycle import CAPITAL, ENTRY, EXIT, LIMITS, frozen_simulator, run, venues
from trading.models import Fill, Order, Position
from trading.orders import client_order_id_for
from trading.simulator import VenueSimulator
from trading.venues import venue_client

pytestmark = pytest.mark.django_db
__all__ = ["frozen_simulator", "venues"]  # the frozen book: asks 84 @ 0.54, 399 @ 0.55; bids 379 @ 0.52, …

FED_400, FED_425, FED_450 = "KXSIMFED-26DEC31-T4.00", "KXSIMFED-26DEC31-T4.25", "KXSIMFED-26DEC31-T4.50"
BTC_100K, BTC_120K = "KXSIMBTC-26DEC31-T100000", "KXSIMBTC-26DEC31-T120000"
ORDERS_PATH = "/portfolio/events/orders"


def deploy_live(owner, staff, *, name: str, tickers: list[str], side: str = "yes",
                limits: dict[str, object] | None = None) -> Strategy:
    files = scripts_files(name=name, parameters={"tickers": tickers, "limit": 0.55, "side": side}, capital=CAPITAL,
                          risk_limits={**LIMITS, **(limits or {})})
    files["entry.py"], files["exit.py"] = ENTRY, EXIT
    version = strategy_deploy(owner=owner, files=files, mode="live", approve_by=staff)
    StrategyVersion.objects.filter(pk=version.pk).update(approved_live_by=staff, approved_live_at=timezone.now())
    return Strategy.objects.get(pk=version.strategy_id)


def venue_contracts(ticker: str) -> D:
    """What the venue holds of `ticker`: YES contracts positive, NO negative."""
    kalshi = venue_client("kalshi")
    try:
        return sum((p.quantity for p in kalshi.get_positions() if p.instrument_id == ticker), D(0))
    finally:
        kalshi.close()


def assert_fills_are_the_venues(order: Order) -> None:
    """Each ledger fill is one of the venue's fills of this order, at its side's price (Kalshi reports YES
    prices: a NO contract costs 1 − that), with the venue's fee; and the venue made no fill the ledger lacks."""
    kalshi = venue_client("kalshi")
    try:
        at_venue = {f.fill_id: (f.quantity, f.price if order.side == "yes" else 1 - f.price, f.fee)
                    for f in kalshi.get_fills(order.venue_order_id)}
    finally:
        kalshi.close()
    in_ledger = {f.venue_fill_id: (f.quantity, f.price, f.fee_usd) for f in order.fills.all()}
    assert in_ledger == at_venue


def test_a_kalshi_no_entry_is_recorded_at_the_no_price_the_venue_charged(alice, staff) -> None:
    before = venue_contracts(FED_450)
    strategy = deploy_live(alice, staff, name="Live NO", tickers=[FED_450], side="no")
    run(strategy)
    order = Order.objects.get()
    # NO at ≤ 0.55 sells YES at ≥ 0.45 into the bids: 88 contracts at YES 0.52, so NO 0.48 each;
    # fee roundup(0.07 × 88 × 0.52 × 0.48 = 1.537536) = 1.54
    assert (order.status, order.filled_quantity) == ("filled", D(88))
    assert list(order.fills.values_list("quantity", "price", "fee_usd")) == [(D(88), D("0.48"), D("1.54"))]
    assert_fills_are_the_venues(order)
    position = Position.objects.get()
    assert (position.side, position.quantity, position.cost_basis_usd) == ("no", D(88), D("43.78"))  # 42.24 + 1.54
    assert venue_contracts(FED_450) - before == D(-88)  # the venue holds 88 more NO
    # and reconciliation, next cycle, finds the venue holding what the ledger holds: nothing to report
    result = run(strategy, state={"enter": False})
    assert not [line for line in result["logs"] if line["message"].startswith("reconcile")]


def test_an_entry_whose_outcome_is_unknown_counts_against_max_daily_usd(
        alice, staff, frozen_simulator: VenueSimulator) -> None:
    strategy = deploy_live(alice, staff, name="Live daily", tickers=[BTC_100K, BTC_120K],
                           limits={"max_daily_usd": 60})
    placed = frozen_simulator.orders.count("kalshi")
    # The venue takes the first order and fills it, but every answer is lost: the ledger has it unresolved.
    frozen_simulator.faults.inject("disconnect", venue="kalshi", method="POST", path_contains=ORDERS_PATH,
                                   phase="after")
    try:
        result = run(strategy)
    finally:
        frozen_simulator.faults.clear()
    first, second = result["actions"]
    assert (first["kind"], first["payload"]["status"]) == ("order_placed", "unresolved")
    # the unresolved 88 @ ≤ 0.55 may have cost 48.40; the second order's worst cost 49.94 would pass $60
    assert (second["kind"], second["payload"]["check"]) == ("order_refused", "max_daily_usd"), second
    assert frozen_simulator.orders.count("kalshi") - placed == 1  # the venue saw one order, not two

    run(strategy, state={"enter": False})  # the next cycle asks the venue: it was filled
    order = Order.objects.get()
    assert (order.status, order.filled_quantity) == ("filled", D(88))
    assert_fills_are_the_venues(order)


def test_reconciliation_leaves_the_orders_of_a_running_cycle_to_that_cycle(
        alice, staff, frozen_simulator: VenueSimulator) -> None:
    strategy = deploy_live(alice, staff, name="Live busy", tickers=[FED_425])
    version = strategy.current_version
    assert version is not None
    now = timezone.now()
    # A cycle of a live worker (this very process, so alive) is between sending its order and recording the answer.
    execution = Execution.objects.create(strategy=strategy, version=version, trigger="manual", mode="live",
                                         status="running", scheduled_for=now, started_at=now,
                                         worker=worker_id())
    order = Order.objects.create(
        strategy=strategy, version=version, execution=execution, signal_index=0, book="live", venue="kalshi",
        market_id=FED_425, side="yes", action="open",
        client_order_id=client_order_id_for(strategy_id=strategy.pk, execution_id=execution.pk, signal_index=0,
                                            action="open"),
        quantity=D(10), limit_price=D("0.55"), notional_usd=D("5.50"), status="submitted")
    placed, held = frozen_simulator.orders.count("kalshi"), venue_contracts(FED_425)

    worker_started()  # another worker comes up and reconciles every live strategy

    order.refresh_from_db()
    assert (order.status, order.filled_quantity) == ("submitted", D(0))  # untouched: the running cycle owns it
    assert frozen_simulator.orders.count("kalshi") == placed  # and nothing was sent on its behalf
    assert venue_contracts(FED_425) == held

    # once that cycle is over (here: it failed), its order is settled with the venue
    execution_finish(execution, status="failed", error="failed: the cycle ended before recording the answer")
    worker_started()
    order.refresh_from_db()
    assert (order.status, order.filled_quantity) == ("filled", D(10))
    assert frozen_simulator.orders.count("kalshi") == placed + 1
    assert venue_contracts(FED_425) - held == D(10)
    assert_fills_are_the_venues(order)


@pytest.mark.django_db(transaction=True)  # the venue's thread must see what the worker committed, nothing else
def test_a_live_order_is_committed_as_submitted_before_the_venue_hears_of_it(
        alice, staff, frozen_simulator: VenueSimulator, monkeypatch) -> None:
    strategy = deploy_live(alice, staff, name="Live committed first", tickers=[FED_425])
    seen: list[list[str]] = []
    receive = frozen_simulator.kalshi._create_order

    def observed(request):  # what another process reading the ledger sees while the venue takes the order
        try:
            coid = request.json()["client_order_id"]
            seen.append(list(Order.objects.filter(client_order_id=coid).values_list("status", flat=True)))
        finally:
            connection.close()  # this thread's own connection
        return receive(request)

    monkeypatch.setattr(frozen_simulator.kalshi, "_create_order", observed)
    run(strategy)
    # Were the row written in one transaction with the send, a worker killed mid-send would leave an order at the
    # venue that the ledger never knew of (docs/money.md, "A worker lost mid-cycle").
    assert seen == [["submitted"]]
    order = Order.objects.get()
    assert (order.status, order.filled_quantity) == ("filled", D(88))
    assert_fills_are_the_venues(order)


def test_entries_and_exits_leave_the_ledger_holding_what_the_venue_holds(alice, staff) -> None:
    before = venue_contracts(FED_400)
    strategy = deploy_live(alice, staff, name="Live round trip", tickers=[FED_400])
    run(strategy)  # 88 bought: 84 @ 0.54, 4 @ 0.55
    run(strategy, state={"enter": False, "exit_fraction": 0.5})  # half sold into the bids: 44 @ 0.52
    entry, exit_ = Order.objects.order_by("id")
    assert (entry.action, entry.filled_quantity, exit_.action, exit_.filled_quantity) == (
        "open", D(88), "close", D(44))
    for order in (entry, exit_):
        assert_fills_are_the_venues(order)
    position = Position.objects.get()
    assert venue_contracts(FED_400) - before == position.quantity == D(44)
    # at average cost: half of 49.10 stays; realized 44 × 0.52 − fee roundup(0.768768) 0.77 − 24.55 = −2.44
    assert (position.cost_basis_usd, position.realized_pnl_usd) == (D("24.55"), D("-2.44"))
    assert Fill.objects.count() == 3
