"""Kalshi Trade API v2 over `requests`, with RSA-PSS signed requests and the V2 order endpoints."""

from __future__ import annotations

import base64
import functools
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

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
    QuoteCandle,
    VenuePosition,
)
from trading.venues.errors import (
    AuthenticationFailed,
    DuplicateOrder,
    InvalidRequest,
    MalformedResponse,
    NotFound,
    OrderRejected,
    VenueConnectionError,
    VenueTimeout,
)
from trading.venues.http_errors import error_from_response, json_or_malformed
from trading.venues.resilience import RateLimits, Resilience, RetryPolicy

PLATFORM = "kalshi"
ONE = Decimal(1)
# docs.kalshi.com getting_started/rate_limits, Basic tier: 200 read / 100 write tokens/s at 10 tokens a request.
KALSHI_RATE_LIMITS = RateLimits(read_per_second=20, write_per_second=10, burst_seconds=2)
TIME_IN_FORCE = {"gtc": "good_till_canceled", "day": "good_till_canceled", "ioc": "immediate_or_cancel",
                 "fok": "fill_or_kill"}
STATUS = {"resting": "open", "executed": "filled", "canceled": "canceled"}
MAX_PAGES = 1000  # of a cursor-paged list: more means the cursor never ends


def _dec(value: Any, default: str = "0") -> Decimal:
    return Decimal(str(value)) if value not in (None, "") else Decimal(default)


