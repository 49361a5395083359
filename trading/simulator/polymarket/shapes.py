"""The JSON the Polymarket hosts answer: orders, trades, books (CLOB) and markets (Gamma)."""

from __future__ import annotations

import hashlib
import json
import time
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from trading.simulator.polymarket.records import MIN_ORDER_SIZE, PolyAccount, PolyOrder, PolyTrade, num
from trading.simulator.recorded import RecordedMarket

if TYPE_CHECKING:
    from trading.simulator.polymarket.venue import PolymarketVenue


def order_json(account: PolyAccount, order: PolyOrder) -> dict[str, Any]:
    return {
        "id": order.id,
        "status": order.status,
        "owner": account.api_key,
        "maker_address": account.address,
        "market": order.market.condition_id,
        "asset_id": order.market.token_ids[order.outcome],
        "side": order.side,
        "original_size": num(order.size),
        "size_matched": num(order.matched),
        "price": num(order.price),
        "outcome": order.market.outcomes[order.outcome],
        "expiration": "0",
        "order_type": order.order_type,
        "associate_trades": list(order.trade_ids),
        "created_at": int(order.created_at),
    }


def trade_json(account: PolyAccount, trade: PolyTrade) -> dict[str, Any]:
    return {
        "id": trade.id,
        "taker_order_id": trade.order_id,
        "market": trade.market.condition_id,
        "asset_id": trade.market.token_ids[trade.outcome],
        "side": trade.side,
        "size": num(trade.size),
        "fee_rate_bps": str(int(trade.market.fee_rate * 10000)),
        "price": num(trade.price),
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


def book_json(venue: PolymarketVenue, token_id: str) -> dict[str, Any]:
    market, _ = venue.token(token_id)
    book = venue.book(token_id)
    return {
        "market": market.condition_id,
        "asset_id": token_id,
        "timestamp": str(int(time.time() * 1000)),
        "hash": hashlib.sha1(repr(book).encode(), usedforsecurity=False).hexdigest(),
        # The CLOB lists the best level last on both sides.
        "bids": [{"price": num(lv.price), "size": num(lv.size)} for lv in reversed(book.bids)],
        "asks": [{"price": num(lv.price), "size": num(lv.size)} for lv in reversed(book.asks)],
        "min_order_size": num(MIN_ORDER_SIZE),
        "tick_size": "0.01",
        "neg_risk": False,
        "last_trade_price": num(book.best_bid) if book.best_bid is not None else "",
    }


def gamma_json(venue: PolymarketVenue, market: RecordedMarket) -> dict[str, Any]:
    books = [venue.data.book(token) for token in market.token_ids]
    mids = [((b.best_bid or Decimal(0)) + (b.best_ask or Decimal(1))) / 2 if b else Decimal("0.5") for b in books]
    first = books[0]
    closed = venue.is_closed(market)
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
                                    if closed else [num(m) for m in mids]),
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
