"""Simulated Kalshi Trade API v2: synthetic markets (labelled so), RSA-PSS auth, V2 order endpoints."""

from __future__ import annotations

import base64
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from trading.simulator.books import CENT, Book, ReplayClock, ladder, synthetic_probability_walk, take_liquidity
from trading.simulator.credentials import KALSHI_DEV_KEY_ID, ensure_kalshi_dev_key, new_kalshi_credentials
from trading.simulator.http import SimError, SimRequest, SimResponse
from trading.simulator.stats import OrderCounters

API_PREFIX = "/trade-api/v2"
ONE = Decimal(1)
STARTING_CENTS = 1_000_000
SIGNATURE_WINDOW_MS = 30_000
SERIES_MINUTES = 14 * 24 * 60
TAKER_FEE_RATE = Decimal("0.07")
FED = "Fed funds upper bound above {}% on Dec 31? (synthetic)"
SYNTHETIC_MARKETS = [
    # (series, event, ticker, title, starting probability)
    ("KXSIMFED", "KXSIMFED-26DEC31", "KXSIMFED-26DEC31-T4.00", FED.format("4.00"), 0.62),
    ("KXSIMFED", "KXSIMFED-26DEC31", "KXSIMFED-26DEC31-T4.25", FED.format("4.25"), 0.41),
    ("KXSIMFED", "KXSIMFED-26DEC31", "KXSIMFED-26DEC31-T4.50", FED.format("4.50"), 0.18),
    ("KXSIMBTC", "KXSIMBTC-26DEC31", "KXSIMBTC-26DEC31-T100000", "Bitcoin above $100,000 on Dec 31? (synthetic)", 0.55),
    ("KXSIMBTC", "KXSIMBTC-26DEC31", "KXSIMBTC-26DEC31-T120000", "Bitcoin above $120,000 on Dec 31? (synthetic)", 0.27),
    ("KXSIMRAIN", "KXSIMRAIN-26DEC01", "KXSIMRAIN-26DEC01-NYC", "Rain in New York City on Dec 1? (synthetic)", 0.35),
]


def dollars(value: Decimal) -> str:
    return str(value.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP))


