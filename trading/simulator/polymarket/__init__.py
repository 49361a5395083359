"""Simulated Polymarket: CLOB (L1/L2 auth, V2 signed orders), Gamma and the Data API.

- `auth`: L1 / L2 request checks and the V2 order's EIP-712 digest;
- `records`: accounts, orders, trades, positions, and the exchange's units;
- `venue`: `PolymarketVenue`, the state the three hosts share: accounts, books, matching, fills;
- `shapes`: the JSON of orders, trades, books and Gamma markets;
- `apps`: the hosts (`PolymarketClob`, `PolymarketGamma`, `PolymarketData`) routing requests.
"""

from trading.simulator.polymarket.apps import PolymarketClob, PolymarketData, PolymarketGamma
from trading.simulator.polymarket.auth import api_creds_for, order_digest
from trading.simulator.polymarket.venue import LEADER_WALLET, PolymarketVenue

__all__ = ["LEADER_WALLET", "PolymarketClob", "PolymarketData", "PolymarketGamma", "PolymarketVenue",
           "api_creds_for", "order_digest"]
