"""The simulator's own door: raw HTTP auth checks, the control endpoint, the command, the factory."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import signal
import socket
import subprocess
import sys
import time
from decimal import Decimal
from typing import Any

import pytest
import requests
from django.conf import settings

from trading.simulator import VenueSimulator
from trading.simulator.credentials import DevCredentials
from trading.simulator.polymarket import api_creds_for
from trading.venues import venue_client
from trading.venues.domain import OrderRequest
from trading.venues.errors import VenueError
from trading.venues.kalshi import KalshiSigner

from .conftest import KALSHI_TICKER


def _l2_headers(address: str, secret: str, key: str, passphrase: str, method: str, path: str) -> dict[str, str]:
    timestamp = str(int(time.time()))
    digest = hmac.new(base64.urlsafe_b64decode(secret), (timestamp + method + path).encode(), hashlib.sha256)
    return {"POLY_ADDRESS": address, "POLY_API_KEY": key, "POLY_PASSPHRASE": passphrase, "POLY_TIMESTAMP": timestamp,
            "POLY_SIGNATURE": base64.urlsafe_b64encode(digest.digest()).decode()}


def test_polymarket_checks_the_l2_hmac(sim: VenueSimulator, polymarket):
    address = polymarket.wallet
    key, secret, passphrase = api_creds_for(address)
    url = sim.venue_urls()["polymarket"]["clob_url"] + "/balance-allowance"
    good = _l2_headers(address, secret, key, passphrase, "GET", "/balance-allowance")
    assert requests.get(url, params={"asset_type": "COLLATERAL"}, headers=good, timeout=5).status_code == 200
    signed_other_path = _l2_headers(address, secret, key, passphrase, "GET", "/data/orders")
    answer = requests.get(url, params={"asset_type": "COLLATERAL"}, headers=signed_other_path, timeout=5)
    assert answer.status_code == 401 and answer.json() == {"error": "Unauthorized/Invalid api key"}


def test_kalshi_refuses_a_signature_that_covers_the_query_string(sim: VenueSimulator, dev: DevCredentials):
    signer = KalshiSigner.from_file(dev.kalshi_key_id, dev.kalshi_private_key_path)
    url = sim.venue_urls()["kalshi"]["api_url"] + "/portfolio/positions"
    ok = requests.get(url, params={"limit": 5}, headers=signer.headers("GET", "/trade-api/v2/portfolio/positions"),
                      timeout=5)
    assert ok.status_code == 200
    bad = requests.get(url, params={"limit": 5},
                       headers=signer.headers("GET", "/trade-api/v2/portfolio/positions?limit=5"), timeout=5)
    assert bad.status_code == 401 and bad.json()["error"]["code"] == "unauthorized"


def test_kalshi_legacy_order_endpoint_is_gone(sim: VenueSimulator, dev: DevCredentials):
    signer = KalshiSigner.from_file(dev.kalshi_key_id, dev.kalshi_private_key_path)
    answer = requests.post(sim.venue_urls()["kalshi"]["api_url"] + "/portfolio/orders", json={},
                           headers=signer.headers("POST", "/trade-api/v2/portfolio/orders"), timeout=5)
    assert answer.status_code == 410


def test_the_control_endpoint_injects_faults_and_counts_orders(sim: VenueSimulator, kalshi, client_order_id):
    created = requests.post(sim.url + "/_sim/faults", timeout=5, json={
        "kind": "status", "venue": "kalshi", "path_contains": "/orderbook", "status": 503, "count": 5,
        "message": "from the control endpoint"})
    assert created.status_code == 201
    with pytest.raises(VenueError, match="from the control endpoint"):
        kalshi.get_order_book(KALSHI_TICKER)
    assert requests.delete(sim.url + "/_sim/faults", timeout=5).json() == {"faults": []}
    assert kalshi.get_order_book(KALSHI_TICKER).bids
    before = requests.get(sim.url + "/_sim/stats", timeout=5).json()["orders"].get("kalshi", {}).get("accepted", 0)
    kalshi.place_order(OrderRequest(KALSHI_TICKER, "buy", Decimal(1), client_order_id, limit_price=Decimal("0.02")))
    after = requests.get(sim.url + "/_sim/stats", timeout=5).json()["orders"]["kalshi"]["accepted"]
    assert after == before + 1
    bad = requests.post(sim.url + "/_sim/faults", json={"kind": "explode"}, timeout=5)
    assert bad.status_code == 400 and "kind must be one of" in bad.json()["error"]


def test_venue_client_builds_adapters_from_settings_with_dev_credentials(sim: VenueSimulator, settings):
    settings.VENUE_SIMULATOR_URL = sim.url
    urls = sim.venue_urls()
    settings.VENUES = {name: {**settings.VENUES[name], **urls[name]} for name in ("polymarket", "kalshi", "alpaca")}
    for platform in ("polymarket", "kalshi", "alpaca"):
        client = venue_client(platform)
        assert client.platform == platform
        assert client.get_balance().cash > 0
        client.close()
    with pytest.raises(ValueError, match="platform must be one of"):
        venue_client("nasdaq")


def test_venue_client_needs_real_keys_for_a_real_venue(settings):
    settings.VENUES = {**settings.VENUES, "alpaca": {**settings.VENUES["alpaca"],
                                                     "trading_url": "https://paper-api.alpaca.markets",
                                                     "data_url": "https://data.alpaca.markets",
                                                     "api_key": "", "secret_key": ""}}
    with pytest.raises(VenueError, match="ALPACA_API_KEY"):
        venue_client("alpaca")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_the_management_command_serves_every_venue():
    port = _free_port()
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "strategyhub.settings", "DEBUG": "1"}
    process = subprocess.Popen(
        [sys.executable, "manage.py", "venue_simulator", "--port", str(port), "--speed", "0"],
        cwd=settings.BASE_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                health = requests.get(f"http://127.0.0.1:{port}/_sim/health", timeout=1).json()
                break
            except requests.ConnectionError:
                assert process.poll() is None, process.stdout.read().decode() if process.stdout else ""
                assert time.monotonic() < deadline
                time.sleep(0.2)
        assert health["ok"]
        assert health["venues"]["kalshi"]["api_url"].endswith("/kalshi/trade-api/v2")
        markets = requests.get(health["venues"]["kalshi"]["api_url"] + "/markets", timeout=5).json()["markets"]
        assert any(m["ticker"] == KALSHI_TICKER for m in markets)
    finally:
        process.send_signal(signal.SIGTERM)  # what a supervisor sends; the command handles it like Ctrl-C
        process.wait(timeout=10)


@pytest.mark.parametrize("platform", ["polymarket", "kalshi", "alpaca"])
def test_the_simulator_serves_several_accounts_each_with_its_own_book(sim: VenueSimulator, settings, platform: str,
                                                                      poly_token: str):
    """Two accounts opened over `/_sim/accounts`; an order of one never touches the other's cash or positions."""
    settings.VENUE_SIMULATOR_URL = sim.url
    settings.VENUES = {name: {**settings.VENUES[name], **urls} for name, urls in sim.venue_urls().items()}
    first, second = (requests.post(sim.url + "/_sim/accounts", json={"venue": platform}, timeout=5).json()
                     for _ in range(2))
    ids = {"polymarket": "address", "kalshi": "key_id", "alpaca": "api_key"}[platform]
    buyer = venue_client(platform, credentials={k: v for k, v in first.items() if k != "address"})
    instrument = {"polymarket": poly_token, "kalshi": KALSHI_TICKER, "alpaca": "AAPL"}[platform]
    book = buyer.get_order_book(instrument)
    limit = book.best_ask if platform != "alpaca" else None
    quantity = Decimal(5)
    state = buyer.place_order(OrderRequest(instrument, "buy", quantity, f"multi-{platform}-{time.time_ns()}",
                                           limit_price=limit, time_in_force="ioc" if platform != "alpaca" else "day"))
    buyer.close()
    assert state.filled_quantity == quantity

    def held(credentials: dict[str, str]) -> dict[str, Any]:
        state: dict[str, Any] = requests.get(f"{sim.url}/_sim/accounts/{platform}/{credentials[ids]}",
                                             timeout=5).json()
        return state

    bought, untouched = held(first), held(second)
    assert Decimal(next(iter(bought["positions"].values()))) == quantity and len(bought["orders"]) == 1
    assert untouched["positions"] == {} and untouched["orders"] == []
    starting = {"polymarket": "10000", "kalshi": "10000", "alpaca": "100000"}[platform]
    assert Decimal(untouched["cash"]) == Decimal(starting) > Decimal(bought["cash"])
    other = venue_client(platform, credentials={k: v for k, v in second.items() if k != "address"})
    assert other.get_positions() == [] and other.get_balance().cash == Decimal(starting)  # as the venue answers it
    other.close()


def test_the_account_control_endpoint_names_what_is_wrong(sim: VenueSimulator):
    bad = requests.post(sim.url + "/_sim/accounts", json={"venue": "nasdaq"}, timeout=5)
    assert bad.status_code == 400 and "venue must be one of polymarket, kalshi, alpaca" in bad.json()["error"]
    missing = requests.get(sim.url + "/_sim/accounts/kalshi/no-such-key", timeout=5)
    assert missing.status_code == 404 and "no kalshi account with key no-such-key" in missing.json()["error"]
