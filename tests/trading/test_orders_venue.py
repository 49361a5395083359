"""A live order the venue knows by its id, but whose answer the ledger never recorded (the worker died after
saving the venue's order id, before reading the fills): recovery looks it up by that id and records what the
venue says, never placing it again; an id the venue does not know is rejected; a venue that cannot answer
leaves it unresolved until it can. Checked against the simulator's own orders and fills."""

from __future__ import annotations

import json
import subprocess
from decimal import Decimal as D

import pytest
from django.utils import timezone

from strategies.cycle.reconciliation import live_reconcile
from strategies.cycle.recovery import executions_recover
from strategies.cycle.rows import execution_finish
from strategies.models import Execution, Strategy, StrategyVersion
from strategies.services import strategy_deploy
from strategies.tasks import worker_started
from strategyhub.lib.workers import worker_id
from tests.conftest import example_files
from tests.trading.test_ledger_against_venue import assert_fills_are_the_venues, deploy_live, venue_contracts
from tests.trading.test_paper_cycle import POLY_STRATEGY, frozen_simulator, run, venues
from trading.capital import worst_cost
from trading.fees import POLYMARKET_MAX_TAKER_RATE
from trading.models import Order, Position
from trading.orders import client_order_id_for, order_request_for
from trading.simulator import VenueSimulator
from trading.venues import venue_client

pytestmark = pytest.mark.django_db
__all__ = ["frozen_simulator", "venues"]  # the frozen book: asks 84 @ 0.54, 399 @ 0.55; bids 379 @ 0.52, …

FED_425, FED_450, BTC_100K = "KXSIMFED-26DEC31-T4.25", "KXSIMFED-26DEC31-T4.50", "KXSIMBTC-26DEC31-T100000"
BTC_120K = "KXSIMBTC-26DEC31-T120000"


def order_of_a_lost_worker(strategy: Strategy, ticker: str) -> Order:
    """An order of a run whose worker (a process of this host) has exited, `submitted` with no answer recorded."""
    gone = subprocess.Popen(["true"])
    gone.wait()
    version = strategy.current_version
    assert version is not None
    now = timezone.now()
    execution = Execution.objects.create(strategy=strategy, version=version, trigger="manual", mode="live",
                                         status="running", scheduled_for=now, started_at=now,
                                         worker=worker_id(gone.pid))
    return Order.objects.create(
        strategy=strategy, version=version, execution=execution, signal_index=0, book="live", venue="kalshi",
        market_id=ticker, side="yes", action="open",
        client_order_id=client_order_id_for(strategy_id=strategy.pk, execution_id=execution.pk, signal_index=0,
                                            action="open"),
        quantity=D(10), limit_price=D("0.55"), notional_usd=D("5.50"), status="submitted")


def sent_by_the_lost_worker(order: Order) -> None:
    """What the worker did before it died: the venue took the order, and its id was saved."""
    kalshi = venue_client("kalshi")
    try:
        state = kalshi.place_order(order_request_for(order))
    finally:
        kalshi.close()
    Order.objects.filter(pk=order.pk).update(venue_order_id=state.venue_order_id)


def test_an_order_sent_but_never_recorded_is_looked_up_by_its_venue_id_not_placed_again(
        alice, staff, frozen_simulator: VenueSimulator) -> None:
    strategy = deploy_live(alice, staff, name="Lost after sending", tickers=[FED_425])
    order = order_of_a_lost_worker(strategy, FED_425)
    held = venue_contracts(FED_425)
    sent_by_the_lost_worker(order)
    placed = frozen_simulator.orders.count("kalshi")

    assert executions_recover(enqueue=lambda pk: None).failed == 1

    order.refresh_from_db()
    assert (order.status, order.filled_quantity) == ("filled", D(10))
    assert frozen_simulator.orders.count("kalshi") == placed  # asked about, never sent again
    assert_fills_are_the_venues(order)
    # 10 @ 0.54 + roundup(0.07 × 10 × 0.54 × 0.46 = 0.17388) = 5.40 + 0.18
    position = Position.objects.get()
    assert (position.quantity, position.cost_basis_usd) == (D(10), D("5.58"))
    assert venue_contracts(FED_425) - held == position.quantity
    assert order.execution is not None
    assert (f"order {order.client_order_id} (live) recovered after the worker was lost: filled, filled 10 of 10"
            in order.execution.logs.values_list("message", flat=True))


