"""The venue simulator, started once on a free port, and adapters pointed at it (no mocks)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from trading.simulator import SimulatorConfig, VenueSimulator
from trading.simulator.credentials import DevCredentials, dev_credentials
from trading.venues import simulator_key_dir
from trading.venues.alpaca import AlpacaVenue
from trading.venues.kalshi import KalshiSigner, KalshiVenue
from trading.venues.polymarket import PolymarketVenue
from trading.venues.resilience import RetryPolicy

# Quick retries so fault tests stay fast; the policy's logic is the production one.
FAST_RETRY = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05, max_retry_after=1.0)
ADAPTER_TIMEOUT = 0.5


@pytest.fixture(scope="session")
def simulator() -> Iterator[VenueSimulator]:
    """Frozen replay (speed 0): books do not move under a test's feet."""
    sim = VenueSimulator(SimulatorConfig(port=0, speed=0, key_dir=simulator_key_dir())).start()
    yield sim
    sim.stop()


@pytest.fixture
def sim(simulator: VenueSimulator) -> Iterator[VenueSimulator]:
    """The shared simulator, with any fault a test injected cleared afterwards."""
    yield simulator
    simulator.faults.clear()


@pytest.fixture(scope="session")
def dev() -> DevCredentials:
    return dev_credentials(simulator_key_dir())


@pytest.fixture
def client_order_id() -> str:
    return f"test-{uuid.uuid4()}"


@pytest.fixture(scope="session")
def polymarket_session(simulator: VenueSimulator, dev: DevCredentials) -> Iterator[PolymarketVenue]:
    venue = PolymarketVenue(private_key=dev.polymarket_private_key, timeout=ADAPTER_TIMEOUT, rate_limits=None,
                            retry=FAST_RETRY, **simulator.venue_urls()["polymarket"])
    yield venue
    venue.close()


@pytest.fixture
def polymarket(polymarket_session: PolymarketVenue, sim: VenueSimulator) -> PolymarketVenue:
    return polymarket_session


@pytest.fixture
def kalshi(sim: VenueSimulator, dev: DevCredentials) -> Iterator[KalshiVenue]:
    venue = KalshiVenue(sim.venue_urls()["kalshi"]["api_url"],
                        KalshiSigner.from_file(dev.kalshi_key_id, dev.kalshi_private_key_path),
                        timeout=ADAPTER_TIMEOUT, rate_limits=None, retry=FAST_RETRY)
    yield venue
    venue.close()


@pytest.fixture
def alpaca(sim: VenueSimulator, dev: DevCredentials) -> Iterator[AlpacaVenue]:
    venue = AlpacaVenue(dev.alpaca_api_key, dev.alpaca_secret_key, timeout=ADAPTER_TIMEOUT, rate_limits=None,
                        retry=FAST_RETRY, **sim.venue_urls()["alpaca"])
    yield venue
    venue.close()


@pytest.fixture
def poly_token(sim: VenueSimulator) -> str:
    """The YES token of a long-lived recorded market."""
    return sim.polymarket.long_lived[0].token_ids[0]


KALSHI_TICKER = "KXSIMFED-26DEC31-T4.00"
