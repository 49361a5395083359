"""Each user's live orders go to that user's own venue account (trading/venue_accounts.py).

The simulator serves one account per credential (`POST /_sim/accounts`), and its per-account state
(`GET /_sim/accounts/<venue>/<key id>`) shows where each order landed. alice is the suite's operator
(tests/settings.py: OPERATOR_ACCOUNT_USERNAME): her live orders use the settings' credentials,
which on the simulator are its development account.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal as D
from typing import Any

import pytest
import requests
from django.contrib.auth.models import User
from django.utils import timezone

from strategies.cycle.recovery import executions_recover
from strategies.models import Execution, Strategy, StrategyVersion
from strategies.services import strategy_deploy
from strategies.tasks import worker_started
from tests.conftest import scripts_files
from tests.trading.test_money_live import deploy_live
from tests.trading.test_paper_cycle import CAPITAL, ENTRY, EXIT, FED, frozen_simulator, run, venues
from trading.models import Order, Position
from trading.services import venue_account_save
from trading.simulator import VenueSimulator
from trading.simulator.credentials import KALSHI_DEV_KEY_ID

pytestmark = pytest.mark.django_db
__all__ = ["frozen_simulator", "venues"]  # fixtures shared with the paper cycle tests
NO_ACCOUNT = "no Kalshi account: add one in Admin → Trading → Venue accounts (live orders go to their owner's own venue account)"


def open_account(sim: VenueSimulator, user: User, venue: str = "kalshi") -> str:
    """A new simulator account, stored as the user's VenueAccount; returns its key id."""
    response = requests.post(f"{sim.url}/_sim/accounts", json={"venue": venue}, timeout=5)
    assert response.status_code == 201, response.text
    credentials: dict[str, str] = response.json()
    venue_account_save(owner=user, venue=venue, credentials=credentials)
    return credentials["key_id"] if venue == "kalshi" else credentials["api_key"]


def account(sim: VenueSimulator, key_id: str, venue: str = "kalshi") -> dict[str, Any]:
    response = requests.get(f"{sim.url}/_sim/accounts/{venue}/{key_id}", timeout=5)
    assert response.status_code == 200, response.text
    state: dict[str, Any] = response.json()
    return state


def operator_orders(sim: VenueSimulator) -> int:
    """Orders on the simulator's development account: the settings' credentials, the operator's."""
    dev = sim.kalshi.accounts.get(KALSHI_DEV_KEY_ID)
    return len(dev.orders) if dev else 0


@pytest.fixture
def bob(make_user) -> User:
    user: User = make_user("bob")
    return user


@pytest.fixture
def carol(make_user) -> User:
    user: User = make_user("carol")
    return user


def test_each_users_live_order_lands_on_their_own_account_only(bob, carol, staff, frozen_simulator) -> None:
    bob_key, carol_key = open_account(frozen_simulator, bob), open_account(frozen_simulator, carol)
    before = operator_orders(frozen_simulator)
    bobs = deploy_live(bob, staff, name="Bob live")
    carols = deploy_live(carol, staff, name="Carol live")

    [placed] = run(bobs)["actions"]
    assert (placed["kind"], placed["payload"]["filled_quantity"]) == ("order_placed", "88")
    bob_order = Order.objects.get(strategy=bobs)
    assert account(frozen_simulator, bob_key)["positions"] == {FED: "88.00"}
    assert account(frozen_simulator, bob_key)["orders"] == [bob_order.client_order_id]
    assert account(frozen_simulator, carol_key) == {"venue": "kalshi", "account": carol_key, "cash": "10000.0000",
                                                    "positions": {}, "orders": []}  # untouched

    run(carols)
    carol_order = Order.objects.get(strategy=carols)
    assert account(frozen_simulator, carol_key)["positions"] == {FED: "88.00"}
    assert account(frozen_simulator, carol_key)["orders"] == [carol_order.client_order_id]
    assert account(frozen_simulator, bob_key)["positions"] == {FED: "88.00"}  # still only bob's own
    assert account(frozen_simulator, bob_key)["orders"] == [bob_order.client_order_id]
    assert D(account(frozen_simulator, bob_key)["cash"]) == D("10000") - D("49.10")  # 45.56 + 2.00 + 1.54 fees
    assert operator_orders(frozen_simulator) == before  # nothing went to the operator's account

    # Each owner's ledger is reconciled with their own account: no false "venue holds less" reports.
    for strategy in (bobs, carols):
        result = run(strategy, state={"enter": False})
        assert not [line for line in result["logs"] if line["message"].startswith("reconcile")]


def test_a_live_order_without_an_account_is_refused_and_never_reaches_the_venue(make_user, staff,
                                                                                 frozen_simulator) -> None:
    dave = make_user("dave")
    strategy = deploy_live(dave, staff, name="Dave live")
    received = frozen_simulator.orders.count("kalshi", "received")
    result = run(strategy)
    [refused] = result["actions"]
    assert refused["kind"] == "order_refused"
    assert (refused["payload"]["check"], refused["payload"]["reason"]) == ("account", NO_ACCOUNT)
    assert refused["message"] == f"order refused (account): {NO_ACCOUNT}"
    assert frozen_simulator.orders.count("kalshi", "received") == received
    assert not Order.objects.exists()


def test_the_settings_credentials_are_the_operators_account_only(alice, staff, settings, frozen_simulator) -> None:
    strategy = deploy_live(alice, staff, name="Operator live")
    before = operator_orders(frozen_simulator)
    assert run(strategy)["actions"][0]["kind"] == "order_placed"
    assert operator_orders(frozen_simulator) == before + 1  # alice is OPERATOR_ACCOUNT_USERNAME

    settings.OPERATOR_ACCOUNT_USERNAME = ""  # a multi-user deployment: the settings' account is nobody's
    result = run(strategy, state={"enter": False, "exit_fraction": 1})
    [refused] = result["actions"]
    assert (refused["kind"], refused["payload"]["check"]) == ("order_refused", "account")  # exits too
    assert operator_orders(frozen_simulator) == before + 1


