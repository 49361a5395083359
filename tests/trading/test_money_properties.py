"""Properties over random streams of signals, prices and venue faults:

- paper (any book, both prediction markets, markets resolving): no limit is ever breached, and
  available capital is exactly the cash the fills left (total − what entries paid + what exits
  received), to the cent;
- live against the venue simulator, with answers lost after the venue placed the order and outages
  before it did (unresolved orders in the mix): at every step no limit is breached counting what
  working and unresolved orders may still cost; once every order is settled, the simulator
  account's cash and positions moved exactly as the ledger's fills say, and what the venue really
  filled is within every limit."""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from collections.abc import Iterator
from decimal import Decimal as D
from typing import Any

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from strategies.cycle.desk import CycleDesk
from strategies.models import Execution, ExecutionAction, Strategy, StrategyVersion
from strategies.services import strategy_deploy
from tests.conftest import scripts_files
from tests.trading.conftest import FAST_RETRY
from trading.models import Fill, Order, Position
from trading.selectors import capital_state
from trading.simulator import SimulatorConfig, VenueSimulator
from trading.simulator.books import Book as SimBook
from trading.simulator.books import Level as SimLevel
from trading.simulator.credentials import DevCredentials
from trading.simulator.faults import FaultKind
from trading.venues import simulator_key_dir
from trading.venues.domain import BookLevel, Market, OrderBook
from trading.venues.kalshi import KalshiSigner, KalshiVenue

pytestmark = pytest.mark.django_db

CAPITAL = {"total_capital": 500, "capital_per_trade": 60, "max_positions": 2, "max_position_size": 70,
           "max_daily_loss": 40, "sizing_method": "kelly", "kelly_fraction": 0.5, "percent": None}
MARKETS = ("M-A", "M-B", "M-C", "M-D")
OUTCOMES: Counter[str] = Counter()  # what the streams exercised, checked by the test after


class BookVenue:
    """Serves whatever book the step set: the only stand-in here, for the market itself."""

    def __init__(self) -> None:
        self.books: dict[str, OrderBook] = {}
        self.results: dict[str, str] = {}  # market → "yes" / "no" once it resolved

    def get_order_book(self, instrument_id: str) -> OrderBook:
        return self.books[instrument_id]

    def get_market_for_instrument(self, instrument_id: str) -> Market:
        # Kalshi reads the result against the position's side; Polymarket against the token held (the first).
        return Market(platform="", market_id=instrument_id, title=instrument_id,
                      instrument_ids=(instrument_id, f"{instrument_id}-other-outcome"),
                      settled_outcome=self.results.get(instrument_id))

    def close(self) -> None:
        pass


cents = st.integers(min_value=2, max_value=97).map(lambda c: D(c) / 100)
levels = st.lists(st.tuples(st.integers(min_value=0, max_value=4), st.integers(min_value=1, max_value=300)),
                  min_size=0, max_size=4)
deep = st.lists(st.tuples(st.integers(min_value=0, max_value=4), st.integers(min_value=50, max_value=400)),
                min_size=1, max_size=4)
entry = st.fixed_dictionaries({
    "kind": st.just("entry"), "market": st.sampled_from(MARKETS), "side": st.sampled_from(("yes", "no")),
    "mid": cents, "asks": levels | deep, "bids": levels,
    "confidence": st.floats(min_value=0, max_value=1) | st.floats(min_value=0.9, max_value=1), "size_usd": st.none() | st.floats(min_value=1, max_value=200),
    "limit_offset": st.none() | st.integers(min_value=-2, max_value=6),
})
exit_ = st.fixed_dictionaries({
    "kind": st.just("exit"), "pick": st.integers(min_value=0, max_value=10), "mid": cents, "bids": levels,
    "asks": levels, "fraction": st.sampled_from((0.25, 0.5, 1.0)),
})
new_cycle = st.fixed_dictionaries({"kind": st.just("cycle")})
resolve = st.fixed_dictionaries({"kind": st.just("resolve"), "market": st.sampled_from(MARKETS),
                                 "outcome": st.sampled_from(("yes", "no"))})
steps = st.lists(st.one_of(entry, entry, entry, exit_, new_cycle, resolve), min_size=1, max_size=40)