def _time(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(UTC)


def _dollars(value: Decimal) -> str:
    return str(value.quantize(Decimal("0.0001")))


@functools.lru_cache(maxsize=16)
def _rsa_key(private_key_pem: bytes) -> rsa.RSAPrivateKey:
    """Parsing (and checking) an RSA key costs ~30 ms; a worker builds a client every cycle, so parse once."""
    key = serialization.load_pem_private_key(private_key_pem, password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("Kalshi API keys are RSA keys")
    return key


class KalshiSigner:
    """KALSHI-ACCESS-* headers: RSA-PSS(SHA-256) over timestamp_ms + METHOD + path (no query)."""

    def __init__(self, key_id: str, private_key_pem: bytes):
        self.key_id = key_id
        self.key = _rsa_key(private_key_pem)

    @classmethod
    def from_file(cls, key_id: str, path: str | Path) -> KalshiSigner:
        return cls(key_id, Path(path).read_bytes())

    def headers(self, method: str, path: str) -> dict[str, str]:
        timestamp = str(int(time.time() * 1000))
        signature = self.key.sign(
            (timestamp + method + path).encode(),
            padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH),
            hashes.SHA256(),
        )
        return {
            "KALSHI-ACCESS-KEY": self.key_id,
            "KALSHI-ACCESS-TIMESTAMP": timestamp,
            "KALSHI-ACCESS-SIGNATURE": base64.b64encode(signature).decode(),
        }


class KalshiVenue:
    platform = PLATFORM

    def __init__(self, api_url: str, signer: KalshiSigner | None = None, *, timeout: float = 10.0,
                 rate_limits: RateLimits | None = KALSHI_RATE_LIMITS, retry: RetryPolicy | None = None):
        self.api_url = api_url.rstrip("/")
        url_path = urlsplit(self.api_url).path
        # Kalshi signs the path from /trade-api/ on; a proxy's (or the simulator's) mount prefix is not part of it.
        self.path_prefix = url_path[url_path.find("/trade-api/"):] if "/trade-api/" in url_path else url_path
        self.signer = signer
        self.timeout = timeout
        self.session = requests.Session()
        self.resilience = Resilience(PLATFORM, rate_limits, retry)

    def close(self) -> None:
        self.session.close()

    # --- transport ------------------------------------------------------------------------------
    def _request(self, method: str, path: str, *, params: dict[str, Any] | None = None,
                 body: dict[str, Any] | None = None, signed: bool = False) -> Any:
        headers = {"Accept": "application/json"}
        if signed:
            if self.signer is None:
                raise AuthenticationFailed(PLATFORM, "this operation needs a Kalshi API key")
            # The venue signs the path after the host, e.g. /trade-api/v2/portfolio/balance.
            headers.update(self.signer.headers(method, self._signed_path(path)))
        try:
            response = self.session.request(method, self.api_url + path, params=params, json=body,
                                            headers=headers, timeout=self.timeout)
        except requests.Timeout as error:
            raise VenueTimeout(PLATFORM, f"no answer within {self.timeout}s: {error}") from error
        except requests.ConnectionError as error:
            raise VenueConnectionError(PLATFORM, str(error)) from error
        if response.status_code >= 400:
            raise error_from_response(PLATFORM, response.status_code, response.content,
                                      response.headers.get("Retry-After"))
        return json_or_malformed(PLATFORM, response.content)

    def _signed_path(self, path: str) -> str:
        return self.path_prefix + path

    def _read(self, path: str, *, params: dict[str, Any] | None = None, signed: bool = False) -> Any:
        return self.resilience.call(lambda: self._request("GET", path, params=params, signed=signed),
                                    kind="read", idempotent=True)

    def _field(self, payload: Any, key: str) -> Any:
        if not isinstance(payload, dict) or key not in payload:
            raise MalformedResponse(PLATFORM, f"response has no {key!r}")
        return payload[key]

    # --- market data ----------------------------------------------------------------------------
    def _market(self, raw: dict[str, Any]) -> Market:
        return Market(
            platform=PLATFORM, market_id=raw["ticker"], title=raw.get("title", ""), instrument_ids=(raw["ticker"],),
            outcomes=("yes", "no"), active=raw.get("status") in ("active", "open"), slug=raw.get("event_ticker", ""),
            category=raw.get("category", ""), tick_size=Decimal("0.01"), min_order_size=Decimal(1),
            synthetic="synthetic" in (raw.get("title", "") + raw.get("subtitle", "")),
            settled_outcome=raw.get("result") if raw.get("result") in ("yes", "no") else None,
        )

    def search_markets(self, query: str = "", *, limit: int = 20) -> list[Market]:
        """Open markets whose title or ticker contains `query` (Kalshi has no text search)."""
        payload = self._read("/markets", params={"status": "open", "limit": 1000})
        needle = query.lower()
        markets = [self._market(m) for m in self._field(payload, "markets")
                   if needle in m.get("title", "").lower() or needle in m.get("ticker", "").lower()]
        return markets[:limit]

    def get_market(self, market_id: str) -> Market:
        return self._market(self._field(self._read(f"/markets/{market_id}"), "market"))

    def get_market_for_instrument(self, instrument_id: str) -> Market:
        return self.get_market(instrument_id)  # a ticker is both

    def get_order_book(self, instrument_id: str) -> OrderBook:
        book = self._field(self._read(f"/markets/{instrument_id}/orderbook"), "orderbook_fp")
        yes = [BookLevel(_dec(p), _dec(s)) for p, s in book.get("yes_dollars") or []]
        no = [BookLevel(_dec(p), _dec(s)) for p, s in book.get("no_dollars") or []]
        # Kalshi lists only bids; a NO bid at q is a YES ask at 1 − q.
        bids = sorted(yes, key=lambda lv: lv.price, reverse=True)
        asks = sorted((BookLevel(ONE - lv.price, lv.size) for lv in no), key=lambda lv: lv.price)
        return OrderBook(instrument_id, tuple(bids), tuple(asks), datetime.now(UTC))

    def get_quote(self, instrument_id: str) -> Quote:
        book = self.get_order_book(instrument_id)
        return Quote(instrument_id, book.best_bid, book.best_ask,
                     book.bids[0].size if book.bids else None, book.asks[0].size if book.asks else None, book.as_of)

    def get_midpoint(self, instrument_id: str) -> Decimal:
        midpoint = self.get_order_book(instrument_id).midpoint
        if midpoint is None:
            raise NotFound(PLATFORM, f"{instrument_id} has no two-sided book")
        return midpoint

    def get_price(self, instrument_id: str, side: OrderSide) -> Decimal:
        """The YES price a `side` order would trade at now: the best ask to buy, the best bid to sell."""
        book = self.get_order_book(instrument_id)
        price = book.best_ask if side == "buy" else book.best_bid
        if price is None:
            raise NotFound(PLATFORM, f"{instrument_id} has no {'asks' if side == 'buy' else 'bids'}")
        return price

    def get_candlesticks(self, ticker: str, *, start: datetime, end: datetime, period_minutes: int = 60,
                         series_ticker: str | None = None) -> list[Bar]:
        series = series_ticker or self._field(self._read(f"/markets/{ticker}"), "market")["event_ticker"].split("-")[0]
        payload = self._read(f"/series/{series}/markets/{ticker}/candlesticks", params={
            "start_ts": int(start.timestamp()), "end_ts": int(end.timestamp()), "period_interval": period_minutes})
        bars = []
        for candle in self._field(payload, "candlesticks"):
            price = candle.get("price") or {}
            close = price.get("close_dollars") or price.get("previous_dollars")
            if close is None:
                continue
            bars.append(Bar(
                at=datetime.fromtimestamp(candle["end_period_ts"], UTC), open=_dec(price.get("open_dollars", close)),
                high=_dec(price.get("high_dollars", close)), low=_dec(price.get("low_dollars", close)),
                close=_dec(close), volume=_dec(candle.get("volume_fp")),
            ))
        return bars

    def get_quote_candles(self, ticker: str, *, start: datetime, end: datetime, period_minutes: int = 60,
                          series_ticker: str | None = None) -> list[QuoteCandle]:
        """Candlesticks with the YES bid and ask each period closed at (what a backtest fills against)."""
        series = series_ticker or self._field(self._read(f"/markets/{ticker}"), "market")["event_ticker"].split("-")[0]
        payload = self._read(f"/series/{series}/markets/{ticker}/candlesticks", params={
            "start_ts": int(start.timestamp()), "end_ts": int(end.timestamp()), "period_interval": period_minutes})
        candles = []
        for candle in self._field(payload, "candlesticks"):
            price = candle.get("price") or {}
            bid, ask = candle.get("yes_bid") or {}, candle.get("yes_ask") or {}

            def number(ohlc: dict[str, Any], key: str) -> Decimal | None:
                value = ohlc.get(key)
                return None if value is None else _dec(value)

            last = number(price, "close_dollars")
            candles.append(QuoteCandle(
                at=datetime.fromtimestamp(candle["end_period_ts"], UTC), yes_bid=number(bid, "close_dollars"),
                yes_ask=number(ask, "close_dollars"),
                price=last if last is not None else number(price, "previous_dollars"),
                open=number(price, "open_dollars"), high=number(price, "high_dollars"),
                low=number(price, "low_dollars"), volume=_dec(candle.get("volume_fp"))))
        return candles

    def get_price_history(self, instrument_id: str, *, start: datetime, end: datetime) -> list[PricePoint]:
        minutes = 1 if end - start <= timedelta(days=1) else 60 if end - start <= timedelta(days=60) else 1440
        bars = self.get_candlesticks(instrument_id, start=start, end=end, period_minutes=minutes)
        return [PricePoint(bar.at, bar.close) for bar in bars]

    # --- account --------------------------------------------------------------------------------
    def get_balance(self) -> Balance:
        payload = self._read("/portfolio/balance", signed=True)
        cash = _dec(payload["balance_dollars"]) if "balance_dollars" in payload else (
            Decimal(self._field(payload, "balance")) / 100)
        value = payload.get("portfolio_value")
        return Balance(cash=cash, buying_power=cash,
                       portfolio_value=cash + Decimal(value) / 100 if value is not None else None)

    def get_positions(self) -> list[VenuePosition]:
        payload = self._read("/portfolio/positions", params={"count_filter": "position"}, signed=True)
        positions = []
        for row in self._field(payload, "market_positions"):
            quantity = _dec(row.get("position_fp"))
            if quantity == 0:
                continue
            exposure = _dec(row.get("market_exposure_dollars"))
            positions.append(VenuePosition(
                instrument_id=row["ticker"], market_id=row["ticker"], quantity=quantity,
                average_price=(exposure / abs(quantity)).quantize(Decimal("0.0001")), cost_basis=exposure,
                realized_pnl=_dec(row.get("realized_pnl_dollars")),
            ))
        return positions

    # --- orders ---------------------------------------------------------------------------------
    def prepare_order(self, request: OrderRequest) -> PreparedOrder:
        if request.limit_price is None:
            raise InvalidRequest(PLATFORM, "Kalshi V2 orders need a limit price (use 0.99 / 0.01 to cross the book)")
        # One YES book: buying YES bids p; buying NO at q sells YES at 1 − q.
        buys_yes = (request.side == "buy") == (request.outcome == "yes")
        yes_price = request.limit_price if request.outcome == "yes" else ONE - request.limit_price
        body: dict[str, Any] = {
            "ticker": request.instrument_id,
            "client_order_id": request.client_order_id,
            "side": "bid" if buys_yes else "ask",
            "count": str(request.quantity),
            "price": _dollars(yes_price),
            "time_in_force": TIME_IN_FORCE[request.time_in_force],
            "self_trade_prevention_type": "taker_at_cross",
        }
        if request.post_only:
            body["post_only"] = True
        if request.reduce_only:  # the count is capped by what the account holds: an exit never opens the other side
            body["reduce_only"] = True
        return PreparedOrder(PLATFORM, request, None, body)

    def submit_order(self, prepared: PreparedOrder) -> OrderState:
        request = prepared.request

        def post() -> OrderState:
            try:
                ack = self._request("POST", "/portfolio/events/orders", body=prepared.payload, signed=True)
            except DuplicateOrder:
                existing = self._find_by_client_order_id(request)
                if existing is None:
                    raise
                return existing
            except InvalidRequest as error:
                raise OrderRejected(PLATFORM, error.message, status=error.status) from error
            return self.get_order(str(self._field(ack, "order_id")))

        # client_order_id makes the create idempotent: a retry can never place the order twice.
        return self.resilience.call(post, kind="write", idempotent=True)

    def place_order(self, request: OrderRequest) -> OrderState:
        return self.submit_order(self.prepare_order(request))

    def _find_by_client_order_id(self, request: OrderRequest) -> OrderState | None:
        for raw in self._pages("/portfolio/orders", "orders", {"ticker": request.instrument_id}, retried=False):
            if raw.get("client_order_id") == request.client_order_id:
                state = self._order_state(raw)
                return OrderState(**{**state.__dict__, "already_existed": True})
        return None

    def _pages(self, path: str, key: str, params: dict[str, Any], *, retried: bool = True) -> list[Any]:
        """Every page of a cursor-paged portfolio list (orders, fills), following `cursor` to its end."""
        items: list[Any] = []
        cursor = ""
        for _ in range(MAX_PAGES):
            query = {**params, **({"cursor": cursor} if cursor else {})}
            payload = (self._read(path, params=query, signed=True) if retried
                       else self._request("GET", path, params=query, signed=True))
            items.extend(self._field(payload, key))
            cursor = str(payload.get("cursor") or "")
            if not cursor:
                return items
        raise MalformedResponse(PLATFORM, f"{path} returned more than {MAX_PAGES} pages")

    def get_order_by_client_id(self, client_order_id: str, *, instrument_id: str = "") -> OrderState:
        """The order placed under `client_order_id` (on `instrument_id`, when given); NotFound when there is none."""
        params = {"ticker": instrument_id} if instrument_id else {}
        for raw in self._pages("/portfolio/orders", "orders", params):
            if raw.get("client_order_id") == client_order_id:
                return self._order_state(raw)
        raise NotFound(PLATFORM, f"no order with client_order_id {client_order_id}")

    def _order_state(self, raw: dict[str, Any]) -> OrderState:
        filled, initial = _dec(raw.get("fill_count_fp")), _dec(raw.get("initial_count_fp"))
        status: OrderStatus = STATUS.get(raw.get("status", ""), "unknown")  # type: ignore[assignment]
        if status == "open" and filled > 0:
            status = "partially_filled"
        cost = _dec(raw.get("taker_fill_cost_dollars")) + _dec(raw.get("maker_fill_cost_dollars"))
        return OrderState(
            platform=PLATFORM, venue_order_id=raw["order_id"], client_order_id=raw.get("client_order_id"),
            instrument_id=raw["ticker"], side="buy" if raw.get("book_side", "bid") == "bid" else "sell",
            status=status, quantity=initial, filled_quantity=filled, limit_price=_dec(raw.get("yes_price_dollars")),
            average_fill_price=(cost / filled).quantize(Decimal("0.0001")) if filled else None,
            fees=_dec(raw.get("taker_fees_dollars")) + _dec(raw.get("maker_fees_dollars")),
            created_at=_time(raw.get("created_time")),
        )

    def get_order(self, venue_order_id: str) -> OrderState:
        payload = self._read(f"/portfolio/orders/{venue_order_id}", signed=True)
        return self._order_state(self._field(payload, "order"))

    def cancel_order(self, venue_order_id: str) -> CancelResult:
        def cancel() -> CancelResult:
            try:
                self._request("DELETE", f"/portfolio/events/orders/{venue_order_id}", signed=True)
            except InvalidRequest as error:
                return CancelResult(venue_order_id, False, error.message)
            return CancelResult(venue_order_id, True)

        return self.resilience.call(cancel, kind="write", idempotent=True)

    def get_fills(self, venue_order_id: str | None = None) -> list[Fill]:
        params = {"order_id": venue_order_id} if venue_order_id else {}
        return [
            Fill(platform=PLATFORM, fill_id=raw["fill_id"], venue_order_id=raw["order_id"],
                 instrument_id=raw.get("market_ticker") or raw["ticker"],
                 side="buy" if raw.get("book_side", "bid") == "bid" else "sell",
                 price=_dec(raw.get("yes_price_dollars") or raw.get("yes_price_fixed")), quantity=_dec(raw["count_fp"]),
                 fee=_dec(raw.get("fee_cost_dollars")), at=_time(raw.get("created_time")) or datetime.now(UTC),
                 client_order_id=raw.get("client_order_id"))
            for raw in self._pages("/portfolio/fills", "fills", params)
        ]

