"""Simulated Alpaca trading and market-data APIs over seeded synthetic prices (labelled synthetic)."""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from trading.simulator.books import ReplayClock, synthetic_walk
from trading.simulator.credentials import ALPACA_DEV_API_KEY, ALPACA_DEV_SECRET_KEY, new_alpaca_credentials
from trading.simulator.http import SimError, SimRequest, SimResponse
from trading.simulator.stats import OrderCounters

STARTING_CASH = Decimal(100_000)
MINUTES = 14 * 24 * 60
DAYS = 3 * 365
SYMBOLS = {  # symbol: (name, exchange, starting price)
    "AAPL": ("Apple Inc. (synthetic prices)", "NASDAQ", 190.0),
    "MSFT": ("Microsoft Corporation (synthetic prices)", "NASDAQ", 410.0),
    "NVDA": ("NVIDIA Corporation (synthetic prices)", "NASDAQ", 120.0),
    "SPY": ("SPDR S&P 500 ETF Trust (synthetic prices)", "ARCA", 560.0),
    "TSLA": ("Tesla, Inc. (synthetic prices)", "NASDAQ", 240.0),
}
TIMEFRAMES = {"Min": 60, "T": 60, "Hour": 3600, "H": 3600, "Day": 86400, "D": 86400, "Week": 604800}


