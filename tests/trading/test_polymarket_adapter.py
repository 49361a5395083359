"""The Polymarket adapter, through polymarket-client, against the venue simulator."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from trading.simulator import VenueSimulator
from trading.simulator.credentials import DevCredentials
from trading.simulator.polymarket import LEADER_WALLET
from trading.venues.domain import OrderRequest
from trading.venues.errors import AuthenticationFailed, NotFound, OrderRejected
from trading.venues.polymarket import PolymarketVenue

from .conftest import ADAPTER_TIMEOUT, FAST_RETRY


def test_it_searches_markets_by_text(polymarket: PolymarketVenue):
    markets = polymarket.search_markets("Powell")
    assert markets and all("Powell" in m.title for m in markets)
    assert len(markets[0].instrument_ids) == 2 and markets[0].outcomes == ("Yes", "No")


def test_it_reads_a_market_by_condition_id_slug_and_gamma_id(polymarket: PolymarketVenue, sim: VenueSimulator):
    recorded = sim.polymarket.long_lived[0]
    for key in (recorded.condition_id, recorded.slug, recorded.gamma_id):
        market = polymarket.get_market(key)
        assert market.market_id == recorded.condition_id
        assert market.instrument_ids == recorded.token_ids
        assert market.tick_size == Decimal("0.01")


def test_the_order_book_is_best_first_and_agrees_with_midpoint_and_prices(polymarket: PolymarketVenue, poly_token):
    book = polymarket.get_order_book(poly_token)
    assert book.bids and book.asks
    assert [lv.price for lv in book.bids] == sorted((lv.price for lv in book.bids), reverse=True)
    assert [lv.price for lv in book.asks] == sorted(lv.price for lv in book.asks)
    assert book.best_bid is not None and book.best_ask is not None and book.best_bid < book.best_ask
    assert polymarket.get_midpoint(poly_token) == book.midpoint
    assert polymarket.get_price(poly_token, "buy") == book.best_ask
    assert polymarket.get_price(poly_token, "sell") == book.best_bid
    quote = polymarket.get_quote(poly_token)
    assert (quote.bid, quote.ask) == (book.best_bid, book.best_ask)
    assert book.as_of is not None and book.as_of.tzinfo is not None


def test_it_reads_recorded_price_history(polymarket: PolymarketVenue, poly_token):
    end = datetime.now(UTC)
    history = polymarket.get_price_history(poly_token, start=end - timedelta(hours=12), end=end)
    assert len(history) > 10
    assert all(Decimal(0) < p.price < Decimal(1) for p in history)
    assert history == sorted(history, key=lambda p: p.at)


def test_it_lists_a_wallets_recent_trades(polymarket: PolymarketVenue):
    trades = polymarket.get_trade_history(LEADER_WALLET, limit=5)
    assert len(trades) == 5
    assert all(t.wallet.lower() == LEADER_WALLET for t in trades)
    assert trades == sorted(trades, key=lambda t: t.at, reverse=True)
    assert len({t.trade_id for t in trades}) == 5


def test_the_leaderboard_ranks_wallets_to_copy_and_their_trades_can_be_read(polymarket: PolymarketVenue):
    (leader,) = polymarket.get_leaderboard(window="week", limit=10)  # the simulator's one trader with a record
    assert (leader.wallet.lower(), leader.rank, leader.name) == (LEADER_WALLET, 1, "synthetic-leader")
    assert leader.volume > 0 and isinstance(leader.pnl_usd, Decimal)
    assert polymarket.get_trade_history(leader.wallet, limit=1)  # what a copy trader then reads


def test_a_marketable_buy_fills_against_the_book(polymarket: PolymarketVenue, poly_token, client_order_id):
    cash_before = polymarket.get_balance().cash
    ask = polymarket.get_order_book(poly_token).best_ask
    assert ask is not None
    state = polymarket.place_order(OrderRequest(poly_token, "buy", Decimal(10), client_order_id, limit_price=ask))
    assert state.status == "filled"
    assert state.filled_quantity == Decimal(10) and state.average_fill_price == ask
    fills = polymarket.get_fills(state.venue_order_id)
    assert [f.quantity for f in fills] == [Decimal(10)]
    fee = (Decimal(10) * Decimal("0.04") * ask * (1 - ask)).quantize(Decimal("0.000001"))  # politics taker rate
    assert fills[0].fee == fee
    assert polymarket.get_balance().cash == cash_before - ask * 10 - fee
    position = next(p for p in polymarket.get_positions() if p.instrument_id == poly_token)
    assert position.quantity >= Decimal(10)


def test_a_resting_order_can_be_read_and_canceled(polymarket: PolymarketVenue, poly_token, client_order_id):
    prepared = polymarket.prepare_order(
        OrderRequest(poly_token, "buy", Decimal(5), client_order_id, limit_price=Decimal("0.02")))
    state = polymarket.submit_order(prepared)
    assert state.status == "open" and state.venue_order_id == prepared.venue_order_id
    assert polymarket.get_order(state.venue_order_id).status == "open"
    assert polymarket.cancel_order(state.venue_order_id).canceled
    assert polymarket.get_order(state.venue_order_id).status == "canceled"
    again = polymarket.cancel_order(state.venue_order_id)
    assert not again.canceled and again.reason


def test_reposting_the_same_signed_order_finds_the_existing_one(
    polymarket: PolymarketVenue, sim: VenueSimulator, poly_token, client_order_id
):
    prepared = polymarket.prepare_order(
        OrderRequest(poly_token, "buy", Decimal(5), client_order_id, limit_price=Decimal("0.03")))
    accepted = sim.orders.count("polymarket")
    first = polymarket.submit_order(prepared)
    second = polymarket.submit_order(prepared)
    assert second.already_existed and second.venue_order_id == first.venue_order_id
    assert sim.orders.count("polymarket") == accepted + 1
    polymarket.cancel_order(first.venue_order_id)


def test_an_answer_lost_in_transit_is_settled_by_the_order_hash(
    polymarket: PolymarketVenue, sim: VenueSimulator, poly_token, client_order_id
):
    prepared = polymarket.prepare_order(
        OrderRequest(poly_token, "buy", Decimal(5), client_order_id, limit_price=Decimal("0.04")))
    accepted = sim.orders.count("polymarket")
    # The CLOB takes the order, but its answer never arrives.
    sim.faults.inject("timeout", venue="polymarket", path_contains="/order", method="POST", phase="after",
                      count=1, delay_seconds=ADAPTER_TIMEOUT + 0.3)
    state = polymarket.submit_order(prepared)
    assert state.already_existed and state.venue_order_id == prepared.venue_order_id
    assert sim.orders.count("polymarket") == accepted + 1
    polymarket.cancel_order(state.venue_order_id)


def test_an_unaffordable_order_is_rejected_with_the_venue_message(polymarket: PolymarketVenue, poly_token,
                                                                     client_order_id):
    with pytest.raises(OrderRejected, match="not enough balance"):
        polymarket.place_order(OrderRequest(poly_token, "buy", Decimal(1_000_000), client_order_id,
                                            limit_price=Decimal("0.50")))


def test_a_tampered_order_signature_is_refused(polymarket: PolymarketVenue, sim: VenueSimulator, poly_token,
                                               client_order_id):
    prepared = polymarket.prepare_order(
        OrderRequest(poly_token, "buy", Decimal(5), client_order_id, limit_price=Decimal("0.05")))
    # Same signature, different amount: it no longer recovers the signer.
    tampered = dataclasses.replace(prepared, payload={**prepared.payload,
                                                      "maker_amount": prepared.payload["maker_amount"] + 1})
    rejected = sim.orders.count("polymarket", "rejected")
    with pytest.raises(OrderRejected, match="invalid signature"):
        polymarket.submit_order(tampered)
    assert sim.orders.count("polymarket", "rejected") == rejected + 1


def test_stale_api_credentials_fall_back_to_deriving_them(sim: VenueSimulator, dev: DevCredentials):
    venue = PolymarketVenue(private_key=dev.polymarket_private_key, api_key="8b8e1bd4-0000-4000-8000-000000000000",
                            api_secret="c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3I=", api_passphrase="nope",
                            timeout=ADAPTER_TIMEOUT, rate_limits=None, retry=FAST_RETRY,
                            **sim.venue_urls()["polymarket"])
    # The SDK probes supplied keys (refused: 401) and derives fresh ones with an L1 signature.
    assert venue.get_balance().cash > 0
    venue.close()


def test_account_calls_need_a_private_key(sim: VenueSimulator):
    venue = PolymarketVenue(timeout=ADAPTER_TIMEOUT, rate_limits=None, **sim.venue_urls()["polymarket"])
    with pytest.raises(AuthenticationFailed):
        venue.get_balance()
    venue.close()


def test_an_unknown_token_is_not_found(polymarket: PolymarketVenue):
    with pytest.raises(NotFound, match="No orderbook exists"):
        polymarket.get_order_book("123456789")


def test_it_reads_each_tokens_taker_fee_rate(polymarket: PolymarketVenue, sim: VenueSimulator):
    rates = {market.fee_rate for market in sim.polymarket.data.markets}
    assert len(rates) > 1  # the recording spans categories with different rates
    for market in sim.polymarket.data.markets:
        if market.fee_rate != Decimal("0.05"):
            break
    assert polymarket.get_fee_rate(market.token_ids[0]) == market.fee_rate  # /fee-rate: {"base_fee": bps}
    with pytest.raises(NotFound):
        polymarket.get_fee_rate("123456789")


def test_a_resolved_market_says_which_outcome_won_and_an_open_one_says_nothing(
        polymarket: PolymarketVenue, sim: VenueSimulator):
    closed = next(m for m in sim.polymarket.data.markets if sim.polymarket.is_closed(m))
    assert closed.winner is not None
    for token in closed.token_ids:  # found from either outcome's token
        market = polymarket.get_market_for_instrument(token)
        assert market.settled_outcome == ("yes", "no")[closed.winner] and market.instrument_ids == closed.token_ids
    assert polymarket.get_market_for_instrument(sim.polymarket.long_lived[0].token_ids[1]).settled_outcome is None
    with pytest.raises(NotFound):
        polymarket.get_market_for_instrument("123456789")
