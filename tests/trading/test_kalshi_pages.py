"""Kalshi's order and fill lists are cursor-paged: the adapter follows the cursor to the end."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from decimal import Decimal

import pytest

from trading.simulator import VenueSimulator
from trading.venues.domain import OrderRequest
from trading.venues.kalshi import KalshiVenue

from .conftest import KALSHI_TICKER


@pytest.fixture(autouse=True)
def small_pages(sim: VenueSimulator) -> Iterator[None]:
    sim.kalshi.page_size = 2
    yield
    sim.kalshi.page_size = 100


def buy(kalshi: KalshiVenue, count: int) -> str:
    client_order_id = f"pages-{uuid.uuid4()}"
    kalshi.place_order(OrderRequest(KALSHI_TICKER, "buy", Decimal(count), client_order_id, limit_price=Decimal("0.99"),
                                    time_in_force="ioc"))
    return client_order_id


def test_the_fills_of_an_order_are_read_past_the_first_page(kalshi: KalshiVenue) -> None:
    book = kalshi.get_order_book(KALSHI_TICKER)
    count = int(sum(level.size for level in book.asks[:4])) + 1  # walks five levels: five fills
    state = kalshi.place_order(OrderRequest(KALSHI_TICKER, "buy", Decimal(count), f"pages-{uuid.uuid4()}",
                                            limit_price=Decimal("0.99"), time_in_force="ioc"))
    fills = kalshi.get_fills(state.venue_order_id)
    assert len(fills) >= 5
    assert sum(fill.quantity for fill in fills) == state.filled_quantity == Decimal(count)


def test_an_order_is_found_by_its_client_order_id_past_the_first_page(kalshi: KalshiVenue) -> None:
    ids = [buy(kalshi, 1) for _ in range(5)]
    found = kalshi.get_order_by_client_id(ids[-1], instrument_id=KALSHI_TICKER)
    assert found.client_order_id == ids[-1]
    # A retried create with the same client order id finds the existing order on a later page too.
    again = kalshi.place_order(OrderRequest(KALSHI_TICKER, "buy", Decimal(1), ids[-1], limit_price=Decimal("0.99"),
                                            time_in_force="ioc"))
    assert again.already_existed and again.venue_order_id == found.venue_order_id
