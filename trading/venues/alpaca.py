"""Alpaca through alpaca-py: TradingClient for the account, StockHistoricalDataClient for prices."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar
from uuid import UUID

import requests
from alpaca.common.exceptions import APIError
from alpaca.data.historical import StockHistoricalDataClient
from alpaca.data.models import BarSet
from alpaca.data.models import Quote as AlpacaQuote
from alpaca.data.requests import StockBarsRequest, StockLatestQuoteRequest
from alpaca.data.timeframe import TimeFrame, TimeFrameUnit
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderSide as AlpacaSide
from alpaca.trading.enums import QueryOrderStatus
from alpaca.trading.enums import TimeInForce as AlpacaTimeInForce
from alpaca.trading.models import Asset, Order, Position, TradeAccount
from alpaca.trading.requests import GetAssetsRequest, GetOrdersRequest, LimitOrderRequest, MarketOrderRequest
from pydantic import ValidationError
from requests.adapters import HTTPAdapter

from trading.venues.domain import (
    Balance,
    Bar,
    BookLevel,
    CancelResult,
    Fill,
    Market,
    OrderBook,
    OrderRequest,
    OrderSide,
    OrderState,
    OrderStatus,
    PreparedOrder,
    PricePoint,
    Quote,
    VenuePosition,
)
from trading.venues.errors import (
    DuplicateOrder,
    InvalidRequest,
    MalformedResponse,
    NotFound,
    OrderRejected,
    VenueConnectionError,
    VenueError,
    VenueTimeout,
    error_for_status,
)
from trading.venues.http_errors import parse_retry_after, venue_message
from trading.venues.resilience import RateLimits, Resilience, RetryPolicy

PLATFORM = "alpaca"
T = TypeVar("T")
M = TypeVar("M")
# docs.alpaca.markets api-rate-limits: 200 requests/minute per account (trading), 200/min on the free data plan.
ALPACA_RATE_LIMITS = RateLimits(read_per_second=200 / 60, write_per_second=200 / 60, burst_seconds=10)
TIME_IN_FORCE = {"gtc": AlpacaTimeInForce.GTC, "day": AlpacaTimeInForce.DAY, "ioc": AlpacaTimeInForce.IOC,
                 "fok": AlpacaTimeInForce.FOK}
STATUS: Mapping[str, OrderStatus] = {
    "new": "open", "accepted": "open", "pending_new": "open", "accepted_for_bidding": "open", "held": "open",
    "partially_filled": "partially_filled", "filled": "filled", "done_for_day": "canceled", "canceled": "canceled",
    "expired": "canceled", "replaced": "canceled", "pending_cancel": "open", "pending_replace": "open",
    "rejected": "rejected", "stopped": "open", "suspended": "open", "calculated": "open",
}
TIMEFRAME_UNITS = {"Min": TimeFrameUnit.Minute, "Hour": TimeFrameUnit.Hour, "Day": TimeFrameUnit.Day,
                   "Week": TimeFrameUnit.Week}


class _TimeoutAdapter(HTTPAdapter):
    """alpaca-py sends requests without a timeout; this gives every request one."""

    def __init__(self, timeout: float):
        super().__init__()
        self.timeout = timeout

    def send(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        return super().send(request, *args, **kwargs)


def _configure_client(client: Any, timeout: float) -> None:
    # Retries are ours (Resilience): alpaca-py would otherwise sleep 3 s per 429, three times.
    client._retry = 0
    session: requests.Session = client._session
    adapter = _TimeoutAdapter(timeout)
    session.mount("http://", adapter)
    session.mount("https://", adapter)


def _model(kind: type[M], value: object) -> M:
    """alpaca-py returns models or raw dicts (raw_data=True); we always ask for models."""
    if not isinstance(value, kind):
        raise MalformedResponse(PLATFORM, f"expected {kind.__name__}, got {type(value).__name__}")
    return value


def _models(kind: type[M], value: object) -> list[M]:
    if not isinstance(value, list):
        raise MalformedResponse(PLATFORM, f"expected a list of {kind.__name__}, got {type(value).__name__}")
    return [_model(kind, item) for item in value]


def _dec(value: Any) -> Decimal | None:
    return None if value in (None, "") else Decimal(str(value))


def _utc(value: datetime | None) -> datetime | None:
    return value.astimezone(UTC) if value is not None else None


def _side(order: Order) -> OrderSide:
    return "buy" if order.side is not None and order.side.value == "buy" else "sell"


def _timeframe(text: str) -> TimeFrame:
    amount = "".join(ch for ch in text if ch.isdigit()) or "1"
    unit = TIMEFRAME_UNITS.get(text[len(amount) :])
    if unit is None:
        raise InvalidRequest(PLATFORM, f"timeframe must look like 1Min, 15Min, 1Hour, 1Day; got {text!r}")
    return TimeFrame(int(amount), unit)


class AlpacaVenue:
    platform = PLATFORM

    def __init__(self, api_key: str, secret_key: str, *, trading_url: str | None, data_url: str | None,
                 paper: bool = True, timeout: float = 10.0, rate_limits: RateLimits | None = ALPACA_RATE_LIMITS,
                 retry: RetryPolicy | None = None):
        self.trading = TradingClient(api_key, secret_key, paper=paper, url_override=trading_url)
        self.data = StockHistoricalDataClient(api_key, secret_key, url_override=data_url)
        _configure_client(self.trading, timeout)
        _configure_client(self.data, timeout)
        self.timeout = timeout
        self.resilience = Resilience(PLATFORM, rate_limits, retry)

    def close(self) -> None:
        self.trading._session.close()
        self.data._session.close()

    # --- error translation ----------------------------------------------------------------------
    def _translated(self, call: Callable[[], T]) -> T:
        try:
            return call()
        except APIError as error:
            status = error.status_code or 500
            response = error.response
            message = venue_message(str(error))
            if status == 422 and "client_order_id" in message and "unique" in message:
                raise DuplicateOrder(PLATFORM, message, status=status) from error
            retry_after = parse_retry_after(response.headers.get("Retry-After")) if response is not None else None
            raise error_for_status(PLATFORM, status, message, retry_after) from error
        except requests.Timeout as error:
            raise VenueTimeout(PLATFORM, f"no answer within {self.timeout}s: {error}") from error
        except requests.ConnectionError as error:
            raise VenueConnectionError(PLATFORM, str(error)) from error
        except (ValueError, ValidationError) as error:  # bad JSON or a shape alpaca-py refuses
            raise MalformedResponse(PLATFORM, str(error)[:300]) from error

    def _read(self, call: Callable[[], T]) -> T:
        return self.resilience.call(lambda: self._translated(call), kind="read", idempotent=True)

    # --- market data ----------------------------------------------------------------------------
    def _market(self, asset: Asset) -> Market:
        return Market(platform=PLATFORM, market_id=asset.symbol, title=asset.name or asset.symbol,
                      instrument_ids=(asset.symbol,), active=asset.tradable, category=str(asset.asset_class.value),
                      tick_size=_dec(asset.price_increment), min_order_size=_dec(asset.min_order_size),
                      synthetic="synthetic" in (asset.name or "") or "synthetic" in (asset.attributes or []))

    def search_markets(self, query: str = "", *, limit: int = 20) -> list[Market]:
        assets = self._read(lambda: _models(Asset, self.trading.get_all_assets(GetAssetsRequest())))
        needle = query.lower()
        found = [a for a in assets if needle in a.symbol.lower() or needle in (a.name or "").lower()]
        return [self._market(a) for a in found[:limit]]

    def get_market(self, market_id: str) -> Market:
        return self._market(self._read(lambda: _model(Asset, self.trading.get_asset(market_id))))

    def get_market_for_instrument(self, instrument_id: str) -> Market:
        return self.get_market(instrument_id)

    def get_latest_quote(self, symbol: str) -> Quote:
        request = StockLatestQuoteRequest(symbol_or_symbols=symbol)
        quotes = self._read(lambda: _model(dict, self.data.get_stock_latest_quote(request)))
        if symbol not in quotes:
            raise NotFound(PLATFORM, f"no quote for {symbol}")
        quote = _model(AlpacaQuote, quotes[symbol])
        return Quote(symbol, _dec(quote.bid_price), _dec(quote.ask_price), _dec(quote.bid_size),
                     _dec(quote.ask_size), _utc(quote.timestamp))

    def get_quote(self, instrument_id: str) -> Quote:
        return self.get_latest_quote(instrument_id)

    def get_order_book(self, instrument_id: str) -> OrderBook:
        """Alpaca publishes no depth for stocks: the book is the top of book from the latest quote."""
        quote = self.get_latest_quote(instrument_id)
        bids = (BookLevel(quote.bid, quote.bid_size or Decimal(0)),) if quote.bid else ()
        asks = (BookLevel(quote.ask, quote.ask_size or Decimal(0)),) if quote.ask else ()
        return OrderBook(instrument_id, bids, asks, quote.as_of)

    def get_midpoint(self, instrument_id: str) -> Decimal:
        midpoint = self.get_latest_quote(instrument_id).midpoint
        if midpoint is None:
            raise NotFound(PLATFORM, f"{instrument_id} has no two-sided quote")
        return midpoint

    def get_price(self, instrument_id: str, side: OrderSide) -> Decimal:
        quote = self.get_latest_quote(instrument_id)
        price = quote.ask if side == "buy" else quote.bid
        if price is None:
            raise NotFound(PLATFORM, f"{instrument_id} has no {side} price")
        return price

    def get_bars(self, symbol: str, *, timeframe: str = "1Day", start: datetime | None = None,
                 end: datetime | None = None, limit: int | None = None) -> list[Bar]:
        request = StockBarsRequest(symbol_or_symbols=symbol, timeframe=_timeframe(timeframe), start=start, end=end,
                                   limit=limit)
        bar_set = self._read(lambda: _model(BarSet, self.data.get_stock_bars(request)))
        return [
            Bar(at=bar.timestamp.astimezone(UTC), open=Decimal(str(bar.open)), high=Decimal(str(bar.high)),
                low=Decimal(str(bar.low)), close=Decimal(str(bar.close)), volume=Decimal(str(bar.volume)))
            for bar in bar_set.data.get(symbol, [])
        ]

    def get_price_history(self, instrument_id: str, *, start: datetime, end: datetime) -> list[PricePoint]:
        span = end - start
        timeframe = "1Min" if span <= timedelta(days=1) else "1Hour" if span <= timedelta(days=30) else "1Day"
        return [PricePoint(bar.at, bar.close) for bar in self.get_bars(instrument_id, timeframe=timeframe,
                                                                       start=start, end=end)]

    # --- account --------------------------------------------------------------------------------
    def get_balance(self) -> Balance:
        account = self._read(lambda: _model(TradeAccount, self.trading.get_account()))
        return Balance(cash=Decimal(account.cash or "0"), buying_power=_dec(account.buying_power),
                       portfolio_value=_dec(account.portfolio_value), currency=account.currency or "USD")

    def get_positions(self) -> list[VenuePosition]:
        return [
            VenuePosition(instrument_id=p.symbol, market_id=p.symbol,
                          quantity=Decimal(p.qty) * (-1 if p.side.value == "short" else 1),
                          average_price=_dec(p.avg_entry_price), cost_basis=_dec(p.cost_basis),
                          market_value=_dec(p.market_value), unrealized_pnl=_dec(p.unrealized_pl))
            for p in self._read(lambda: _models(Position, self.trading.get_all_positions()))
        ]

    # --- orders ---------------------------------------------------------------------------------
    def prepare_order(self, request: OrderRequest) -> PreparedOrder:
        payload: dict[str, Any] = {
            "symbol": request.instrument_id, "qty": str(request.quantity), "side": request.side,
            "time_in_force": request.time_in_force, "client_order_id": request.client_order_id,
        }
        if request.limit_price is not None:
            payload["limit_price"] = str(request.limit_price)
        return PreparedOrder(PLATFORM, request, None, payload)

    def submit_order(self, prepared: PreparedOrder) -> OrderState:
        request = prepared.request
        common: dict[str, Any] = {
            "symbol": request.instrument_id, "qty": float(request.quantity),
            "side": AlpacaSide.BUY if request.side == "buy" else AlpacaSide.SELL,
            "time_in_force": TIME_IN_FORCE[request.time_in_force], "client_order_id": request.client_order_id,
        }
        order_request = (
            MarketOrderRequest(**common) if request.limit_price is None
            else LimitOrderRequest(**common, limit_price=float(request.limit_price))
        )

        def post() -> OrderState:
            try:
                placed = self._translated(lambda: self.trading.submit_order(order_request))
                return self._order_state(_model(Order, placed))
            except DuplicateOrder:
                existing = _model(Order, self._translated(
                    lambda: self.trading.get_order_by_client_id(request.client_order_id)))
                return OrderState(**{**self._order_state(existing).__dict__, "already_existed": True})
            except InvalidRequest as error:
                raise OrderRejected(PLATFORM, error.message, status=error.status) from error
            except VenueError as error:
                if error.status == 403:  # Alpaca answers 403 for buying power / quantity refusals
                    raise OrderRejected(PLATFORM, error.message, status=error.status) from error
                raise

        # client_order_id is unique per account, so a retry can never place the order twice.
        return self.resilience.call(post, kind="write", idempotent=True)

    def place_order(self, request: OrderRequest) -> OrderState:
        return self.submit_order(self.prepare_order(request))

    def _order_state(self, order: Order) -> OrderState:
        filled = Decimal(order.filled_qty or "0")
        return OrderState(
            platform=PLATFORM, venue_order_id=str(order.id), client_order_id=order.client_order_id,
            instrument_id=order.symbol or "", side=_side(order),
            status=STATUS.get(order.status.value, "unknown"), quantity=Decimal(order.qty or "0"),
            filled_quantity=filled, limit_price=_dec(order.limit_price),
            average_fill_price=_dec(order.filled_avg_price), fees=Decimal(0),  # commission-free
            created_at=_utc(order.created_at),
        )

    def _uuid(self, venue_order_id: str) -> UUID:
        try:
            return UUID(venue_order_id)
        except ValueError as error:
            raise InvalidRequest(PLATFORM, f"Alpaca order ids are UUIDs, got {venue_order_id!r}") from error

    def get_order(self, venue_order_id: str) -> OrderState:
        order_id = self._uuid(venue_order_id)
        return self._order_state(self._read(lambda: _model(Order, self.trading.get_order_by_id(order_id))))

    def get_order_by_client_id(self, client_order_id: str, *, instrument_id: str = "") -> OrderState:
        """The order placed under `client_order_id` (Alpaca looks it up directly); NotFound when there is none."""
        return self._order_state(
            self._read(lambda: _model(Order, self.trading.get_order_by_client_id(client_order_id))))

    def cancel_order(self, venue_order_id: str) -> CancelResult:
        order_id = self._uuid(venue_order_id)

        def cancel() -> CancelResult:
            try:
                self._translated(lambda: self.trading.cancel_order_by_id(order_id))
            except InvalidRequest as error:
                return CancelResult(venue_order_id, False, error.message)
            return CancelResult(venue_order_id, True)

        return self.resilience.call(cancel, kind="write", idempotent=True)

    def get_fills(self, venue_order_id: str | None = None) -> list[Fill]:
        """Alpaca's trading API reports fills on the order (filled qty and average price), not per execution."""
        if venue_order_id is not None:
            order_id = self._uuid(venue_order_id)
            orders = [self._read(lambda: _model(Order, self.trading.get_order_by_id(order_id)))]
        else:
            query = GetOrdersRequest(status=QueryOrderStatus.ALL)
            orders = self._read(lambda: _models(Order, self.trading.get_orders(query)))
        fills = []
        for order in orders:
            filled = Decimal(order.filled_qty or "0")
            if filled <= 0 or order.filled_avg_price is None:
                continue
            fills.append(Fill(platform=PLATFORM, fill_id=f"{order.id}:fill", venue_order_id=str(order.id),
                              instrument_id=order.symbol or "", side=_side(order),
                              price=Decimal(order.filled_avg_price), quantity=filled, fee=Decimal(0),
                              at=_utc(order.filled_at) or datetime.now(UTC), client_order_id=order.client_order_id))
        return fills
