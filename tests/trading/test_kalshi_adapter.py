"""The Kalshi adapter (requests + RSA-PSS, V2 order endpoints) against the venue simulator."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from trading.simulator import VenueSimulator
from trading.simulator.credentials import DevCredentials
from trading.venues.domain import OrderRequest
from trading.venues.errors import AuthenticationFailed, InvalidRequest, NotFound, OrderRejected
from trading.venues.kalshi import KalshiSigner, KalshiVenue

from .conftest import ADAPTER_TIMEOUT, FAST_RETRY, KALSHI_TICKER


def test_it_searches_and_reads_synthetic_markets(kalshi: KalshiVenue):
    found = kalshi.search_markets("fed funds")
    assert {m.market_id for m in found} >= {KALSHI_TICKER}
    market = kalshi.get_market(KALSHI_TICKER)
    assert market.synthetic and market.active and market.instrument_ids == (KALSHI_TICKER,)


def test_the_order_book_turns_no_bids_into_yes_asks(kalshi: KalshiVenue):
    book = kalshi.get_order_book(KALSHI_TICKER)
    assert book.best_bid is not None and book.best_ask is not None and book.best_bid < book.best_ask
    assert [lv.price for lv in book.asks] == sorted(lv.price for lv in book.asks)
    assert kalshi.get_midpoint(KALSHI_TICKER) == book.midpoint
    assert kalshi.get_price(KALSHI_TICKER, "buy") == book.best_ask


def test_it_reads_candlesticks_and_price_history(kalshi: KalshiVenue):
    end = datetime.now(UTC)
    candles = kalshi.get_candlesticks(KALSHI_TICKER, start=end - timedelta(hours=6), end=end, period_minutes=60)
    assert 5 <= len(candles) <= 6
    assert all(c.low <= c.open <= c.high and c.low <= c.close <= c.high for c in candles)
    assert all(c.at.tzinfo is not None for c in candles)
    history = kalshi.get_price_history(KALSHI_TICKER, start=end - timedelta(hours=1), end=end)
    assert len(history) >= 59


def test_a_marketable_buy_fills_with_the_taker_fee(kalshi: KalshiVenue, client_order_id):
    cash_before = kalshi.get_balance().cash
    ask = kalshi.get_order_book(KALSHI_TICKER).best_ask
    assert ask is not None
    state = kalshi.place_order(OrderRequest(KALSHI_TICKER, "buy", Decimal(10), client_order_id, limit_price=ask))
    assert state.status == "filled" and state.filled_quantity == Decimal(10)
    assert state.client_order_id == client_order_id
    fee = (Decimal("0.07") * 10 * ask * (1 - ask)).quantize(Decimal("0.01"), rounding="ROUND_CEILING")
    assert state.fees == fee
    assert kalshi.get_balance().cash == cash_before - ask * 10 - fee
    fills = kalshi.get_fills(state.venue_order_id)
    assert [(f.price, f.quantity, f.fee) for f in fills] == [(ask, Decimal(10), fee)]
    position = next(p for p in kalshi.get_positions() if p.instrument_id == KALSHI_TICKER)
    assert position.quantity != 0


def test_buying_no_is_an_ask_on_the_yes_book(kalshi: KalshiVenue, client_order_id):
    prepared = kalshi.prepare_order(OrderRequest(KALSHI_TICKER, "buy", Decimal(2), client_order_id,
                                                 limit_price=Decimal("0.30"), outcome="no"))
    assert prepared.payload["side"] == "ask" and prepared.payload["price"] == "0.7000"
    assert prepared.payload["count"] == "2" and prepared.payload["client_order_id"] == client_order_id


def test_a_resting_order_can_be_read_and_canceled(kalshi: KalshiVenue, client_order_id):
    state = kalshi.place_order(OrderRequest(KALSHI_TICKER, "buy", Decimal(3), client_order_id,
                                            limit_price=Decimal("0.02")))
    assert state.status == "open"
    assert kalshi.get_order(state.venue_order_id).status == "open"
    assert kalshi.cancel_order(state.venue_order_id).canceled
    assert kalshi.get_order(state.venue_order_id).status == "canceled"
    assert not kalshi.cancel_order(state.venue_order_id).canceled


def test_a_repeated_client_order_id_returns_the_existing_order(kalshi: KalshiVenue, sim: VenueSimulator,
                                                                 client_order_id):
    request = OrderRequest(KALSHI_TICKER, "buy", Decimal(1), client_order_id, limit_price=Decimal("0.03"))
    accepted = sim.orders.count("kalshi")
    first = kalshi.place_order(request)
    second = kalshi.place_order(request)
    assert second.already_existed and second.venue_order_id == first.venue_order_id
    assert sim.orders.count("kalshi") == accepted + 1
    assert sim.orders.count("kalshi", "duplicate") >= 1


def test_an_answer_lost_in_transit_is_settled_by_the_client_order_id(kalshi: KalshiVenue, sim: VenueSimulator,
                                                                       client_order_id):
    accepted = sim.orders.count("kalshi")
    sim.faults.inject("timeout", venue="kalshi", method="POST", path_contains="/events/orders", phase="after",
                      count=1, delay_seconds=ADAPTER_TIMEOUT + 0.3)
    state = kalshi.place_order(OrderRequest(KALSHI_TICKER, "buy", Decimal(1), client_order_id,
                                            limit_price=Decimal("0.03")))
    assert state.already_existed and state.client_order_id == client_order_id
    assert sim.orders.count("kalshi") == accepted + 1


def test_an_invalid_order_is_rejected_with_the_venue_message(kalshi: KalshiVenue, sim: VenueSimulator,
                                                               client_order_id):
    before = sim.httpd.counters.snapshot().get("kalshi", 0)
    with pytest.raises(OrderRejected, match="price must be between"):
        kalshi.place_order(OrderRequest(KALSHI_TICKER, "buy", Decimal(1), client_order_id,
                                        limit_price=Decimal("0.995")))
    assert sim.httpd.counters.snapshot()["kalshi"] == before + 1  # a 400 is never retried


def test_orders_need_a_limit_price(kalshi: KalshiVenue, client_order_id):
    with pytest.raises(InvalidRequest):
        kalshi.prepare_order(OrderRequest(KALSHI_TICKER, "buy", Decimal(1), client_order_id))


def test_a_signature_from_another_key_is_refused(sim: VenueSimulator, dev: DevCredentials):
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = stranger.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())
    venue = KalshiVenue(sim.venue_urls()["kalshi"]["api_url"], KalshiSigner(dev.kalshi_key_id, pem),
                        timeout=ADAPTER_TIMEOUT, rate_limits=None, retry=FAST_RETRY)
    with pytest.raises(AuthenticationFailed, match="invalid signature"):
        venue.get_balance()


def test_a_signature_over_another_path_is_refused(sim: VenueSimulator, dev: DevCredentials):
    venue = KalshiVenue(sim.venue_urls()["kalshi"]["api_url"],
                        KalshiSigner.from_file(dev.kalshi_key_id, dev.kalshi_private_key_path),
                        timeout=ADAPTER_TIMEOUT, rate_limits=None, retry=FAST_RETRY)
    venue.path_prefix = "/trade-api/v3"  # signs /trade-api/v3/portfolio/balance, sends …/v2/…
    with pytest.raises(AuthenticationFailed):
        venue.get_balance()


def test_portfolio_calls_need_a_key(sim: VenueSimulator):
    venue = KalshiVenue(sim.venue_urls()["kalshi"]["api_url"], None, rate_limits=None)
    with pytest.raises(AuthenticationFailed):
        venue.get_positions()


def test_an_unknown_market_is_not_found(kalshi: KalshiVenue):
    with pytest.raises(NotFound, match="not found"):
        kalshi.get_market("KXNOPE-00")
