"""Today's P&L is measured from the start of the UTC day: a position held over midnight counts from its
first mark of the day, so yesterday's gains cannot hide today's losses from `max_daily_loss`."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal as D
from typing import Any

import pytest
from django.utils import timezone

from strategies.models import Execution, Strategy
from strategies.services import strategy_deploy
from tests.conftest import scripts_files
from tests.trading.test_paper_cycle import CAPITAL, FED, FED_425, LIMITS, frozen_simulator, run, venues
from trading.capital import market_day
from trading.models import Fill, Order, Position
from trading.simulator import VenueSimulator
from trading.simulator.books import Book, Level

pytestmark = pytest.mark.django_db
__all__ = ["frozen_simulator", "venues"]  # fixtures shared with the paper cycle tests

ENTRY = """
from strategies.sdk import EntrySignal


def should_enter(ctx):
    ctx.log(f"pnl today {ctx.capital.pnl_today:.2f}")
    return [EntrySignal(market_id=m, side="yes", reason="test", confidence=0.6, limit_price=0.61)
            for m in ctx.state.get("enter", [])]
"""
EXIT = """
from strategies.sdk import ExitSignal


def should_exit(ctx, position):
    return ExitSignal(position.position_id, reason="test") if position.market_id in ctx.state.get("exit", []) else None
"""


def book(bid: str, ask: str) -> Book:
    return Book(bids=(Level(D(bid), D(1000)),), asks=(Level(D(ask), D(1000)),))


@pytest.fixture
def books(monkeypatch, frozen_simulator: VenueSimulator) -> dict[str, Book]:
    """Each Kalshi market's YES book, as the test sets it."""
    books: dict[str, Book] = {}
    monkeypatch.setattr(frozen_simulator.kalshi, "book", lambda market: books[market.ticker])
    return books


def yesterday_it_was(strategy: Strategy) -> None:
    """Everything the strategy did so far happened a day ago (there is no clock to move in the simulator)."""
    day = timedelta(days=1)
    for position in Position.objects.filter(strategy=strategy):
        Position.objects.filter(pk=position.pk).update(opened_at=position.opened_at - day)
    for fill in Fill.objects.filter(order__strategy=strategy):
        Fill.objects.filter(pk=fill.pk).update(filled_at=fill.filled_at - day)
    for order in Order.objects.filter(strategy=strategy):
        Order.objects.filter(pk=order.pk).update(created_at=order.created_at - day)
    for execution in Execution.objects.filter(strategy=strategy):
        Execution.objects.filter(pk=execution.pk).update(scheduled_for=execution.scheduled_for - day)


def pnl_logged(result: dict[str, Any]) -> list[str]:
    return [line["message"] for line in result["logs"] if line["message"].startswith("pnl today")]


def test_a_position_up_since_yesterday_does_not_hide_todays_realized_loss(alice, staff, books) -> None:
    files = scripts_files(name="Old gains", parameters={}, capital={**CAPITAL, "max_daily_loss": 20},
                          risk_limits=LIMITS)
    files["entry.py"], files["exit.py"] = ENTRY, EXIT
    strategy = strategy_deploy(owner=alice, files=files, approve_by=staff).strategy

    books[FED] = book("0.29", "0.30")
    run(strategy, state={"enter": [FED]})  # yesterday: bought FED YES at 0.30
    yesterday_it_was(strategy)
    old = Position.objects.get(market_id=FED)
    # $50 at ≤ 0.61 is 79 contracts; they fill at 0.30: 23.70 + roundup(0.07 × 79 × 0.3 × 0.7) = 24.87
    assert (old.quantity, old.cost_basis_usd) == (D(79), D("24.87"))

    books[FED] = book("0.59", "0.61")  # overnight FED doubled: 79 × 0.60 − 24.87 = +22.53, none of it today's
    books[FED_425] = book("0.54", "0.55")
    result = run(strategy, state={"enter": [FED_425]})  # today: buy FED_425 at 0.55
    assert pnl_logged(result) == ["pnl today 0.00"]  # before: +22.53, yesterday's gain counted as today's

    books[FED_425] = book("0.25", "0.85")  # FED_425's bids collapse (its midpoint barely moves)
    result = run(strategy, state={"exit": [FED_425]})
    sold = Position.objects.get(market_id=FED_425)
    # 79 bought at 0.55 for 43.45 + 1.37 fee, sold at 0.25 for 19.75 − 1.04 fee: −26.11. Before, FED's +22.53
    # since yesterday made today −3.58, and the strategy went on trading.
    assert (sold.status, sold.realized_pnl_usd) == ("closed", D("-26.11"))
    assert [action["kind"] for action in result["actions"]] == ["order_placed", "position_closed", "strategy_paused"]
    assert result["actions"][2]["message"].startswith("today's loss $26.11 reached capital.max_daily_loss $20")
    strategy.refresh_from_db()
    assert strategy.enabled is False and "max_daily_loss" in strategy.paused_reason
    old.refresh_from_db()
    assert (old.day_start_price, old.day_start_on) == (D("0.60"), timezone.now().date())  # the day's first mark


def test_a_position_held_over_midnight_counts_today_from_its_first_mark_of_the_day(alice, staff, books) -> None:
    files = scripts_files(name="Day start", parameters={}, capital=CAPITAL, risk_limits=LIMITS)
    files["entry.py"], files["exit.py"] = ENTRY, EXIT
    strategy = strategy_deploy(owner=alice, files=files, approve_by=staff).strategy
    books[FED] = book("0.29", "0.30")
    run(strategy, state={"enter": [FED]})
    yesterday_it_was(strategy)

    books[FED] = book("0.49", "0.51")  # the day's first mark: 0.50
    assert pnl_logged(run(strategy, state={})) == ["pnl today 0.00"]
    books[FED] = book("0.39", "0.41")  # down 0.10 today (still up since entry): 79 × −0.10
    assert pnl_logged(run(strategy, state={})) == ["pnl today -7.90"]
    # A dry run counts its in-memory marks the same way, and stores nothing.
    books[FED] = book("0.59", "0.61")
    assert pnl_logged(run(strategy, "--dry-run", state={})) == ["pnl today 7.90"]
    assert Position.objects.get(market_id=FED).day_start_price == D("0.50")


def test_where_a_market_sides_day_starts() -> None:
    now = {"value_now_usd": D(60), "paid_today_usd": D(0), "received_today_usd": D(0)}
    # Held over midnight, marked at 0.50 first today: 100 × 0.50 = 50 at the start, +10 today.
    assert market_day(quantity_at_midnight=D(100), day_start_price=D("0.50"), cost_at_midnight=D(30), **now).pnl_usd \
        == D(10)
    # Held over midnight and never marked today (no book): from its cost at midnight, P&L since entry.
    assert market_day(quantity_at_midnight=D(100), day_start_price=None, cost_at_midnight=D(30), **now).pnl_usd == D(30)
    # Opened today for 31 (fees included): from its cost basis.
    opened = market_day(quantity_at_midnight=D(0), day_start_price=None, cost_at_midnight=D(0),
                        value_now_usd=D(60), paid_today_usd=D(31), received_today_usd=D(0))
    assert opened.pnl_usd == D(29)
    # Sold today for 55 net of fees, having started the day worth 50: +5, whatever it cost once.
    sold = market_day(quantity_at_midnight=D(100), day_start_price=D("0.50"), cost_at_midnight=D(30),
                      value_now_usd=D(0), paid_today_usd=D(0), received_today_usd=D(55))
    assert sold.pnl_usd == D(5)
