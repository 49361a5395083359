"""The paper broker walks the book level by level, fills no further than the book or the limit, and charges fees."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from trading.paper import outcome_book, paper_fill
from trading.venues.domain import BookLevel, OrderBook

BOOK = OrderBook(
    "TOKEN",
    bids=(BookLevel(D("0.38"), D(30)), BookLevel(D("0.35"), D(100))),
    asks=(BookLevel(D("0.40"), D(100)), BookLevel(D("0.42"), D(50)), BookLevel(D("0.45"), D(200))),
)


def test_a_buy_walks_the_asks_up_to_its_limit_and_the_rest_is_not_filled() -> None:
    result = paper_fill(BOOK, venue="polymarket", side="buy", quantity=D(200), limit_price=D("0.43"))
    assert [(f.quantity, f.price) for f in result.fills] == [(D(100), D("0.40")), (D(50), D("0.42"))]
    assert result.filled_quantity == D(150)  # 0.45 is above the limit: partial fill
    assert result.gross_usd == D("61.00")  # 40 + 21
    assert result.average_price is not None and result.average_price.quantize(D("0.00001")) == D("0.40667")
    # 100 × 0.05 × 0.40 × 0.60 + 50 × 0.05 × 0.42 × 0.58 = 1.2 + 0.609
    assert result.fees == D("1.809")
    assert all(fill.fee >= 0 for fill in result.fills)


def test_a_buy_never_fills_beyond_the_book() -> None:
    result = paper_fill(BOOK, venue="polymarket", side="buy", quantity=D(1000), limit_price=D("0.99"))
    assert result.filled_quantity == D(350)
    result = paper_fill(BOOK, venue="polymarket", side="buy", quantity=D(10), limit_price=D("0.39"))
    assert result.fills == () and result.average_price is None and result.fees == 0


def test_a_buy_inside_the_best_level_fills_there_only() -> None:
    result = paper_fill(BOOK, venue="kalshi", side="buy", quantity=D(60), limit_price=None)
    assert [(f.quantity, f.price) for f in result.fills] == [(D(60), D("0.40"))]
    assert result.fees == D("1.01")  # roundup(0.07 × 60 × 0.24 = 1.008)


def test_kalshi_rounds_the_fee_once_per_order_and_splits_it_over_the_fills() -> None:
    result = paper_fill(BOOK, venue="kalshi", side="buy", quantity=D(150), limit_price=D("0.42"))
    assert result.fees == D("2.54")  # roundup(0.07 × (24 + 12.18)) = roundup(2.5326)
    assert sum(f.fee for f in result.fills) == D("2.54")


def test_a_sell_hits_the_bids_down_to_its_limit() -> None:
    result = paper_fill(BOOK, venue="polymarket", side="sell", quantity=D(50), limit_price=None)
    assert [(f.quantity, f.price) for f in result.fills] == [(D(30), D("0.38")), (D(20), D("0.35"))]
    result = paper_fill(BOOK, venue="polymarket", side="sell", quantity=D(50), limit_price=D("0.36"))
    assert result.filled_quantity == D(30)


def test_alpaca_buys_are_free_and_sells_pay_regulatory_fees() -> None:
    quote = OrderBook("AAPL", bids=(BookLevel(D("187.20"), D(300)),), asks=(BookLevel(D("187.30"), D(200)),))
    buy = paper_fill(quote, venue="alpaca", side="buy", quantity=D("2.5"), limit_price=None)
    assert (buy.filled_quantity, buy.fees) == (D("2.5"), D(0))
    sell = paper_fill(quote, venue="alpaca", side="sell", quantity=D(10), limit_price=None)
    # SEC 1872 × 27.80e-6 = 0.0520416 → 0.06 (rounded up), TAF 10 × 0.000166 = 0.00166 → 0.01
    assert sell.fees == D("0.07")


def test_kalshi_no_contracts_trade_on_the_flipped_yes_book() -> None:
    yes = OrderBook("KX", bids=(BookLevel(D("0.60"), D(10)),), asks=(BookLevel(D("0.62"), D(5)),))
    no = outcome_book(yes, venue="kalshi", side="no")
    assert no.asks == (BookLevel(D("0.40"), D(10)),) and no.bids == (BookLevel(D("0.38"), D(5)),)
    assert outcome_book(yes, venue="kalshi", side="yes") is yes
    assert outcome_book(yes, venue="polymarket", side="no") is yes  # a Polymarket market id is the outcome's token


def test_a_quantity_must_be_positive() -> None:
    with pytest.raises(ValueError, match="must be > 0"):
        paper_fill(BOOK, venue="kalshi", side="buy", quantity=D(0), limit_price=None)
