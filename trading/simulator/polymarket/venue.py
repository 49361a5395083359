"""State shared by the three Polymarket hosts: accounts, the recorded books, matching and fills."""

from __future__ import annotations

import hashlib
import random
import threading
import time
import uuid
from decimal import ROUND_DOWN, Decimal
from typing import Any

from eth_account import Account

from trading.simulator.books import Book, Execution, ReplayClock, take_liquidity
from trading.simulator.credentials import new_polymarket_private_key
from trading.simulator.http import SimError, SimRequest
from trading.simulator.polymarket.auth import api_creds_for, l1_signer, l2_verify, order_digest
from trading.simulator.polymarket.records import (
    MIN_ORDER_SIZE,
    UNITS,
    PolyAccount,
    PolyOrder,
    PolyPosition,
    PolyTrade,
    num,
)
from trading.simulator.recorded import RecordedMarket, RecordedPolymarket, RecordedTrade
from trading.simulator.stats import OrderCounters

LEADER_WALLET = "0x5eed000000000000000000000000000000000001"  # synthetic wallet for copy-trading demos
LEADER_TRADE_EVERY = 300
LEADER_SYNTHETIC = 500  # the synthetic trades the leader wallet has made, the latest first; older: the recorded bot's
FOK_NOT_FILLED = "order couldn't be fully filled. FOK orders are fully filled or killed."
FAK_NOT_FILLED = (
    "no orders found to match with FAK order. FAK orders are partially filled or killed if no match is found."
)


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
        return l1_signer(request)

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
                    "cash": num(sum((a.cash for a in accounts), Decimal(0))),
                    "positions": {token: num(size) for token, size in positions.items() if size},
                    "orders": [order_id for a in accounts for order_id in a.orders]}

    def account_for_l2(self, request: SimRequest) -> PolyAccount:
        key = request.header("POLY_API_KEY")
        account = self.accounts.get(key)
        if account is None:
            # Keys are derived, not stored: accept a key this server would have issued.
            address = request.header("POLY_ADDRESS")
            if address and api_creds_for(address)[0] == key:
                account = self.register(address, 0)
        if account is None:
            raise SimError(401, "Unauthorized/Invalid api key")
        l2_verify(request, account)
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
            if side == "BUY" and order_type in ("FOK", "FAK"):
                # A market buy spends its dollar amount (makerAmount) at prices up to its price: below that price
                # it gets more shares than amount / price (docs.polymarket.com, "Create Order": FOK and FAK are
                # market order types; BUY specifies the dollar amount).
                executions, complete = _spend(book, amount=maker / UNITS, limit=price)
                filled = sum((e.quantity for e in executions), Decimal(0))
                size = filled if complete else filled + 1  # FOK: all of the amount, or nothing
                poly_order.size = size
            else:
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
            "makingAmount": num(making) if trades else "",
            "takingAmount": num(taking) if trades else "",
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
            reject(f"Size ({num(size)}) lower than the minimum: {MIN_ORDER_SIZE}")
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


    # --- the leader wallet: synthetic trades now, a real bot's recorded trades before ---------------
    def leader_history(self, limit: int, offset: int, *, start: float | None = None,
                       end: float | None = None) -> list[dict[str, Any]]:
        """The leader's trades newest first: its synthetic ones (the last 500 five-minute buckets), then, older,
        the recorded bot's (data/polymarket_bot_trades.csv) at their own times; `start`/`end` (unix seconds,
        inclusive) as the Data API's v2 trades filter them."""
        if start is None and end is None and offset + limit <= LEADER_SYNTHETIC:
            return self.leader_trades(limit, offset)  # the synthetic present: a copy trader's live reads
        recent = end is None or end >= time.time() - LEADER_SYNTHETIC * LEADER_TRADE_EVERY
        rows = (self.leader_trades(LEADER_SYNTHETIC, 0) if recent else []) + [
            self._recorded_trade_json(t) for t in self.data.bot_trades
            if (start is None or int(t.at) >= start) and (end is None or int(t.at) <= end)]
        rows = [row for row in rows if (start is None or row["timestamp"] >= start)
                and (end is None or row["timestamp"] <= end)]
        return rows[offset:offset + limit]

    @staticmethod
    def _recorded_trade_json(trade: RecordedTrade) -> dict[str, Any]:
        market = trade.market
        return {
            "proxy_wallet": LEADER_WALLET, "token_id": market.token_ids[trade.outcome],
            "condition_id": market.condition_id, "side": trade.side, "size": float(trade.size),
            "price": float(trade.price), "timestamp": int(trade.at), "transaction_hash": trade.transaction_hash,
            "title": market.question, "slug": market.slug, "event_slug": market.slug,
            "outcome": market.outcomes[trade.outcome], "outcome_index": trade.outcome,
            "name": "synthetic-leader", "pseudonym": "Synthetic Leader (simulator)",
        }

    # --- synthetic leader wallet ----------------------------------------------------------------
    def leader_trades(self, limit: int, offset: int) -> list[dict[str, Any]]:
        """A seeded, synthetic wallet that trades the long-lived recorded markets every 5 minutes."""
        latest = int(time.time()) // LEADER_TRADE_EVERY
        trades = []
        for bucket in range(latest - offset, max(latest - offset - limit, latest - LEADER_SYNTHETIC), -1):
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


def _spend(book: Book, *, amount: Decimal, limit: Decimal) -> tuple[list[Execution], bool]:
    """Walk the asks up to `limit` buying whole cents of shares for `amount` dollars; True when it was all spent."""
    executions: list[Execution] = []
    left = amount
    for level in book.asks:
        if level.price > limit:
            break
        shares = min(level.size, (left / level.price).quantize(Decimal("0.01"), rounding=ROUND_DOWN))
        if shares <= 0:
            break
        executions.append(Execution(level.price, shares))
        left -= shares * level.price
    return executions, left < limit * Decimal("0.01")
