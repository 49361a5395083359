"""Live orders go through the venue adapter with the derived client order id; an order whose outcome
is unknown is marked unresolved and settled by asking the venue, never re-sent as a new order."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal as D

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from strategies.models import Execution, Strategy, StrategyVersion
from strategies.scheduling import strategies_tick
from strategies.services import ActionRefused, strategy_deploy, strategy_enable
from strategies.tasks import worker_started
from tests.conftest import scripts_files
from tests.trading.test_paper_cycle import CAPITAL, ENTRY, EXIT, FED, LIMITS, deploy, frozen_simulator, run, venues
from trading.models import Fill, KillSwitch, Order, Position
from trading.venues import venue_client

pytestmark = pytest.mark.django_db
__all__ = ["frozen_simulator", "venues"]  # fixtures shared with the paper cycle tests


def deploy_live(owner, staff, *, name: str, limit: float = 0.55, tickers: tuple[str, ...] = (FED,)) -> Strategy:
    files = scripts_files(name=name, parameters={"tickers": list(tickers), "limit": limit}, capital=CAPITAL,
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
    assert f"reconcile: order {order.client_order_id} was unresolved; the venue says filled, filled 88 of 88" in [
        line["message"] for line in result["logs"]]


@pytest.fixture(autouse=True)
def fresh_accounts(frozen_simulator) -> None:
    """Every test starts with empty venue accounts, so what the venue holds is what this test placed."""
    for venue in (frozen_simulator.kalshi, frozen_simulator.alpaca):
        venue.accounts.clear()


def test_the_venue_holding_less_or_more_than_the_ledger_is_reported_every_live_cycle(alice, staff) -> None:
    strategy = deploy_live(alice, staff, name="Live reconcile")
    run(strategy)
    position = Position.objects.get()
    kalshi = venue_client("kalshi")
    [held] = [p.quantity for p in kalshi.get_positions() if p.instrument_id == FED]
    kalshi.close()
    assert held == position.quantity == D(88)

    def reconcile_lines(result) -> list[tuple[str, str]]:
        return [(line["level"], line["message"]) for line in result["logs"] if line["message"].startswith("reconcile")]

    # The ledger now claims more than the venue holds (a fill recorded twice, a manual sale at the venue…).
    Position.objects.filter(pk=position.pk).update(quantity=D(100))
    result = run(strategy, state={"enter": False})
    assert reconcile_lines(result) == [("warning", f"reconcile: kalshi holds 88 of {FED} yes, the ledger 100 across "
                                                   "live strategies: the venue holds less; a person must resolve this")]
    assert Position.objects.get().quantity == D(100)  # never edited to match: only fills move positions

    # …or less (a fill never recorded, a manual purchase at the venue).
    Position.objects.filter(pk=position.pk).update(quantity=D(80))
    result = run(strategy, state={"enter": False})
    assert reconcile_lines(result) == [("warning", f"reconcile: kalshi holds 88 of {FED} yes, the ledger 80 across "
                                                   "live strategies: the venue holds more; a person must resolve this")]

    Position.objects.filter(pk=position.pk).update(quantity=D(88))
    assert reconcile_lines(run(strategy, state={"enter": False})) == []


def test_the_kill_switch_from_the_admin_refuses_live_orders_and_pauses_live_strategies(
        alice, staff, frozen_simulator) -> None:
    live = deploy_live(alice, staff, name="Live halted")
    paper = deploy(alice, staff, name="Paper goes on")
    boss = get_user_model().objects.create_superuser("boss", password="pw-for-tests-1")
    admin = Client()
    admin.force_login(boss)
    assert admin.get("/admin/trading/killswitch/")["Location"] == "/admin/trading/killswitch/1/change/"

    page = admin.post("/admin/trading/killswitch/1/change/", {"engaged": "on", "reason": ""})
    assert page.status_code == 200 and "say why the kill switch is engaged" in page.content.decode()
    assert not KillSwitch.objects.get().engaged

    page = admin.post("/admin/trading/killswitch/1/change/", {"engaged": "on", "reason": "venue incident"},
                      follow=True)
    assert "Kill switch ENGAGED: live orders are refused; 1 live strategy paused." in page.content.decode()
    live.refresh_from_db()
    assert (live.enabled, live.paused_reason) == (False, "kill switch: venue incident")
    assert KillSwitch.objects.get().changed_by == boss
    with pytest.raises(ActionRefused, match="the kill switch is engaged .venue incident."):
        strategy_enable(strategy=live)
    assert run(paper)["actions"][0]["kind"] == "order_placed"  # paper trading goes on

    Strategy.objects.filter(pk=live.pk).update(enabled=True)  # even one enabled behind its back…
    strategies_tick(enqueue=lambda pk: None, now=timezone.now() + timedelta(days=1))
    assert set(Execution.objects.values_list("strategy_id", flat=True)) == {paper.pk}  # …is not run

    placed = frozen_simulator.orders.count("kalshi")
    result = run(live)  # Run now: the order is refused before the venue hears of it
    assert result["actions"][0]["payload"]["check"] == "kill_switch"
    Strategy.objects.filter(pk=live.pk).update(enabled=False, paused_reason="kill switch: venue incident")
    assert run(live)["actions"][0]["payload"]["reason"].startswith("the strategy is paused (kill switch: venue")
    assert frozen_simulator.orders.count("kalshi") == placed and not Order.objects.filter(book="live").exists()

    admin.post("/admin/trading/killswitch/1/change/", {"reason": "resolved"}, follow=True)
    live.refresh_from_db()
    assert not KillSwitch.objects.get().engaged and not live.enabled  # released: nothing re-enabled by itself
    assert strategy_enable(strategy=live).enabled


def test_a_starting_worker_pauses_live_strategies_under_the_kill_switch_setting_and_settles_unknown_orders(
        alice, staff, frozen_simulator, settings) -> None:
    strategy = deploy_live(alice, staff, name="Live at worker start")
    frozen_simulator.faults.inject("disconnect", venue="kalshi", method="POST", path_contains="/portfolio/events/orders",
                                   phase="after")
    try:
        run(strategy)
    finally:
        frozen_simulator.faults.clear()
    assert Order.objects.get().status == "unresolved"
    settings.KILL_SWITCH = True

    worker_started()  # what a worker runs when it comes up (celery's worker_ready signal)

    strategy.refresh_from_db()
    assert (strategy.enabled, strategy.paused_reason) == (False, "kill switch: KILL_SWITCH is set in the environment")
    order = Order.objects.get()
    assert (order.status, order.filled_quantity) == ("filled", D(88))  # asked the venue: settled, not re-placed
    assert Position.objects.get().quantity == D(88)
