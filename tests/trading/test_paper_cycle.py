"""Paper trading end to end: `strategy_run` cycles against the venue simulator over HTTP.

The simulator's Kalshi ladders move with the wall-clock minute, so every Kalshi market here is
given one fixed book: asks 84 @ 0.54, 399 @ 0.55, 271 @ 0.56; bids 379 @ 0.52, 576 @ 0.51, 578 @ 0.50.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal as D
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command

from strategies.models import Strategy
from strategies.services import strategy_deploy
from tests.conftest import scripts_files
from trading.models import Fill, Order, Position
from trading.simulator import SimulatorConfig, VenueSimulator
from trading.simulator.books import Book, Level
from trading.venues import simulator_key_dir

pytestmark = pytest.mark.django_db

FED = "KXSIMFED-26DEC31-T4.00"
FED_425 = "KXSIMFED-26DEC31-T4.25"
ENTRY = """
from strategies.sdk import EntrySignal


def should_enter(ctx):
    if not ctx.state.get("enter", True):
        return []
    ctx.log(f"capital {ctx.capital.available:.2f} available, {ctx.capital.deployed:.2f} deployed")
    held = {p.market_id for p in ctx.positions}
    return [EntrySignal(market_id=t, side=ctx.params.get("side", "yes"), reason="test", confidence=0.6,
                        limit_price=ctx.params.get("limit"))
            for t in ctx.params["tickers"] if t not in held]
"""
EXIT = """
from strategies.sdk import ExitSignal


def should_exit(ctx, position):
    ctx.log(f"{position.market_id} {position.quantity:g} at {position.current_price} pnl {position.unrealized_pnl:.2f}")
    fraction = ctx.state.get("exit_fraction")
    return ExitSignal(position.position_id, reason="test", fraction=fraction) if fraction else None
