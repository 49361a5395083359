"""Each venue's fee formula against hand-computed examples (shared/reference/venues.md §2.8, §3.4, §4.3)."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from trading.fees import (
    alpaca_fee,
    kalshi_fee,
    order_fee,
    polymarket_fee,
    polymarket_taker_rate,
    trade_fee,
)


def test_polymarket_taker_fee_is_shares_times_rate_times_p_times_1_minus_p() -> None:
    # 100 × 0.04 × 0.40 × 0.60 = 0.96 (politics)
    assert polymarket_fee(D(100), D("0.40"), rate=polymarket_taker_rate("Politics")) == D("0.960000")
    # 250 × 0.07 × 0.5 × 0.5 = 4.375 (crypto)
    assert polymarket_fee(D(250), D("0.5"), rate=polymarket_taker_rate("crypto")) == D("4.375000")
    # 3 × 0.05 × 0.123 × 0.877 = 0.01618065 → 6 decimals, half up
    assert polymarket_fee(D(3), D("0.123"), rate=D("0.05")) == D("0.016181")


def test_polymarket_makers_and_geopolitics_pay_nothing_unknown_categories_pay_5_percent() -> None:
    assert polymarket_fee(D(100), D("0.5"), rate=D("0.04"), taker=False) == 0
    assert polymarket_taker_rate("geopolitics") == 0
    assert polymarket_taker_rate("something-new") == D("0.05")
    assert polymarket_taker_rate(None) == D("0.05")


def test_kalshi_taker_fee_rounds_up_to_the_next_cent() -> None:
    assert kalshi_fee(D(10), D("0.62")) == D("0.17")  # 0.07 × 10 × 0.62 × 0.38 = 0.16492
    assert kalshi_fee(D(1), D("0.50")) == D("0.02")  # 0.0175 → 0.02: one contract costs two cents
    assert kalshi_fee(D(100), D("0.95")) == D("0.34")  # 0.3325
    assert kalshi_fee(D(100), D("0.50")) == D("1.75")  # exact: no rounding
    assert kalshi_fee(D(100), D("0.50"), taker=False) == D("0.44")  # maker 0.0175 × 25 = 0.4375


def test_alpaca_buys_are_free_and_sells_pay_sec_and_taf_rounded_up() -> None:
    assert alpaca_fee(D(10), D(150), side="buy") == 0
    # SEC 1500 × 27.80 / 1e6 = 0.0417 → 0.05; TAF 10 × 0.000166 = 0.00166 → 0.01
    assert alpaca_fee(D(10), D(150), side="sell") == D("0.06")
    # SEC 1,000,000 × 27.80e-6 = 27.80; TAF 100000 × 0.000166 = 16.60 capped at 8.30
    assert alpaca_fee(D(100000), D(10), side="sell") == D("36.10")


def test_an_order_filled_at_several_prices_is_rounded_once() -> None:
    # Kalshi: 0.07 × (100 × 0.40 × 0.60 + 50 × 0.42 × 0.58) = 0.07 × 36.18 = 2.5326 → 2.54
    fills = [(D(100), D("0.40")), (D(50), D("0.42"))]
    assert order_fee("kalshi", side="buy", fills=fills) == D("2.54")
    # rounding each fill separately would give 1.68 + 0.86 = 2.54 here, but not in general:
    assert order_fee("kalshi", side="buy", fills=[(D(1), D("0.5"))] * 4) == D("0.07")  # 4 × 0.0175, not 4 × 0.02
    # Polymarket at 5 %: 1.2 + 0.609 = 1.809
    assert order_fee("polymarket", side="buy", fills=fills) == D("1.809000")


def test_trade_fee_names_an_unknown_venue() -> None:
    with pytest.raises(ValueError, match="got 'nyse'"):
        trade_fee("nyse", side="buy", quantity=D(1), price=D(1))
