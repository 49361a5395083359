"""The three Polymarket hosts as simulator apps: the CLOB, Gamma and the Data API."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

from trading.simulator.http import SimError, SimRequest, SimResponse
from trading.simulator.polymarket.auth import STANDARD_EXCHANGE
from trading.simulator.polymarket.records import PolyAccount, PolyPosition, num, units
from trading.simulator.polymarket.shapes import book_json, gamma_json, order_json, trade_json
from trading.simulator.polymarket.venue import LEADER_WALLET, PolymarketVenue
from trading.simulator.recorded import RecordedMarket

END_CURSOR = "LTE="


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
                return SimResponse(200, book_json(s, request.param("token_id") or ""))
            if path == "/midpoint":
                book = s.book(request.param("token_id"))
                if book.best_bid is None or book.best_ask is None:
                    raise SimError(404, "No orderbook exists for the requested token id")
                return SimResponse(200, {"mid": num((book.best_bid + book.best_ask) / 2)})
            if path == "/price":
                side = request.param("side")
                if side not in ("BUY", "SELL"):
                    raise SimError(400, "Invalid side")
                book = s.book(request.param("token_id"))
                # docs: "best bid price for BUY side or best ask price for SELL side"
                price = book.best_bid if side == "BUY" else book.best_ask
                return SimResponse(200, {"price": num(price) if price is not None else "0"})
            if path == "/spread":
                book = s.book(request.param("token_id"))
                spread = (book.best_ask or Decimal(1)) - (book.best_bid or Decimal(0))
                return SimResponse(200, {"spread": num(spread)})
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
                    "fd": {"r": num(listed.fee_rate), "e": 1},
                })
            if path == "/prices-history":
                token = request.param("market") or ""
                now = time.time()
                start = float(request.param("startTs") or now - 86400)
                end = float(request.param("endTs") or now)
                fidelity = int(request.param("fidelity") or 0) * 60
                points = s.data.history(token, start, end, now, step=fidelity or 600)
                if fidelity:  # the venue's resolution in minutes: one point (the last) per period
                    by_period = {int(t // fidelity): (t, p) for t, p in points}
                    points = [by_period[key] for key in sorted(by_period)]
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
                return SimResponse(200, order_json(account, order))
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
                return SimResponse(200, [book_json(s, str(item.get("token_id"))) for item in items])
            mids = {}
            for item in items:
                book = s.book(str(item.get("token_id")))
                if book.best_bid is not None and book.best_ask is not None:
                    mids[str(item["token_id"])] = num((book.best_bid + book.best_ask) / 2)
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
            balance = units(position.size)
        else:
            balance = units(account.cash)
        return {"balance": balance, "allowances": {STANDARD_EXCHANGE: str(2**256 - 1)}}

    def _orders(self, request: SimRequest) -> dict[str, Any]:
        s = self.state
        account = s.account_for_l2(request)
        s.sweep(account)
        wanted_id, market, asset = request.param("id"), request.param("market"), request.param("asset_id")
        orders = [
            order_json(account, o) for o in account.orders.values()
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
            trade_json(account, t) for t in account.trades
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
            return SimResponse(200, gamma_json(s, market))
        if path in ("/markets", "/markets/keyset"):
            markets = self._filter(request)
            limit = int(request.param("limit") or 100)
            items = [gamma_json(s, m) for m in markets[:limit]]
            return SimResponse(200, items if path == "/markets" else {"markets": items, "next_cursor": None})
        if path.startswith("/markets/"):
            market = s.data.by_gamma_id.get(path.rsplit("/", 1)[1])
            if market is None:
                raise SimError(404, "market not found")
            return SimResponse(200, gamma_json(s, market))
        if path == "/public-search":
            query = (request.param("q") or "").lower()
            found = [m for m in s.data.markets if query in m.question.lower() or query in m.slug.lower()]
            events = [
                {"id": m.gamma_id, "slug": m.slug, "title": m.question, "active": True, "closed": s.is_closed(m),
                 "markets": [gamma_json(s, m)]}
                for m in found[: int(request.param("limit_per_type") or 20)]
            ]
            return SimResponse(200, {"events": events, "tags": [], "profiles": [],
                                     "pagination": {"hasMore": False, "totalResults": len(events)}})
        raise SimError(404, f"no route GET {path}")

    def _filter(self, request: SimRequest) -> list[RecordedMarket]:
        s = self.state
        slugs, conditions = request.params("slug"), request.params("condition_ids")
        tokens = request.params("clob_token_ids")
        # The bot's markets are found when asked for by id, never listed (no book of theirs is replayed).
        markets = [*s.data.markets, *(s.data.bot_markets if slugs or conditions or tokens else [])]
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
        if path == "/v2/leaderboard":
            return SimResponse(200, self._leaderboard(request))
        raise SimError(404, f"no route GET {path}")

    def _leaderboard(self, request: SimRequest) -> dict[str, Any]:
        """The synthetic leader wallet, the one trader the simulator has a record of: its P&L is the net cash of
        its recent trades (sells in, buys out)."""
        trades = self.state.leader_trades(100, 0)
        pnl = sum((1 if t["side"] == "SELL" else -1) * t["price"] * t["size"] for t in trades)
        entry = {"rank": 1, "user_id": LEADER_WALLET, "pnl": round(pnl, 2),
                 "volume": sum(t["size"] for t in trades), "user_name": "synthetic-leader", "profile_image": None,
                 "x_username": None, "verified": False}
        wallet = (request.param("user") or "").lower()
        return _data_page([entry] if wallet in ("", LEADER_WALLET) else [])

    def _accounts_of(self, wallet: str) -> list[PolyAccount]:
        return [a for a in self.state.accounts.values() if a.address.lower() == wallet.lower()]

    def _trades(self, request: SimRequest) -> dict[str, Any]:
        s = self.state
        wallet = request.param("user") or ""
        limit = min(int(request.param("limit") or 100), 1000)
        offset = _cursor_offset(request)
        if wallet.lower() == LEADER_WALLET:
            start, end = request.param("start"), request.param("end")
            items = s.leader_history(limit, offset, start=None if start is None else float(start),
                                     end=None if end is None else float(end))
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
                    "current_size": num(position.size), "avg_price": num(average.quantize(Decimal("0.000001"))),
                    "entry_cost_usdc": num(position.cost), "entry_fees_usdc": num(position.fees),
                    "total_cost_usdc": num(position.cost + position.fees), "current_price": num(price),
                    "current_value": num(value), "total_size": num(position.size),
                    "realized_pnl": num(position.realized), "unrealized_pnl": num(unrealized),
                    "total_pnl": num(position.realized + unrealized),
                    "percent_pnl": num((unrealized / position.cost * 100).quantize(Decimal("0.01")))
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
        points = self.state.data.history(token, start, end, now, step=bucket or 600)
        if bucket:
            by_bucket: dict[int, tuple[float, Decimal]] = {}
            for t, p in points:
                by_bucket[int(t // bucket)] = (t, p)
            points = [(k * bucket, p) for k, (_, p) in sorted(by_bucket.items())]
        items = [{"timestamp": int(t), "price": float(p), "resolution_seconds": bucket} for t, p in points]
        return _data_page(items)
