"""The desk on its own, with a book set by the test: dry-run exits, repeated requests, cancels."""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

import pytest
from django.utils import timezone

from strategies.cycle.desk import CycleDesk
from strategies.models import Execution, Strategy
from strategies.services import strategy_deploy
from tests.conftest import scripts_files
from trading.models import Order, Position
from trading.venues.domain import BookLevel, Market, OrderBook

pytestmark = pytest.mark.django_db
BOOK = OrderBook("KX-A", bids=(BookLevel(D("0.50"), D(500)),), asks=(BookLevel(D("0.52"), D(500)),))


class BookVenue:
    platform = "kalshi"

    def get_order_book(self, instrument_id: str) -> OrderBook:
        return BOOK

    def get_market_for_instrument(self, instrument_id: str) -> Market:
        return Market(platform="kalshi", market_id=instrument_id, title=instrument_id, instrument_ids=(instrument_id,))

    def close(self) -> None:
        pass


@pytest.fixture
def strategy(alice, staff) -> Strategy:
    return strategy_deploy(owner=alice, files=scripts_files(), approve_by=staff).strategy


def desk_for(strategy: Strategy, *, dry_run: bool = False) -> tuple[CycleDesk, list[tuple[str, str, dict[str, Any]]]]:
    now = timezone.now()
    version = strategy.current_version
    assert version is not None
    execution = Execution.objects.create(strategy=strategy, version=version, trigger="manual", mode="paper",
                                         status="running", scheduled_for=now, started_at=now)
    recorded: list[tuple[str, str, dict[str, Any]]] = []
    desk = CycleDesk(strategy=strategy, execution=execution, dry_run=dry_run,
                     record=lambda kind, message, payload, level: recorded.append((kind, message, payload)),
                     client_factory=lambda platform: BookVenue())  # type: ignore[arg-type,return-value]
    return desk, recorded


def entry(index: int = 0) -> dict[str, Any]:
    return {"intent": "entry", "signal_index": index, "market_id": "KX-A", "side": "yes", "reason": "r",
            "limit_price": 0.52}


def test_asking_twice_for_one_signal_places_one_order(strategy: Strategy) -> None:
    desk, _ = desk_for(strategy)
    desk.open_cycle()
    first = desk.order("kalshi", "create_order", entry())
    again = desk.order("kalshi", "create_order", entry())
    assert again["duplicate"] is True and again["client_order_id"] == first["client_order_id"]
    assert Order.objects.count() == 1


def test_a_dry_run_exit_says_what_it_would_sell_and_changes_nothing(strategy: Strategy) -> None:
    desk, _ = desk_for(strategy)
    desk.open_cycle()
    desk.order("kalshi", "create_order", entry())
    position = Position.objects.get()
    before = (position.quantity, position.cost_basis_usd, position.current_price)

    dry, recorded = desk_for(strategy, dry_run=True)
    positions, capital = dry.open_cycle()
    assert positions[0]["current_price"] == D("0.51")  # the midpoint, in memory only
    # 93 contracts cost 48.36 + roundup(0.07 × 93 × 0.52 × 0.48 = 1.6249) = 49.99; marked 93 × 0.51 = 47.43
    assert (capital["deployed"], capital["pnl_today"]) == (D("49.99"), D("-2.56"))
    result = dry.order("kalshi", "create_order", {"intent": "exit", "signal_index": 0,
                                                  "position_id": str(position.pk), "reason": "r", "fraction": 0.5})
    assert result["status"] == "would_place" and result["quantity"] == "46"  # half of 93 contracts, rounded down
    assert recorded[-1][0] == "order_would_place"
    position.refresh_from_db()
    assert (position.quantity, position.cost_basis_usd, position.current_price) == before
    assert Order.objects.count() == 1


def test_an_exit_of_an_unknown_position_is_refused(strategy: Strategy) -> None:
    desk, recorded = desk_for(strategy)
    result = desk.order("kalshi", "create_order", {"intent": "exit", "signal_index": 0, "position_id": "999",
                                                   "reason": "r"})
    assert (result["status"], result["check"]) == ("refused", "position")
    assert recorded[0][0] == "order_refused"


def test_a_malformed_order_request_is_refused_naming_the_field(strategy: Strategy) -> None:
    desk, _ = desk_for(strategy)
    result = desk.order("kalshi", "create_order", {"intent": "entry", "signal_index": 0, "market_id": "KX-A",
                                                   "side": "buy", "reason": "r"})
    assert result["check"] == "signal" and "side" in result["reason"]


def test_paper_orders_leave_nothing_resting_to_cancel(strategy: Strategy) -> None:
    desk, _ = desk_for(strategy)
    placed = desk.order("kalshi", "create_order", entry())
    result = desk.order("kalshi", "cancel_order", {"order_id": placed["client_order_id"]})
    assert (result["status"], result["cancelled"]) == ("filled", False)
    assert desk.order("kalshi", "cancel_order", {"order_id": "nope"})["status"] == "not_found"
