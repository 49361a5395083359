"""A Polymarket buy is a limit order sized in shares: it never fills more than the quantity ordered, even when
the book is below its limit (a market buy would spend limit × quantity dollars and get more shares)."""

from __future__ import annotations

import uuid
from decimal import Decimal

from trading.venues.domain import OrderRequest
from trading.venues.polymarket import PolymarketVenue


def test_an_ioc_buy_below_its_limit_fills_its_quantity_and_no_more(polymarket: PolymarketVenue,
                                                                  poly_token: str) -> None:
    book = polymarket.get_order_book(poly_token)
    best = book.asks[0]
    quantity = min(best.size, Decimal(20)).quantize(Decimal("0.01"))
    assert quantity >= 5
    limit = best.price + Decimal("0.05")  # room below the limit: a dollar amount would buy more shares
    state = polymarket.place_order(OrderRequest(poly_token, "buy", quantity, f"poly-{uuid.uuid4()}",
                                                limit_price=limit, time_in_force="ioc"))
    assert (state.status, state.filled_quantity) == ("filled", quantity)
    fills = polymarket.get_fills(state.venue_order_id)
    assert sum(fill.quantity for fill in fills) == quantity
    assert {fill.price for fill in fills} == {best.price}


def test_an_ioc_buy_larger_than_the_book_fills_what_it_can_and_the_rest_is_cancelled(
        polymarket: PolymarketVenue, poly_token: str) -> None:
    book = polymarket.get_order_book(poly_token)
    best = book.asks[0]
    quantity = best.size + 10
    state = polymarket.place_order(OrderRequest(poly_token, "buy", quantity, f"poly-{uuid.uuid4()}",
                                                limit_price=best.price, time_in_force="ioc"))
    assert (state.status, state.filled_quantity) == ("canceled", best.size)
    assert polymarket.get_order(state.venue_order_id).status == "canceled"  # nothing left resting