def book(market: str, step: dict[str, Any]) -> OrderBook:
    mid: D = step["mid"]
    asks = tuple(BookLevel(min(D("0.99"), mid + D(k + 1) / 100), D(size)) for k, size in sorted(step["asks"]))
    bids = tuple(BookLevel(max(D("0.01"), mid - D(k + 1) / 100), D(size)) for k, size in sorted(step["bids"]))
    return OrderBook(market, bids, asks)


@pytest.fixture(params=["kalshi", "polymarket"])
def strategy(request, alice, staff) -> Strategy:
    platform = request.param
    return strategy_deploy(owner=alice, files=scripts_files(
        platform=platform, capital=CAPITAL,
        risk_limits={"max_order_usd": 50, "max_daily_usd": 150, "allowed_services": [platform]},
    ), approve_by=staff).strategy


def assert_ledger_holds(strategy: Strategy) -> None:
    state = capital_state(strategy_id=strategy.pk, book="paper", total_capital=D(500), now=timezone.now())
    paid = sum((f.quantity * f.price + f.fee_usd for f in Fill.objects.filter(order__action="open")), D(0))
    received = sum((f.quantity * f.price - f.fee_usd
                    for f in Fill.objects.filter(order__action__in=("close", "settle"))), D(0))
    cash = D(500) - paid + received
    assert state.reserved_usd == 0  # paper orders are immediate-or-cancel: nothing is left working
    assert round(state.available_usd, 2) == round(cash, 2)
    assert state.available_usd >= 0, "capital over-deployed"
    assert state.open_positions <= 2
    assert paid <= 150, "max_daily_usd breached"
    for position in Position.objects.filter(status="open"):
        assert position.cost_basis_usd <= 70, "max_position_size breached"
    for order in Order.objects.filter(action="open"):
        cost = sum((f.quantity * f.price + f.fee_usd for f in order.fills.all()), D(0))
        assert cost <= 50, "max_order_usd breached"
        assert cost <= 60, "capital_per_trade breached"


