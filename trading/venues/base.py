"""The one interface the rest of StrategyHub uses to talk to a venue."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Protocol, runtime_checkable

from trading.venues.domain import (
    Balance,
    CancelResult,
    Fill,
    Market,
    OrderBook,
    OrderRequest,
    OrderSide,
    OrderState,
    PreparedOrder,
    PricePoint,
    Quote,
    VenuePosition,
)


@runtime_checkable
class VenueClient(Protocol):
    """Market data and trading on one venue account.

    Venue-specific reads live on the adapters themselves: `get_trade_history` (Polymarket),
    `get_candlesticks` (Kalshi), `get_latest_quote` and `get_bars` (Alpaca).
    """

    platform: str

    # market data
    def search_markets(self, query: str = "", *, limit: int = 20) -> list[Market]: ...
    def get_market(self, market_id: str) -> Market: ...
    def get_market_for_instrument(self, instrument_id: str) -> Market: ...  # Polymarket: by token id
    def get_order_book(self, instrument_id: str) -> OrderBook: ...
    def get_quote(self, instrument_id: str) -> Quote: ...
    def get_midpoint(self, instrument_id: str) -> Decimal: ...
    def get_price(self, instrument_id: str, side: OrderSide) -> Decimal: ...
    def get_price_history(self, instrument_id: str, *, start: datetime, end: datetime) -> list[PricePoint]: ...

    # account
    def get_balance(self) -> Balance: ...
    def get_positions(self) -> list[VenuePosition]: ...

    # orders: prepare (persist the result), then submit; place_order does both
    def prepare_order(self, request: OrderRequest) -> PreparedOrder: ...
    def submit_order(self, prepared: PreparedOrder) -> OrderState: ...
    def place_order(self, request: OrderRequest) -> OrderState: ...
    def get_order(self, venue_order_id: str) -> OrderState: ...
    def get_order_by_client_id(self, client_order_id: str, *, instrument_id: str = "") -> OrderState: ...
    def cancel_order(self, venue_order_id: str) -> CancelResult: ...
    def get_fills(self, venue_order_id: str | None = None) -> list[Fill]: ...

    def close(self) -> None: ...
