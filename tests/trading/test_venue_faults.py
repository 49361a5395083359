"""Every error a venue really returns becomes a typed error; retries happen only where safe."""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from trading.simulator import VenueSimulator
from trading.venues.domain import OrderRequest
from trading.venues.errors import (
    AuthenticationFailed,
    InvalidRequest,
    MalformedResponse,
    NotFound,
    OrderOutcomeUnknown,
    RateLimited,
    VenueConnectionError,
    VenueTimeout,
    VenueUnavailable,
)

from .conftest import ADAPTER_TIMEOUT, KALSHI_TICKER

# venue name, the path fragment of its order-book read, and how the test reads that book
READS: dict[str, tuple[str, Callable[[Any, str], Any]]] = {
    "polymarket": ("/book", lambda venue, token: venue.get_order_book(token)),
    "kalshi": ("/orderbook", lambda venue, token: venue.get_order_book(KALSHI_TICKER)),
    "alpaca": ("/quotes/latest", lambda venue, token: venue.get_order_book("AAPL")),
}


@pytest.fixture(params=list(READS))
def venue_read(request, polymarket, kalshi, alpaca, poly_token, sim: VenueSimulator):
    """(venue name, a zero-argument book read, the path to aim faults at, requests-served counter)."""
    name = request.param
    adapter = {"polymarket": polymarket, "kalshi": kalshi, "alpaca": alpaca}[name]
    path, read = READS[name]

    def served() -> int:
        return sim.httpd.counters.snapshot().get(name, 0)

    return name, (lambda: read(adapter, poly_token)), path, served


@pytest.mark.parametrize(("status", "error_type"), [
    (400, InvalidRequest), (401, AuthenticationFailed), (403, AuthenticationFailed), (404, NotFound),
    (422, InvalidRequest),
])
def test_client_errors_are_typed_carry_the_message_and_are_not_retried(venue_read, sim: VenueSimulator, status,
                                                                       error_type):
    name, read, path, served = venue_read
    sim.faults.inject("status", venue=name, path_contains=path, status=status, message=f"simulated {status} here")
    before = served()
    with pytest.raises(error_type, match=f"simulated {status} here") as caught:
        read()
    assert caught.value.status == status and caught.value.venue == name
    assert served() == before + 1


def test_a_429_with_retry_after_is_waited_out_then_retried(venue_read, sim: VenueSimulator):
    name, read, path, served = venue_read
    sim.faults.inject("status", venue=name, path_contains=path, status=429, message="slow down", retry_after="0.2",
                      count=1)
    started, before = time.monotonic(), served()
    assert read().bids
    assert time.monotonic() - started >= 0.2
    assert served() == before + 2


def test_a_429_whose_retry_after_is_too_long_is_surfaced_with_the_hint(venue_read, sim: VenueSimulator):
    name, read, path, served = venue_read
    sim.faults.inject("status", venue=name, path_contains=path, status=429, message="slow down", retry_after="60")
    before = served()
    with pytest.raises(RateLimited) as caught:
        read()
    assert caught.value.retry_after == pytest.approx(60)
    assert served() == before + 1


def test_a_429_without_a_hint_backs_off_and_gives_up(venue_read, sim: VenueSimulator):
    name, read, path, served = venue_read
    sim.faults.inject("status", venue=name, path_contains=path, status=429, message="")
    before = served()
    with pytest.raises(RateLimited) as caught:
        read()
    assert caught.value.retry_after is None
    assert served() == before + 3


def test_transient_5xx_are_retried_persistent_ones_surface(venue_read, sim: VenueSimulator):
    name, read, path, _ = venue_read
    sim.faults.inject("status", venue=name, path_contains=path, status=502, message="bad gateway", count=2)
    assert read().asks
    sim.faults.inject("status", venue=name, path_contains=path, status=503, message="down for maintenance")
    with pytest.raises(VenueUnavailable, match="down for maintenance"):
        read()


def test_a_timeout_is_retried_then_surfaces(venue_read, sim: VenueSimulator):
    name, read, path, served = venue_read
    sim.faults.inject("timeout", venue=name, path_contains=path, delay_seconds=ADAPTER_TIMEOUT + 0.2)
    before = served()
    with pytest.raises(VenueTimeout):
        read()
    assert served() == before + 3


def test_malformed_json_is_typed(venue_read, sim: VenueSimulator):
    name, read, path, _ = venue_read
    sim.faults.inject("malformed", venue=name, path_contains=path)
    with pytest.raises(MalformedResponse):
        read()


def test_a_dropped_connection_is_typed_and_retried(venue_read, sim: VenueSimulator):
    name, read, path, _ = venue_read
    sim.faults.inject("disconnect", venue=name, path_contains=path, count=1)
    assert read().bids  # the second attempt gets through
    sim.faults.inject("disconnect", venue=name, path_contains=path)
    with pytest.raises(VenueConnectionError):
        read()


def test_latency_slows_the_answer(venue_read, sim: VenueSimulator):
    name, read, path, _ = venue_read
    sim.faults.inject("latency", venue=name, path_contains=path, delay_seconds=0.15)
    started = time.monotonic()
    assert read().bids
    assert time.monotonic() - started >= 0.15


def test_a_random_error_rate_is_reproducible(venue_read, sim: VenueSimulator):
    name, read, path, _ = venue_read
    sim.faults.inject("status", venue=name, path_contains=path, status=500, probability=0.3)
    outcomes = []
    for _ in range(10):
        try:
            read()
            outcomes.append(True)
        except VenueUnavailable:
            outcomes.append(False)
    assert any(outcomes)  # three attempts at 30 % each almost always get one through


def test_an_order_that_never_gets_an_answer_is_left_unresolved(kalshi, sim: VenueSimulator, client_order_id):
    sim.faults.inject("timeout", venue="kalshi", method="POST", path_contains="/events/orders",
                      delay_seconds=ADAPTER_TIMEOUT + 0.2)
    with pytest.raises(OrderOutcomeUnknown):
        kalshi.place_order(OrderRequest(KALSHI_TICKER, "buy", Decimal(1), client_order_id,
                                        limit_price=Decimal("0.03")))


def test_a_rejected_write_is_not_retried(alpaca, sim: VenueSimulator, client_order_id):
    sim.faults.inject("status", venue="alpaca", method="POST", path_contains="/orders", status=422,
                      message="qty must be > 0")
    before = sim.httpd.counters.snapshot().get("alpaca", 0)
    with pytest.raises(InvalidRequest, match="qty must be > 0"):
        alpaca.place_order(OrderRequest("AAPL", "buy", Decimal(1), client_order_id))
    assert sim.httpd.counters.snapshot()["alpaca"] == before + 1
