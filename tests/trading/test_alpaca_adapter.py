"""The Alpaca adapter, through alpaca-py (which validates every field), against the venue simulator."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from trading.simulator import VenueSimulator
from trading.simulator.credentials import DevCredentials
from trading.venues.alpaca import AlpacaVenue
from trading.venues.domain import OrderRequest
from trading.venues.errors import AuthenticationFailed, InvalidRequest, NotFound, OrderRejected

from .conftest import ADAPTER_TIMEOUT, FAST_RETRY


def test_it_searches_and_reads_assets(alpaca: AlpacaVenue):
    assert [m.market_id for m in alpaca.search_markets("apple")] == ["AAPL"]
    market = alpaca.get_market("AAPL")
    assert market.synthetic and market.tick_size == Decimal("0.01")


def test_the_latest_quote_is_the_top_of_book(alpaca: AlpacaVenue):
    quote = alpaca.get_latest_quote("AAPL")
    assert quote.bid is not None and quote.ask is not None and quote.bid < quote.ask
    assert quote.as_of is not None and quote.as_of.tzinfo is not None
    book = alpaca.get_order_book("AAPL")
    assert (book.best_bid, book.best_ask) == (quote.bid, quote.ask)
    assert alpaca.get_midpoint("AAPL") == quote.midpoint
    assert alpaca.get_price("AAPL", "buy") == quote.ask


def test_it_reads_daily_and_intraday_bars(alpaca: AlpacaVenue):
    now = datetime.now(UTC)
    daily = alpaca.get_bars("MSFT", timeframe="1Day", start=now - timedelta(days=30), end=now)
    assert 29 <= len(daily) <= 31
    assert all(b.low <= b.close <= b.high for b in daily)
    intraday = alpaca.get_bars("MSFT", timeframe="15Min", start=now - timedelta(hours=2), end=now)
    assert 7 <= len(intraday) <= 9
    assert len(alpaca.get_price_history("MSFT", start=now - timedelta(hours=1), end=now)) >= 59
    with pytest.raises(InvalidRequest):
        alpaca.get_bars("MSFT", timeframe="1Fortnight")


def test_a_market_buy_fills_at_the_ask(alpaca: AlpacaVenue, client_order_id):
    cash = alpaca.get_balance().cash
    state = alpaca.place_order(OrderRequest("NVDA", "buy", Decimal(3), client_order_id))
    assert state.status == "filled" and state.filled_quantity == Decimal(3)
    assert state.average_fill_price is not None
    assert alpaca.get_balance().cash == cash - state.average_fill_price * 3
    assert alpaca.get_order_by_client_id(client_order_id).venue_order_id == state.venue_order_id
    fills = alpaca.get_fills(state.venue_order_id)
    assert [(f.quantity, f.fee) for f in fills] == [(Decimal(3), Decimal(0))]  # commission-free
    position = next(p for p in alpaca.get_positions() if p.instrument_id == "NVDA")
    assert position.quantity >= 3


def test_a_resting_limit_order_can_be_read_and_canceled(alpaca: AlpacaVenue, client_order_id):
    state = alpaca.place_order(OrderRequest("SPY", "buy", Decimal(1), client_order_id, limit_price=Decimal("1.00")))
    assert state.status == "open"
    assert alpaca.get_order(state.venue_order_id).status == "open"
    assert alpaca.cancel_order(state.venue_order_id).canceled
    assert alpaca.get_order(state.venue_order_id).status == "canceled"
    assert not alpaca.cancel_order(state.venue_order_id).canceled


def test_a_repeated_client_order_id_returns_the_existing_order(alpaca: AlpacaVenue, sim: VenueSimulator,
                                                                 client_order_id):
    accepted = sim.orders.count("alpaca")
    first = alpaca.place_order(OrderRequest("TSLA", "buy", Decimal(1), client_order_id))
    second = alpaca.place_order(OrderRequest("TSLA", "buy", Decimal(1), client_order_id))
    assert second.already_existed and second.venue_order_id == first.venue_order_id
    assert sim.orders.count("alpaca") == accepted + 1


def test_refusals_carry_the_venue_message(alpaca: AlpacaVenue, client_order_id):
    with pytest.raises(OrderRejected, match="insufficient buying power"):
        alpaca.place_order(OrderRequest("SPY", "buy", Decimal(100_000), client_order_id))
    with pytest.raises(OrderRejected, match="insufficient qty"):
        alpaca.place_order(OrderRequest("AAPL", "sell", Decimal(1_000_000), client_order_id + "-s"))


def test_wrong_keys_are_refused(sim: VenueSimulator, dev: DevCredentials):
    venue = AlpacaVenue(dev.alpaca_api_key, "wrong-secret", timeout=ADAPTER_TIMEOUT, rate_limits=None,
                        retry=FAST_RETRY, **sim.venue_urls()["alpaca"])
    with pytest.raises(AuthenticationFailed, match="not authorized"):
        venue.get_balance()
    with pytest.raises(AuthenticationFailed):
        venue.get_latest_quote("AAPL")


def test_unknown_symbols_and_orders_are_not_found(alpaca: AlpacaVenue):
    with pytest.raises(NotFound):
        alpaca.get_market("ZZZZ")
    with pytest.raises(NotFound):
        alpaca.get_order("2f1d1b7e-0000-4000-8000-000000000000")
    with pytest.raises(InvalidRequest):
        alpaca.get_order("not-a-uuid")
