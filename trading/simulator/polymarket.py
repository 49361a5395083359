"""Simulated Polymarket: CLOB (L1/L2 auth, V2 signed orders), Gamma and the Data API."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import threading
import time
import uuid
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from typing import Any

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils.crypto import keccak

from trading.simulator.books import Book, ReplayClock, take_liquidity
from trading.simulator.credentials import new_polymarket_private_key
from trading.simulator.http import SimError, SimRequest, SimResponse
from trading.simulator.recorded import RecordedMarket, RecordedPolymarket
from trading.simulator.stats import OrderCounters

CHAIN_ID = 137
STANDARD_EXCHANGE = "0xE111180000d2663C0091e4f400237545B87B996B"
UNITS = Decimal(1_000_000)  # pUSD and outcome shares both have 6 decimals
MIN_ORDER_SIZE = Decimal(5)
STARTING_BALANCE = Decimal(10_000)
AUTH_WINDOW_SECONDS = 300
END_CURSOR = "LTE="
LEADER_WALLET = "0x5eed000000000000000000000000000000000001"  # synthetic wallet for copy-trading demos
LEADER_TRADE_EVERY = 300
SERVER_SECRET = b"strategyhub venue simulator: polymarket api keys"
FOK_NOT_FILLED = "order couldn't be fully filled. FOK orders are fully filled or killed."
FAK_NOT_FILLED = (
    "no orders found to match with FAK order. FAK orders are partially filled or killed if no match is found."
)
_CLOB_AUTH_MESSAGE = "This message attests that I control the given wallet"
_ORDER_FIELDS = [
    {"name": "salt", "type": "uint256"},
    {"name": "maker", "type": "address"},
    {"name": "signer", "type": "address"},
    {"name": "tokenId", "type": "uint256"},
    {"name": "makerAmount", "type": "uint256"},
    {"name": "takerAmount", "type": "uint256"},
    {"name": "side", "type": "uint8"},
    {"name": "signatureType", "type": "uint8"},
    {"name": "timestamp", "type": "uint256"},
    {"name": "metadata", "type": "bytes32"},
    {"name": "builder", "type": "bytes32"},
]
_DOMAIN_FIELDS = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]


def _units(amount: Decimal) -> str:
    return str(int((amount * UNITS).to_integral_value(rounding=ROUND_DOWN)))


def _num(value: Decimal) -> str:
    return format(value.normalize(), "f")


@dataclass
class PolyTrade:
    id: str
    order_id: str
    market: RecordedMarket
    outcome: int
    side: str
    price: Decimal
    size: Decimal
    fee: Decimal
    trader_side: str
    matched_at: float
    transaction_hash: str


@dataclass
class PolyOrder:
    id: str
    market: RecordedMarket
    outcome: int
    side: str
    price: Decimal
    size: Decimal
    order_type: str
    created_at: float
    matched: Decimal = Decimal(0)
    status: str = "LIVE"
    trade_ids: list[str] = field(default_factory=list)

    @property
    def remaining(self) -> Decimal:
        return self.size - self.matched


@dataclass
class PolyPosition:
    size: Decimal = Decimal(0)
    cost: Decimal = Decimal(0)
    realized: Decimal = Decimal(0)
    fees: Decimal = Decimal(0)


@dataclass
class PolyAccount:
    address: str
    api_key: str
    secret: str
    passphrase: str
    cash: Decimal = STARTING_BALANCE
    orders: dict[str, PolyOrder] = field(default_factory=dict)
    trades: list[PolyTrade] = field(default_factory=list)
    positions: dict[str, PolyPosition] = field(default_factory=dict)

    def reserved(self) -> Decimal:
        return sum(
            (o.price * o.remaining for o in self.orders.values() if o.status == "LIVE" and o.side == "BUY"), Decimal(0)
        )


def api_creds_for(address: str, nonce: int = 0) -> tuple[str, str, str]:
    """Deterministic L2 credentials, so a dev setup can also configure them up front."""
    material = hmac.new(SERVER_SECRET, f"{address.lower()}:{nonce}".encode(), hashlib.sha256).digest()
    return str(uuid.UUID(bytes=material[:16])), base64.urlsafe_b64encode(material).decode(), material[16:].hex()


def order_digest(order: dict[str, Any], exchange: str = STANDARD_EXCHANGE) -> tuple[bytes, Any]:
    """The EIP-712 (CTF Exchange V2) digest of an order as posted, and its signable message."""
    message = {
        "salt": int(order["salt"]),
        "maker": order["maker"],
        "signer": order["signer"],
        "tokenId": int(order["tokenId"]),
        "makerAmount": int(order["makerAmount"]),
        "takerAmount": int(order["takerAmount"]),
        "side": 0 if order["side"] == "BUY" else 1,
        "signatureType": int(order["signatureType"]),
        "timestamp": int(order["timestamp"]),
        "metadata": order["metadata"],
        "builder": order["builder"],
    }
    typed = {
        "types": {"EIP712Domain": _DOMAIN_FIELDS, "Order": _ORDER_FIELDS},
        "primaryType": "Order",
        "domain": {
            "name": "Polymarket CTF Exchange", "version": "2", "chainId": CHAIN_ID, "verifyingContract": exchange,
        },
        "message": message,
    }
    signable = encode_typed_data(full_message=typed)
    return keccak(b"\x19" + signable.version + signable.header + signable.body), signable


class PolymarketVenue:
    """State shared by the three Polymarket hosts."""

    def __init__(self, clock: ReplayClock, counters: OrderCounters, seed: int = 7):
        self.clock = clock
        self.data = RecordedPolymarket(clock)
        self.counters = counters
        self.seed = seed
        self.accounts: dict[str, PolyAccount] = {}  # by api key
        self.orders: dict[str, tuple[PolyAccount, PolyOrder]] = {}  # by order hash, across accounts
        self.lock = threading.RLock()
        self.long_lived = [m for m in self.data.markets if m.quotes and m.winner is None]

    # --- auth -----------------------------------------------------------------------------------
    def account_for_l1(self, request: SimRequest) -> tuple[str, int]:
        address, signature = request.header("POLY_ADDRESS"), request.header("POLY_SIGNATURE")
        timestamp, nonce = request.header("POLY_TIMESTAMP"), request.header("POLY_NONCE") or "0"
        if not (address and signature and timestamp):
            raise SimError(401, "Invalid L1 Request headers")
        typed = {
            "domain": {"name": "ClobAuthDomain", "version": "1", "chainId": CHAIN_ID},
            "types": {
                "EIP712Domain": _DOMAIN_FIELDS[:3],
                "ClobAuth": [
                    {"name": "address", "type": "address"},
                    {"name": "timestamp", "type": "string"},
                    {"name": "nonce", "type": "uint256"},
                    {"name": "message", "type": "string"},
                ],
            },
            "primaryType": "ClobAuth",
            "message": {"address": address, "timestamp": timestamp, "nonce": int(nonce), "message": _CLOB_AUTH_MESSAGE},
        }
        try:
            recovered = Account.recover_message(encode_typed_data(full_message=typed), signature=signature)
        except Exception as error:
            raise SimError(401, "Invalid L1 Request headers") from error
        if recovered.lower() != address.lower() or abs(time.time() - int(timestamp)) > AUTH_WINDOW_SECONDS:
            raise SimError(401, "Invalid L1 Request headers")
        return recovered, int(nonce)

    def register(self, address: str, nonce: int) -> PolyAccount:
        key, secret, passphrase = api_creds_for(address, nonce)
        with self.lock:
            account = self.accounts.get(key)
            if account is None:
                account = PolyAccount(address=address, api_key=key, secret=secret, passphrase=passphrase)
                self.accounts[key] = account
        return account

    def account_open(self) -> dict[str, str]:
        """A new wallet: its private key signs orders and derives the L2 API key (nonce 0)."""
        private_key = new_polymarket_private_key()
        address = Account.from_key(private_key).address
        self.register(address, 0)
        return {"private_key": private_key, "address": address}

    def account_state(self, address: str) -> dict[str, Any]:
        """What one wallet holds across its API keys: cash, shares per token, its orders."""
        with self.lock:
            accounts = [a for a in self.accounts.values() if a.address.lower() == address.lower()]
            if not accounts:
                raise SimError(404, f"no polymarket account for {address}")
            for account in accounts:
                self.sweep(account)
            positions: dict[str, Decimal] = {}
            for account in accounts:
                for token, position in account.positions.items():
                    positions[token] = positions.get(token, Decimal(0)) + position.size
            return {"venue": "polymarket", "account": address,
                    "cash": _num(sum((a.cash for a in accounts), Decimal(0))),
                    "positions": {token: _num(size) for token, size in positions.items() if size},
                    "orders": [order_id for a in accounts for order_id in a.orders]}

    def account_for_l2(self, request: SimRequest) -> PolyAccount:
        key = request.header("POLY_API_KEY")
        account = self.accounts.get(key)
        if account is None:
            # Keys are derived, not stored: accept a key this server would have issued.
            address = request.header("POLY_ADDRESS")
            if address and api_creds_for(address)[0] == key:
                account = self.register(address, 0)
        if account is None or request.header("POLY_PASSPHRASE") != account.passphrase:
            raise SimError(401, "Unauthorized/Invalid api key")
        if request.header("POLY_ADDRESS").lower() != account.address.lower():
            raise SimError(401, "Unauthorized/Invalid api key")
        timestamp = request.header("POLY_TIMESTAMP")
        if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > AUTH_WINDOW_SECONDS:
            raise SimError(401, "Unauthorized/Invalid api key")
        message = timestamp + request.method + request.path + request.body.decode()
        expected = base64.urlsafe_b64encode(
            hmac.new(base64.urlsafe_b64decode(account.secret), message.encode(), hashlib.sha256).digest()
        ).decode()
        if not hmac.compare_digest(expected, request.header("POLY_SIGNATURE")):
            raise SimError(401, "Unauthorized/Invalid api key")
        return account

    # --- market data ----------------------------------------------------------------------------
    def token(self, token_id: str | None) -> tuple[RecordedMarket, int]:
        found = self.data.by_token.get(token_id or "")
        if found is None:
            raise SimError(404, "No orderbook exists for the requested token id")
        return found

    def book(self, token_id: str | None) -> Book:
        book = self.data.book(token_id or "")
        if book is None:
            raise SimError(404, "No orderbook exists for the requested token id")
        return book

    def is_closed(self, market: RecordedMarket) -> bool:
        return market.winner is not None and self.data.replay_time(market) >= market.last_ts

    # --- orders ---------------------------------------------------------------------------------
    def place(self, account: PolyAccount, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict) or not isinstance(body.get("order"), dict):
            raise SimError(400, "Invalid order payload")
        order = body["order"]
        self.counters.received("polymarket")
        try:
            digest, signable = order_digest(order)
            signer = Account.recover_message(signable, signature=order["signature"])
        except (KeyError, ValueError, TypeError) as error:
            self.counters.rejected("polymarket")
            raise SimError(400, f"invalid order: {error}") from error
        if signer.lower() != str(order["signer"]).lower() or signer.lower() != account.address.lower():
            self.counters.rejected("polymarket")
            raise SimError(400, "invalid signature")
        if body.get("owner") != account.api_key:
            self.counters.rejected("polymarket")
            raise SimError(400, "the order owner has to be the owner of the API KEY")
        order_id = "0x" + digest.hex()
        with self.lock:
            if order_id in self.orders:
                self.counters.duplicate("polymarket")
                raise SimError(400, f"duplicated order: order {order_id} already exists")
            market, outcome = self.token(str(order["tokenId"]))
            side = order["side"]
            maker, taker = Decimal(int(order["makerAmount"])), Decimal(int(order["takerAmount"]))
            if maker <= 0 or taker <= 0:
                self.counters.rejected("polymarket")
                raise SimError(400, "invalid order amounts")
            size = (taker if side == "BUY" else maker) / UNITS
            price = ((maker / taker) if side == "BUY" else (taker / maker)).quantize(Decimal("0.0001"))
            order_type = str(body.get("orderType", "GTC"))
            self._check_order(account, market, outcome, side, price, size, order_type, bool(body.get("postOnly")))
            poly_order = PolyOrder(order_id, market, outcome, side, price, size, order_type, time.time())
            book = self.book(market.token_ids[outcome])
            executions = take_liquidity(book, buy=side == "BUY", quantity=size, limit=price)
            filled = sum((e.quantity for e in executions), Decimal(0))
            if order_type == "FOK" and filled < size:
                self.counters.rejected("polymarket")
                raise SimError(400, FOK_NOT_FILLED)
            if order_type == "FAK" and filled == 0:
                self.counters.rejected("polymarket")
                raise SimError(400, FAK_NOT_FILLED)
            trades = [self._fill(account, poly_order, e.price, e.quantity, taker=True) for e in executions]
            if poly_order.remaining <= 0:
                poly_order.status = "MATCHED"
            elif order_type in ("FOK", "FAK"):
                poly_order.status = "CANCELED"  # the unfilled rest of a FAK is killed
            account.orders[order_id] = poly_order
            self.orders[order_id] = (account, poly_order)
            self.counters.accepted("polymarket")
        spent = sum((t.price * t.size for t in trades), Decimal(0))
        shares = sum((t.size for t in trades), Decimal(0))
        making, taking = (spent, shares) if side == "BUY" else (shares, spent)
        return {
            "success": True,
            "errorMsg": "",
            "orderID": order_id,
            "status": "matched" if poly_order.status == "MATCHED" else "live",
            "makingAmount": _num(making) if trades else "",
            "takingAmount": _num(taking) if trades else "",
            "transactionsHashes": [t.transaction_hash for t in trades],
            "tradeIDs": [t.id for t in trades],
        }

    def _check_order(
        self, account: PolyAccount, market: RecordedMarket, outcome: int, side: str, price: Decimal,
        size: Decimal, order_type: str, post_only: bool,
    ) -> None:
        def reject(message: str) -> None:
            self.counters.rejected("polymarket")
            raise SimError(400, message)

        if self.is_closed(market):
            reject("the market is not yet ready to process new orders")
        if not Decimal("0.01") <= price <= Decimal("0.99"):
            reject(f"invalid price ({price}), min: 0.01 - max: 0.99")
        if order_type in ("GTC", "GTD") and size < MIN_ORDER_SIZE:
            reject(f"Size ({_num(size)}) lower than the minimum: {MIN_ORDER_SIZE}")
        book = self.book(market.token_ids[outcome])
        if post_only and (
            (side == "BUY" and book.best_ask is not None and price >= book.best_ask)
            or (side == "SELL" and book.best_bid is not None and price <= book.best_bid)
        ):
            reject("invalid post-only order: order crosses book")
        if side == "BUY":
            worst_cost = price * size * (1 + market.fee_rate)
            if account.cash - account.reserved() < worst_cost:
                reject("not enough balance / allowance")
        else:
            held = account.positions.get(market.token_ids[outcome], PolyPosition()).size
            committed = sum(
                (o.remaining for o in account.orders.values()
                 if o.status == "LIVE" and o.side == "SELL" and o.market is market and o.outcome == outcome),
                Decimal(0),
            )
            if held - committed < size:
                reject("not enough balance / allowance")

    def _fill(self, account: PolyAccount, order: PolyOrder, price: Decimal, size: Decimal, *, taker: bool) -> PolyTrade:
        # Taker fee shares × rate × p × (1 − p); makers pay nothing (docs.polymarket.com/trading/fees).
        rate = order.market.fee_rate if taker else Decimal(0)
        fee = (size * rate * price * (1 - price)).quantize(Decimal("0.000001"))
        token = order.market.token_ids[order.outcome]
        position = account.positions.setdefault(token, PolyPosition())
        if order.side == "BUY":
            account.cash -= price * size + fee
            position.size += size
            position.cost += price * size
        else:
            average = position.cost / position.size if position.size else Decimal(0)
            account.cash += price * size - fee
            position.realized += (price - average) * size
            position.cost -= average * size
            position.size -= size
        position.fees += fee
        order.matched += size
        trade = PolyTrade(
            id=str(uuid.uuid4()),
            order_id=order.id,
            market=order.market,
            outcome=order.outcome,
            side=order.side,
            price=price,
            size=size,
            fee=fee,
            trader_side="TAKER" if taker else "MAKER",
            matched_at=time.time(),
            transaction_hash="0x" + hashlib.sha256(f"{order.id}:{len(account.trades)}".encode()).hexdigest(),
        )
        order.trade_ids.append(trade.id)
        account.trades.append(trade)
        return trade

    def sweep(self, account: PolyAccount) -> None:
        """Fill resting orders the replayed book has crossed since they were placed (as maker)."""
        with self.lock:
            for order in account.orders.values():
                if order.status != "LIVE":
                    continue
                book = self.data.book(order.market.token_ids[order.outcome])
                if book is None:
                    continue
                crossed = (
                    book.best_ask is not None and book.best_ask <= order.price
                    if order.side == "BUY"
                    else book.best_bid is not None and book.best_bid >= order.price
                )
                if crossed:
                    self._fill(account, order, order.price, order.remaining, taker=False)
                    order.status = "MATCHED"

    def cancel(self, account: PolyAccount, order_ids: list[str]) -> dict[str, Any]:
        canceled: list[str] = []
        not_canceled: dict[str, str] = {}
        with self.lock:
            for order_id in order_ids:
                order = account.orders.get(order_id)
                if order is None:
                    not_canceled[order_id] = "Order not found or already canceled"
                elif order.status != "LIVE":
                    not_canceled[order_id] = "order can't be canceled because it is already matched or canceled"
                else:
                    order.status = "CANCELED"
                    canceled.append(order_id)
        return {"canceled": canceled, "not_canceled": not_canceled}

    # --- JSON shapes ----------------------------------------------------------------------------
    def order_json(self, account: PolyAccount, order: PolyOrder) -> dict[str, Any]:
        return {
            "id": order.id,
            "status": order.status,
            "owner": account.api_key,
            "maker_address": account.address,
            "market": order.market.condition_id,
            "asset_id": order.market.token_ids[order.outcome],
            "side": order.side,
            "original_size": _num(order.size),
            "size_matched": _num(order.matched),
            "price": _num(order.price),
            "outcome": order.market.outcomes[order.outcome],
            "expiration": "0",
            "order_type": order.order_type,
            "associate_trades": list(order.trade_ids),
            "created_at": int(order.created_at),
        }

    def trade_json(self, account: PolyAccount, trade: PolyTrade) -> dict[str, Any]:
        return {
            "id": trade.id,
            "taker_order_id": trade.order_id,
            "market": trade.market.condition_id,
            "asset_id": trade.market.token_ids[trade.outcome],
            "side": trade.side,
            "size": _num(trade.size),
            "fee_rate_bps": str(int(trade.market.fee_rate * 10000)),
            "price": _num(trade.price),
            "status": "CONFIRMED",
            "match_time": str(int(trade.matched_at)),
            "last_update": str(int(trade.matched_at)),
            "outcome": trade.market.outcomes[trade.outcome],
            "bucket_index": 0,
            "owner": account.api_key,
            "maker_address": account.address,
            "transaction_hash": trade.transaction_hash,
            "maker_orders": [],
            "trader_side": trade.trader_side,
        }

    def book_json(self, token_id: str) -> dict[str, Any]:
        market, _ = self.token(token_id)
        book = self.book(token_id)
        return {
            "market": market.condition_id,
            "asset_id": token_id,
            "timestamp": str(int(time.time() * 1000)),
            "hash": hashlib.sha1(repr(book).encode(), usedforsecurity=False).hexdigest(),
            # The CLOB lists the best level last on both sides.
            "bids": [{"price": _num(lv.price), "size": _num(lv.size)} for lv in reversed(book.bids)],
            "asks": [{"price": _num(lv.price), "size": _num(lv.size)} for lv in reversed(book.asks)],
            "min_order_size": _num(MIN_ORDER_SIZE),
            "tick_size": "0.01",
            "neg_risk": False,
            "last_trade_price": _num(book.best_bid) if book.best_bid is not None else "",
        }

    def gamma_json(self, market: RecordedMarket) -> dict[str, Any]:
        books = [self.data.book(token) for token in market.token_ids]
        mids = [((b.best_bid or Decimal(0)) + (b.best_ask or Decimal(1))) / 2 if b else Decimal("0.5") for b in books]
        first = books[0]
        closed = self.is_closed(market)
        return {
            "id": market.gamma_id,
            "question": market.question,
            "conditionId": market.condition_id,
            "slug": market.slug,
            "description": "Recorded Polymarket market replayed by the StrategyHub venue simulator.",
            "category": market.category,
            "startDate": "2026-07-10T00:00:00Z",
            "endDate": "2026-12-31T00:00:00Z",
            "outcomes": json.dumps(list(market.outcomes)),
            "outcomePrices": json.dumps(["1" if i == market.winner else "0" for i in range(len(market.outcomes))]
                                        if closed else [_num(m) for m in mids]),
            "clobTokenIds": json.dumps(list(market.token_ids)),
            "active": not closed,
            "closed": closed,
            "archived": False,
            "acceptingOrders": not closed,
            "enableOrderBook": True,
            "negRisk": False,
            "orderPriceMinTickSize": 0.01,
            "orderMinSize": 5,
            "bestBid": float(first.best_bid) if first and first.best_bid is not None else None,
            "bestAsk": float(first.best_ask) if first and first.best_ask is not None else None,
            "spread": float(first.best_ask - first.best_bid)
            if first and first.best_ask is not None and first.best_bid is not None
            else None,
            "volume": "0",
            "volumeNum": 0,
            "liquidity": "0",
            "liquidityNum": 0,
            "feesEnabled": True,
            "events": [{"id": market.gamma_id, "slug": market.slug, "title": market.question}],
            "tags": [{"id": "1", "slug": market.category, "label": market.category.title()}],
        }

    # --- synthetic leader wallet ----------------------------------------------------------------
    def leader_trades(self, limit: int, offset: int) -> list[dict[str, Any]]:
        """A seeded, synthetic wallet that trades the long-lived recorded markets every 5 minutes."""
        latest = int(time.time()) // LEADER_TRADE_EVERY
        trades = []
        for bucket in range(latest - offset, max(latest - offset - limit, latest - 500), -1):
            rng = random.Random(f"{self.seed}:leader:{bucket}")  # noqa: S311 - synthetic data
            market = rng.choice(self.long_lived)
            outcome = rng.randrange(2)
            book = self.data.book(market.token_ids[outcome])
            price = book.best_ask if book and book.best_ask is not None else Decimal("0.5")
            trades.append(
                {
                    "proxy_wallet": LEADER_WALLET,
                    "token_id": market.token_ids[outcome],
                    "condition_id": market.condition_id,
                    "side": "BUY" if rng.random() < 0.7 else "SELL",
                    "size": float(rng.randrange(10, 200)),
                    "price": float(price),
                    "timestamp": bucket * LEADER_TRADE_EVERY,
                    "transaction_hash": "0x" + hashlib.sha256(f"leader:{bucket}".encode()).hexdigest(),
                    "title": market.question,
                    "slug": market.slug,
                    "event_slug": market.slug,
                    "outcome": market.outcomes[outcome],
                    "outcome_index": outcome,
                    "name": "synthetic-leader",
                    "pseudonym": "Synthetic Leader (simulator)",
                }
            )
        return trades


def _data_page(items: list[Any], next_cursor: str | None = None) -> dict[str, Any]:
    return {"data": items, "pagination": {"has_more": next_cursor is not None, "next_cursor": next_cursor}}


def _cursor_offset(request: SimRequest) -> int:
    cursor = request.param("cursor") or "0"
    return int(cursor) if cursor.isdigit() else 0


class PolymarketClob:
    venue = "polymarket"

    def __init__(self, state: PolymarketVenue):
        self.state = state

    def error_payload(self, status: int, message: str) -> Any:
        return {"error": "Too Many Requests" if status == 429 and not message else message}

    def handle(self, request: SimRequest) -> SimResponse:
        s = self.state
        path, method = request.path, request.method
        if method == "GET":
            if path == "/book":
                return SimResponse(200, s.book_json(request.param("token_id") or ""))
            if path == "/midpoint":
                book = s.book(request.param("token_id"))
                if book.best_bid is None or book.best_ask is None:
                    raise SimError(404, "No orderbook exists for the requested token id")
                return SimResponse(200, {"mid": _num((book.best_bid + book.best_ask) / 2)})
            if path == "/price":
                side = request.param("side")
                if side not in ("BUY", "SELL"):
                    raise SimError(400, "Invalid side")
                book = s.book(request.param("token_id"))
                # docs: "best bid price for BUY side or best ask price for SELL side"
                price = book.best_bid if side == "BUY" else book.best_ask
                return SimResponse(200, {"price": _num(price) if price is not None else "0"})
            if path == "/spread":
                book = s.book(request.param("token_id"))
                spread = (book.best_ask or Decimal(1)) - (book.best_bid or Decimal(0))
                return SimResponse(200, {"spread": _num(spread)})
            if path == "/tick-size":
                s.token(request.param("token_id"))
                return SimResponse(200, {"minimum_tick_size": 0.01})
            if path == "/neg-risk":
                s.token(request.param("token_id"))
                return SimResponse(200, {"neg_risk": False})
            if path == "/fee-rate":
                market, _ = s.token(request.param("token_id"))
                return SimResponse(200, {"base_fee": int(market.fee_rate * 10000)})
            if path.startswith("/markets-by-token/"):
                market, _ = s.token(path.rsplit("/", 1)[1])
                return SimResponse(200, {"condition_id": market.condition_id})
            if path.startswith("/clob-markets/"):
                listed = s.data.by_condition.get(path.rsplit("/", 1)[1])
                if listed is None:
                    raise SimError(404, "market not found")
                return SimResponse(200, {
                    "nr": False, "mts": 0.01, "t": [{"t": token} for token in listed.token_ids],
                    "fd": {"r": _num(listed.fee_rate), "e": 1},
                })
            if path == "/prices-history":
                token = request.param("market") or ""
                now = time.time()
                start = float(request.param("startTs") or now - 86400)
                end = float(request.param("endTs") or now)
                points = s.data.history(token, start, end, now)
                return SimResponse(200, {"history": [{"t": int(t), "p": float(p)} for t, p in points]})
            if path == "/time":
                return SimResponse(200, int(time.time()))
            if path in ("/", "/ok"):
                return SimResponse(200, "OK")
            if path == "/auth/derive-api-key":
                address, nonce = s.account_for_l1(request)
                return SimResponse(200, self._creds(s.register(address, nonce)))
            if path == "/auth/api-keys":
                return SimResponse(200, {"apiKeys": [s.account_for_l2(request).api_key]})
            if path == "/auth/ban-status/closed-only":
                s.account_for_l2(request)
                return SimResponse(200, {"closed_only": False})
            if path == "/balance-allowance":
                return SimResponse(200, self._balance(request))
            if path == "/data/orders":
                return SimResponse(200, self._orders(request))
            if path.startswith("/data/order/"):
                account = s.account_for_l2(request)
                s.sweep(account)
                order = account.orders.get(path.rsplit("/", 1)[1])
                if order is None:
                    raise SimError(404, "order not found")
                return SimResponse(200, s.order_json(account, order))
            if path == "/data/trades":
                return SimResponse(200, self._trades(request))
        if method == "POST" and path == "/auth/api-key":
            address, nonce = s.account_for_l1(request)
            return SimResponse(200, self._creds(s.register(address, nonce)))
        if method == "POST" and path == "/order":
            account = s.account_for_l2(request)
            return SimResponse(200, s.place(account, request.json()))
        if method == "POST" and path in ("/books", "/midpoints"):
            items = request.json() or []
            if path == "/books":
                return SimResponse(200, [s.book_json(str(item.get("token_id"))) for item in items])
            mids = {}
            for item in items:
                book = s.book(str(item.get("token_id")))
                if book.best_bid is not None and book.best_ask is not None:
                    mids[str(item["token_id"])] = _num((book.best_bid + book.best_ask) / 2)
            return SimResponse(200, mids)
        if method == "DELETE" and path in ("/order", "/orders", "/cancel-all"):
            account = s.account_for_l2(request)
            body = request.json()
            if path == "/order":
                ids = [str(body.get("orderID"))] if isinstance(body, dict) else []
            elif path == "/orders":
                ids = [str(i) for i in body] if isinstance(body, list) else []
            else:
                ids = [o.id for o in account.orders.values() if o.status == "LIVE"]
            return SimResponse(200, s.cancel(account, ids))
        raise SimError(404, f"no route {method} {path}")

    @staticmethod
    def _creds(account: PolyAccount) -> dict[str, str]:
        return {"apiKey": account.api_key, "secret": account.secret, "passphrase": account.passphrase}

    def _balance(self, request: SimRequest) -> dict[str, Any]:
        s = self.state
        account = s.account_for_l2(request)
        s.sweep(account)
        if request.param("asset_type") == "CONDITIONAL":
            position = account.positions.get(request.param("token_id") or "", PolyPosition())
            balance = _units(position.size)
        else:
            balance = _units(account.cash)
        return {"balance": balance, "allowances": {STANDARD_EXCHANGE: str(2**256 - 1)}}

    def _orders(self, request: SimRequest) -> dict[str, Any]:
        s = self.state
        account = s.account_for_l2(request)
        s.sweep(account)
        wanted_id, market, asset = request.param("id"), request.param("market"), request.param("asset_id")
        orders = [
            s.order_json(account, o) for o in account.orders.values()
            if o.status == "LIVE"
            and (wanted_id is None or o.id == wanted_id)
            and (market is None or o.market.condition_id == market)
            and (asset is None or o.market.token_ids[o.outcome] == asset)
        ]
        return {"limit": 500, "count": len(orders), "next_cursor": END_CURSOR, "data": orders}

    def _trades(self, request: SimRequest) -> dict[str, Any]:
        s = self.state
        account = s.account_for_l2(request)
        s.sweep(account)
        wanted_id, market, asset = request.param("id"), request.param("market"), request.param("asset_id")
        after, before = request.param("after"), request.param("before")
        trades = [
            s.trade_json(account, t) for t in account.trades
            if (wanted_id is None or t.id == wanted_id)
            and (market is None or t.market.condition_id == market)
            and (asset is None or t.market.token_ids[t.outcome] == asset)
            and (after is None or t.matched_at > float(after))
            and (before is None or t.matched_at < float(before))
        ]
        return {"limit": 500, "count": len(trades), "next_cursor": END_CURSOR, "data": trades}


class PolymarketGamma:
    venue = "polymarket"

    def __init__(self, state: PolymarketVenue):
        self.state = state

    def error_payload(self, status: int, message: str) -> Any:
        return {"error": message}

    def handle(self, request: SimRequest) -> SimResponse:
        s = self.state
        path = request.path
        if request.method != "GET":
            raise SimError(405, "method not allowed")
        if path.startswith("/markets/slug/"):
            market = s.data.by_slug.get(path.rsplit("/", 1)[1])
            if market is None:
                raise SimError(404, "market not found")
            return SimResponse(200, s.gamma_json(market))
        if path in ("/markets", "/markets/keyset"):
            markets = self._filter(request)
            limit = int(request.param("limit") or 100)
            items = [s.gamma_json(m) for m in markets[:limit]]
            return SimResponse(200, items if path == "/markets" else {"markets": items, "next_cursor": None})
        if path.startswith("/markets/"):
            market = s.data.by_gamma_id.get(path.rsplit("/", 1)[1])
            if market is None:
                raise SimError(404, "market not found")
            return SimResponse(200, s.gamma_json(market))
        if path == "/public-search":
            query = (request.param("q") or "").lower()
            found = [m for m in s.data.markets if query in m.question.lower() or query in m.slug.lower()]
            events = [
                {"id": m.gamma_id, "slug": m.slug, "title": m.question, "active": True, "closed": s.is_closed(m),
                 "markets": [s.gamma_json(m)]}
                for m in found[: int(request.param("limit_per_type") or 20)]
            ]
            return SimResponse(200, {"events": events, "tags": [], "profiles": [],
                                     "pagination": {"hasMore": False, "totalResults": len(events)}})
        raise SimError(404, f"no route GET {path}")

    def _filter(self, request: SimRequest) -> list[RecordedMarket]:
        s = self.state
        markets = list(s.data.markets)
        slugs, conditions = request.params("slug"), request.params("condition_ids")
        tokens = request.params("clob_token_ids")
        if slugs:
            markets = [m for m in markets if m.slug in slugs]
        if conditions:
            markets = [m for m in markets if m.condition_id in conditions]
        if tokens:
            markets = [m for m in markets if set(m.token_ids) & set(tokens)]
        closed = request.param("closed")
        if closed is not None:
            markets = [m for m in markets if s.is_closed(m) == (closed == "true")]
        return markets


class PolymarketData:
    venue = "polymarket"

    def __init__(self, state: PolymarketVenue):
        self.state = state

    def error_payload(self, status: int, message: str) -> Any:
        return {"error": message}

    def handle(self, request: SimRequest) -> SimResponse:
        path = request.path
        if request.method != "GET":
            raise SimError(405, "method not allowed")
        if path == "/v2/trades":
            return SimResponse(200, self._trades(request))
        if path == "/v2/positions":
            return SimResponse(200, self._positions(request))
        if path == "/v2/prices-history":
            return SimResponse(200, self._history(request))
        raise SimError(404, f"no route GET {path}")

    def _accounts_of(self, wallet: str) -> list[PolyAccount]:
        return [a for a in self.state.accounts.values() if a.address.lower() == wallet.lower()]

    def _trades(self, request: SimRequest) -> dict[str, Any]:
        s = self.state
        wallet = request.param("user") or ""
        limit = min(int(request.param("limit") or 100), 1000)
        offset = _cursor_offset(request)
        if wallet.lower() == LEADER_WALLET:
            items = s.leader_trades(limit, offset)
        else:
            rows: list[dict[str, Any]] = []
            for account in self._accounts_of(wallet):
                s.sweep(account)
                rows.extend(
                    {
                        "proxy_wallet": account.address,
                        "token_id": t.market.token_ids[t.outcome],
                        "condition_id": t.market.condition_id,
                        "side": t.side,
                        "size": float(t.size),
                        "price": float(t.price),
                        "timestamp": int(t.matched_at),
                        "transaction_hash": t.transaction_hash,
                        "title": t.market.question,
                        "slug": t.market.slug,
                        "event_slug": t.market.slug,
                        "outcome": t.market.outcomes[t.outcome],
                        "outcome_index": t.outcome,
                    }
                    for t in account.trades
                )
            rows.sort(key=lambda row: row["timestamp"], reverse=True)
            items = rows[offset : offset + limit]
        more = len(items) == limit
        return _data_page(items, str(offset + limit) if more else None)

    def _positions(self, request: SimRequest) -> dict[str, Any]:
        s = self.state
        rows = []
        for account in self._accounts_of(request.param("user") or ""):
            s.sweep(account)
            for token, position in account.positions.items():
                if position.size <= 0:
                    continue
                market, outcome = s.data.by_token[token]
                book = s.data.book(token)
                price = (
                    (book.best_bid + book.best_ask) / 2
                    if book and book.best_bid is not None and book.best_ask is not None
                    else Decimal(0)
                )
                value = price * position.size
                average = position.cost / position.size
                unrealized = value - position.cost
                rows.append({
                    "proxy_wallet": account.address, "token_id": token, "condition_id": market.condition_id,
                    "current_size": _num(position.size), "avg_price": _num(average.quantize(Decimal("0.000001"))),
                    "entry_cost_usdc": _num(position.cost), "entry_fees_usdc": _num(position.fees),
                    "total_cost_usdc": _num(position.cost + position.fees), "current_price": _num(price),
                    "current_value": _num(value), "total_size": _num(position.size),
                    "realized_pnl": _num(position.realized), "unrealized_pnl": _num(unrealized),
                    "total_pnl": _num(position.realized + unrealized),
                    "percent_pnl": _num((unrealized / position.cost * 100).quantize(Decimal("0.01")))
                    if position.cost else "0",
                    "percent_realized_pnl": "0", "status": "OPEN", "redeemable": False, "mergeable": False,
                    "negative_risk": False, "archived": False, "verified": True, "title": market.question,
                    "slug": market.slug, "outcome": market.outcomes[outcome], "outcome_index": outcome,
                    "opposite_token_id": market.token_ids[1 - outcome],
                })
        return _data_page(rows)

    def _history(self, request: SimRequest) -> dict[str, Any]:
        token = request.param("token_id") or ""
        self.state.token(token)
        now = time.time()
        intervals = {"1h": 3600, "6h": 21600, "1d": 86400, "1w": 604800, "1m": 2592000, "max": 2592000, "all": 2592000}
        interval = request.param("interval")
        if interval is not None:
            start, end = now - intervals.get(interval, 86400), now
        else:
            start = float(request.param("start") or now - 86400)
            end = float(request.param("end") or now)
        bucket = int(request.param("bucket_seconds") or 0)
        points = self.state.data.history(token, start, end, now)
        if bucket:
            by_bucket: dict[int, tuple[float, Decimal]] = {}
            for t, p in points:
                by_bucket[int(t // bucket)] = (t, p)
            points = [(k * bucket, p) for k, (_, p) in sorted(by_bucket.items())]
        items = [{"timestamp": int(t), "price": float(p), "resolution_seconds": bucket} for t, p in points]
        return _data_page(items)
