"""The capital engine at its edges: the config it reads, the worst cost at the token's own fee rate, the largest
affordable quantity, the sizing payload the script sees, and the average-cost lot arithmetic.

Every expected value is worked out by hand in the comment beside it (docs/money.md).
"""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from trading.capital import (
    QUANTITY_STEP,
    CapitalPlan,
    Lot,
    affordable_quantity,
    entry_size,
    fee_bound,
    kelly_fraction_of,
    lot_buy,
    lot_sell,
    worst_cost,
)

CONFIG = {
    "capital": {"total_capital": 1000, "capital_per_trade": 25.5, "max_positions": 3, "max_position_size": 80,
                "max_daily_loss": 40, "sizing_method": "kelly", "kelly_fraction": 0.25, "percent": None},
    "risk_limits": {"max_order_usd": 30, "max_daily_usd": 120, "allowed_services": ["kalshi", "polymarket"]},
}


def fields(plan: CapitalPlan) -> tuple[object, ...]:
    return (plan.platform, plan.total_capital, plan.capital_per_trade, plan.max_positions, plan.max_position_size,
            plan.max_daily_loss, plan.sizing_method, plan.kelly_fraction, plan.percent, plan.max_order_usd,
            plan.max_daily_usd, plan.allowed_services)


def test_a_plan_reads_every_capital_field_and_risk_limit_as_exact_decimals() -> None:
    assert fields(CapitalPlan.from_config(CONFIG, "kalshi")) == (
        "kalshi", D(1000), D("25.5"), 3, D(80), D(40), "kelly", D("0.25"), None, D(30), D(120),
        ("kalshi", "polymarket"))


def test_a_plan_without_risk_limits_has_no_order_or_daily_cap_and_trades_its_own_platform_only() -> None:
    plan = CapitalPlan.from_config({"capital": CONFIG["capital"]}, "kalshi")
    assert (plan.max_order_usd, plan.max_daily_usd, plan.allowed_services) == (None, None, ("kalshi",))


def test_the_worst_cost_uses_the_tokens_own_fee_rate() -> None:
    # 100 @ 0.40 at 7 %: 40 + 0.07 × 100 × 0.40 × 0.60 = 40 + 1.68; at the 5 % default it would be 41.20
    assert worst_cost("polymarket", quantity=D(100), limit_price=D("0.40"), polymarket_rate=D("0.07")) == D("41.68")
    assert worst_cost("polymarket", quantity=D(100), limit_price=D("0.40")) == D("41.20")


def test_the_polymarket_fee_bound_rounds_up_at_the_sixth_decimal() -> None:
    # 0.07 × 0.02 × 0.11 × 0.89 = 0.00013706 → 0.000138 (rounding to nearest would give 0.000137)
    assert fee_bound("polymarket", quantity=D("0.02"), limit_price=D("0.11"), polymarket_rate=D("0.07")) == D(
        "0.000138")


def test_the_fee_bound_above_half_is_the_fee_at_half() -> None:
    # a buy limited at 0.80 may fill at 0.50, where p(1 − p) peaks: 0.07 × 10 × 0.25 = 0.175 → 0.18
    assert fee_bound("kalshi", quantity=D(10), limit_price=D("0.80")) == D("0.18")
    assert fee_bound("alpaca", quantity=D(10), limit_price=D(150)) == 0


def test_kelly_at_a_price_of_one_has_no_edge() -> None:
    assert kelly_fraction_of(D("0.9"), D(1), venue="kalshi") == 0
    assert kelly_fraction_of(D("0.9"), D("0.5"), venue="kalshi") == D("0.8")  # (0.9 − 0.5) / 0.5


def test_nothing_is_affordable_at_a_price_of_zero_or_on_no_budget() -> None:
    assert affordable_quantity("kalshi", budget=D(10), limit_price=D(0)) == 0
    assert affordable_quantity("kalshi", budget=D(0), limit_price=D("0.10")) == 0


def test_one_dollar_buys_what_it_pays_for_fee_included() -> None:
    # 10 @ 0.10: 1.00 + roundup(0.07 × 10 × 0.09 = 0.063) = 1.07 > 1; 9: 0.90 + roundup(0.0567) = 0.96
    assert affordable_quantity("kalshi", budget=D(1), limit_price=D("0.10")) == 9
    # a budget the worst cost meets exactly is affordable
    assert affordable_quantity("kalshi", budget=D("1.07"), limit_price=D("0.10")) == 10


def test_the_quantity_is_the_largest_that_fits_even_where_the_fee_rounds_up() -> None:
    # $5 @ 0.25: 20 cost 5.00 + roundup(0.07 × 20 × 0.1875 = 0.2625) = 5.27; 19 cost 4.75 + roundup(0.249375) = 5.00
    assert affordable_quantity("kalshi", budget=D(5), limit_price=D("0.25")) == 19
    # $10 @ 0.16: 59 cost 9.44 + roundup(0.07 × 59 × 0.1344 = 0.555072) = 10.00
    assert affordable_quantity("kalshi", budget=D(10), limit_price=D("0.16")) == 59
    for venue in ("kalshi", "polymarket"):
        step = QUANTITY_STEP[venue]
        for budget in ("1", "5", "10", "20", "50", "100"):
            for cents in range(1, 100, 3):
                price = D(cents) / 100
                quantity = affordable_quantity(venue, budget=D(budget), limit_price=price)
                assert worst_cost(venue, quantity=quantity, limit_price=price) <= D(budget)
                assert worst_cost(venue, quantity=quantity + step, limit_price=price) > D(budget), (venue, budget, price)


