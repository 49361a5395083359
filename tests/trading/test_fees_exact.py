"""Fees at the edges the formulas must get right: ties at the rounding digit, cent boundaries, the rate passed in.

Every expected value is worked out by hand in the comment beside it (shared/reference/venues.md §2.8, §3.4, §4.3).
"""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from trading.fees import order_fee, polymarket_fee, trade_fee


def test_polymarket_rounds_a_tie_at_the_seventh_decimal_half_up_not_to_even() -> None:
    # 2.1 × 0.07 × 0.25 × 0.75 = 0.0275625: half up gives 0.027563, banker's rounding would give 0.027562
    assert polymarket_fee(D("2.1"), D("0.25"), rate=D("0.07")) == D("0.027563")
    # an order rounds the same way, once, at the token's own rate
    assert order_fee("polymarket", side="buy", fills=[(D("2.1"), D("0.25"))], polymarket_rate=D("0.07")) == D(
        "0.027563")
    # no rate read: the 5 % default, 2.1 × 0.05 × 0.1875 = 0.0196875 → 0.019688
    assert order_fee("polymarket", side="sell", fills=[(D("2.1"), D("0.25"))]) == D("0.019688")


def test_alpaca_sells_round_sec_and_taf_once_per_order_on_its_totals() -> None:
    # 40 @ 5.00 + 20 @ 7.95: principal 359, 60 shares.
    # SEC 359 × 27.80e-6 = 0.0099802 → 0.01; TAF 60 × 0.000166 = 0.00996 → 0.01. One share or one dollar
    # more would cross the cent (61 shares: 0.010126; $360: 0.010008) and cost 0.03.
    # Per fill it would be 0.01 + 0.01 + 0.01 + 0.01 = 0.04.
    fills = [(D(40), D("5.00")), (D(20), D("7.95"))]
    assert order_fee("alpaca", side="sell", fills=fills) == D("0.02")
    assert order_fee("alpaca", side="buy", fills=fills) == 0
    assert order_fee("alpaca", side="sell", fills=[]) == 0


def test_alpaca_taf_is_capped_per_order() -> None:
    # 60,000 @ 1.00: SEC 60,000 × 27.80e-6 = 1.668 → 1.67; TAF 60,000 × 0.000166 = 9.96, capped at 8.30
    assert order_fee("alpaca", side="sell", fills=[(D(60000), D(1))]) == D("9.97")


def test_an_order_that_filled_nothing_pays_nothing() -> None:
    for venue in ("kalshi", "polymarket", "alpaca"):
        assert order_fee(venue, side="sell", fills=[]) == D(0)


def test_an_order_fee_names_an_unknown_venue() -> None:
    with pytest.raises(ValueError, match="venue must be polymarket, kalshi or alpaca, got 'nyse'"):
        order_fee("nyse", side="buy", fills=[(D(1), D(1))])
    with pytest.raises(ValueError, match="venue must be polymarket, kalshi or alpaca, got 'nyse'"):
        trade_fee("nyse", side="buy", quantity=D(1), price=D(1))


def test_trade_fee_is_each_venues_fee_of_one_fill() -> None:
    # Polymarket at the token's rate and at the 5 % default (values above)
    assert trade_fee("polymarket", side="buy", quantity=D("2.1"), price=D("0.25"), polymarket_rate=D("0.07")) == D(
        "0.027563")
    assert trade_fee("polymarket", side="buy", quantity=D("2.1"), price=D("0.25")) == D("0.019688")
    # geopolitics pays nothing: a rate of 0 is a rate, not "no rate"
    assert trade_fee("polymarket", side="buy", quantity=D(100), price=D("0.5"), polymarket_rate=D(0)) == 0
    # Kalshi: 0.07 × 10 × 0.62 × 0.38 = 0.16492 → 0.17
    assert trade_fee("kalshi", side="sell", quantity=D(10), price=D("0.62")) == D("0.17")
    # Alpaca: buys free; a sell of 10 @ 150 pays SEC 0.0417 → 0.05 and TAF 0.00166 → 0.01
    assert trade_fee("alpaca", side="buy", quantity=D(10), price=D(150)) == 0
    assert trade_fee("alpaca", side="sell", quantity=D(10), price=D(150)) == D("0.06")