def fixed(value: Decimal) -> str:
    return str(value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def taker_fee(count: Decimal, price: Decimal) -> Decimal:
    # roundup(0.07 × C × P × (1 − P)) to the next cent (Kalshi fee schedule)
    return (TAKER_FEE_RATE * count * price * (ONE - price)).quantize(CENT, rounding=ROUND_CEILING)


@dataclass
class KalshiMarket:
    series: str
    event: str
    ticker: str
    title: str
    path: list[float] = field(repr=False)


@dataclass
class KalshiOrder:
    order_id: str
    client_order_id: str
    ticker: str
    side: str  # "bid" buys YES, "ask" sells YES (buys NO)
    price: Decimal
    count: Decimal
    time_in_force: str
    created: float
    filled: Decimal = Decimal(0)
    status: str = "resting"
    fees: Decimal = Decimal(0)
    fill_cost: Decimal = Decimal(0)
    updated: float = 0.0

    @property
    def remaining(self) -> Decimal:
        return self.count - self.filled if self.status == "resting" else Decimal(0)


@dataclass
class KalshiFill:
    fill_id: str
    order: KalshiOrder
    count: Decimal
    yes_price: Decimal
    fee: Decimal
    is_taker: bool
    created: float


@dataclass
class KalshiPosition:
    contracts: Decimal = Decimal(0)  # > 0 YES, < 0 NO
    exposure: Decimal = Decimal(0)
    realized: Decimal = Decimal(0)
    fees: Decimal = Decimal(0)
    traded: Decimal = Decimal(0)
    updated: float = 0.0


@dataclass
class KalshiAccount:
    key_id: str
    cash: Decimal = Decimal(STARTING_CENTS) / 100
    orders: dict[str, KalshiOrder] = field(default_factory=dict)
    by_client_id: dict[str, KalshiOrder] = field(default_factory=dict)
    fills: list[KalshiFill] = field(default_factory=list)
    positions: dict[str, KalshiPosition] = field(default_factory=dict)


@lru_cache(maxsize=64)
def _rsa_public_key(pem: bytes) -> rsa.RSAPublicKey:
    """The public half of a PEM key (parsed once a process: the dev key is the same for every simulator)."""
    key = serialization.load_pem_private_key(pem, password=None) if b"PRIVATE" in pem else None
    public = key.public_key() if key is not None else serialization.load_pem_public_key(pem)
    if not isinstance(public, rsa.RSAPublicKey):
        raise ValueError("only RSA keys are supported by the simulator")
    return public


class SimulatedKalshi:
    """The simulated Kalshi exchange: markets, books, accounts, orders (the adapter is trading.venues.kalshi)."""

    venue = "kalshi"

    def __init__(self, clock: ReplayClock, counters: OrderCounters, key_dir: Path, *, seed: int = 7,
                 duplicate_policy: str = "reject"):
        self.clock = clock
        self.counters = counters
        self.duplicate_policy = duplicate_policy  # "reject" (409) or "return_existing"
        self.lock = threading.RLock()
        # The series starts a week before the simulator's first minute, so "now" at start is always the same
        # point of the walk, whatever the time of day (a test's book does not depend on when it runs).
        self.anchor = (int(clock.started_at) // 60) * 60 - 7 * 86400
        self.markets = {
            ticker: KalshiMarket(series, event, ticker, title,
                                 synthetic_probability_walk(f"{seed}:kalshi:{ticker}", SERIES_MINUTES, start, 0.01))
            for series, event, ticker, title, start in SYNTHETIC_MARKETS
        }
        self.public_keys: dict[str, rsa.RSAPublicKey] = {}
        self.register_key(KALSHI_DEV_KEY_ID, ensure_kalshi_dev_key(key_dir).read_bytes())
        self.accounts: dict[str, KalshiAccount] = {}
        self.results: dict[str, str] = {}  # ticker → "yes" / "no" once settled
        self.settled_at: dict[str, float] = {}  # when: a settled market has no candles after it
        self.page_size = 100  # Kalshi's default page of orders and fills; tests make it small to prove paging

    def settle(self, ticker: str, result: str, at: float | None = None) -> None:
        """Resolve a market: it reads `finalized` with its result, and every holder is paid $1 a winning contract.

        `at` (unix seconds, default now) is when it settled: its candles stop there."""
        if ticker not in self.markets or result not in ("yes", "no"):
            raise SimError(400, "settle needs a known ticker and a result of 'yes' or 'no'")
        with self.lock:
            self.results[ticker] = result
            self.settled_at.setdefault(ticker, time.time() if at is None else at)
            for account in self.accounts.values():
                position = account.positions.pop(ticker, None)
                if position is not None and position.contracts != 0:
                    won = (position.contracts > 0) == (result == "yes")
                    account.cash += abs(position.contracts) if won else Decimal(0)

    def register_key(self, key_id: str, pem: bytes) -> None:
        self.public_keys[key_id] = _rsa_public_key(pem)

    def account_open(self) -> dict[str, str]:
        """A new account with its own API key: the credentials a user would store (key id, PEM private key)."""
        key_id, pem = new_kalshi_credentials()
        self.register_key(key_id, pem)
        with self.lock:
            self.accounts[key_id] = KalshiAccount(key_id)
        return {"key_id": key_id, "private_key": pem.decode()}

    def account_state(self, key_id: str) -> dict[str, Any]:
        """What one account holds: cash, contracts per ticker (> 0 YES, < 0 NO), its orders."""
        with self.lock:
            account = self.accounts.get(key_id)
            if account is None:
                raise SimError(404, f"no kalshi account with key {key_id}")
            self._sweep(account)
            return {"venue": "kalshi", "account": key_id, "cash": dollars(account.cash),
                    "positions": {t: fixed(p.contracts) for t, p in account.positions.items() if p.contracts},
                    "orders": [o.client_order_id for o in account.orders.values()]}

    def error_payload(self, status: int, message: str) -> Any:
        if status == 429:
            return {"error": "too many requests"}
        codes = {400: "bad_request", 401: "unauthorized", 404: "not_found", 409: "conflict", 410: "gone"}
        return {"error": {"code": codes.get(status, "internal_error"), "message": message, "service": "simulator"}}

    # --- prices ---------------------------------------------------------------------------------
    def price_at(self, market: KalshiMarket, ts: float) -> Decimal:
        minute = int((self.clock.market_time(ts) - self.anchor) // 60) % SERIES_MINUTES
        return Decimal(str(round(market.path[minute], 2))).max(Decimal("0.02")).min(Decimal("0.98"))

    def book(self, market: KalshiMarket) -> Book:
        mid = self.price_at(market, time.time())
        bid, ask = mid - CENT, mid + CENT
        seed = f"{market.ticker}:{int(self.clock.market_time(time.time()) // 60)}"
        return Book(
            ladder(bid, CENT, 5, seed + ":bids", up=False, floor=CENT, cap=ONE - CENT),
            ladder(ask, CENT, 5, seed + ":asks", up=True, floor=CENT, cap=ONE - CENT),
        )

    def market(self, ticker: str) -> KalshiMarket:
        market = self.markets.get(ticker)
        if market is None:
            raise SimError(404, f"market {ticker} not found")
        return market

    # --- auth -----------------------------------------------------------------------------------
    def authenticate(self, request: SimRequest) -> KalshiAccount:
        key_id = request.header("KALSHI-ACCESS-KEY")
        timestamp = request.header("KALSHI-ACCESS-TIMESTAMP")
        signature = request.header("KALSHI-ACCESS-SIGNATURE")
        public = self.public_keys.get(key_id)
        if public is None or not timestamp.isdigit() or not signature:
            raise SimError(401, "authentication failed: missing or unknown API key")
        if abs(time.time() * 1000 - int(timestamp)) > SIGNATURE_WINDOW_MS:
            raise SimError(401, "authentication failed: timestamp outside the allowed window")
        message = (timestamp + request.method + request.path).encode()  # full path, no query string
        try:
            public.verify(
                base64.b64decode(signature),
                message,
                padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH),
                hashes.SHA256(),
            )
        except (InvalidSignature, ValueError) as error:
            raise SimError(401, "authentication failed: invalid signature") from error
        with self.lock:
            return self.accounts.setdefault(key_id, KalshiAccount(key_id))

    # --- routing --------------------------------------------------------------------------------
    def handle(self, request: SimRequest) -> SimResponse:
        if not request.path.startswith(API_PREFIX + "/"):
            raise SimError(404, f"no route {request.path}")
        path = request.path[len(API_PREFIX) :]
        method = request.method
        parts = path.strip("/").split("/")
        if method == "GET":
            if path == "/exchange/status":
                return SimResponse(200, {"exchange_active": True, "trading_active": True})
            if path == "/markets":
                return SimResponse(200, self._markets(request))
            if len(parts) == 2 and parts[0] == "markets":
                return SimResponse(200, {"market": self._market_json(self.market(parts[1]))})
            if len(parts) == 3 and parts[0] == "markets" and parts[2] == "orderbook":
                return SimResponse(200, self._orderbook(self.market(parts[1]), request))
            if len(parts) == 5 and parts[0] == "series" and parts[4] == "candlesticks":
                market = self.market(parts[3])
                if market.series != parts[1]:
                    raise SimError(404, f"market {parts[3]} is not in series {parts[1]}")
                return SimResponse(200, self._candlesticks(market, request))
            if path.startswith("/portfolio/"):
                return SimResponse(200, self._portfolio_read(request, parts))
        if method == "POST" and path == "/portfolio/events/orders":
            return SimResponse(201, self._create_order(request))
        if method == "POST" and path == "/portfolio/orders":
            raise SimError(410, "the legacy order endpoint is gone; use POST /portfolio/events/orders")
        if method == "DELETE" and len(parts) == 4 and parts[:3] == ["portfolio", "events", "orders"]:
            return SimResponse(200, self._cancel(request, parts[3]))
        raise SimError(404, f"no route {method} {path}")

    # --- market data ----------------------------------------------------------------------------
    def _market_json(self, market: KalshiMarket) -> dict[str, Any]:
        book = self.book(market)
        now = time.time()
        yes_bid, yes_ask = book.best_bid or CENT, book.best_ask or ONE - CENT
        return {
            "ticker": market.ticker, "event_ticker": market.event, "market_type": "binary", "title": market.title,
            "subtitle": "synthetic market generated by the StrategyHub venue simulator",
            "yes_sub_title": "Yes", "no_sub_title": "No",
            "status": "finalized" if market.ticker in self.results else "active",
            "open_time": iso(self.anchor), "close_time": "2026-12-31T23:00:00Z",
            "expiration_time": "2026-12-31T23:00:00Z", "latest_expiration_time": "2027-01-07T23:00:00Z",
            "created_time": iso(self.anchor), "updated_time": iso(now),
            "yes_bid_dollars": dollars(yes_bid), "yes_ask_dollars": dollars(yes_ask),
            "no_bid_dollars": dollars(ONE - yes_ask), "no_ask_dollars": dollars(ONE - yes_bid),
            "yes_bid_size_fp": fixed(book.bids[0].size if book.bids else Decimal(0)),
            "yes_ask_size_fp": fixed(book.asks[0].size if book.asks else Decimal(0)),
            "last_price_dollars": dollars(self.price_at(market, now)),
            "previous_price_dollars": dollars(self.price_at(market, now - 86400)),
            "volume_fp": "0.00", "volume_24h_fp": "0.00", "open_interest_fp": "0.00",
            "liquidity_dollars": "0.0000", "notional_value_dollars": "1.0000",
            "result": self.results.get(market.ticker, ""),
            "can_close_early": True, "settlement_timer_seconds": 300,
            "rules_primary": "Synthetic market: resolves by the simulator's seeded random walk.",
            "rules_secondary": "", "price_level_structure": "linear_cent", "fractional_trading_enabled": False,
            "price_ranges": [{"start": "0.0000", "end": "1.0000", "step": "0.0100"}],
        }

    def _markets(self, request: SimRequest) -> dict[str, Any]:
        markets = list(self.markets.values())
        series, event = request.param("series_ticker"), request.param("event_ticker")
        tickers = request.params("tickers")
        markets = [
            m for m in markets
            if (series is None or m.series == series) and (event is None or m.event == event)
            and (not tickers or m.ticker in tickers)
        ]
        limit = int(request.param("limit") or 100)
        return {"markets": [self._market_json(m) for m in markets[:limit]], "cursor": ""}

    def _orderbook(self, market: KalshiMarket, request: SimRequest) -> dict[str, Any]:
        book = self.book(market)
        depth = int(request.param("depth") or 0) or None
        yes = [[dollars(lv.price), fixed(lv.size)] for lv in book.bids[:depth]]
        no = [[dollars(ONE - lv.price), fixed(lv.size)] for lv in book.asks[:depth]]
        # Both sides are bids, listed ascending (worst first) as the live API sends them.
        return {"orderbook_fp": {"yes_dollars": yes[::-1], "no_dollars": no[::-1]}}

    def _candlesticks(self, market: KalshiMarket, request: SimRequest) -> dict[str, Any]:
        try:
            start, end = int(request.param("start_ts") or 0), int(request.param("end_ts") or 0)
            period = int(request.param("period_interval") or 0)
        except ValueError as error:
            raise SimError(400, f"invalid parameters: {error}") from error
        if period not in (1, 60, 1440) or start <= 0 or end < start:
            raise SimError(400, "period_interval must be 1, 60 or 1440 and start_ts <= end_ts")
        step = period * 60
        if (end - start) // step > 5000:
            raise SimError(400, "too many candlesticks requested (max 5000)")
        candles = []
        first_end = (start // step + 1) * step
        last_end = min(end, int(self.settled_at.get(market.ticker, end)))
        for period_end in range(first_end, last_end + 1, step):
            prices = [self.price_at(market, t) for t in range(period_end - step, period_end, max(60, step // 60))]
            open_, close, high, low = prices[0], prices[-1], max(prices), min(prices)
            ohlc = {"open_dollars": dollars(open_), "high_dollars": dollars(high), "low_dollars": dollars(low),
                    "close_dollars": dollars(close)}
            candles.append({
                "end_period_ts": period_end, "volume_fp": "0.00", "open_interest_fp": "0.00",
                "price": {**ohlc, "mean_dollars": dollars(sum(prices, Decimal(0)) / len(prices)),
                          "previous_dollars": dollars(self.price_at(market, period_end - step - 60))},
                "yes_bid": {k: dollars(Decimal(v) - CENT) for k, v in ohlc.items()},
                "yes_ask": {k: dollars(Decimal(v) + CENT) for k, v in ohlc.items()},
            })
        return {"ticker": market.ticker, "candlesticks": candles}

    # --- portfolio ------------------------------------------------------------------------------
    def _portfolio_read(self, request: SimRequest, parts: list[str]) -> dict[str, Any]:
        account = self.authenticate(request)
        self._sweep(account)
        if parts == ["portfolio", "balance"]:
            cents = int((account.cash * 100).to_integral_value())
            value = sum((p.exposure for p in account.positions.values()), Decimal(0))
            return {"balance": cents, "balance_dollars": dollars(account.cash),
                    "portfolio_value": int(value * 100), "updated_ts": int(time.time())}
        if parts == ["portfolio", "positions"]:
            ticker = request.param("ticker")
            rows = [
                {"ticker": t, "exchange_index": 0, "total_traded_dollars": dollars(p.traded),
                 "position_fp": fixed(p.contracts), "market_exposure_dollars": dollars(p.exposure),
                 "realized_pnl_dollars": dollars(p.realized), "fees_paid_dollars": dollars(p.fees),
                 "last_updated_ts": iso(p.updated)}
                for t, p in account.positions.items() if (ticker is None or t == ticker) and p.contracts != 0
            ]
            return {"cursor": "", "market_positions": rows, "event_positions": []}
        if parts == ["portfolio", "orders"]:
            status, ticker = request.param("status"), request.param("ticker")
            orders = [
                self._order_json(o) for o in account.orders.values()
                if (status is None or o.status == status) and (ticker is None or o.ticker == ticker)
            ]
            page, cursor = self._page(orders, request)
            return {"orders": page, "cursor": cursor}
        if len(parts) == 3 and parts[:2] == ["portfolio", "orders"]:
            order = account.orders.get(parts[2])
            if order is None:
                raise SimError(404, f"order {parts[2]} not found")
            return {"order": self._order_json(order)}
        if parts == ["portfolio", "fills"]:
            order_id, ticker = request.param("order_id"), request.param("ticker")
            min_ts = int(request.param("min_ts") or 0)
            fills = [
                self._fill_json(f) for f in account.fills
                if (order_id is None or f.order.order_id == order_id) and (ticker is None or f.order.ticker == ticker)
                and f.created >= min_ts
            ]
            page, cursor = self._page(fills[::-1], request)
            return {"fills": page, "cursor": cursor}
        raise SimError(404, f"no route GET {request.path}")

    def _page(self, items: list[Any], request: SimRequest) -> tuple[list[Any], str]:
        """One page of a cursor-paged list (Kalshi: `limit`, default 100, and an opaque `cursor`; "" at the end)."""
        try:
            start = int(request.param("cursor") or 0)
            limit = min(int(request.param("limit") or self.page_size), self.page_size)
        except ValueError as error:
            raise SimError(400, f"invalid cursor or limit: {error}") from error
        end = start + max(1, limit)
        return items[start:end], str(end) if end < len(items) else ""

    def _create_order(self, request: SimRequest) -> dict[str, Any]:
        account = self.authenticate(request)
        body = request.json()
        self.counters.received("kalshi")
        if not isinstance(body, dict):
            self.counters.rejected("kalshi")
            raise SimError(400, "request body must be a JSON object")
        required = ("ticker", "client_order_id", "side", "count", "price", "time_in_force",
                    "self_trade_prevention_type")
        missing = [name for name in required if name not in body]
        if missing:
            self.counters.rejected("kalshi")
            raise SimError(400, f"missing required field(s): {', '.join(missing)}")
        try:
            price, count = Decimal(str(body["price"])), Decimal(str(body["count"]))
        except ArithmeticError as error:
            self.counters.rejected("kalshi")
            raise SimError(400, "price and count must be decimal strings") from error
        side, tif = body["side"], body["time_in_force"]
        problems = []
        if side not in ("bid", "ask"):
            problems.append("side must be bid or ask")
        if not (Decimal("0.01") <= price <= Decimal("0.99")) or price != price.quantize(CENT):
            problems.append("price must be between 0.01 and 0.99 on a 0.01 grid")
        if count < 1 or count != count.to_integral_value():
            problems.append("count must be a whole number of contracts >= 1")
        if tif not in ("good_till_canceled", "immediate_or_cancel", "fill_or_kill"):
            problems.append("invalid time_in_force")
        if problems:
            self.counters.rejected("kalshi")
            raise SimError(400, "; ".join(problems))
        market = self.market(str(body["ticker"]))
        client_order_id = str(body["client_order_id"])
        with self.lock:
            existing = account.by_client_id.get(client_order_id)
            if existing is not None:
                self.counters.duplicate("kalshi")
                if self.duplicate_policy == "return_existing":
                    return self._ack(existing)
                raise SimError(409, f"an order with client_order_id {client_order_id} already exists")
            if body.get("reduce_only"):  # capped by what the account holds on the side it sells
                held = account.positions.get(market.ticker, KalshiPosition()).contracts
                count = min(count, max(held, Decimal(0)) if side == "ask" else max(-held, Decimal(0)))
                if count <= 0:
                    self.counters.rejected("kalshi")
                    raise SimError(400, "reduce_only order would increase the position: nothing is held to reduce")
            cost = price * count if side == "bid" else (ONE - price) * count
            if cost + taker_fee(count, price) > account.cash:
                self.counters.rejected("kalshi")
                raise SimError(400, "insufficient balance")
            now = time.time()
            order = KalshiOrder(str(uuid.uuid4()), client_order_id, market.ticker, side, price, count, tif, now,
                                updated=now)
            executions = take_liquidity(self.book(market), buy=side == "bid", quantity=count, limit=price)
            available = sum((e.quantity for e in executions), Decimal(0))
            if tif == "fill_or_kill" and available < count:
                executions = []
            for execution in executions:
                self._fill(account, order, execution.price, execution.quantity, taker=True)
            if order.filled >= order.count:
                order.status = "executed"
            elif tif != "good_till_canceled":
                order.status = "canceled"
            account.orders[order.order_id] = order
            account.by_client_id[client_order_id] = order
            self.counters.accepted("kalshi")
            return self._ack(order)

    def _ack(self, order: KalshiOrder) -> dict[str, Any]:
        ack: dict[str, Any] = {
            "order_id": order.order_id, "client_order_id": order.client_order_id,
            "fill_count": fixed(order.filled), "remaining_count": fixed(order.remaining),
            "ts_ms": int(order.updated * 1000),
        }
        if order.filled > 0:
            ack["average_fill_price"] = dollars(order.fill_cost / order.filled)
            ack["average_fee_paid"] = dollars(order.fees / order.filled)
        return ack

    def _fill(
        self, account: KalshiAccount, order: KalshiOrder, yes_price: Decimal, count: Decimal, *, taker: bool
    ) -> None:
        fee = taker_fee(count, yes_price) if taker else Decimal(0)
        position = account.positions.setdefault(order.ticker, KalshiPosition())
        buying_yes = order.side == "bid"
        held = position.contracts
        # Closing the opposite side pays out a $1 pair per contract; opening costs the side's price.
        closing = min(count, max(-held, Decimal(0))) if buying_yes else min(count, max(held, Decimal(0)))
        opening = count - closing
        side_price = yes_price if buying_yes else ONE - yes_price
        if closing:
            average = position.exposure / abs(held)
            proceeds = (ONE - side_price) * closing
            position.realized += proceeds - average * closing
            position.exposure -= average * closing
            account.cash += proceeds
        account.cash -= side_price * opening + fee
        position.exposure += side_price * opening
        position.contracts += count if buying_yes else -count
        position.fees += fee
        position.traded += side_price * count
        position.updated = time.time()
        order.filled += count
        order.fees += fee
        order.fill_cost += yes_price * count
        order.updated = position.updated
        account.fills.append(KalshiFill(str(uuid.uuid4()), order, count, yes_price, fee, taker, position.updated))

    def _sweep(self, account: KalshiAccount) -> None:
        """Fill resting orders the moving synthetic book has crossed (at the order's price, as maker)."""
        with self.lock:
            for order in account.orders.values():
                if order.status != "resting":
                    continue
                book = self.book(self.markets[order.ticker])
                crossed = (
                    book.best_ask is not None and book.best_ask <= order.price
                    if order.side == "bid"
                    else book.best_bid is not None and book.best_bid >= order.price
                )
                if crossed:
                    self._fill(account, order, order.price, order.count - order.filled, taker=False)
                    order.status = "executed"

    def _cancel(self, request: SimRequest, order_id: str) -> dict[str, Any]:
        account = self.authenticate(request)
        with self.lock:
            self._sweep(account)
            order = account.orders.get(order_id)
            if order is None:
                raise SimError(404, f"order {order_id} not found")
            if order.status != "resting":
                raise SimError(400, f"order {order_id} is {order.status} and cannot be canceled")
            reduced = order.count - order.filled
            order.status = "canceled"
            order.updated = time.time()
            self.counters.canceled("kalshi")
        return {"order_id": order.order_id, "client_order_id": order.client_order_id,
                "reduced_by": fixed(reduced), "ts_ms": int(order.updated * 1000)}

    def _order_json(self, order: KalshiOrder) -> dict[str, Any]:
        average = order.fill_cost / order.filled if order.filled else order.price
        return {
            "order_id": order.order_id, "client_order_id": order.client_order_id, "ticker": order.ticker,
            "user_id": "simulator", "status": order.status, "type": "limit", "book_side": order.side,
            "outcome_side": "yes" if order.side == "bid" else "no",
            "action": "buy" if order.side == "bid" else "sell", "side": "yes",
            "yes_price_dollars": dollars(order.price), "no_price_dollars": dollars(ONE - order.price),
            "initial_count_fp": fixed(order.count), "fill_count_fp": fixed(order.filled),
            "remaining_count_fp": fixed(order.remaining), "taker_fees_dollars": dollars(order.fees),
            "maker_fees_dollars": "0.0000", "taker_fill_cost_dollars": dollars(average * order.filled),
            "maker_fill_cost_dollars": "0.0000", "created_time": iso(order.created),
            "last_update_time": iso(order.updated), "expiration_time": None,
            "self_trade_prevention_type": "taker_at_cross", "order_group_id": None, "subaccount_number": 0,
            "exchange_index": 0, "time_in_force": order.time_in_force,
        }

    def _fill_json(self, fill: KalshiFill) -> dict[str, Any]:
        order = fill.order
        return {
            "fill_id": fill.fill_id, "trade_id": fill.fill_id, "order_id": order.order_id,
            "client_order_id": order.client_order_id, "ticker": order.ticker, "market_ticker": order.ticker,
            "side": "yes", "action": "buy" if order.side == "bid" else "sell", "book_side": order.side,
            "outcome_side": "yes" if order.side == "bid" else "no", "count_fp": fixed(fill.count),
            "yes_price_dollars": dollars(fill.yes_price), "no_price_dollars": dollars(ONE - fill.yes_price),
            "is_taker": fill.is_taker, "fee_cost_dollars": dollars(fill.fee), "created_time": iso(fill.created),
            "ts": int(fill.created),
        }

