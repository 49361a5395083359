"""Reconciling every live strategy when a worker starts (strategies.cycle.reconciliation.live_reconcile_all) returns,
per strategy, what it settled, what stays unresolved, what could not be settled and where the venue's holdings
differ from the ledger's; the worker's log says each, a warning wherever a person may have to look."""

from __future__ import annotations

import logging
from datetime import timedelta
from decimal import Decimal as D

import pytest
from django.db.models import F
from django.utils import timezone

from strategies.cycle.reconciliation import live_reconcile_all
from strategies.cycle.recovery import executions_recover
from strategies.cycle.rows import execution_finish
from strategies.models import Execution, Strategy
from tests.trading.test_live_cancel import deploy_alpaca_live
from tests.trading.test_live_exits import (
    EXIT_ALL,
    forget_positions,
    lose_the_answer_of_the_exit,
    run_with_answers_lost,
    venue_holds,
)
from tests.trading.test_live_settle import never_delivered
from tests.trading.test_money_live import deploy_live, fresh_accounts
from tests.trading.test_orders_venue import order_of_a_lost_worker, sent_by_the_lost_worker
from tests.trading.test_paper_cycle import FED, FED_425, deploy, frozen_simulator, run, venues
from tests.trading.test_venue_accounts_live import NO_ACCOUNT, bob, open_account
from trading.models import Order, Position, VenueAccount
from trading.orders import client_order_id_for
from trading.reconcile import Reconciliation
from trading.venue_accounts import venue_client_for
from trading.venues import venue_client
from trading.venues.domain import OrderRequest

pytestmark = pytest.mark.django_db
__all__ = ["bob", "fresh_accounts", "frozen_simulator", "venues"]  # fixtures shared with the live tests
ORDERS = "/portfolio/events/orders"
UNAVAILABLE = "kalshi: Internal server error (HTTP 503)"


def reconcile_all() -> dict[int, Reconciliation]:
    """What a starting worker runs (strategies.worker_started), each owner on their own account."""
    return live_reconcile_all(client_factory=lambda owner_id, venue: venue_client_for(owner_id=owner_id, venue=venue,
                                                                                       live=True))


def logged(caplog) -> list[tuple[str, str]]:
    return [(record.levelname, record.getMessage()) for record in caplog.records if record.name == "trading.reconcile"]


@pytest.fixture(autouse=True)
def reconcile_log(caplog) -> None:
    caplog.set_level(logging.INFO, logger="trading.reconcile")


def test_a_starting_worker_returns_the_orders_it_settled_and_where_the_venue_holds_other_than_the_ledger(
        alice, staff, frozen_simulator, caplog) -> None:
    strategy = deploy_live(alice, staff, name="Settled at start")
    run_with_answers_lost(strategy, frozen_simulator)  # the venue fills 88, every answer is lost
    order = Order.objects.get()
    assert order.status == "unresolved"

    assert reconcile_all() == {strategy.pk: Reconciliation(settled=[order.client_order_id])}
    assert logged(caplog) == [("INFO", f"strategy {strategy.pk}: reconcile: order {order.client_order_id} was "
                                       "unresolved; the venue says filled, filled 88 of 88")]
    assert Position.objects.get().quantity == D(88)

    caplog.clear()  # settled: nothing more to say
    assert reconcile_all() == {strategy.pk: Reconciliation()}
    assert logged(caplog) == []

    Position.objects.update(quantity=D(100))  # the ledger claims 12 the venue never had
    less = (f"reconcile: kalshi holds 88 of {FED} yes, the ledger 100 across live strategies: the venue holds less; "
            "a person must resolve this")
    assert reconcile_all() == {strategy.pk: Reconciliation(mismatches=[less])}
    assert logged(caplog) == [("WARNING", f"strategy {strategy.pk}: {less}")]
    assert Position.objects.get().quantity == D(100)  # never edited to match


