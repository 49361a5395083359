"""Each limit at its edge: an order that meets a limit exactly passes, a cent more is refused, and every refusal
says in words what a person should know (docs/money.md)."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal as D

from tests.trading.test_money_risk import OK, PAPER, PLAN, refused
from trading.risk import Authority, entry_refusal, exit_refusal

# PLAN: max_order_usd 50, capital available as given, max_position_size 200, max_daily_usd 300, kalshi only.


def test_an_order_costing_exactly_max_order_usd_passes() -> None:
    assert entry_refusal(PLAN, replace(OK, cost_usd=D(50)), PAPER) is None


def test_an_order_costing_exactly_what_is_available_passes_and_a_negative_balance_shows_as_nothing() -> None:
    assert entry_refusal(PLAN, replace(OK, available_usd=D("49.73")), PAPER) is None
    assert refused(replace(OK, available_usd=D(-3))) == (
        "capital", "capital would be over-deployed: order of $49.73, $0.00 available")


def test_a_position_reaching_exactly_max_position_size_passes() -> None:
    # holds 150.27 + 49.73 = 200.00
    assert entry_refusal(PLAN, replace(OK, adds_to_open_position=True, position_cost_usd=D("150.27")), PAPER) is None


def test_spending_exactly_max_daily_usd_passes() -> None:
    # 250.27 spent + 49.73 = 300.00
    assert entry_refusal(PLAN, replace(OK, spent_today_usd=D("250.27")), PAPER) is None


def test_the_daily_loss_refusal_carries_the_reason_the_desk_gave() -> None:
    reason = "today's loss $100.00 reached capital.max_daily_loss $100"
    assert refused(authority=replace(PAPER, daily_loss_reason=reason)) == ("max_daily_loss", reason)


def test_a_live_order_of_an_unapproved_version_says_so() -> None:
    unapproved = Authority(live=True, approved_for_live=False, kill_switch=False)
    assert refused(authority=unapproved) == (
        "live_approval", "live mode, and this exact version is not approved for live trading")
    refusal = exit_refusal(PLAN, "kalshi", unapproved)
    assert refusal is not None and refusal.check == "live_approval"

