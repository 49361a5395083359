"""The worker's side of a script's venue calls: answer reads from the venue adapters.

A script calls methods named after the official SDKs (`ctx.polymarket.get_order_book(token_id=…)`);
this module maps each one to the adapter interface of `trading.venues` and turns the answer into
plain JSON shaped like the venue's own (prices and sizes as decimal strings, as the venues send
them). Every call is checked first: the venue must be the strategy's platform and allowed by its
risk limits, and the method must be one the SDK table names. Orders never come here: the
executor hands them to the money layer.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from strategies.runtime import VenueCallError
from strategies.sdk import VENUE_METHODS
from strategyhub.lib.jsonable import as_json
from trading.venues import VenueClient, VenueError, venue_client

Read = Callable[[Any, dict[str, Any]], Any]


def _time(value: Any, default: datetime) -> datetime:
    if value is None:
        return default
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, str):
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise VenueCallError(f"a time must be a unix timestamp or an ISO 8601 string, got {value!r}")


def _book(client: Any, instrument_id: str) -> dict[str, Any]:
    book = client.get_order_book(instrument_id)
    return {
        "asset_id": book.instrument_id,
        "bids": [{"price": str(level.price), "size": str(level.size)} for level in book.bids],
        "asks": [{"price": str(level.price), "size": str(level.size)} for level in book.asks],
        "timestamp": as_json(book.as_of),
    }


def _bars(bars: list[Any]) -> list[dict[str, Any]]:
    return [
        {"t": as_json(bar.at), "o": str(bar.open), "h": str(bar.high), "l": str(bar.low), "c": str(bar.close),
         "v": str(bar.volume)}
        for bar in bars
    ]


def _polymarket_trades(client: Any, kw: dict[str, Any]) -> list[dict[str, Any]]:
    trades = client.get_trade_history(kw["maker_address"], limit=int(kw.get("limit") or 100))
    return [
        {"id": t.trade_id, "proxyWallet": t.wallet, "conditionId": t.market_id, "asset": t.instrument_id,
         "side": t.side.upper(), "price": str(t.price), "size": str(t.size), "timestamp": int(t.at.timestamp()),
         "title": t.title, "outcome": t.outcome}
        for t in trades
    ]


def _kalshi_market(client: Any, kw: dict[str, Any]) -> dict[str, Any]:
    market = client.get_market(kw["ticker"])
    quote = client.get_quote(kw["ticker"])
    return {
        "ticker": market.market_id, "title": market.title, "status": "active" if market.active else "closed",
        "yes_bid_dollars": as_json(quote.bid), "yes_ask_dollars": as_json(quote.ask), "synthetic": market.synthetic,
    }


def _history(client: Any, instrument_id: str, kw: dict[str, Any]) -> dict[str, Any]:
    end = _time(kw.get("end_ts"), datetime.now(UTC))
    start = _time(kw.get("start_ts"), end - timedelta(days=1))
    points = client.get_price_history(instrument_id, start=start, end=end)
    return {"history": [{"t": int(point.at.timestamp()), "p": str(point.price)} for point in points]}


READS: dict[str, dict[str, Read]] = {
    "polymarket": {
        "get_markets": lambda c, kw: as_json(c.search_markets()),
        "get_market": lambda c, kw: as_json(c.get_market(kw["condition_id"])),
        "get_order_book": lambda c, kw: _book(c, kw["token_id"]),
        "get_midpoint": lambda c, kw: {"mid": str(c.get_midpoint(kw["token_id"]))},
        "get_price": lambda c, kw: {"price": str(c.get_price(kw["token_id"], str(kw.get("side", "buy")).lower()))},
        "get_spread": lambda c, kw: {"spread": as_json(_spread(c.get_quote(kw["token_id"])))},
        "get_prices_history": lambda c, kw: _history(c, kw["market"], kw),
        "get_trade_history": _polymarket_trades,
    },
    "kalshi": {
        "get_markets": lambda c, kw: {"markets": as_json(c.search_markets(limit=int(kw.get("limit") or 20)))},
        "get_market": _kalshi_market,
        "get_orderbook": lambda c, kw: _book(c, kw["ticker"]),
        "get_candlesticks": lambda c, kw: {"candlesticks": _bars(c.get_candlesticks(
            kw["ticker"], start=_time(kw.get("start_ts"), datetime.now(UTC) - timedelta(days=1)),
            end=_time(kw.get("end_ts"), datetime.now(UTC)), period_minutes=int(kw.get("period_interval") or 60),
            series_ticker=kw.get("series_ticker")))},
    },
    "alpaca": {
        "get_latest_quote": lambda c, kw: _alpaca_quote(c.get_latest_quote(kw["symbol"])),
        "get_bars": lambda c, kw: _bars(c.get_bars(
            kw["symbol"], timeframe=kw.get("timeframe") or "1Day",
            start=_time(kw["start"], datetime.now(UTC)) if kw.get("start") else None,
            end=_time(kw["end"], datetime.now(UTC)) if kw.get("end") else None,
            limit=int(kw["limit"]) if kw.get("limit") else None)),
    },
}


def _spread(quote: Any) -> Decimal | None:
    return quote.ask - quote.bid if quote.ask is not None and quote.bid is not None else None


def _alpaca_quote(quote: Any) -> dict[str, Any]:
    return {"bp": as_json(quote.bid), "ap": as_json(quote.ask), "bs": as_json(quote.bid_size),
            "as": as_json(quote.ask_size), "t": as_json(quote.as_of)}


class VenueReads:
    """Answers one strategy's reads for one cycle; the adapter is built on first use and closed after."""

    def __init__(self, *, platform: str, allowed_services: list[str]) -> None:
        self.platform = platform
        self.allowed_services = allowed_services
        self._client: VenueClient | None = None

    def check(self, venue: str, method: str) -> None:
        if venue != self.platform:
            raise VenueCallError(f"ctx.{venue} is not available: this strategy trades on {self.platform}")
        if venue not in self.allowed_services:
            raise VenueCallError(f"{venue} is not in risk_limits.allowed_services")
        if method not in VENUE_METHODS.get(venue, {}):
            raise VenueCallError(f"{venue}.{method} is not a method the SDK offers")

    def read(self, venue: str, method: str, kwargs: dict[str, Any]) -> Any:
        self.check(venue, method)
        handler = READS[venue].get(method)
        if handler is None:
            raise VenueCallError(f"{venue}.{method} is not supported yet")
        if self._client is None:
            self._client = venue_client(venue)
        try:
            return handler(self._client, kwargs)
        except KeyError as exc:
            raise VenueCallError(f"{venue}.{method} needs the argument {exc.args[0]}") from None
        except VenueError as exc:
            raise VenueCallError(f"{venue}.{method} failed: {exc}") from None

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