def test_an_order_the_venue_cannot_be_asked_about_is_returned_still_unresolved_with_a_warning(
        alice, staff, frozen_simulator, caplog) -> None:
    strategy = deploy_live(alice, staff, name="Venue unreachable at start")
    order = never_delivered(strategy, frozen_simulator)
    frozen_simulator.faults.inject("status", venue="kalshi", method="GET", status=503)  # look-ups and positions
    try:
        assert reconcile_all() == {strategy.pk: Reconciliation(still_unresolved=[order.client_order_id])}
    finally:
        frozen_simulator.faults.clear()
    assert logged(caplog) == [
        ("WARNING", f"strategy {strategy.pk}: reconcile: order {order.client_order_id} is still unresolved; asked "
                    "again next cycle"),
        ("WARNING", f"strategy {strategy.pk}: reconcile: could not read positions from kalshi: {UNAVAILABLE}")]
    order.refresh_from_db()
    assert order.status == "unresolved"


def test_a_working_order_the_venue_cannot_be_asked_about_is_left_as_it_is_with_a_warning(
        alice, staff, frozen_simulator, caplog) -> None:
    strategy = deploy_live(alice, staff, name="Working order, venue unreachable")
    order = order_of_a_lost_worker(strategy, FED_425)
    sent_by_the_lost_worker(order)  # the venue filled it; the ledger says `submitted`
    assert order.execution is not None
    execution_finish(order.execution, status="succeeded", error="")
    frozen_simulator.faults.inject("status", venue="kalshi", method="GET", status=503)
    try:
        assert reconcile_all() == {strategy.pk: Reconciliation()}
    finally:
        frozen_simulator.faults.clear()
    assert logged(caplog) == [
        ("WARNING", f"strategy {strategy.pk}: reconcile: order {order.client_order_id} could not be checked with "
                    f"kalshi: {UNAVAILABLE}"),
        ("WARNING", f"strategy {strategy.pk}: reconcile: could not read positions from kalshi: {UNAVAILABLE}")]
    order.refresh_from_db()
    assert (order.status, order.filled_quantity) == ("submitted", D(0))

    caplog.clear()  # the venue answers again: its fills are recorded
    assert reconcile_all() == {strategy.pk: Reconciliation(settled=[order.client_order_id])}
    assert logged(caplog) == [("INFO", f"strategy {strategy.pk}: reconcile: order {order.client_order_id} was "
                                       "submitted; the venue says filled, filled 10 of 10")]


def test_an_order_that_may_not_be_sent_again_is_returned_still_unresolved_and_says_why(
        alice, staff, frozen_simulator, caplog) -> None:
    strategy = deploy_live(alice, staff, name="Archived at start")
    order = never_delivered(strategy, frozen_simulator)
    Strategy.objects.filter(pk=strategy.pk).update(status=Strategy.Status.ARCHIVED)
    placed = frozen_simulator.orders.count("kalshi")

    assert reconcile_all() == {strategy.pk: Reconciliation(still_unresolved=[order.client_order_id])}
    assert logged(caplog) == [("WARNING", f"strategy {strategy.pk}: reconcile: order {order.client_order_id} is "
                                          "still unresolved; the venue has no such order and it is not re-sent: the "
                                          "strategy is archived; asked again next cycle")]
    assert frozen_simulator.orders.count("kalshi") == placed


def test_an_order_whose_fills_cannot_be_applied_is_returned_failed_and_the_next_strategy_is_settled(
        alice, staff, frozen_simulator, caplog) -> None:
    broken = deploy_live(alice, staff, name="Broken ledger at start")
    run(broken)
    bad = lose_the_answer_of_the_exit(broken, frozen_simulator)
    forget_positions(broken)
    healthy = deploy_live(alice, staff, name="Healthy at start")
    run_with_answers_lost(healthy, frozen_simulator)
    good = Order.objects.get(strategy=healthy)
    caplog.clear()

    # broken first: the account holds healthy's 88, which the ledger records only when healthy is settled next
    more = (f"reconcile: kalshi holds 88 of {FED} yes, the ledger 0 across live strategies: the venue holds more; a "
            "person must resolve this")
    assert reconcile_all() == {
        broken.pk: Reconciliation(failed=[bad.client_order_id], mismatches=[more]),
        healthy.pk: Reconciliation(settled=[good.client_order_id]),
    }
    failed = (f"strategy {broken.pk}: reconcile: order {bad.client_order_id} could not be settled: order "
              f"{bad.client_order_id} closes {FED} yes, which is not open; a person must resolve this")
    assert logged(caplog) == [
        ("ERROR", f"reconcile: order {bad.client_order_id} could not be settled"),  # with its traceback
        ("ERROR", failed),  # a person must look: an error, not news
        ("WARNING", f"strategy {broken.pk}: {more}"),
        ("INFO", f"strategy {healthy.pk}: reconcile: order {good.client_order_id} was unresolved; the venue says "
                 "filled, filled 88 of 88")]