def test_an_entry_at_the_tokens_own_rate_buys_less() -> None:
    plan = CapitalPlan.from_config(
        {"capital": {"total_capital": 5000, "capital_per_trade": 100, "max_positions": 5, "max_position_size": 500,
                     "max_daily_loss": 200, "sizing_method": "fixed"}}, "polymarket")
    sizing = entry_size(plan, confidence=D("0.5"), limit_price=D("0.40"), size_usd=None, position_cost_usd=D(0),
                        available_usd=D(5000), polymarket_rate=D("0.07"))
    # at 7 %: 250 shares cost 100 + 0.07 × 250 × 0.24 = 104.20; 250 × 100 / 104.20 = 239.92…;
    # 239.92 cost 95.968 + 4.030656 = 99.998656; 239.93 would cost 100.002824
    assert (sizing.quantity, sizing.worst_cost_usd) == (D("239.92"), D("99.998656"))


def test_the_sizing_payload_shows_every_amount_in_cents_rounded_half_up() -> None:
    plan = CapitalPlan.from_config(
        {"capital": {"total_capital": 5000, "capital_per_trade": 100, "max_positions": 5, "max_position_size": 500,
                     "max_daily_loss": 200, "sizing_method": "fixed"}}, "polymarket")
    sizing = entry_size(plan, confidence=D("0.5"), limit_price=D("0.40"), size_usd=D("12.345"),
                        position_cost_usd=D(0), available_usd=D(5000))
    # budget 12.345 → 12.34 (down); 30.85 shares cost 12.34 + 0.3702 > 12.34; 30.85 × 12.34 / 12.7102 = 29.95…;
    # 29.95 cost 11.98 + 0.05 × 29.95 × 0.24 = 11.98 + 0.3594 = 12.3394 (29.96 would cost 12.34352)
    assert sizing.as_json() == {
        "method": "fixed", "method_usd": "100.00", "requested_usd": "12.35", "budget_usd": "12.34",
        "binding": "size_usd", "limit_price": "0.40", "quantity": "29.95", "notional_usd": "11.98",
        "worst_cost_usd": "12.34",
    }


def test_the_kelly_payload_carries_the_kelly_fraction() -> None:
    plan = CapitalPlan.from_config(
        {"capital": {"total_capital": 5000, "capital_per_trade": 2000, "max_positions": 5, "max_position_size": 2000,
                     "max_daily_loss": 200, "sizing_method": "kelly", "kelly_fraction": 0.5}}, "kalshi")
    sizing = entry_size(plan, confidence=D("0.55"), limit_price=D("0.50"), size_usd=None, position_cost_usd=D(0),
                        available_usd=D(5000))
    # f* = (0.55 − 0.50) / 0.50 = 0.1; × 0.5 × 5000 = 250
    payload = sizing.as_json()
    assert (payload["kelly"], payload["method"], payload["method_usd"], payload["requested_usd"]) == (
        "0.1000", "kelly", "250.00", None)


def test_lots_follow_the_worked_example_at_average_cost() -> None:
    # docs/money.md: buy 100 @ 0.40 (fee 1.20), buy 50 @ 0.50 (fee 0.625), sell 60 @ 0.55 (fee 0.7425),
    # sell 90 @ 0.30 (fee 0.945)
    lot = lot_buy(Lot(), quantity=D(100), price=D("0.40"), fee=D("1.20"))
    assert lot == Lot(D(100), D("41.20"))
    lot = lot_buy(lot, quantity=D(50), price=D("0.50"), fee=D("0.625"))
    assert lot == Lot(D(150), D("66.825"))
    # releases 66.825 × 60 / 150 = 26.73; realized 33 − 0.7425 − 26.73 = 5.5275
    lot, realized = lot_sell(lot, quantity=D(60), price=D("0.55"), fee=D("0.7425"))
    assert (lot, realized) == (Lot(D(90), D("40.095")), D("5.5275"))
    # releases the rest, 40.095; realized 27 − 0.945 − 40.095 = −14.04
    lot, realized = lot_sell(lot, quantity=D(90), price=D("0.30"), fee=D("0.945"))
    assert (lot, realized) == (Lot(D(0), D(0)), D("-14.04"))


def test_a_lot_cannot_sell_more_than_it_holds() -> None:
    with pytest.raises(ValueError, match="cannot sell 91 of a position holding 90"):
        lot_sell(Lot(D(90), D("40.095")), quantity=D(91), price=D("0.30"), fee=D(0))


def test_a_lots_cost_is_kept_to_six_decimals_rounded_half_up() -> None:
    # 0.123457 shares @ 12.50 = 1.5432125 → 1.543213 (to even would give 1.543212)
    assert lot_buy(Lot(), quantity=D("0.123457"), price=D("12.50"), fee=D(0)) == Lot(D("0.123457"), D("1.543213"))
    # selling a third of 3 @ cost 1.000001 releases 0.3333336… → 0.333334 and keeps 0.666667
    lot, realized = lot_sell(Lot(D(3), D("1.000001")), quantity=D(1), price=D(1), fee=D(0))
    assert (lot, realized) == (Lot(D(2), D("0.666667")), D("0.666666"))
