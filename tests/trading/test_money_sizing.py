"""The capital engine's sizing: every method, every cap, with worked numbers (docs/money.md, "Sizing")."""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

from trading.capital import CapitalPlan, affordable_quantity, entry_size, kelly_fraction_of, worst_cost


def plan(platform: str = "polymarket", **capital: Any) -> CapitalPlan:
    limits = capital.pop("risk_limits", {"max_order_usd": 100, "max_daily_usd": 500})
    config = {
        "capital": {"total_capital": 5000, "capital_per_trade": 100, "max_positions": 5, "max_position_size": 500,
                    "max_daily_loss": 200, "sizing_method": "fixed", "kelly_fraction": None, "percent": None,
                    **capital},
        "risk_limits": limits,
    }
    return CapitalPlan.from_config(config, platform)


def size(p: CapitalPlan, *, confidence: str = "0.5", price: str = "0.40", size_usd: str | None = None,
         held: str = "0", available: str = "5000"):
    return entry_size(p, confidence=D(confidence), limit_price=D(price),
                      size_usd=D(size_usd) if size_usd else None, position_cost_usd=D(held),
                      available_usd=D(available))


def test_fixed_sizes_capital_per_trade_and_buys_what_that_pays_for_fees_included() -> None:
    sizing = size(plan())
    assert (sizing.method_usd, sizing.budget_usd, sizing.binding) == (D(100), D(100), "method")
    # Polymarket at 5 %: worst fee 0.05 × q × 0.40 × 0.60 = 0.012 q, so q × 0.412 ≤ 100 → 242.71 shares
    assert sizing.quantity == D("242.71")
    assert sizing.worst_cost_usd == D("242.71") * D("0.412") <= 100


def test_kalshi_buys_whole_contracts_and_leaves_room_for_the_rounded_fee() -> None:
    sizing = size(plan("kalshi", capital_per_trade=50, risk_limits={}), price="0.62")
    # 50 / 0.62 = 80 contracts: 49.60 + roundup(0.07 × 80 × 0.25) = 49.60 + 1.40 = 51.00 > 50
    # 78 contracts: 48.36 + roundup(1.365) = 48.36 + 1.37 = 49.73 ≤ 50
    assert (sizing.quantity, sizing.worst_cost_usd) == (D(78), D("49.73"))


def test_percent_capital_is_a_percentage_of_total_capital() -> None:
    sizing = size(plan(sizing_method="percent_capital", percent=1.5))
    assert (sizing.method_usd, sizing.budget_usd, sizing.binding) == (D(75), D(75), "method")


def test_percent_equity_is_a_percentage_of_current_equity() -> None:
    roomy = plan(sizing_method="percent_equity", percent=10, capital_per_trade=2000, max_position_size=2000,
                 risk_limits={})
    sizing = entry_size(roomy, confidence=D("0.5"), limit_price=D("0.40"), size_usd=None, position_cost_usd=D(0),
                        available_usd=D(5000), equity_usd=D(6400))
    assert (sizing.method_usd, sizing.budget_usd, sizing.binding) == (D(640), D(640), "method")


def test_kelly_is_fractional_kelly_of_total_capital_from_confidence_and_price() -> None:
    roomy = plan(sizing_method="kelly", kelly_fraction=0.5, capital_per_trade=2000, max_position_size=2000,
                 risk_limits={})
    # f* = (0.55 − 0.50) / (1 − 0.50) = 0.1; × 0.5 = 0.05; × 5000 = 250
    sizing = size(roomy, confidence="0.55", price="0.50")
    assert (sizing.kelly, sizing.method_usd, sizing.budget_usd, sizing.binding) == (D("0.1"), D(250), D(250), "method")


def test_kelly_is_capped_by_capital_per_trade() -> None:
    # f* = (0.7 − 0.4) / 0.6 = 0.5; × 0.5 × 5000 = 1250, capped at 100 per trade
    sizing = size(plan(sizing_method="kelly", kelly_fraction=0.5, risk_limits={}), confidence="0.7")
    assert (sizing.method_usd, sizing.budget_usd, sizing.binding) == (D(1250), D(100), "capital_per_trade")


def test_kelly_without_an_edge_sizes_nothing() -> None:
    assert kelly_fraction_of(D("0.5"), D("0.6"), venue="kalshi") == 0
    sizing = size(plan(sizing_method="kelly", kelly_fraction=0.5), confidence="0.5", price="0.60")
    assert (sizing.budget_usd, sizing.quantity) == (D(0), D(0))


def test_kelly_on_shares_is_the_even_money_bet() -> None:
    assert kelly_fraction_of(D("0.6"), D(150), venue="alpaca") == D("0.2")


def test_a_signal_size_is_a_request_that_is_capped_too() -> None:
    assert (size(plan(), size_usd="30").budget_usd, size(plan(), size_usd="30").binding) == (D(30), "size_usd")
    assert size(plan(), size_usd="1000").budget_usd == D(100)


def test_what_the_position_already_holds_counts_against_max_position_size() -> None:
    sizing = size(plan(capital_per_trade=200, risk_limits={}), held="450")
    assert (sizing.budget_usd, sizing.binding) == (D(50), "max_position_size")
    assert size(plan(), held="500").quantity == 0


def test_max_order_usd_and_available_capital_cap_the_order() -> None:
    sizing = size(plan(capital_per_trade=300, risk_limits={"max_order_usd": 80}))
    assert (sizing.budget_usd, sizing.binding) == (D(80), "max_order_usd")
    sizing = size(plan(), available="20.555")
    assert (sizing.budget_usd, sizing.binding) == (D("20.55"), "available_capital")
    assert size(plan(), available="-3").quantity == 0


def test_alpaca_buys_fractional_shares_at_the_price() -> None:
    sizing = size(plan("alpaca", risk_limits={}), price="187.30")
    assert sizing.quantity == D("0.533902")  # 100 / 187.30 = 0.53390283…, rounded down to 6 places
    assert sizing.worst_cost_usd <= 100


def test_affordable_quantity_never_exceeds_the_budget() -> None:
    for venue in ("kalshi", "polymarket", "alpaca"):
        for budget in ("0.5", "1", "7.77", "99.99", "1000"):
            for price in ("0.01", "0.37", "0.5", "0.93"):
                quantity = affordable_quantity(venue, budget=D(budget), limit_price=D(price))
                assert worst_cost(venue, quantity=quantity, limit_price=D(price)) <= D(budget)