def reconcile_lines(result) -> list[tuple[str, str]]:
    return [(line["level"], line["message"]) for line in result["logs"] if line["message"].startswith("reconcile")]


def test_an_exit_that_never_reached_the_venue_is_sent_again_for_all_it_sells(alice, staff, frozen_simulator) -> None:
    strategy = deploy_live(alice, staff, name="Exit re-sent")
    run(strategy)
    assert venue_holds() == D(88)
    frozen_simulator.faults.inject("disconnect", venue="kalshi", method="POST", path_contains=ORDERS, phase="before")
    try:
        run(strategy, state=EXIT_ALL)  # every attempt times out before the venue reads it
    finally:
        frozen_simulator.faults.clear()
    exit_ = Order.objects.get(strategy=strategy, action="close")
    assert (exit_.status, venue_holds()) == ("unresolved", D(88))
    placed = frozen_simulator.orders.count("kalshi")

    # Next cycle the venue has no such order: may it be sent again? It sells all 88 held, net of the other exits
    # still working: there are none (itself aside).
    result = run(strategy, state={"enter": False})
    exit_.refresh_from_db()
    assert (exit_.status, exit_.filled_quantity) == ("filled", D(88)), exit_.reject_reason
    assert frozen_simulator.orders.count("kalshi") == placed + 1
    assert venue_holds() == 0
    assert Position.objects.get(strategy=strategy).status == "closed"
    assert reconcile_lines(result) == [("info", f"reconcile: order {exit_.client_order_id} was unresolved; the venue "
                                                "says filled, filled 88 of 88")]
    # closed in the ledger, nothing at the venue: nothing to report
    assert reconcile_lines(run(strategy, state={"enter": False})) == []


def test_strategies_of_one_owner_share_the_account_and_one_unresolved_exit_never_holds_back_the_others(
        alice, staff, frozen_simulator) -> None:
    first, second = deploy_live(alice, staff, name="First of two"), deploy_live(alice, staff, name="Second of two")
    run(first)
    run(second)
    assert venue_holds() == D(176)  # one account: 88 each
    # the ledger's side is summed over both: the venue holds what they hold together
    assert reconcile_lines(run(first, state={"enter": False})) == []
    assert reconcile_lines(run(second, state={"enter": False})) == []

    lose_the_answer_of_the_exit(first, frozen_simulator)  # the venue sold first's 88; the ledger does not know yet
    result = run(second, state=EXIT_ALL)
    [placed] = [action for action in result["actions"] if action["kind"] == "order_placed"]
    assert (placed["payload"]["quantity"], placed["payload"]["filled_quantity"]) == ("88", "88")
    assert venue_holds() == 0
    assert Position.objects.get(strategy=second).status == "closed"


def test_recovering_a_lost_run_settles_only_its_unsettled_orders_and_says_so_for_each(
        alice, staff, frozen_simulator) -> None:
    strategy = deploy_live(alice, staff, name="Lost after its first order", tickers=(FED,))
    lost = Execution.objects.get(pk=run(strategy)["id"])  # its first order filled and recorded: 88
    first = Order.objects.get(execution=lost)
    assert (first.status, first.filled_quantity) == ("filled", D(88))
    # …then the worker took a second order to the venue, which filled it, and died before recording the answer
    second = Order.objects.create(
        strategy=strategy, version=first.version, execution=lost, signal_index=1, book="live", venue="kalshi",
        market_id=FED_425, side="yes", action="open", quantity=D(10), limit_price=D("0.55"), notional_usd=D("5.50"),
        status="submitted", client_order_id=client_order_id_for(strategy_id=strategy.pk, execution_id=lost.pk,
                                                                 signal_index=1, action="open"))
    sent_by_the_lost_worker(second)
    an_hour_ago = timezone.now() - timedelta(hours=1)  # older than any cycle may run: its worker is gone
    Execution.objects.filter(pk=lost.pk).update(status="running", worker="another-host:4242", finished_at=None,
                                                scheduled_for=an_hour_ago, started_at=an_hour_ago, error="")
    lines_before = lost.logs.count()
    placed = frozen_simulator.orders.count("kalshi")

    assert executions_recover(enqueue=lambda pk: None).failed == 1

    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, first.filled_quantity) == ("filled", D(88))  # settled already: left as it is
    assert (second.status, second.filled_quantity) == ("filled", D(10))  # looked up, not placed again
    assert frozen_simulator.orders.count("kalshi") == placed
    assert list(lost.logs.order_by("seq").values_list("message", flat=True))[lines_before:] == [
        "the worker running this cycle was lost (killed or restarted) before it finished; its orders are settled "
        "with the venue, never placed again",
        f"order {second.client_order_id} (live) recovered after the worker was lost: filled, filled 10 of 10"]