"""
CAPITAL = {"total_capital": 2000, "capital_per_trade": 50, "max_positions": 10, "max_position_size": 200,
           "max_daily_loss": 100, "sizing_method": "fixed", "kelly_fraction": None, "percent": None}
LIMITS = {"max_order_usd": 50, "max_daily_usd": 300, "allowed_services": ["kalshi"]}


@pytest.fixture(scope="module")
def frozen_simulator() -> Iterator[VenueSimulator]:
    sim = VenueSimulator(SimulatorConfig(port=0, speed=0, key_dir=simulator_key_dir())).start()
    yield sim
    sim.stop()


BOOK = Book(
    bids=(Level(D("0.52"), D(379)), Level(D("0.51"), D(576)), Level(D("0.50"), D(578))),
    asks=(Level(D("0.54"), D(84)), Level(D("0.55"), D(399)), Level(D("0.56"), D(271))),
)


@pytest.fixture(autouse=True)
def venues(settings, monkeypatch, frozen_simulator: VenueSimulator) -> None:
    monkeypatch.setattr(frozen_simulator.kalshi, "book", lambda market: BOOK)
    settings.VENUE_SIMULATOR_URL = frozen_simulator.url
    settings.VENUES = {venue: {**settings.VENUES[venue], **urls}
                       for venue, urls in frozen_simulator.venue_urls().items()}
    settings.KILL_SWITCH = False


def deploy(owner, staff, *, tickers=(FED,), limit: float | None = 0.55, capital=None, limits=None,
           side: str = "yes", approve: bool = True, name: str = "Money test") -> Strategy:
    files = scripts_files(name=name, parameters={"tickers": list(tickers), "limit": limit, "side": side},
                          capital={**CAPITAL, **(capital or {})}, risk_limits={**LIMITS, **(limits or {})})
    files["entry.py"], files["exit.py"] = ENTRY, EXIT
    return strategy_deploy(owner=owner, files=files, approve_by=staff if approve else None).strategy


def run(strategy: Strategy, *flags: str, state: dict[str, Any] | None = None) -> dict[str, Any]:
    if state is not None:
        Strategy.objects.filter(pk=strategy.pk).update(state=state)
    out = StringIO()
    call_command("strategy_run", str(strategy.pk), "--json", *flags, stdout=out)
    result: dict[str, Any] = json.loads(out.getvalue())
    assert result["status"] == "succeeded", result["error"]
    return result


def kinds(result: dict[str, Any]) -> list[str]:
    return [action["kind"] for action in result["actions"]]


def test_a_paper_entry_walks_the_book_and_opens_a_position(alice, staff) -> None:
    strategy = deploy(alice, staff)
    result = run(strategy)
    [placed] = result["actions"]
    assert placed["kind"] == "order_placed"
    # fixed $50 at ≤ 0.55: 88 contracts (48.40 + worst fee 1.54 = 49.94 ≤ 50)
    assert placed["payload"]["sizing"]["quantity"] == "88"
    assert (placed["payload"]["status"], placed["payload"]["filled_quantity"]) == ("filled", "88")
    order = Order.objects.get()
    assert order.client_order_id == f"sh-{strategy.pk}-{result['id']}-0-o"
    assert [(f.quantity, f.price) for f in Fill.objects.order_by("id")] == [(D(84), D("0.54")), (D(4), D("0.55"))]
    # fee roundup(0.07 × (84 × 0.54 × 0.46 + 4 × 0.55 × 0.45)) = roundup(1.5299) = 1.53
    assert sum(f.fee_usd for f in Fill.objects.all()) == D("1.53")
    position = Position.objects.get()
    assert (position.side, position.quantity, position.cost_basis_usd) == ("yes", D(88), D("49.09"))  # 45.36 + 2.20 + 1.53

    # Next cycle: marked to market at the midpoint (0.52 + 0.54) / 2 = 0.53; capital reflects the position.
    result = run(strategy, state={"enter": True})
    messages = [line["message"] for line in result["logs"]]
    assert f"{FED} 88 at 0.53 pnl -2.45" in messages  # 88 × 0.53 − 49.09
    assert "capital 1950.91 available, 49.09 deployed" in messages
    assert kinds(result) == []  # already held: no new entry


def test_an_exit_sells_a_fraction_into_the_bids_then_closes_with_realized_pnl(alice, staff) -> None:
    strategy = deploy(alice, staff)
    run(strategy)
    result = run(strategy, state={"enter": False, "exit_fraction": 0.5})
    [placed] = result["actions"]
    assert (placed["kind"], placed["payload"]["filled_quantity"], placed["payload"]["average_price"]) == (
        "order_placed", "44", "0.52")
    position = Position.objects.get()
    # sold 44 @ 0.52 = 22.88, fee roundup(0.07 × 44 × 0.52 × 0.48 = 0.7688) = 0.77, releases 49.09 / 2 = 24.545
    assert (position.quantity, position.cost_basis_usd, position.realized_pnl_usd) == (D(44), D("24.545"), D("-2.435"))

    result = run(strategy, state={"enter": False, "exit_fraction": 1.0})
    assert kinds(result) == ["order_placed", "position_closed"]
    position.refresh_from_db()
    # 44 @ 0.52 again: 22.88 − 0.77 − 24.545 = −2.435; in all −4.87
    assert (position.status, position.realized_pnl_usd, position.fees_usd) == ("closed", D("-4.87"), D("3.07"))
    assert "realized $-4.87" in result["actions"][1]["message"]


def test_a_no_entry_buys_the_no_contract_at_one_minus_the_yes_bid(alice, staff) -> None:
    strategy = deploy(alice, staff, side="no", limit=None)
    run(strategy)
    position = Position.objects.get()
    fill = Fill.objects.get()
    assert (position.side, fill.price) == ("no", D("0.48"))  # YES bid 0.52 → NO ask 0.48, 379 of them
    # $50 at 0.48: 104 contracts cost 49.92 + roundup(0.07 × 104 × 0.48 × 0.52 = 1.817) = 51.74 > 50;
    # 104 × 50 / 51.74 → 100 contracts: 48.00 + roundup(1.7472) = 49.75 ≤ 50
    assert position.quantity == D(100)


def test_a_dry_run_sizes_and_checks_but_writes_no_orders_or_positions(alice) -> None:
    strategy = deploy(alice, None, approve=False)
    result = run(strategy, "--dry-run")
    [would] = result["actions"]
    assert would["kind"] == "order_would_place"
    assert (would["payload"]["quantity"], would["payload"]["limit_price"]) == ("88", "0.55")
    assert would["payload"]["sizing"]["binding"] == "method"
    assert "dry run: would buy 88 yes" in would["message"]
    assert (Order.objects.count(), Position.objects.count(), Fill.objects.count()) == (0, 0, 0)


def test_max_positions_and_daily_spend_refuse_with_reasons(alice, staff) -> None:
    strategy = deploy(alice, staff, tickers=(FED, FED_425), capital={"max_positions": 1})
    result = run(strategy)
    assert kinds(result) == ["order_placed", "order_refused"]
    refused = result["actions"][1]
    assert refused["payload"]["check"] == "max_positions"
    assert refused["message"] == ("order refused (max_positions): max_positions reached: 1 open (or being opened by "
                                  "working orders) of capital.max_positions 1")
    assert any(line["level"] == "warning" and "max_positions reached" in line["message"] for line in result["logs"])

    other = deploy(alice, staff, tickers=(FED, FED_425), limits={"max_daily_usd": 60}, name="Daily spend")
    result = run(other)
    assert kinds(result) == ["order_placed", "order_refused"]
    # 49.09 spent + worst cost of the next order 49.94 (limit 0.55) > 60
    assert result["actions"][1]["payload"]["check"] == "max_daily_usd"
    assert "$49.09 spent today (UTC)" in result["actions"][1]["payload"]["reason"]


def test_the_kill_switch_leaves_paper_trading_alone(alice, staff, settings) -> None:
    settings.KILL_SWITCH = True  # it refuses live orders (tests/trading/test_money_live.py); paper goes on
    result = run(deploy(alice, staff))
    assert result["actions"][0]["kind"] == "order_placed"
    assert Order.objects.get().book == "paper"


def test_an_order_on_another_venue_is_refused_not_placed(alice, staff) -> None:
    strategy = deploy(alice, staff)
    files = scripts_files(parameters={"tickers": [FED]}, capital=CAPITAL, risk_limits=LIMITS)
    files["entry.py"] = ("def should_enter(ctx):\n"
                         "    ctx.log(str(ctx.polymarket.create_order(intent='entry', signal_index=0, market_id='1',"
                         " side='yes', reason='r')))\n    return []\n")
    files["exit.py"] = EXIT
    strategy = strategy_deploy(owner=alice, files=files, approve_by=staff).strategy
    result = run(strategy)
    assert result["actions"][0]["payload"]["check"] == "venue"
    assert "polymarket is not this strategy's platform (kalshi): orders go only there" in result["actions"][0]["message"]
    assert any("'status': 'refused'" in line["message"] for line in result["logs"])  # the script got the reason


def test_reaching_the_daily_loss_pauses_the_strategy_and_says_why(alice, staff) -> None:
    strategy = deploy(alice, staff, tickers=(FED, FED_425), capital={"max_daily_loss": 1})
    result = run(strategy)
    # After the first fill the position is worth 88 × 0.54 = 47.52 against 49.09 paid: −1.57 ≤ −1
    assert kinds(result) == ["order_placed", "strategy_paused", "order_refused"]
    assert result["actions"][1]["message"].startswith("today's loss $1.57 reached capital.max_daily_loss $1")
    assert result["actions"][2]["payload"]["check"] == "max_daily_loss"
    strategy.refresh_from_db()
    assert strategy.enabled is False and "max_daily_loss" in strategy.paused_reason


def test_the_daily_loss_pause_is_a_strategy_paused_webhook_caused_by_the_system(alice, staff) -> None:
    from webhooks.models import WebhookDelivery
    from webhooks.services import webhook_endpoint_create

    webhook_endpoint_create(user=alice, url="https://example.com/hook", events=["strategy.paused", "order.filled"])
    strategy = deploy(alice, staff, tickers=(FED, FED_425), capital={"max_daily_loss": 1})
    run(strategy)
    events = [d.payload for d in WebhookDelivery.objects.order_by("id")]
    *fills, paused_event = events
    assert [e["type"] for e in events] == ["order.filled"] * len(fills) + ["strategy.paused"]
    # one event per fill, as the order walked the book: 84 at 0.54 and 4 at 0.55
    assert [(D(e["data"]["fill"]["quantity"]), D(e["data"]["fill"]["price"])) for e in fills] == [
        (D(84), D("0.54")), (D(4), D("0.55"))]
    assert fills[-1]["data"]["fully_filled"] and not fills[0]["data"]["fully_filled"]
    paused = paused_event["data"]
    assert paused["cause"] == "system" and paused["reason"].startswith("today's loss $1.57 reached capital.max_daily_loss")


def test_a_signal_without_a_book_is_refused_with_the_venues_reason(alice, staff) -> None:
    result = run(deploy(alice, staff, tickers=("KXNOPE-00",)))
    [refused] = result["actions"]
    assert refused["payload"]["check"] == "market_data" and "KXNOPE-00" in refused["payload"]["reason"]


POLY_STRATEGY = """
from strategies.sdk import BaseStrategy, EntrySignal