def test_an_order_id_the_venue_does_not_know_is_rejected_and_nothing_is_placed(
        alice, staff, frozen_simulator: VenueSimulator) -> None:
    strategy = deploy_live(alice, staff, name="Unknown at the venue", tickers=[FED_450])
    order = order_of_a_lost_worker(strategy, FED_450)
    Order.objects.filter(pk=order.pk).update(venue_order_id="an-id-the-venue-never-gave")
    placed, held = frozen_simulator.orders.count("kalshi"), venue_contracts(FED_450)

    executions_recover(enqueue=lambda pk: None)

    order.refresh_from_db()
    assert (order.status, order.reject_reason, order.filled_quantity) == (
        "rejected", "the venue has no such order", D(0))
    assert (frozen_simulator.orders.count("kalshi"), venue_contracts(FED_450)) == (placed, held)
    assert not Position.objects.exists()


def test_an_order_the_venue_cannot_be_asked_about_stays_unresolved_until_it_can(
        alice, staff, frozen_simulator: VenueSimulator) -> None:
    strategy = deploy_live(alice, staff, name="Venue down at recovery", tickers=[BTC_100K])
    order = order_of_a_lost_worker(strategy, BTC_100K)
    sent_by_the_lost_worker(order)
    placed = frozen_simulator.orders.count("kalshi")
    frozen_simulator.faults.inject("status", venue="kalshi", method="GET", path_contains="/portfolio/orders/",
                                   status=503, message="Service Unavailable")
    try:
        executions_recover(enqueue=lambda pk: None)
    finally:
        frozen_simulator.faults.clear()
    order.refresh_from_db()
    assert (order.status, order.filled_quantity) == ("unresolved", D(0))  # unknown: neither filled nor rejected

    worker_started()  # the venue answers again: reconciliation settles it by its id
    order.refresh_from_db()
    assert (order.status, order.filled_quantity) == ("filled", D(10))
    assert frozen_simulator.orders.count("kalshi") == placed
    assert_fills_are_the_venues(order)


def test_an_unanswered_order_the_venue_then_refuses_is_rejected_with_the_venues_reason(
        alice, staff, frozen_simulator: VenueSimulator) -> None:
    strategy = deploy_live(alice, staff, name="Refused on settling", tickers=[FED_450])
    order = order_of_a_lost_worker(strategy, FED_450)  # no venue id: settled by sending the same request again
    placed = frozen_simulator.orders.count("kalshi")
    frozen_simulator.faults.inject("status", venue="kalshi", method="POST", path_contains="/portfolio/events/orders",
                                   status=503, message="Service Unavailable")
    try:
        executions_recover(enqueue=lambda pk: None)
    finally:
        frozen_simulator.faults.clear()
    order.refresh_from_db()
    assert order.status == "unresolved"  # the venue did not answer: still unknown

    frozen_simulator.faults.inject("status", venue="kalshi", method="POST", path_contains="/portfolio/events/orders",
                                   status=400, message="insufficient balance")
    try:
        worker_started()
    finally:
        frozen_simulator.faults.clear()
    order.refresh_from_db()
    assert order.status == "rejected" and "insufficient balance" in order.reject_reason, order.reject_reason
    assert frozen_simulator.orders.count("kalshi") == placed and not Position.objects.exists()


def test_an_order_the_venue_refuses_when_it_is_sent_is_rejected_with_the_venues_reason(
        alice, staff, frozen_simulator: VenueSimulator) -> None:
    strategy = deploy_live(alice, staff, name="Refused when sent", tickers=[FED_450])
    placed = frozen_simulator.orders.count("kalshi")
    frozen_simulator.faults.inject("status", venue="kalshi", method="POST", path_contains="/portfolio/events/orders",
                                   status=400, message="insufficient balance")
    try:
        run(strategy)
    finally:
        frozen_simulator.faults.clear()
    order = Order.objects.get()
    assert (order.status, order.reject_reason) == ("rejected", "kalshi: insufficient balance (HTTP 400)")
    assert order.signed_order is None  # only a Polymarket order keeps what it signed
    assert frozen_simulator.orders.count("kalshi") == placed and not Position.objects.exists()


def test_a_strategy_gone_live_keeps_its_paper_position_apart_from_its_live_one(
        alice, staff, frozen_simulator: VenueSimulator) -> None:
    strategy = deploy_live(alice, staff, name="Paper, then live", tickers=[FED_425])
    Strategy.objects.filter(pk=strategy.pk).update(mode="paper")
    run(strategy)
    paper = Position.objects.get()
    assert paper.book == "paper" and paper.quantity > 0
    Strategy.objects.filter(pk=strategy.pk).update(mode="live")
    held = venue_contracts(FED_425)

    run(strategy)  # the live book holds nothing yet: the same entry goes to the venue

    live = Position.objects.get(book="live")
    assert live.quantity == venue_contracts(FED_425) - held > 0
    assert Position.objects.get(book="paper").quantity == paper.quantity
    assert live.current_price in {f.price for f in Order.objects.get(book="live").fills.all()}  # marked at a fill