@settings(max_examples=150, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(stream=steps)
def test_no_stream_of_signals_breaches_a_limit_and_capital_is_the_cash_the_fills_left(strategy: Strategy,
                                                                                   stream) -> None:
    for model in (Fill, Order, Position, ExecutionAction, Execution):
        model.objects.all().delete()
    Strategy.objects.filter(pk=strategy.pk).update(enabled=True, paused_reason="")
    strategy.refresh_from_db()
    venue = BookVenue()
    actions: list[tuple[str, str]] = []

    def start() -> CycleDesk:
        now = timezone.now()
        version = strategy.current_version
        assert version is not None
        execution = Execution.objects.create(strategy=strategy, version=version, trigger="manual",
                                             mode="paper", status="running", scheduled_for=now, started_at=now)
        desk = CycleDesk(strategy=strategy, execution=execution, dry_run=False,
                         record=lambda kind, message, payload, level: actions.append((kind, message)),
                         client_factory=lambda platform: venue)  # type: ignore[arg-type,return-value]
        for market in MARKETS:
            venue.books.setdefault(market, OrderBook(market, (), ()))
        desk.open_cycle()
        return desk

    desk = start()
    paused = False
    index = itertools.count()
    for step in stream:
        if step["kind"] == "cycle":
            desk = start()
            continue
        if step["kind"] == "resolve":  # the market resolves; the next cycle settles its positions
            if strategy.platform not in ("kalshi", "polymarket"):
                continue  # a stock does not resolve
            held = Position.objects.filter(status="open", market_id=step["market"]).exists()
            venue.results[step["market"]] = step["outcome"]
            desk = start()
            assert not Position.objects.filter(status="open", market_id=step["market"]).exists()
            del venue.results[step["market"]]  # and it trades again, as a new market would
            OUTCOMES["resolve:settled"] += held
            assert_ledger_holds(strategy)
            strategy.refresh_from_db()
            if not strategy.enabled:  # a market resolved against it can cross the daily loss
                assert "max_daily_loss" in strategy.paused_reason
                paused = True
            continue
        if step["kind"] == "entry":
            venue.books[step["market"]] = book(step["market"], step)
            limit = None if step["limit_offset"] is None else float(
                min(D("0.99"), max(D("0.01"), step["mid"] + D(step["limit_offset"]) / 100)))
            result = desk.order(strategy.platform, "create_order", {
                "intent": "entry", "signal_index": next(index), "market_id": step["market"], "side": step["side"],
                "reason": "property", "confidence": step["confidence"], "size_usd": step["size_usd"],
                "limit_price": limit})
        else:
            open_positions = list(Position.objects.filter(status="open").order_by("id"))
            if not open_positions:
                continue
            position = open_positions[step["pick"] % len(open_positions)]
            venue.books[position.market_id] = book(position.market_id, step)
            result = desk.order(strategy.platform, "create_order", {
                "intent": "exit", "signal_index": next(index), "position_id": str(position.pk), "reason": "property",
                "fraction": step["fraction"]})
        assert result["status"] in ("filled", "partially_filled", "cancelled", "refused"), result
        OUTCOMES[f"{step['kind']}:{result.get('check', result['status'])}"] += 1
        if step["kind"] == "entry" and paused:
            assert result["status"] == "refused", "an entry went through after the pause"
        assert_ledger_holds(strategy)
        strategy.refresh_from_db()
        if not strategy.enabled:  # paused by the daily loss: no entry may follow in this cycle or later
            assert "max_daily_loss" in strategy.paused_reason
            paused = True


# --- live, against the venue simulator ---------------------------------------------------------------

LIVE_MARKETS = ("KXSIMFED-26DEC31-T4.00", "KXSIMBTC-26DEC31-T120000")  # two: entries often meet on one
# Fixed $50 entries: two on one market (the first unresolved) would pass the $70 position limit.
LIVE_CAPITAL = {**CAPITAL, "capital_per_trade": 50, "sizing_method": "fixed", "kelly_fraction": None}
LIVE_LIMITS = {"capital": 500, "max_positions": 2, "max_position_size": 70, "max_daily_usd": 150}
ORDER_POST = "/portfolio/events/orders"
# Each fault hits one entry order on every retry. Exits are left alone: an exit whose answer is lost followed
# by a second exit oversells (finding 1 of issue 10, fixed apart); once it is, let these hit exits too.
FAULTS: dict[str, tuple[FaultKind, dict[str, Any]]] = {
    "lost_answer": ("disconnect", {"venue": "kalshi", "method": "POST", "path_contains": ORDER_POST,
                                   "phase": "after", "count": FAST_RETRY.attempts}),
    "outage": ("status", {"status": 503, "venue": "kalshi", "method": "POST", "path_contains": ORDER_POST,
                          "count": FAST_RETRY.attempts}),
}
live_entry = st.fixed_dictionaries({
    "kind": st.just("entry"), "market": st.sampled_from(LIVE_MARKETS), "mid": cents, "asks": levels | deep,
    "bids": levels, "confidence": st.floats(min_value=0.5, max_value=1), "size_usd": st.none() | st.floats(1, 200),
    "limit_offset": st.none() | st.integers(min_value=-2, max_value=6),
})
lost_answer = st.fixed_dictionaries({"kind": st.just("lost_answer")})  # the venue places it, the answer is lost
outage = st.fixed_dictionaries({"kind": st.just("outage")})  # 503s: the order never reaches the venue
live_steps = st.lists(st.one_of(live_entry, live_entry, live_entry, live_entry, exit_, new_cycle, lost_answer, outage),
                      min_size=1, max_size=25)


@pytest.fixture(scope="module")
def live_simulator() -> Iterator[VenueSimulator]:
    """A simulator of our own: its Kalshi account is this module's alone."""
    sim = VenueSimulator(SimulatorConfig(port=0, speed=0, key_dir=simulator_key_dir())).start()
    yield sim
    sim.stop()


@pytest.fixture
def live_strategy(alice, staff, settings, monkeypatch, live_simulator: VenueSimulator) -> Strategy:
    settings.KILL_SWITCH = False
    monkeypatch.setattr(live_simulator.kalshi, "book", lambda market: LIVE_BOOKS[market.ticker])
    version = strategy_deploy(owner=alice, files=scripts_files(
        name="Live property", capital=LIVE_CAPITAL, risk_limits={"max_order_usd": 50, "max_daily_usd": 150,
                                                            "allowed_services": ["kalshi"]},
    ), mode="live", approve_by=staff)
    StrategyVersion.objects.filter(pk=version.pk).update(approved_live_by=staff, approved_live_at=timezone.now())
    return Strategy.objects.get(pk=version.strategy_id)


LIVE_BOOKS: dict[str, SimBook] = {}


def sim_book(step: dict[str, Any]) -> SimBook:
    venue_book = book("", step)
    return SimBook(bids=tuple(SimLevel(level.price, level.size) for level in venue_book.bids),
                   asks=tuple(SimLevel(level.price, level.size) for level in venue_book.asks))


def venue_account(client: KalshiVenue) -> tuple[D, dict[str, D]]:
    held = {p.instrument_id: p.quantity for p in client.get_positions() if p.instrument_id in LIVE_MARKETS}
    return client.get_balance().cash, held


def assert_limits_hold_counting_working_orders() -> None:
    """Counted from the rows, not by the code under test: what is held, plus what every entry that may still
    fill would cost at its limit (fees left out, so this is the least it may cost)."""
    working = Order.objects.filter(action="open", status__in=("new", "submitted", "partially_filled", "unresolved"))
    may_cost: defaultdict[str, D] = defaultdict(D)
    for order in working:
        assert order.limit_price is not None
        may_cost[order.market_id] += (order.quantity - order.filled_quantity) * order.limit_price
    held = {p.market_id: p.cost_basis_usd for p in Position.objects.filter(status="open")}
    realized = sum((p.realized_pnl_usd for p in Position.objects.all()), D(0))
    spent = sum((f.quantity * f.price + f.fee_usd for f in Fill.objects.filter(order__action="open")), D(0))
    assert sum(held.values(), D(0)) + sum(may_cost.values(), D(0)) <= LIVE_LIMITS["capital"] + realized, (
        "capital over-deployed")
    assert len(held.keys() | may_cost.keys()) <= LIVE_LIMITS["max_positions"], "max_positions breached"
    assert spent + sum(may_cost.values(), D(0)) <= LIVE_LIMITS["max_daily_usd"], "max_daily_usd breached"
    for market in held.keys() | may_cost.keys():
        assert held.get(market, D(0)) + may_cost[market] <= LIVE_LIMITS["max_position_size"], (
            f"max_position_size breached on {market}")


@settings(max_examples=40, deadline=None, database=None, derandomize=True,  # the same streams every run
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(stream=live_steps)
def test_live_the_venue_account_moves_as_the_ledger_says_and_no_limit_is_breached_under_faults(
        live_strategy: Strategy, live_simulator: VenueSimulator, dev: DevCredentials, stream) -> None:
    strategy = live_strategy
    for model in (Fill, Order, Position, ExecutionAction, Execution):
        model.objects.all().delete()
    Strategy.objects.filter(pk=strategy.pk).update(enabled=True, paused_reason="")
    strategy.refresh_from_db()
    live_simulator.faults.clear()
    flat = SimBook(bids=(SimLevel(D("0.48"), D(100)),), asks=(SimLevel(D("0.52"), D(100)),))
    LIVE_BOOKS.update({market: flat for market in LIVE_MARKETS})
    client = KalshiVenue(live_simulator.venue_urls()["kalshi"]["api_url"],
                         KalshiSigner.from_file(dev.kalshi_key_id, dev.kalshi_private_key_path),
                         timeout=0.5, rate_limits=None, retry=FAST_RETRY)
    cash_before, held_before = venue_account(client)

    def start() -> CycleDesk:
        now = timezone.now()
        version = strategy.current_version
        assert version is not None
        # The previous cycle is over: its orders are reconciliation's now (a running cycle keeps its own).
        Execution.objects.filter(strategy=strategy, status="running").update(status="succeeded", finished_at=now)
        execution = Execution.objects.create(strategy=strategy, version=version, trigger="manual", mode="live",
                                             status="running", scheduled_for=now, started_at=now)
        desk = CycleDesk(strategy=strategy, execution=execution, dry_run=False,
                         record=lambda kind, message, payload, level: None,
                         client_factory=lambda platform: client)
        desk.open_cycle()  # settles unresolved orders by asking the venue, reconciles, marks
        return desk

    try:
        desk = start()
        index = itertools.count()
        armed = ""
        for step in stream:
            if step["kind"] == "cycle":
                desk = start()
            elif step["kind"] in ("lost_answer", "outage"):
                armed = step["kind"]  # for the next entry only (see FAULTS)
            elif step["kind"] == "entry":
                LIVE_BOOKS[step["market"]] = sim_book(step)
                limit = None if step["limit_offset"] is None else float(
                    min(D("0.99"), max(D("0.01"), step["mid"] + D(step["limit_offset"]) / 100)))
                if armed:
                    kind, options = FAULTS[armed]
                    live_simulator.faults.inject(kind, **options)
                result = desk.order("kalshi", "create_order", {
                    "intent": "entry", "signal_index": next(index), "market_id": step["market"], "side": "yes",
                    "reason": "property", "confidence": step["confidence"], "size_usd": step["size_usd"],
                    "limit_price": limit})
                live_simulator.faults.clear()
                armed = ""
                OUTCOMES[f"live:entry:{result.get('check', result['status'])}"] += 1
            else:
                open_positions = list(Position.objects.filter(status="open").order_by("id"))
                if not open_positions:
                    continue
                position = open_positions[step["pick"] % len(open_positions)]
                LIVE_BOOKS[position.market_id] = sim_book(step)
                result = desk.order("kalshi", "create_order", {
                    "intent": "exit", "signal_index": next(index), "position_id": str(position.pk),
                    "reason": "property", "fraction": step["fraction"]})
                OUTCOMES[f"live:exit:{result.get('check', result['status'])}"] += 1
            assert_limits_hold_counting_working_orders()

        live_simulator.faults.clear()
        start()  # the venue answers again: every unresolved order is settled
        assert not Order.objects.filter(status__in=("new", "submitted", "partially_filled", "unresolved")).exists()
        assert_limits_hold_counting_working_orders()
        # What the venue really filled, counted from its fills, is within every limit.
        paid = sum((f.quantity * f.price + f.fee_usd for f in Fill.objects.filter(order__action="open")), D(0))
        received = sum((f.quantity * f.price - f.fee_usd for f in Fill.objects.filter(order__action="close")), D(0))
        assert paid <= LIVE_LIMITS["max_daily_usd"]
        open_positions = list(Position.objects.filter(status="open"))
        assert len(open_positions) <= LIVE_LIMITS["max_positions"]
        assert all(p.cost_basis_usd <= LIVE_LIMITS["max_position_size"] for p in open_positions)
        # The simulator account moved exactly as the ledger says: cash by the fills' cash, positions by their
        # quantities (reconciliation never edits the ledger, so only fills recorded from the venue can agree).
        cash_after, held_after = venue_account(client)
        assert cash_after - cash_before == received - paid
        ledger_held = {p.market_id: p.quantity for p in open_positions}
        for market in LIVE_MARKETS:
            assert held_after.get(market, D(0)) - held_before.get(market, D(0)) == ledger_held.get(market, D(0))
        OUTCOMES["live:settled"] += Order.objects.exclude(reject_reason="").filter(
            reject_reason__startswith="outcome unknown").count()
    finally:
        live_simulator.faults.clear()
        client.close()


def test_the_streams_exercised_fills_and_refusals() -> None:
    """Runs after the property (file order): the random streams really filled, exited and hit limits."""
    if not OUTCOMES:
        pytest.skip("run with the property test")
    assert OUTCOMES["entry:filled"] + OUTCOMES["entry:partially_filled"] > 0
    assert OUTCOMES["exit:filled"] + OUTCOMES["exit:partially_filled"] > 0
    assert OUTCOMES["resolve:settled"] > 0
    assert sum(count for key, count in OUTCOMES.items() if key.startswith("entry:") and key[6:] in (
        "max_order_usd", "capital", "max_positions", "max_position_size", "max_daily_usd", "sizing")) > 0
    if any(key.startswith("live:") for key in OUTCOMES):
        assert OUTCOMES["live:entry:unresolved"] > 0 and OUTCOMES["live:settled"] > 0
        assert OUTCOMES["live:entry:filled"] + OUTCOMES["live:entry:partially_filled"] > 0
        assert OUTCOMES["live:exit:filled"] + OUTCOMES["live:exit:partially_filled"] > 0