class OneToken(BaseStrategy):
    def should_enter(self, ctx):
        if ctx.positions:
            return []
        return [EntrySignal(market_id=self.get_param("token"), side="yes", reason="test", confidence=0.6,
                            limit_price=0.41)]

    def should_exit(self, ctx, position):
        return None

    def execute_entry(self, ctx, signal):
        result = super().execute_entry(ctx, signal)
        ctx.log(f"result {result['status']} {result['filled_quantity']} @ {result['average_price']}")
        return result
"""


def test_a_polymarket_kelly_entry_pays_the_taker_fee_on_each_level(alice, staff, frozen_simulator) -> None:
    from tests.conftest import example_files
    from trading.venues import venue_client

    token = frozen_simulator.polymarket.long_lived[0].token_ids[0]
    files = example_files("polymarket_copy_trader")
    config = json.loads(files.pop("config.json"))
    config["parameters"] = {"token": token}
    files = {"strategy.py": POLY_STRATEGY, "config.json": json.dumps(config)}
    strategy = strategy_deploy(owner=alice, files=files, approve_by=staff).strategy
    client = venue_client("polymarket")
    try:
        asks = client.get_order_book(token).asks
    finally:
        client.close()
    result = run(strategy)
    [placed] = result["actions"]
    sizing = placed["payload"]["sizing"]
    # kelly: f* = (0.6 − 0.41) / 0.59 = 0.3220…, × 0.5 × $5000 = $805, capped at capital_per_trade $100
    assert (sizing["kelly"], sizing["method_usd"], sizing["binding"]) == ("0.3220", "805.08", "capital_per_trade")
    fills = list(Fill.objects.order_by("id"))
    quantity = D(sizing["quantity"])
    assert sum(f.quantity for f in fills) == quantity
    expected, left = [], quantity
    for level in asks:  # walk the book from the best ask, up to the 0.41 limit
        if left <= 0 or level.price > D("0.41"):
            break
        expected.append((min(left, level.size), level.price))
        left -= min(left, level.size)
    assert [(f.quantity, f.price) for f in fills] == expected
    # taker fee at the market's own rate (/fee-rate; politics: 4 %): Σ shares × 0.04 × p × (1 − p)
    assert frozen_simulator.polymarket.long_lived[0].fee_rate == D("0.04")
    fee = sum((q * D("0.04") * p * (1 - p) for q, p in expected), D(0)).quantize(D("0.000001"))
    assert sum(f.fee_usd for f in fills) == fee
    assert Position.objects.get().cost_basis_usd == sum((q * p for q, p in expected), D(0)) + fee <= 100
    assert any(line["message"].startswith(f"result filled {placed['payload']['filled_quantity']} @ ")
               for line in result["logs"])


SEED_STYLE_STRATEGY = """
from strategies.sdk import BaseStrategy, EntrySignal


