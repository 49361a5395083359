"""The worker's side of a script's venue calls: answer reads from the venue adapters.

A script calls methods named after the official SDKs (`ctx.polymarket.get_order_book(token_id=…)`);
this module maps each one to the adapter interface of `trading.venues` and turns the answer into
plain JSON shaped like the venue's own (prices and sizes as decimal strings, as the venues send
them). Every call is checked first: the venue must be in the strategy's `risk_limits.allowed_services`
(`trading.risk.venue_refusal`, the check orders go through too: a Kalshi strategy may read
Polymarket prices, but orders go only to its platform), and the method must be one the SDK table
names. Orders never come here: the executor hands them to the money layer.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from runtime import VenueCallError
from runtime.sdk import VENUE_METHODS
from strategyhub.lib.jsonable import as_json
from trading.risk import venue_refusal
from trading.venues import VenueClient, VenueError, venue_client
from trading.venues.domain import MAX_WALLET_TRADES
from trading.venues.polymarket import PolymarketVenue

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


# What one read may cost: each bound is the venue's own largest page or a span no cycle needs more of.
MAX_BARS = 10_000  # Alpaca's largest page of bars
MAX_CANDLESTICKS = 5_000  # Kalshi's most candlesticks in one request
MAX_MARKETS = 1_000  # Kalshi's largest page of markets
MAX_HISTORY = timedelta(days=366)  # of a Polymarket price history
TIMEFRAME_SECONDS = {"Min": 60, "T": 60, "Hour": 3600, "H": 3600, "Day": 86400, "D": 86400, "Week": 604800,
                     "W": 604800, "Month": 2678400, "M": 2678400}


def _count(name: str, value: Any, bound: int, method: str) -> int:
    """A positive whole count no larger than `bound`, or a VenueCallError naming the argument and the bound."""
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        raise VenueCallError(f"{method}: {name} must be a whole number, got {value!r}") from None
    if not 0 < number <= bound:
        raise VenueCallError(f"{method}: {name} must be between 1 and {bound}, got {number}")
    return number


def _span(method: str, start: datetime, end: datetime, *, step: timedelta, bound: int, names: str) -> None:
    """Refuse a time range of more than `bound` steps (or a reversed one), naming the arguments and the bound."""
    if end < start:
        raise VenueCallError(f"{method}: {names}: the start is after the end")
    steps = (end - start) / step
    if steps > bound:
        raise VenueCallError(f"{method}: {names} span {steps:.0f} periods of {step}, more than the {bound} one read "
                             "may return; narrow the range or use a longer period")


def _timeframe_step(timeframe: str) -> timedelta:
    amount = "".join(ch for ch in timeframe if ch.isdigit()) or "1"
    unit = timeframe[len(amount):] if timeframe.startswith(amount) else ""
    if unit not in TIMEFRAME_SECONDS:
        raise VenueCallError(f"alpaca.get_bars: timeframe must be like 1Min, 5Min, 1Hour, 1Day, 1Week; got "
                             f"{timeframe!r}")
    return timedelta(seconds=_count("timeframe", amount, 1000, "alpaca.get_bars") * TIMEFRAME_SECONDS[unit])


def _bars_read(client: Any, kw: dict[str, Any]) -> list[dict[str, Any]]:
    timeframe = str(kw.get("timeframe") or "1Day")
    step = _timeframe_step(timeframe)
    now = datetime.now(UTC)
    start = _time(kw["start"], now) if kw.get("start") else None
    end = _time(kw["end"], now) if kw.get("end") else None
    limit = _count("limit", kw["limit"], MAX_BARS, "alpaca.get_bars") if kw.get("limit") else None
    if start is not None and limit is None:
        _span("alpaca.get_bars", start, end or now, step=step, bound=MAX_BARS, names="start and end")
    return _bars(client.get_bars(kw["symbol"], timeframe=timeframe, start=start, end=end, limit=limit))


def _candlesticks(client: Any, kw: dict[str, Any]) -> dict[str, Any]:
    now = datetime.now(UTC)
    end = _time(kw.get("end_ts"), now)
    start = _time(kw.get("start_ts"), end - timedelta(days=1))
    period = _count("period_interval", kw.get("period_interval") or 60, 1440, "kalshi.get_candlesticks")
    _span("kalshi.get_candlesticks", start, end, step=timedelta(minutes=period), bound=MAX_CANDLESTICKS,
          names="start_ts and end_ts")
    return {"candlesticks": _bars(client.get_candlesticks(kw["ticker"], start=start, end=end, period_minutes=period,
                                                          series_ticker=kw.get("series_ticker")))}


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
    limit = _count("limit", kw.get("limit") or 100, MAX_WALLET_TRADES, "polymarket.get_trade_history")
    return [PolymarketVenue.trade_json(t) for t in client.get_trade_history(kw["maker_address"], limit=limit)]


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
    _span("polymarket.get_prices_history", start, end, step=timedelta(days=1), bound=MAX_HISTORY.days,
          names="start_ts and end_ts")
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
        "get_markets": lambda c, kw: {"markets": as_json(c.search_markets(
            limit=_count("limit", kw.get("limit") or 20, MAX_MARKETS, "kalshi.get_markets")))},
        "get_market": _kalshi_market,
        "get_orderbook": lambda c, kw: _book(c, kw["ticker"]),
        "get_candlesticks": _candlesticks,
    },
    "alpaca": {
        "get_latest_quote": lambda c, kw: _alpaca_quote(c.get_latest_quote(kw["symbol"])),
        "get_bars": _bars_read,
    },
}


def _spread(quote: Any) -> Decimal | None:
    return quote.ask - quote.bid if quote.ask is not None and quote.bid is not None else None


def _alpaca_quote(quote: Any) -> dict[str, Any]:
    return {"bp": as_json(quote.bid), "ap": as_json(quote.ask), "bs": as_json(quote.bid_size),
            "as": as_json(quote.ask_size), "t": as_json(quote.as_of)}


class VenueReads:
    """Answers one strategy's reads for one cycle; each venue's adapter is built on first use and closed after.

    With a `deadline` (time.monotonic(), the script's wall-clock end), a read that has not answered by
    then fails with a VenueCallError instead of holding the cycle past it.
    """

    def __init__(self, *, platform: str, allowed_services: list[str], deadline: float | None = None) -> None:
        self.platform = platform
        self.allowed_services = allowed_services
        self.deadline = deadline
        self._clients: dict[str, VenueClient] = {}
        self._pool: ThreadPoolExecutor | None = None

    def check(self, venue: str, method: str) -> None:
        refusal = venue_refusal(venue, platform=self.platform, allowed_services=self.allowed_services, purpose="read")
        if refusal:
            raise VenueCallError(f"ctx.{venue} is not available: {refusal.reason}")
        if method not in VENUE_METHODS.get(venue, {}):
            raise VenueCallError(f"{venue}.{method} is not a method the SDK offers")

    def read(self, venue: str, method: str, kwargs: dict[str, Any]) -> Any:
        self.check(venue, method)
        handler = READS[venue].get(method)
        if handler is None:
            raise VenueCallError(f"{venue}.{method} is not supported yet")
        client = self._clients.get(venue)
        if client is None:
            client = self._clients[venue] = venue_client(venue)
        try:
            return self._within_deadline(venue, method, client, handler, kwargs)
        except KeyError as exc:
            raise VenueCallError(f"{venue}.{method} needs the argument {exc.args[0]}") from None
        except VenueError as exc:
            raise VenueCallError(f"{venue}.{method} failed: {exc}") from None

    def _within_deadline(self, venue: str, method: str, client: VenueClient, handler: Read,
                         kwargs: dict[str, Any]) -> Any:
        if self.deadline is None:
            return handler(client, kwargs)
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise VenueCallError(f"{venue}.{method} was not sent: the script's time is up")
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="venue-read")
        future: Future[Any] = self._pool.submit(handler, client, kwargs)
        try:
            return future.result(timeout=left)
        except FutureTimeout:
            # The read goes on in its thread until the adapter's own timeout; its client is closed then, and
            # the next read gets a new client and a new thread.
            self._pool.shutdown(wait=False)
            self._pool = None
            self._clients.pop(venue, None)
            future.add_done_callback(lambda _: client.close())
            raise VenueCallError(f"{venue}.{method} did not answer before the script's deadline") from None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        for client in self._clients.values():
            client.close()
        self._clients.clear()