def money(value: Decimal) -> str:
    return str(value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


@dataclass
class Instrument:
    symbol: str
    name: str
    exchange: str
    asset_id: str
    minutes: list[float] = field(repr=False)
    days: list[float] = field(repr=False)


@dataclass
class AlpacaOrder:
    id: str
    client_order_id: str
    symbol: str
    side: str
    order_type: str
    time_in_force: str
    qty: Decimal | None
    notional: Decimal | None
    limit_price: Decimal | None
    created: float
    status: str = "new"
    filled_qty: Decimal = Decimal(0)
    filled_avg_price: Decimal | None = None
    filled_at: float | None = None
    canceled_at: float | None = None
    updated: float = 0.0


@dataclass
class AlpacaPosition:
    qty: Decimal = Decimal(0)
    cost: Decimal = Decimal(0)


@dataclass
class AlpacaAccount:
    api_key: str
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    cash: Decimal = STARTING_CASH
    orders: dict[str, AlpacaOrder] = field(default_factory=dict)
    by_client_id: dict[str, AlpacaOrder] = field(default_factory=dict)
    positions: dict[str, AlpacaPosition] = field(default_factory=dict)


class SimulatedAlpaca:
    """The simulated Alpaca broker: assets, quotes, accounts, orders (the adapter is trading.venues.alpaca)."""

    venue = "alpaca"

    def __init__(self, clock: ReplayClock, counters: OrderCounters, *, seed: int = 7):
        self.clock = clock
        self.counters = counters
        self.lock = threading.RLock()
        self.anchor = (int(clock.started_at) // 60) * 60 - 7 * 86400  # a week before the first minute, as Kalshi's
        self.instruments: dict[str, Instrument] = {}
        for symbol, (name, exchange, start) in SYMBOLS.items():
            minutes = synthetic_walk(f"{seed}:alpaca:{symbol}:minutes", MINUTES, start, 0.0008)
            days = synthetic_walk(f"{seed}:alpaca:{symbol}:days", DAYS, start, 0.015)
            # Rescale the daily history so it ends where the minute series begins.
            days = [value * minutes[0] / days[-1] for value in days]
            asset_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"simulator:alpaca:{symbol}"))
            self.instruments[symbol] = Instrument(symbol, name, exchange, asset_id, minutes, days)
        self.credentials = {ALPACA_DEV_API_KEY: ALPACA_DEV_SECRET_KEY}
        self.accounts: dict[str, AlpacaAccount] = {}

    def account_open(self) -> dict[str, str]:
        """A new account with its own key id and secret."""
        api_key, secret_key = new_alpaca_credentials()
        with self.lock:
            self.credentials[api_key] = secret_key
            self.accounts[api_key] = AlpacaAccount(api_key)
        return {"api_key": api_key, "secret_key": secret_key}

    def account_state(self, api_key: str) -> dict[str, Any]:
        """What one account holds: cash, shares per symbol, its orders."""
        with self.lock:
            account = self.accounts.get(api_key)
            if account is None:
                raise SimError(404, f"no alpaca account with key {api_key}")
            self.sweep(account)
            return {"venue": "alpaca", "account": api_key, "cash": money(account.cash),
                    "positions": {s: str(p.qty) for s, p in account.positions.items() if p.qty},
                    "orders": [o.client_order_id for o in account.orders.values()]}

    def error_payload(self, status: int, message: str) -> Any:
        codes = {400: 40010000, 401: 40110000, 403: 40310000, 404: 40410000, 422: 42210000, 429: 42910000}
        return {"code": codes.get(status, 50010000), "message": message}

    # --- prices ---------------------------------------------------------------------------------
    def instrument(self, symbol: str) -> Instrument:
        found = self.instruments.get(symbol.upper())
        if found is None:
            raise SimError(404, f"asset not found: {symbol}")
        return found

    def price_at(self, instrument: Instrument, ts: float) -> Decimal:
        ts = self.clock.market_time(ts)
        if ts < self.anchor:
            day = max(0, DAYS - 1 - int((self.anchor - ts) // 86400))
            return Decimal(str(round(instrument.days[day], 2)))
        minute = int((ts - self.anchor) // 60) % MINUTES
        return Decimal(str(round(instrument.minutes[minute], 2)))

    def quote(self, instrument: Instrument) -> tuple[Decimal, Decimal]:
        price = self.price_at(instrument, time.time())
        half_spread = max(Decimal("0.01"), (price * Decimal("0.0001")).quantize(Decimal("0.01")))
        return price - half_spread, price + half_spread

    # --- auth -----------------------------------------------------------------------------------
    def authenticate(self, request: SimRequest) -> AlpacaAccount:
        key, secret = request.header("APCA-API-KEY-ID"), request.header("APCA-API-SECRET-KEY")
        if not key or self.credentials.get(key) != secret:
            raise SimError(401, "request is not authorized")
        with self.lock:
            return self.accounts.setdefault(key, AlpacaAccount(key))

    # --- fills ----------------------------------------------------------------------------------
    def _execute(self, account: AlpacaAccount, order: AlpacaOrder, price: Decimal, qty: Decimal) -> None:
        """Fill `qty` more of the order at `price`: the order is filled once all of it is, partially filled before."""
        position = account.positions.setdefault(order.symbol, AlpacaPosition())
        if order.side == "buy":
            account.cash -= price * qty
            position.cost += price * qty
            position.qty += qty
        else:
            average = position.cost / position.qty if position.qty else Decimal(0)
            account.cash += price * qty
            position.cost -= average * qty
            position.qty -= qty
        before = order.filled_qty
        order.filled_avg_price = ((order.filled_avg_price or Decimal(0)) * before + price * qty) / (before + qty)
        order.filled_qty = before + qty
        order.status = "filled" if order.qty is None or order.filled_qty >= order.qty else "partially_filled"
        order.filled_at = order.updated = time.time()

    def trade_against(self, order_id: str, qty: Decimal, price: Decimal | None = None) -> None:
        """A counterparty takes `qty` of a resting limit order at its limit, or at a better `price` (tests: fills
        between two look-ups)."""
        with self.lock:
            found = [(account, account.orders[order_id]) for account in self.accounts.values()
                     if order_id in account.orders]
            if not found:
                raise SimError(404, f"order {order_id} not found")
            account, order = found[0]
            if (order.status not in ("new", "partially_filled") or order.limit_price is None or order.qty is None
                    or not 0 < qty <= order.qty - order.filled_qty):
                raise SimError(400, f"order {order_id} cannot fill {qty} more")
            limit = order.limit_price
            if price is not None and (price > limit if order.side == "buy" else price < limit):
                raise SimError(400, f"order {order_id} cannot fill at {price}, worse than its limit {limit}")
            self._execute(account, order, limit if price is None else price, qty)

    def reject(self, order_id: str) -> None:
        """The broker rejects a working order it had accepted, nothing filled (tests: the venue's own rejection)."""
        with self.lock:
            found = [account.orders[order_id] for account in self.accounts.values() if order_id in account.orders]
            if not found or found[0].status != "new" or found[0].filled_qty:
                raise SimError(400, f"order {order_id} is not a working order with nothing filled")
            found[0].status = "rejected"
            found[0].updated = time.time()

    def sweep(self, account: AlpacaAccount) -> None:
        """Fill resting limit orders once the synthetic quote crosses them."""
        with self.lock:
            for order in account.orders.values():
                if order.status not in ("new", "partially_filled") or order.limit_price is None or order.qty is None:
                    continue
                bid, ask = self.quote(self.instruments[order.symbol])
                limit = order.limit_price
                if (order.side == "buy" and ask <= limit) or (order.side == "sell" and bid >= limit):
                    self._execute(account, order, order.limit_price, order.qty - order.filled_qty)

    def submit(self, account: AlpacaAccount, body: Any) -> AlpacaOrder:
        self.counters.received("alpaca")

        def reject(status: int, message: str) -> SimError:
            self.counters.rejected("alpaca")
            return SimError(status, message)

        if not isinstance(body, dict):
            raise reject(422, "invalid order request")
        instrument = self.instruments.get(str(body.get("symbol", "")).upper())
        if instrument is None:
            raise reject(422, f"asset \"{body.get('symbol')}\" not found")
        side, order_type, tif = body.get("side"), body.get("type"), body.get("time_in_force")
        if side not in ("buy", "sell"):
            raise reject(422, "side must be buy or sell")
        if order_type not in ("market", "limit"):
            raise reject(422, "the simulator supports market and limit orders")
        if tif not in ("day", "gtc", "ioc", "fok", "opg", "cls"):
            raise reject(422, "invalid time_in_force")
        qty = Decimal(str(body["qty"])) if body.get("qty") is not None else None
        notional = Decimal(str(body["notional"])) if body.get("notional") is not None else None
        if (qty is None) == (notional is None):
            raise reject(422, "qty or notional is required, not both")
        limit = Decimal(str(body["limit_price"])) if body.get("limit_price") is not None else None
        if order_type == "limit" and limit is None:
            raise reject(422, "limit_price is required for limit orders")
        client_order_id = str(body.get("client_order_id") or uuid.uuid4())
        if len(client_order_id) > 128:
            raise reject(422, "client_order_id must be at most 128 characters")
        with self.lock:
            if client_order_id in account.by_client_id:
                self.counters.duplicate("alpaca")
                raise SimError(422, "client_order_id must be unique")
            bid, ask = self.quote(instrument)
            fill_price = ask if side == "buy" else bid
            if notional is not None:
                qty = (notional / fill_price).quantize(Decimal("0.000000001"))
            assert qty is not None
            if qty <= 0:
                raise reject(422, "qty must be > 0")
            if side == "buy" and (limit or fill_price) * qty > account.cash:
                raise reject(403, "insufficient buying power")
            held = account.positions.get(instrument.symbol, AlpacaPosition()).qty
            if side == "sell" and qty > held:
                raise reject(403, f"insufficient qty available for order (requested: {qty}, available: {held})")
            now = time.time()
            order = AlpacaOrder(str(uuid.uuid4()), client_order_id, instrument.symbol, side, order_type, tif, qty,
                                notional, limit, now, updated=now)
            marketable = limit is None or (fill_price <= limit if side == "buy" else fill_price >= limit)
            if marketable:
                self._execute(account, order, fill_price, qty)
            elif tif in ("ioc", "fok"):
                order.status = "canceled"
                order.canceled_at = now
            account.orders[order.id] = order
            account.by_client_id[client_order_id] = order
            self.counters.accepted("alpaca")
            return order

    # --- JSON shapes ----------------------------------------------------------------------------
    def order_json(self, order: AlpacaOrder) -> dict[str, Any]:
        instrument = self.instruments[order.symbol]
        return {
            "id": order.id, "client_order_id": order.client_order_id,
            "created_at": iso(order.created), "updated_at": iso(order.updated), "submitted_at": iso(order.created),
            "filled_at": iso(order.filled_at) if order.filled_at else None, "expired_at": None,
            "canceled_at": iso(order.canceled_at) if order.canceled_at else None, "failed_at": None,
            "replaced_at": None, "replaced_by": None, "replaces": None, "asset_id": instrument.asset_id,
            "symbol": order.symbol, "asset_class": "us_equity",
            "notional": str(order.notional) if order.notional is not None else None,
            "qty": str(order.qty) if order.qty is not None else None, "filled_qty": str(order.filled_qty),
            "filled_avg_price": str(order.filled_avg_price) if order.filled_avg_price is not None else None,
            "order_class": "simple", "order_type": order.order_type, "type": order.order_type, "side": order.side,
            "time_in_force": order.time_in_force,
            "limit_price": str(order.limit_price) if order.limit_price is not None else None, "stop_price": None,
            "status": order.status, "extended_hours": False, "legs": None, "trail_percent": None,
            "trail_price": None, "hwm": None,
            "position_intent": "buy_to_open" if order.side == "buy" else "sell_to_close",
        }

    def position_json(self, symbol: str, position: AlpacaPosition) -> dict[str, Any]:
        instrument = self.instruments[symbol]
        bid, ask = self.quote(instrument)
        price = (bid + ask) / 2
        value = price * position.qty
        average = position.cost / position.qty
        last_day = self.price_at(instrument, time.time() - 86400)
        return {
            "asset_id": instrument.asset_id, "symbol": symbol, "exchange": instrument.exchange,
            "asset_class": "us_equity", "asset_marginable": True, "avg_entry_price": money(average),
            "qty": str(position.qty), "qty_available": str(position.qty), "side": "long",
            "market_value": money(value), "cost_basis": money(position.cost),
            "unrealized_pl": money(value - position.cost),
            "unrealized_plpc": str(((value - position.cost) / position.cost).quantize(Decimal("0.0000000001"))),
            "unrealized_intraday_pl": money((price - last_day) * position.qty),
            "unrealized_intraday_plpc": str(((price - last_day) / last_day).quantize(Decimal("0.0000000001"))),
            "current_price": money(price), "lastday_price": money(last_day),
            "change_today": str(((price - last_day) / last_day).quantize(Decimal("0.0000000001"))),
        }

    def account_json(self, account: AlpacaAccount) -> dict[str, Any]:
        equity = account.cash + sum(
            (((lambda q: (q[0] + q[1]) / 2)(self.quote(self.instruments[s]))) * p.qty
             for s, p in account.positions.items()),
            Decimal(0),
        )
        return {
            "id": account.id, "account_number": "PASIM" + account.id[:6].upper(), "status": "ACTIVE",
            "crypto_status": "ACTIVE", "currency": "USD", "buying_power": money(account.cash),
            "regt_buying_power": money(account.cash), "daytrading_buying_power": "0",
            "non_marginable_buying_power": money(account.cash), "cash": money(account.cash), "accrued_fees": "0",
            "pending_transfer_in": "0", "portfolio_value": money(equity), "pattern_day_trader": False,
            "trading_blocked": False, "transfers_blocked": False, "account_blocked": False,
            "created_at": "2026-01-01T00:00:00Z", "trade_suspended_by_user": False, "multiplier": "1",
            "shorting_enabled": False, "equity": money(equity), "last_equity": money(equity),
            "long_market_value": money(equity - account.cash), "short_market_value": "0", "initial_margin": "0",
            "maintenance_margin": "0", "last_maintenance_margin": "0", "sma": "0", "daytrade_count": 0,
        }

    def asset_json(self, instrument: Instrument) -> dict[str, Any]:
        return {
            "id": instrument.asset_id, "class": "us_equity", "exchange": instrument.exchange,
            "symbol": instrument.symbol, "name": instrument.name, "status": "active", "tradable": True,
            "marginable": True, "shortable": False, "easy_to_borrow": False, "fractionable": True,
            "min_order_size": "0.000000001", "min_trade_increment": "0.000000001", "price_increment": "0.01",
            "attributes": ["synthetic"],
        }


class AlpacaTrading:
    venue = "alpaca"

    def __init__(self, state: SimulatedAlpaca):
        self.state = state

    def error_payload(self, status: int, message: str) -> Any:
        return self.state.error_payload(status, message)

    def handle(self, request: SimRequest) -> SimResponse:
        s = self.state
        account = s.authenticate(request)
        path, method = request.path, request.method
        s.sweep(account)
        if method == "GET" and path == "/v2/account":
            return SimResponse(200, s.account_json(account))
        if method == "GET" and path == "/v2/clock":
            now = time.time()
            return SimResponse(200, {"timestamp": iso(now), "is_open": True, "next_open": iso(now + 86400),
                                     "next_close": iso(now + 3600)})
        if method == "GET" and path == "/v2/positions":
            return SimResponse(200, [s.position_json(sym, p) for sym, p in account.positions.items() if p.qty > 0])
        if method == "GET" and path.startswith("/v2/positions/"):
            symbol = path.rsplit("/", 1)[1].upper()
            position = account.positions.get(symbol)
            if position is None or position.qty <= 0:
                raise SimError(404, "position does not exist")
            return SimResponse(200, s.position_json(symbol, position))
        if method == "GET" and path == "/v2/assets":
            return SimResponse(200, [s.asset_json(i) for i in s.instruments.values()])
        if method == "GET" and path.startswith("/v2/assets/"):
            return SimResponse(200, s.asset_json(s.instrument(path.rsplit("/", 1)[1])))
        if method == "POST" and path == "/v2/orders":
            return SimResponse(200, s.order_json(s.submit(account, request.json())))
        if method == "GET" and path == "/v2/orders:by_client_order_id":
            order = account.by_client_id.get(request.param("client_order_id") or "")
            if order is None:
                raise SimError(404, "order not found")
            return SimResponse(200, s.order_json(order))
        if method == "GET" and path == "/v2/orders":
            status = request.param("status") or "open"
            orders = [
                o for o in account.orders.values()
                if status == "all" or (status == "open") == (o.status in ("new", "partially_filled", "accepted"))
            ]
            return SimResponse(200, [s.order_json(o) for o in orders])
        if path.startswith("/v2/orders/"):
            order = account.orders.get(path.rsplit("/", 1)[1])
            if order is None:
                raise SimError(404, "order not found")
            if method == "GET":
                return SimResponse(200, s.order_json(order))
            if method == "DELETE":
                with s.lock:
                    if order.status not in ("new", "partially_filled"):
                        raise SimError(422, f"order is not cancelable (status: {order.status})")
                    order.status = "canceled"
                    order.canceled_at = order.updated = time.time()
                    s.counters.canceled("alpaca")
                return SimResponse(204)
        raise SimError(404, "endpoint not found")


class AlpacaData:
    venue = "alpaca"

    def __init__(self, state: SimulatedAlpaca):
        self.state = state

    def error_payload(self, status: int, message: str) -> Any:
        return {"message": message} if status != 429 else {"message": "too many requests"}

    def handle(self, request: SimRequest) -> SimResponse:
        s = self.state
        s.authenticate(request)
        symbols = request.params("symbols")
        if not symbols:
            raise SimError(400, "symbols is required")
        instruments = [s.instrument(symbol) for symbol in symbols]
        now = time.time()
        if request.path == "/v2/stocks/quotes/latest":
            quotes = {}
            for instrument in instruments:
                bid, ask = s.quote(instrument)
                quotes[instrument.symbol] = {"t": iso(now), "ax": "V", "ap": float(ask), "as": 3, "bx": "V",
                                             "bp": float(bid), "bs": 2, "c": ["R"], "z": "C"}
            return SimResponse(200, {"quotes": quotes})
        if request.path == "/v2/stocks/trades/latest":
            trades = {i.symbol: {"t": iso(now), "x": "V", "p": float(s.price_at(i, now)), "s": 100, "c": ["@"],
                                 "i": int(now), "z": "C"} for i in instruments}
            return SimResponse(200, {"trades": trades})
        if request.path == "/v2/stocks/bars":
            return SimResponse(200, self._bars(request, instruments, now))
        raise SimError(404, "endpoint not found")

    def _bars(self, request: SimRequest, instruments: list[Instrument], now: float) -> dict[str, Any]:
        timeframe = request.param("timeframe") or "1Day"
        amount = "".join(ch for ch in timeframe if ch.isdigit()) or "1"
        unit = timeframe[len(amount) :]
        if unit not in TIMEFRAMES:
            raise SimError(400, f"invalid timeframe {timeframe}")
        step = int(amount) * TIMEFRAMES[unit]
        start_text, end_text = request.param("start"), request.param("end")
        start = parse_time(start_text) if start_text else now - 5 * step
        end = min(parse_time(end_text) if end_text else now, now)
        limit = min(int(request.param("limit") or 1000), 10000)
        bars: dict[str, list[dict[str, Any]]] = {}
        for instrument in instruments:
            rows: list[dict[str, Any]] = []
            bucket = int(start // step) * step
            while bucket <= end and len(rows) < limit:
                samples = max(2, min(60, step // 60))
                prices = [float(self.state.price_at(instrument, bucket + k * step / samples)) for k in range(samples)]
                rows.append({"t": iso(bucket).replace(".000000", ""), "o": prices[0], "h": max(prices),
                             "l": min(prices), "c": prices[-1], "v": 1000 + int(bucket // 60) % 5000,
                             "n": 50 + int(bucket // 60) % 300, "vw": round(sum(prices) / len(prices), 4)})
                bucket += step
            bars[instrument.symbol] = rows
        return {"bars": bars, "next_page_token": None}