def test_a_working_order_of_a_finished_cycle_is_looked_up_by_its_id_and_its_fills_recorded(
        alice, staff, frozen_simulator: VenueSimulator, caplog) -> None:
    strategy = deploy_live(alice, staff, name="Filled between cycles", tickers=[BTC_120K])
    order = order_of_a_lost_worker(strategy, BTC_120K)
    held = venue_contracts(BTC_120K)
    sent_by_the_lost_worker(order)  # the venue took it and filled it; the ledger says `submitted`
    assert order.execution is not None
    execution_finish(order.execution, status="succeeded", error="")  # that cycle ended: no longer lost
    placed = frozen_simulator.orders.count("kalshi")

    worker_started()

    order.refresh_from_db()
    assert (order.status, order.filled_quantity) == ("filled", D(10))
    assert frozen_simulator.orders.count("kalshi") == placed
    assert_fills_are_the_venues(order)
    assert venue_contracts(BTC_120K) - held == Position.objects.get().quantity == D(10)
    assert "could not be checked" not in caplog.text


def deploy_polymarket_live(alice, staff, simulator: VenueSimulator) -> Strategy:
    """A live strategy that buys a long-lived token at ≤ 0.41 once, sized to its max_order_usd of $100."""
    config = json.loads(example_files("polymarket_copy_trader")["config.json"])
    config["parameters"] = {"token": simulator.polymarket.long_lived[0].token_ids[0]}
    # The order is sized to the whole max_order_usd at the token's 4 % fee: the re-send's risk check must price
    # it at that rate too (at the highest category rate it would cost $100.57 and be refused).
    assert config["risk_limits"]["max_order_usd"] == 100
    version = strategy_deploy(owner=alice, files={"strategy.py": POLY_STRATEGY, "config.json": json.dumps(config)},
                              mode="live", approve_by=staff)
    StrategyVersion.objects.filter(pk=version.pk).update(approved_live_by=staff, approved_live_at=timezone.now())
    return Strategy.objects.get(pk=version.strategy_id)


def test_a_polymarket_order_that_cannot_be_signed_is_rejected_and_never_sent(
        alice, staff, frozen_simulator: VenueSimulator) -> None:
    strategy = deploy_polymarket_live(alice, staff, frozen_simulator)
    placed = frozen_simulator.orders.count("polymarket")
    # Signing reads the token's market (tick size, neg risk) from the CLOB: the venue refuses to say.
    frozen_simulator.faults.inject("status", venue="polymarket", method="GET", path_contains="/clob-markets", status=400,
                                   message="unknown token")
    try:
        run(strategy)
    finally:
        frozen_simulator.faults.clear()
    order = Order.objects.get()
    assert (order.status, order.signed_order, order.venue_order_id) == ("rejected", None, "")
    assert order.reject_reason.startswith("could not prepare the order: ") and "unknown token" in order.reject_reason
    assert frozen_simulator.orders.count("polymarket") == placed

    run(strategy)  # a rejected order reserves nothing: the same entry is placed now that the token can be signed

    assert Order.objects.count() == 2 and frozen_simulator.orders.count("polymarket") == placed + 1


def test_a_re_sent_polymarket_order_the_venue_already_has_is_found_by_its_hash_not_rejected(
        alice, staff, frozen_simulator: VenueSimulator) -> None:
    strategy = deploy_polymarket_live(alice, staff, frozen_simulator)
    placed = frozen_simulator.orders.count("polymarket")
    # The venue places the order, but every answer is lost: the ledger does not know.
    frozen_simulator.faults.inject("status", venue="polymarket", method="POST", path_contains="/order", status=503,
                                   message="Service Unavailable", phase="after")
    try:
        run(strategy)
    finally:
        frozen_simulator.faults.clear()
    order = Order.objects.get()
    assert order.status == "unresolved" and frozen_simulator.orders.count("polymarket") == placed + 1
    # Asked by its hash, the venue first answers it has no such order: the same signed order is posted again,
    # the venue refuses the duplicate, and the order is found by its hash.
    frozen_simulator.faults.inject("status", venue="polymarket", method="GET", path_contains="/data/order/",
                                   status=404, message="order not found", count=1)
    try:
        run(strategy)
    finally:
        frozen_simulator.faults.clear()

    order.refresh_from_db()
    assert Order.objects.count() == 1 and order.status in ("filled", "partially_filled", "submitted")
    assert frozen_simulator.orders.count("polymarket") == placed + 1
    client = venue_client("polymarket")
    try:
        state = client.get_order(order.venue_order_id)
        at_venue = {f.fill_id: (f.quantity, f.price, f.fee) for f in client.get_fills(order.venue_order_id)}
    finally:
        client.close()
    assert order.filled_quantity == state.filled_quantity > 0
    assert {f.venue_fill_id: (f.quantity, f.price, f.fee_usd) for f in order.fills.all()} == at_venue