def test_an_account_of_her_own_takes_precedence_over_the_operators(alice, staff, frozen_simulator) -> None:
    own = open_account(frozen_simulator, alice)
    before = operator_orders(frozen_simulator)
    run(deploy_live(alice, staff, name="Operator on own account"))
    assert account(frozen_simulator, own)["positions"] == {FED: "88.00"}
    assert operator_orders(frozen_simulator) == before


def test_a_starting_worker_settles_each_owners_unknown_order_on_their_own_account(bob, staff,
                                                                                  frozen_simulator) -> None:
    bob_key = open_account(frozen_simulator, bob)
    strategy = deploy_live(bob, staff, name="Bob unresolved")
    frozen_simulator.faults.inject("disconnect", venue="kalshi", method="POST", path_contains="/portfolio/events/orders",
                                   phase="after")
    try:
        run(strategy)
    finally:
        frozen_simulator.faults.clear()
    order = Order.objects.get()
    assert order.status == "unresolved" and not order.venue_order_id
    before = operator_orders(frozen_simulator)

    worker_started()

    order.refresh_from_db()
    assert (order.status, order.filled_quantity) == ("filled", D(88))
    assert account(frozen_simulator, bob_key)["orders"] == [order.client_order_id]  # found there, not placed again
    assert operator_orders(frozen_simulator) == before  # never re-sent on the operator's account
    assert Position.objects.get().quantity == D(88)


def test_recovering_a_lost_live_run_asks_the_owners_own_account(bob, staff, frozen_simulator,
                                                                 django_capture_on_commit_callbacks) -> None:
    bob_key = open_account(frozen_simulator, bob)
    strategy = deploy_live(bob, staff, name="Bob lost run")
    frozen_simulator.faults.inject("disconnect", venue="kalshi", method="POST", path_contains="/portfolio/events/orders",
                                   phase="after")
    try:
        result = run(strategy)
    finally:
        frozen_simulator.faults.clear()
    # As a worker killed right after sending leaves it: the run `running` on a vanished host, the order `submitted`.
    Execution.objects.filter(pk=result["id"]).update(status="running", finished_at=None, worker="gone-host:4242",
                                                     error="")
    Order.objects.update(status="submitted", reject_reason="")
    Strategy.objects.filter(pk=strategy.pk).update(runs_total=0, runs_succeeded=0)
    before = operator_orders(frozen_simulator)

    with django_capture_on_commit_callbacks(execute=True):
        assert executions_recover(enqueue=lambda pk: None, now=timezone.now() + timedelta(hours=1)).failed == 1

    order = Order.objects.get()
    assert (order.status, order.filled_quantity) == ("filled", D(88))
    assert account(frozen_simulator, bob_key)["orders"] == [order.client_order_id]
    assert operator_orders(frozen_simulator) == before


def test_an_account_that_cannot_be_decrypted_refuses_live_orders_and_says_why(bob, staff, settings,
                                                                              frozen_simulator) -> None:
    open_account(frozen_simulator, bob)
    strategy = deploy_live(bob, staff, name="Bob rotated key")
    settings.CREDENTIALS_KEY = "rotated-without-re-encrypting"
    received = frozen_simulator.orders.count("kalshi", "received")
    [refused] = run(strategy)["actions"]
    assert (refused["kind"], refused["payload"]["check"]) == ("order_refused", "account")
    assert refused["payload"]["reason"].startswith("the Kalshi account 'default' cannot be used (venue credentials "
                                                   "cannot be decrypted: CREDENTIALS_KEY changed?)")
    assert frozen_simulator.orders.count("kalshi", "received") == received


def test_two_users_alpaca_orders_each_land_on_their_own_account(bob, carol, staff, frozen_simulator) -> None:
    keys = {user.username: open_account(frozen_simulator, user, "alpaca") for user in (bob, carol)}
    for user in (bob, carol):
        files = scripts_files(name=f"{user.username} stocks", platform="alpaca",
                              parameters={"tickers": ["AAPL"], "side": "buy", "limit": None}, capital=CAPITAL,
                              risk_limits={"max_order_usd": 50, "max_daily_usd": 300, "allowed_services": ["alpaca"]})
        files["entry.py"], files["exit.py"] = ENTRY, EXIT
        strategy = deploy_alpaca_live(user, staff, files)
        [placed] = run(strategy)["actions"]
        assert placed["kind"] == "order_placed", placed
        bought = D(placed["payload"]["filled_quantity"])
        assert bought > 0
        mine = account(frozen_simulator, keys[user.username], "alpaca")
        assert D(mine["positions"]["AAPL"]) == bought
        assert mine["orders"] == [Order.objects.get(strategy=strategy).client_order_id]
    assert D(account(frozen_simulator, keys["bob"], "alpaca")["positions"]["AAPL"]) > 0  # carol's left bob's alone
    assert len(account(frozen_simulator, keys["bob"], "alpaca")["orders"]) == 1


def deploy_alpaca_live(owner: User, staff: User, files: dict[str, str]) -> Strategy:
    """Deployed live and recorded as approved for live (graduation is the approval service's business)."""
    version = strategy_deploy(owner=owner, files=files, mode="live", approve_by=staff)
    StrategyVersion.objects.filter(pk=version.pk).update(approved_live_by=staff, approved_live_at=timezone.now())
    return Strategy.objects.get(pk=version.strategy_id)