def test_an_exit_the_venue_refused_never_holds_back_the_next_one(alice, staff, frozen_simulator) -> None:
    strategy = deploy_live(alice, staff, name="Exit refused")
    run(strategy)
    frozen_simulator.faults.inject("status", venue="kalshi", method="POST", path_contains=ORDERS, status=400,
                                   message="market paused")
    try:
        run(strategy, state=EXIT_ALL)
    finally:
        frozen_simulator.faults.clear()
    refused = Order.objects.get(strategy=strategy, action="close")
    assert (refused.status, refused.filled_quantity, venue_holds()) == ("rejected", D(0), D(88))

    result = run(strategy, state=EXIT_ALL)  # a rejected exit sells nothing: all 88 may be sold
    [placed] = [action for action in result["actions"] if action["kind"] == "order_placed"]
    assert (placed["payload"]["quantity"], placed["payload"]["filled_quantity"]) == ("88", "88")
    assert venue_holds() == 0
    assert Position.objects.get(strategy=strategy).status == "closed"
    assert reconcile_all() == {}  # no working order, no open position: nothing to reconcile


def test_exits_never_delivered_are_summed_so_the_next_one_sells_only_what_they_leave(
        alice, staff, frozen_simulator) -> None:
    strategy = deploy_live(alice, staff, name="Quarters never delivered")
    run(strategy)
    frozen_simulator.faults.inject("disconnect", venue="kalshi", method="POST", path_contains=ORDERS, phase="before")
    try:
        for _ in range(3):
            run(strategy, state={"enter": False, "exit_fraction": 0.25})  # 22 each, every send times out
        run(strategy, state=EXIT_ALL)
    finally:
        frozen_simulator.faults.clear()
    exits = list(Order.objects.filter(strategy=strategy, action="close").order_by("id"))
    # the three quarters may yet sell 66 of the 88: the last exit sells no more than the 22 they leave
    assert [(o.quantity, o.status) for o in exits] == [(D(22), "unresolved")] * 4
    assert venue_holds() == D(88)


def test_paper_strategies_are_never_reconciled_with_a_venue_account(alice, staff) -> None:
    paper = deploy(alice, staff, name="Paper only")
    result = run(paper)  # an open paper position
    assert Position.objects.get(strategy=paper).book == "paper"
    execution = Execution.objects.get(pk=result["id"])
    # another cycle of it is running (on another worker) and has a paper order in hand
    Execution.objects.filter(pk=execution.pk).update(status="running", finished_at=None)
    Order.objects.create(
        strategy=paper, version=execution.version, execution=execution, signal_index=5, book="paper", venue="kalshi",
        market_id=FED_425, side="yes", action="open", quantity=D(10), limit_price=D("0.55"), notional_usd=D("5.50"),
        status="submitted", client_order_id=client_order_id_for(strategy_id=paper.pk, execution_id=execution.pk,
                                                                 signal_index=5, action="open"))

    assert reconcile_all() == {}


def test_a_strategy_whose_owner_has_no_account_any_more_is_said_and_the_others_are_reconciled(
        alice, bob, staff, frozen_simulator, caplog) -> None:
    open_account(frozen_simulator, bob)
    bobs = deploy_live(bob, staff, name="Bob's, account removed")
    run(bobs)  # an open position on bob's account…
    VenueAccount.objects.filter(owner=bob).delete()  # …whose credentials were then removed
    alices = deploy_live(alice, staff, name="Alice's")
    order = never_delivered(alices, frozen_simulator)
    caplog.clear()

    assert reconcile_all() == {alices.pk: Reconciliation(settled=[order.client_order_id])}
    assert logged(caplog)[0] == ("ERROR", f"reconcile: no kalshi client for strategy {bobs.pk}: kalshi: {NO_ACCOUNT}")


