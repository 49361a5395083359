"""The venue simulator: one HTTP server, one port, every venue under its own path prefix."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trading.simulator.alpaca import AlpacaData, AlpacaTrading, SimulatedAlpaca
from trading.simulator.books import ReplayClock
from trading.simulator.faults import Fault, FaultPlan
from trading.simulator.http import SimError, SimRequest, SimResponse, SimulatorHTTPServer, VenueApp
from trading.simulator.kalshi import SimulatedKalshi
from trading.simulator.polymarket import PolymarketClob, PolymarketData, PolymarketGamma, PolymarketVenue
from trading.simulator.stats import OrderCounters

PREFIXES = {
    "polymarket_clob": "/polymarket/clob",
    "polymarket_gamma": "/polymarket/gamma",
    "polymarket_data": "/polymarket/data",
    "kalshi": "/kalshi",  # the Kalshi app serves /trade-api/v2/... below it, as the signed path needs
    "alpaca_trading": "/alpaca/trading",
    "alpaca_data": "/alpaca/data",
}


@dataclass
class SimulatorConfig:
    host: str = "127.0.0.1"
    port: int = 8765
    key_dir: Path = field(default_factory=lambda: Path("var/venue_simulator"))
    speed: float = 1.0  # replay speed of the recorded data; 0 freezes every book
    seed: int = 7
    kalshi_duplicate_policy: str = "reject"  # or "return_existing"
    faults: list[Fault] = field(default_factory=list)


class VenueSimulator:
    """Build with a config, then `start()` (background thread) or `serve_forever()` (foreground)."""

    def __init__(self, config: SimulatorConfig | None = None):
        self.config = config or SimulatorConfig()
        self.clock = ReplayClock(self.config.speed)
        self.orders = OrderCounters()
        self.faults = FaultPlan(seed=self.config.seed, faults=list(self.config.faults))
        self.polymarket = PolymarketVenue(self.clock, self.orders, seed=self.config.seed)
        self.kalshi = SimulatedKalshi(self.clock, self.orders, self.config.key_dir, seed=self.config.seed,
                                  duplicate_policy=self.config.kalshi_duplicate_policy)
        self.alpaca = SimulatedAlpaca(self.clock, self.orders, seed=self.config.seed)
        routes: list[tuple[str, VenueApp]] = [
            (PREFIXES["polymarket_clob"], PolymarketClob(self.polymarket)),
            (PREFIXES["polymarket_gamma"], PolymarketGamma(self.polymarket)),
            (PREFIXES["polymarket_data"], PolymarketData(self.polymarket)),
            (PREFIXES["kalshi"], self.kalshi),
            (PREFIXES["alpaca_trading"], AlpacaTrading(self.alpaca)),
            (PREFIXES["alpaca_data"], AlpacaData(self.alpaca)),
        ]
        self.httpd = SimulatorHTTPServer((self.config.host, self.config.port), routes, self.faults, self.control)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def venue_urls(self) -> dict[str, dict[str, Any]]:
        """Base URLs in the shape of settings.VENUES, for pointing adapters at this simulator."""
        base = self.url
        return {
            "polymarket": {
                "clob_url": base + PREFIXES["polymarket_clob"],
                "gamma_url": base + PREFIXES["polymarket_gamma"],
                "data_url": base + PREFIXES["polymarket_data"],
            },
            "kalshi": {"api_url": base + PREFIXES["kalshi"] + "/trade-api/v2"},
            "alpaca": {"trading_url": base + PREFIXES["alpaca_trading"], "data_url": base + PREFIXES["alpaca_data"]},
        }

    def start(self) -> VenueSimulator:
        # A short poll: stop() waits for the loop to notice, and test sessions start and stop many simulators.
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="venue-simulator", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self.httpd.serve_forever()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def stats(self) -> dict[str, Any]:
        return {"requests": self.httpd.counters.snapshot(), "orders": self.orders.snapshot()}

    def account_open(self, venue: str) -> dict[str, str]:
        """A new account at `venue` with its own credentials (the keys a user stores as a VenueAccount)."""
        return self._account_venue(venue).account_open()

    def account_state(self, venue: str, account: str) -> dict[str, Any]:
        """One account's cash, positions and orders; `account` is the Kalshi key id, the Alpaca key id or
        the Polymarket address."""
        return self._account_venue(venue).account_state(account)

    def _account_venue(self, venue: str) -> PolymarketVenue | SimulatedKalshi | SimulatedAlpaca:
        venues: dict[str, PolymarketVenue | SimulatedKalshi | SimulatedAlpaca] = {
            "polymarket": self.polymarket, "kalshi": self.kalshi, "alpaca": self.alpaca}
        if venue not in venues:
            raise SimError(400, f"venue must be one of {', '.join(venues)}, got {venue!r}")
        return venues[venue]

    def control(self, request: SimRequest) -> SimResponse:
        """`/_sim/...`: read counters, add or clear faults, open and read accounts. Only ever bind the
        simulator to localhost."""
        if request.path == "/_sim/stats" and request.method == "GET":
            return SimResponse(200, self.stats())
        if request.path == "/_sim/accounts" and request.method == "POST":
            body = request.json()
            if not isinstance(body, dict):
                raise SimError(400, 'send {"venue": "polymarket" | "kalshi" | "alpaca"}')
            return SimResponse(201, self.account_open(str(body.get("venue"))))
        if request.path.startswith("/_sim/accounts/") and request.method == "GET":
            parts = request.path.removeprefix("/_sim/accounts/").split("/")
            if len(parts) != 2:
                raise SimError(404, "read an account at /_sim/accounts/<venue>/<key id or address>")
            return SimResponse(200, self.account_state(parts[0], parts[1]))
        if request.path == "/_sim/faults":
            if request.method == "GET":
                return SimResponse(200, {"faults": self.faults.snapshot()})
            if request.method == "POST":
                body = request.json()
                if not isinstance(body, dict):
                    raise SimError(400, "a fault is a JSON object")
                try:
                    fault = self.faults.add(Fault.from_dict(body))
                except (TypeError, ValueError) as error:
                    raise SimError(400, str(error)) from error
                return SimResponse(201, fault.as_dict())
            if request.method == "DELETE":
                self.faults.clear()
                return SimResponse(200, {"faults": []})
        if request.path == "/_sim/kalshi/settle" and request.method == "POST":
            body = request.json()
            if not isinstance(body, dict):
                raise SimError(400, 'send {"ticker": "...", "result": "yes" | "no"}')
            at = body.get("at")  # optional: when it settled (unix seconds), its candles stop there
            self.kalshi.settle(str(body.get("ticker")), str(body.get("result")),
                               float(at) if isinstance(at, int | float) else None)
            return SimResponse(200, {"ticker": body.get("ticker"), "result": body.get("result")})
        if request.path == "/_sim/health":
            return SimResponse(200, {"ok": True, "venues": self.venue_urls()})
        raise SimError(404, f"no control route {request.method} {request.path}")