def test_a_polymarket_order_the_venue_never_got_is_sent_again_as_the_same_signed_order(
        alice, staff, frozen_simulator: VenueSimulator) -> None:
    strategy = deploy_polymarket_live(alice, staff, frozen_simulator)
    placed = frozen_simulator.orders.count("polymarket")
    # Every post of the order fails before the venue reads it: the venue never has it.
    frozen_simulator.faults.inject("status", venue="polymarket", method="POST", path_contains="/order", status=503,
                                   message="Service Unavailable")
    try:
        run(strategy)
    finally:
        frozen_simulator.faults.clear()
    order = Order.objects.get()
    signed_hash, signed = order.venue_order_id, order.signed_order
    assert order.status == "unresolved" and signed_hash and signed
    assert frozen_simulator.orders.count("polymarket") == placed
    assert order.limit_price is not None and worst_cost(
        "polymarket", quantity=order.quantity, limit_price=order.limit_price,
        polymarket_rate=POLYMARKET_MAX_TAKER_RATE) > 100  # over the limit at any rate but its own

    # The re-send's check needs the token's fee rate: while the venue cannot say, the order is only looked up.
    frozen_simulator.faults.inject("status", venue="polymarket", method="GET", path_contains="/fee-rate", status=503,
                                   message="Service Unavailable")
    client = venue_client("polymarket")
    try:
        live_reconcile(strategy=strategy, client=client, note=lambda level, message: None)
    finally:
        client.close()
        frozen_simulator.faults.clear()
    order.refresh_from_db()
    assert order.status == "unresolved" and frozen_simulator.orders.count("polymarket") == placed

    run(strategy)  # the venue has no order with that hash: the very same signed order is sent, once

    order.refresh_from_db()
    assert Order.objects.count() == 1 and (order.venue_order_id, order.signed_order) == (signed_hash, signed)
    assert frozen_simulator.orders.count("polymarket") == placed + 1
    client = venue_client("polymarket")
    try:
        state = client.get_order(signed_hash)
        at_venue = {f.fill_id: (f.quantity, f.price, f.fee) for f in client.get_fills(signed_hash)}
    finally:
        client.close()
    assert order.filled_quantity == state.filled_quantity > 0  # what the venue filled, rested or not
    assert {f.venue_fill_id: (f.quantity, f.price, f.fee_usd) for f in order.fills.all()} == at_venue


def test_recovery_rejects_the_unsent_re_sends_the_unanswered_once_and_leaves_other_runs_alone(
        alice, staff, frozen_simulator: VenueSimulator) -> None:
    strategy = deploy_live(alice, staff, name="Recovered run", tickers=[FED_425])
    unanswered = order_of_a_lost_worker(strategy, FED_425)  # sent or not: the venue never had it
    assert unanswered.execution is not None
    never_sent = Order.objects.create(
        strategy=strategy, version=unanswered.version, execution=unanswered.execution, signal_index=1, book="live",
        venue="kalshi", market_id=FED_425, side="yes", action="open", quantity=D(5), limit_price=D("0.55"),
        notional_usd=D("2.75"), status="new",
        client_order_id=client_order_id_for(strategy_id=strategy.pk, execution_id=unanswered.execution_id,
                                            signal_index=1, action="open"))
    other = order_of_a_lost_worker(strategy, FED_425)  # another run's order, not this one's
    assert other.execution is not None
    Execution.objects.filter(pk=other.execution_id).update(worker=worker_id(1))  # init: alive
    placed, held = frozen_simulator.orders.count("kalshi"), venue_contracts(FED_425)

    assert executions_recover(enqueue=lambda pk: None).failed == 1

    never_sent.refresh_from_db()
    assert (never_sent.status, never_sent.reject_reason) == (
        "rejected", "not sent: the worker was lost before sending it")
    unanswered.refresh_from_db()
    assert (unanswered.status, unanswered.filled_quantity) == ("filled", D(10))  # sent again, once: it may trade
    assert frozen_simulator.orders.count("kalshi") == placed + 1
    assert_fills_are_the_venues(unanswered)
    assert venue_contracts(FED_425) - held == D(10)
    other.refresh_from_db()
    assert (other.status, other.filled_quantity) == ("submitted", D(0))