def holds(venue: str, market: str, side: str, venue_has: int, ledger_has: int) -> str:
    more_or_less = "more" if venue_has > ledger_has else "less"
    return (f"reconcile: {venue} holds {venue_has} of {market} {side}, the ledger {ledger_has} across live "
            f"strategies: the venue holds {more_or_less}; a person must resolve this")


def test_an_alpaca_holding_is_one_per_symbol_on_both_sides_of_the_comparison(alice, staff, frozen_simulator) -> None:
    strategy = deploy_alpaca_live(alice, staff)
    run(strategy)  # a day order resting below the market
    order = Order.objects.get()
    frozen_simulator.alpaca.trade_against(order.venue_order_id, D(10))
    assert reconcile_all() == {strategy.pk: Reconciliation(settled=[order.client_order_id])}  # and nothing differs
    assert Position.objects.get().quantity == D(10)

    Position.objects.update(quantity=D(12))
    assert reconcile_all() == {strategy.pk: Reconciliation(mismatches=[holds("alpaca", "SPY", "buy", 10, 12)])}


def test_a_kalshi_holding_of_one_contract_is_a_yes_holding(alice, staff, frozen_simulator) -> None:
    strategy = deploy_live(alice, staff, name="One contract")
    run(strategy)
    kalshi = venue_client("kalshi")
    try:  # the account sells 87 of its 88 outside this strategy; the ledger is told it holds 1
        kalshi.place_order(OrderRequest(FED, "sell", D(87), "outside-sell", limit_price=D("0.01"), time_in_force="ioc",
                                        reduce_only=True))
    finally:
        kalshi.close()
    Position.objects.update(quantity=D(1))
    assert reconcile_all() == {strategy.pk: Reconciliation()}


def test_a_paper_position_does_not_count_against_the_venue(alice, staff, frozen_simulator) -> None:
    strategy = deploy_live(alice, staff, name="Live beside paper")
    run(strategy)
    live = Position.objects.get()
    # The strategy's paper record of the same market (kept apart when it went live) is not on the account.
    Position.objects.create(strategy=strategy, book="paper", venue="kalshi", market_id=FED, side="yes",
                            quantity=D(5), cost_basis_usd=D("2.75"), opened_at=live.opened_at)
    assert reconcile_all() == {strategy.pk: Reconciliation()}


def test_each_strategy_is_told_of_its_own_markets_and_of_every_one_of_them(alice, staff, frozen_simulator) -> None:
    both = deploy_live(alice, staff, name="Two markets", tickers=(FED, FED_425))
    run(both)
    other = deploy_live(alice, staff, name="Another market", tickers=("KXSIMFED-26DEC31-T4.50",))
    run(other)
    Position.objects.filter(strategy=both, market_id=FED_425).update(quantity=F("quantity") + 3)
    [held_425] = Position.objects.filter(strategy=both, market_id=FED_425).values_list("quantity", flat=True)
    # FED sorts first and agrees; FED_425, after it, does not; the other strategy trades neither
    assert reconcile_all() == {
        both.pk: Reconciliation(mismatches=[holds("kalshi", FED_425, "yes", int(held_425) - 3, int(held_425))]),
        other.pk: Reconciliation()}


def test_an_order_that_cannot_be_settled_does_not_hold_back_the_next_order_of_the_same_strategy(
        alice, staff, frozen_simulator) -> None:
    strategy = deploy_live(alice, staff, name="Two exits, one broken", tickers=(FED, FED_425))
    run(strategy)
    run_with_answers_lost(strategy, frozen_simulator, state=EXIT_ALL)  # the venue sells both; both answers are lost
    first, second = Order.objects.filter(strategy=strategy, action="close").order_by("id")
    assert (first.status, second.status) == ("unresolved", "unresolved")
    forget_positions(strategy, market_id=first.market_id)  # its fill can no longer apply

    assert reconcile_all() == {strategy.pk: Reconciliation(settled=[second.client_order_id],
                                                           failed=[first.client_order_id])}
    second.refresh_from_db()
    assert second.status == "filled"
    assert not Position.objects.filter(strategy=strategy, status="open").exists()