class SeedStyle(BaseStrategy):
    def should_enter(self, ctx):
        return [EntrySignal(market_id=self.get_param("tickers")[0], side="yes", reason="test", **SIGNAL)]

    def should_exit(self, ctx, position):
        return None

    def execute_entry(self, ctx, signal):
        return ctx.kalshi.create_order(ticker=signal.market_id, side="BUY", amount=50, price=0.55, **ORDER)
"""


@pytest.mark.parametrize(("signal", "order"), [
    ({}, {"confidence": 0.8, "market_name": "X"}),  # given to create_order
    ({"confidence": 0.8, "market_name": "X"}, {}),  # the seed's create_order(token_id, side, amount): from the signal
])
def test_create_order_in_execute_entry_keeps_the_confidence_kelly_sizes_with_and_the_market_name(
        alice, staff, signal, order) -> None:
    files = scripts_files(name="Seed style", parameters={"tickers": [FED]}, risk_limits=LIMITS,
                          capital={**CAPITAL, "sizing_method": "kelly"})
    del files["entry.py"], files["exit.py"]
    files["strategy.py"] = SEED_STYLE_STRATEGY.replace("SIGNAL", repr(signal)).replace("ORDER", repr(order))
    strategy = strategy_deploy(owner=alice, files=files, approve_by=staff).strategy
    [placed] = run(strategy)["actions"]
    assert placed["kind"] == "order_placed", placed["payload"]
    assert D(placed["payload"]["sizing"]["quantity"]) > 0  # 0.8 against 0.55: an edge, not "no edge" at 0.5
    assert Order.objects.get().market_name == "X"


def test_create_order_buy_in_execute_entry_buys_the_side_of_the_signal_it_executes(alice, staff) -> None:
    """`create_order(side="BUY")` names the action, not the outcome: executing a NO signal, it buys the NO contract.
    It bought YES whatever the signal said (and on Polymarket, where a NO token's side must be "no", every copy of a
    NO-token trade was refused while the signal said "no")."""
    files = scripts_files(name="Seed style", parameters={"tickers": [FED]}, risk_limits=LIMITS, capital=CAPITAL)
    del files["entry.py"], files["exit.py"]
    files["strategy.py"] = (SEED_STYLE_STRATEGY.replace('side="yes"', 'side="no"').replace("SIGNAL", "{}")
                            .replace("ORDER", "{}"))
    strategy = strategy_deploy(owner=alice, files=files, approve_by=staff).strategy
    [placed] = run(strategy)["actions"]
    assert placed["kind"] == "order_placed", placed["payload"]
    assert placed["payload"]["side"] == "no" and Position.objects.get().side == "no"
