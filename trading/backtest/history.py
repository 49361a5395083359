"""The venues' own history as backtest data, through the adapters, cached in the database.

Three sources behind the engine's one interface (`trading.backtest.data`): Alpaca bars, Polymarket's
CLOB `prices-history` (with the trades of the wallets a copy trader follows, from the Data API) and
Kalshi's candlesticks. Every point fetched is kept (`VenueHistoryPoint`) with
the range it came in (`VenueHistoryRange`), so a re-run on any host reads the cache and asks the venue
only for the part of the range it has never fetched. What a venue says of a market (outcomes, fee
rate, resolution) is kept too (`VenueMarketInfo`): a resolved market's for good, an open one's for an
hour, and the cached copy answers when the venue cannot.

A price series has no book, so the fill model is stated here (docs/backtest.md, "Prices without a
book"): each point becomes a one-level book; Polymarket's at the price ± `half_spread`, Kalshi's at the
candle's closing YES bid and ask. An order fills at the first point after its signal, at that ask
(buys) or bid (sells), with the venue's fee; the depth is not known, so the level holds `DEPTH`
contracts (the strategy's own limits bound the order). A market the venue reports resolved settles at
$1 / $0 at its last point, when the data stops before the range ends (a range cut earlier does not
see the resolution, as a live strategy would not).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, cast

from django.db import transaction
from django.utils import timezone

from trading.backtest.data import (
    BarSeries,
    BookData,
    BookSnapshot,
    DataError,
    OutcomeBooks,
    PredictionMarket,
    WalletTrades,
    bars_from_rows,
    iso,
)
from trading.models import VenueHistoryPoint, VenueHistoryRange, VenueMarketInfo, VenueWalletTrade
from trading.venues import venue_client
from trading.venues.domain import BookLevel
from trading.venues.errors import VenueError

if TYPE_CHECKING:  # the venues' SDKs load only when history is fetched: a CSV backtest's command starts ≈ 1.4 s sooner
    from trading.venues.alpaca import AlpacaVenue
    from trading.venues.kalshi import KalshiVenue
    from trading.venues.polymarket import PolymarketVenue

logger = logging.getLogger(__name__)

ZERO, ONE = Decimal(0), Decimal(1)
DEPTH = Decimal(1_000_000)  # contracts at the one level of a book made from a price: depth is not known
PRICE_FLOOR = Decimal("0.001")  # a book made from a price stays inside (0, 1)
DEFAULT_HALF_SPREAD = Decimal("0.01")  # one Polymarket tick either side of the price
MARKET_INFO_FRESH = timedelta(hours=1)  # an open market's cached info is asked again after this
POLYMARKET_POINTS_PER_REQUEST = 1000  # a range is asked in pieces the CLOB answers in full
KALSHI_CANDLES_PER_REQUEST = 5000  # Kalshi's own maximum
KALSHI_PERIODS = (1, 60, 1440)
# A followed wallet's trades: at most this many in one range (the Data API pages no deeper), and the default
# range: the week up to the wallets' last trade at least WALLET_SETTLED old, and a day after it for its copies.
WALLET_TRADES_PER_RANGE = 10_000
WALLET_SETTLED = timedelta(days=7)
WALLET_WEEK = timedelta(days=7)
WALLET_TAIL = timedelta(days=1)
# How far past a range's end a resolved market's data is read (never shown to the run): any point there means the
# range was cut while the market still traded, so the run does not see it resolve. Gaps in the data longer than a
# period are normal (a minute without a two-sided book), so "the data stops before the range does" alone misreads one.
RESOLUTION_LOOK_PAST = timedelta(days=1)

Points = list[tuple[datetime, dict[str, Any]]]


# --- the cache ------------------------------------------------------------------------------------


Span = tuple[datetime, datetime]


def _gaps(covered: Iterable[Span], start: datetime, end: datetime) -> list[Span]:
    """The parts of [start, end] no fetched range covers."""
    gaps, cursor = [], start
    for lo, hi in sorted(covered):
        if hi < cursor:
            continue
        if lo > cursor:
            gaps.append((cursor, min(lo, end)))
        cursor = max(cursor, hi)
        if cursor >= end:
            break
    if cursor < end:
        gaps.append((cursor, end))
    return [(lo, hi) for lo, hi in gaps if hi > lo]


def history_cached(*, venue: str, series: str, resolution: str, start: datetime, end: datetime,
                   fetch: Callable[[datetime, datetime], Points] | None) -> Points:
    """The points of one series in [start, end]: cached ranges reused, the missing ones fetched (if `fetch`)."""
    end = min(end, timezone.now())  # the future is never cached as empty
    key = {"venue": venue, "series": series, "resolution": resolution}
    if fetch is not None and start < end:
        covered = VenueHistoryRange.objects.filter(**key, start__lte=end, end__gte=start).values_list("start", "end")
        for lo, hi in _gaps(covered, start, end):
            points = fetch(lo, hi)
            with transaction.atomic():
                VenueHistoryPoint.objects.bulk_create(
                    [VenueHistoryPoint(**key, at=at, data=data) for at, data in points], ignore_conflicts=True)
                VenueHistoryRange.objects.create(**key, start=lo, end=hi)
    rows = VenueHistoryPoint.objects.filter(**key, at__gte=start, at__lte=end).order_by("at")
    return [(row.at, row.data) for row in rows]


def trades_cached(*, venue: str, wallet: str, start: datetime, end: datetime,
                  fetch: Callable[[datetime, datetime], list[tuple[str, datetime, dict[str, Any]]]] | None) -> Points:
    """A wallet's trades in [start, end], oldest first: cached ranges reused, the missing ones fetched (if `fetch`),
    kept as `VenueWalletTrade` rows (by trade id: two fills may share a second) beside the price points."""
    end = min(end, timezone.now())
    wallet = wallet.lower()
    ranges = {"venue": venue, "series": wallet, "resolution": "trades"}
    if fetch is not None and start < end:
        covered = VenueHistoryRange.objects.filter(**ranges, start__lte=end, end__gte=start).values_list("start", "end")
        for lo, hi in _gaps(covered, start, end):
            trades = fetch(lo, hi)
            with transaction.atomic():
                VenueWalletTrade.objects.bulk_create(
                    [VenueWalletTrade(venue=venue, wallet=wallet, trade_id=trade_id, at=at, data=data)
                     for trade_id, at, data in trades], ignore_conflicts=True)
                VenueHistoryRange.objects.create(**ranges, start=lo, end=hi)
    rows = VenueWalletTrade.objects.filter(venue=venue, wallet=wallet, at__gte=start, at__lte=end).order_by(
        "at", "trade_id")
    return [(row.at, row.data) for row in rows]


def market_cached(*, venue: str, market_id: str, fetch: Callable[[], dict[str, Any]] | None) -> dict[str, Any]:
    """What the venue says of a market: cached for good once resolved, for an hour while open."""
    row = VenueMarketInfo.objects.filter(venue=venue, market_id=market_id).first()
    now = timezone.now()
    if row is not None and (fetch is None or row.data.get("settled_outcome")
                            or now - row.fetched_at < MARKET_INFO_FRESH):
        return cast(dict[str, Any], row.data)
    if fetch is None:
        raise DataError(f"{venue} market {market_id}: nothing cached, and this read may not ask the venue")
    try:
        data = fetch()
    except VenueError:
        if row is None:
            raise
        logger.warning("%s market %s: the venue did not answer, using what was cached at %s", venue, market_id,
                       row.fetched_at)
        return cast(dict[str, Any], row.data)
    VenueMarketInfo.objects.update_or_create(venue=venue, market_id=market_id,
                                             defaults={"data": data, "fetched_at": now})
    return data


def _pieces(start: datetime, end: datetime, length: timedelta) -> list[Span]:
    pieces, cursor = [], start
    while cursor < end:
        pieces.append((cursor, min(end, cursor + length)))
        cursor += length
    return pieces


class _Client:
    """One adapter, built on first use (a run that the cache answers never opens one)."""

    def __init__(self, platform: str) -> None:
        self.platform = platform
        self.client: Any = None

    def __call__(self) -> Any:
        if self.client is None:
            self.client = venue_client(self.platform)
        return self.client

    def close(self) -> None:
        if self.client is not None:
            self.client.close()


def _range(start: datetime | None, end: datetime | None, default: timedelta, period: int) -> Span:
    """The range asked for, never past now; without an end, up to the last whole period (so a re-run in the
    same period asks the venue nothing)."""
    now = timezone.now()
    if end is None:
        end = datetime.fromtimestamp(now.timestamp() // period * period, UTC)
    end = min(end, now)
    start = start or end - default
    if start >= end:
        raise DataError(f"the range {start.isoformat()} … {end.isoformat()} is empty (the venue has no future)")
    return start, end


# --- Alpaca bars ----------------------------------------------------------------------------------


def alpaca_history(symbol: str, *, timeframe: str, start: datetime | None, end: datetime | None,
                   offline: bool = False) -> BarSeries:
    """Alpaca's bars of `symbol` through the adapter (a year of daily bars by default)."""
    end = end or datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start = start or end - timedelta(days=365)
    client = _Client("alpaca")

    def fetch(lo: datetime, hi: datetime) -> Points:
        bars = cast("AlpacaVenue", client()).get_bars(symbol, timeframe=timeframe, start=lo, end=hi)
        return [(bar.at, {"o": str(bar.open), "h": str(bar.high), "l": str(bar.low), "c": str(bar.close),
                          "v": str(bar.volume)}) for bar in bars]

    try:
        points = history_cached(venue="alpaca", series=symbol, resolution=timeframe, start=start, end=end,
                                fetch=None if offline else fetch)
    finally:
        client.close()
    if len(points) < 2:
        raise DataError(f"alpaca has {len(points)} bars of {symbol} from {start.isoformat()} to {end.isoformat()}")
    return bars_from_rows(symbol, [(at.timestamp(), Decimal(d["o"]), Decimal(d["h"]), Decimal(d["l"]),
                                    Decimal(d["c"]), Decimal(d["v"])) for at, d in points])


# --- prices without a book: one level each side ---------------------------------------------------


def _one_level(moment: float, bid: Decimal | None, ask: Decimal | None) -> BookSnapshot:
    bids = (BookLevel(bid, DEPTH),) if bid is not None and bid > 0 else ()
    asks = (BookLevel(ask, DEPTH),) if ask is not None and ask < 1 else ()
    return BookSnapshot(moment, bids, asks)


def _with_what_follows(*, venue: str, series: str, resolution: str, lo: datetime, hi: datetime, period: int,
                       settled: bool, fetch: Callable[[datetime, datetime], Points] | None) -> tuple[Points, Points]:
    """The points of a series in [lo, hi], and, for a market the venue says resolved, those of the
    `RESOLUTION_LOOK_PAST` after it (at least ten periods, whole periods, never past now): they never reach the run,
    they only say whether the market traded on after the range (`_resolution`). A venue that does not answer for
    that part leaves what the cache holds of it."""
    points = history_cached(venue=venue, series=series, resolution=resolution, start=lo, end=hi, fetch=fetch)
    now = timezone.now().timestamp() // period * period
    past = min(datetime.fromtimestamp(now, UTC), hi + max(RESOLUTION_LOOK_PAST, timedelta(seconds=10 * period)))
    if not settled or (past - hi).total_seconds() <= period:
        return points, []
    try:
        later = history_cached(venue=venue, series=series, resolution=resolution, start=hi, end=past, fetch=fetch)
    except VenueError:
        logger.warning("%s %s after %s: the venue did not answer, the cache says whether it traded on", venue,
                       series, hi.isoformat())
        later = history_cached(venue=venue, series=series, resolution=resolution, start=hi, end=past, fetch=None)
    return points, [(at, data) for at, data in later if at > hi]


def _resolution(settled: str | None, last_point: float | None, range_end: datetime, period: float,
                traded_on: bool) -> tuple[float | None, int | None]:
    """When and how a market settles in the data: at its last point, if the venue says it resolved, the data
    stops (more than one period) before the range does, and it has no point after the range (`traded_on`)."""
    if (settled not in ("yes", "no") or last_point is None or traded_on
            or range_end.timestamp() - last_point <= period):
        return None, None
    return last_point, 0 if settled == "yes" else 1


# --- Polymarket prices-history --------------------------------------------------------------------


def _polymarket_info(client: PolymarketVenue, market_id: str) -> dict[str, Any]:
    market = client.get_market(market_id)
    if len(market.instrument_ids) != 2:
        raise DataError(f"polymarket market {market_id} has {len(market.instrument_ids)} outcome tokens, not two")
    return {"condition_id": market.market_id, "question": market.title, "slug": market.slug,
            "category": market.category, "outcomes": list(market.outcomes), "token_ids": list(market.instrument_ids),
            "fee_rate": str(client.get_fee_rate(market.instrument_ids[0])), "settled_outcome": market.settled_outcome}


def _wallets_range(wallets: list[str], client: _Client, *, offline: bool, period: int) -> Span:
    """The default range of a backtest that follows wallets: the week up to their last trade at least
    WALLET_SETTLED old, and WALLET_TAIL after it (its copies fill and play out), in whole periods."""
    settled = timezone.now() - WALLET_SETTLED
    last: datetime | None = None
    for wallet in wallets:
        found: datetime | None = None
        try:
            if not offline:
                trades = cast("PolymarketVenue", client()).get_trade_history(wallet, limit=1, end=settled)
                found = trades[0].at if trades else None
        except VenueError:  # the cache answers when the venue does not, as for a market's info
            logger.warning("polymarket trades of %s: the venue did not answer, the range comes from the cache", wallet)
            offline = True
        if offline:
            row = VenueWalletTrade.objects.filter(venue="polymarket", wallet=wallet, at__lte=settled).order_by(
                "-at").first()
            found = row.at if row is not None else None
        if found is not None and (last is None or found > last):
            last = found
    if last is None:
        raise DataError(f"wallets: {', '.join(wallets)} made no trade before {settled.date().isoformat()}: name the "
                        "range to backtest on (start and end)")
    end = datetime.fromtimestamp(-(-(last + WALLET_TAIL).timestamp() // period) * period, UTC)
    return end - WALLET_WEEK - WALLET_TAIL, min(end, timezone.now())


def _wallet_trades(wallet: str, client: _Client, lo: datetime, hi: datetime, *, offline: bool) -> WalletTrades:
    def fetch(a: datetime, b: datetime) -> list[tuple[str, datetime, dict[str, Any]]]:
        trades = cast("PolymarketVenue", client()).get_trade_history(wallet, limit=WALLET_TRADES_PER_RANGE, start=a,
                                                                     end=b)
        if len(trades) >= WALLET_TRADES_PER_RANGE:
            raise DataError(f"wallets: {wallet} made more than {WALLET_TRADES_PER_RANGE} trades from "
                            f"{iso(a.timestamp())} to {iso(b.timestamp())}, beyond what the venue pages: narrow it")
        from trading.venues.polymarket import PolymarketVenue  # its SDK only when trades are fetched

        return [(t.trade_id, t.at, PolymarketVenue.trade_json(t)) for t in trades]

    points = trades_cached(venue="polymarket", wallet=wallet, start=lo, end=hi, fetch=None if offline else fetch)
    return WalletTrades(wallet, [at.timestamp() for at, _ in points], [data for _, data in points])


def polymarket_history(markets: list[str], *, start: datetime | None, end: datetime | None, fidelity: int = 60,
                       half_spread: Decimal = DEFAULT_HALF_SPREAD, offline: bool = False,
                       wallets: list[str] | None = None) -> BookData:
    """Polymarket's `GET /prices-history` of each market's two tokens (a week by default), as books of one level;
    with `wallets`, their trades in the range too (the Data API's, for `get_trade_history`) and the markets they
    traded (the range by default: see `_wallets_range`)."""
    wallets = [str(w).lower() for w in wallets or []]
    if not markets and not wallets:
        raise DataError("markets: name the Polymarket markets to backtest on (condition ids or slugs)")
    if not 1 <= fidelity <= 1440:
        raise DataError(f"fidelity must be whole minutes in [1, 1440], got {fidelity}")
    if not ZERO <= half_spread < Decimal("0.5"):
        raise DataError(f"half_spread must be in [0, 0.5), got {half_spread}")
    client = _Client("polymarket")
    result_markets: dict[str, PredictionMarket] = {}
    books: dict[str, OutcomeBooks] = {}
    try:
        if wallets and start is None and end is None:
            start, end = _wallets_range(wallets, client, offline=offline, period=fidelity * 60)
        lo, hi = _range(start, end, timedelta(days=7), fidelity * 60)
        followed = {wallet: _wallet_trades(wallet, client, lo, hi, offline=offline) for wallet in wallets}
        traded = [str(trade["conditionId"]) for w in followed.values() for trade in w.trades]
        markets = list(dict.fromkeys([*markets, *traded]))
        for market_id in markets:
            def info_fetch(market_id: str = market_id) -> dict[str, Any]:
                return _polymarket_info(cast("PolymarketVenue", client()), market_id)

            info = market_cached(venue="polymarket", market_id=market_id, fetch=None if offline else info_fetch)
            times_of: dict[str, list[float]] = {}
            traded_on = False
            for outcome, token in enumerate(info["token_ids"]):
                def fetch(a: datetime, b: datetime, token: str = token) -> Points:
                    points = []
                    for p_lo, p_hi in _pieces(a, b, timedelta(minutes=fidelity * POLYMARKET_POINTS_PER_REQUEST)):
                        history = cast("PolymarketVenue", client()).get_prices_history(
                            token, start=p_lo, end=p_hi, fidelity_minutes=fidelity)
                        points += [(point.at, {"p": str(point.price)}) for point in history]
                    return points

                points, later = _with_what_follows(
                    venue="polymarket", series=token, resolution=f"{fidelity}m", lo=lo, hi=hi, period=fidelity * 60,
                    settled=bool(info.get("settled_outcome")), fetch=None if offline else fetch)
                traded_on = traded_on or bool(later)
                times = [at.timestamp() for at, _ in points]
                prices = [Decimal(data["p"]) for _, data in points]
                snapshots = [_one_level(t, max(PRICE_FLOOR, p - half_spread), min(ONE - PRICE_FLOOR, p + half_spread))
                             for t, p in zip(times, prices, strict=True)]
                times_of[token] = times
                books[token] = OutcomeBooks(token, info["condition_id"], info["outcomes"][outcome], times,
                                            snapshots.__getitem__)
            every = [t for times in times_of.values() for t in times]
            if not every:
                continue
            resolves_at, winner = _resolution(info.get("settled_outcome"), max(every), hi, fidelity * 60, traded_on)
            result_markets[info["condition_id"]] = PredictionMarket(
                info["condition_id"], info["question"], info["slug"], info["category"], Decimal(info["fee_rate"]),
                (info["outcomes"][0], info["outcomes"][1]), (info["token_ids"][0], info["token_ids"][1]), min(every),
                resolves_at, winner)
    finally:
        client.close()
    if not result_markets:
        named = ", ".join(markets) or f"the markets {', '.join(wallets)} traded"
        raise DataError(f"polymarket has no price history of {named} from {iso(lo.timestamp())} to "
                        f"{iso(hi.timestamp())}")
    return BookData("polymarket", result_markets, {t: b for t, b in books.items() if b.condition_id in result_markets},
                    wallets=followed)


# --- Kalshi candlesticks --------------------------------------------------------------------------


def _kalshi_info(client: KalshiVenue, ticker: str) -> dict[str, Any]:
    market = client.get_market(ticker)
    return {"ticker": market.market_id, "title": market.title, "event_ticker": market.slug,
            "settled_outcome": market.settled_outcome}


def _number(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def kalshi_candles(tickers: list[str], *, start: datetime | None, end: datetime | None, period: int = 60,
                   offline: bool = False) -> BookData:
    """Kalshi's candlesticks of each ticker (a week of hourly candles by default), as books of one level:
    the closing YES bid and ask of each period, seen at the period's end."""
    if not tickers:
        raise DataError("tickers: name the Kalshi markets to backtest on")
    if period not in KALSHI_PERIODS:
        raise DataError(f"period must be 1, 60 or 1440 minutes (Kalshi's period_interval), got {period}")
    lo, hi = _range(start, end, timedelta(days=7), period * 60)
    client = _Client("kalshi")
    result_markets: dict[str, PredictionMarket] = {}
    books: dict[str, OutcomeBooks] = {}
    candles: dict[str, tuple[list[float], list[dict[str, Any]]]] = {}
    try:
        for ticker in tickers:
            def info_fetch(ticker: str = ticker) -> dict[str, Any]:
                return _kalshi_info(cast("KalshiVenue", client()), ticker)

            info = market_cached(venue="kalshi", market_id=ticker, fetch=None if offline else info_fetch)
            series = str(info.get("event_ticker") or ticker).split("-")[0]

            def fetch(a: datetime, b: datetime, ticker: str = ticker, series: str = series) -> Points:
                points = []
                for p_lo, p_hi in _pieces(a, b, timedelta(minutes=period * KALSHI_CANDLES_PER_REQUEST)):
                    for candle in cast("KalshiVenue", client()).get_quote_candles(
                            ticker, start=p_lo, end=p_hi, period_minutes=period, series_ticker=series):
                        points.append((candle.at, {
                            "bid": _number(candle.yes_bid), "ask": _number(candle.yes_ask),
                            "price": _number(candle.price), "open": _number(candle.open),
                            "high": _number(candle.high), "low": _number(candle.low), "volume": str(candle.volume)}))
                return points

            read, later = _with_what_follows(
                venue="kalshi", series=ticker, resolution=f"{period}m", lo=lo, hi=hi, period=period * 60,
                settled=bool(info.get("settled_outcome")), fetch=None if offline else fetch)
            points = [(at, data) for at, data in read if data["bid"] is not None or data["ask"] is not None]
            if not points:
                continue
            times = [at.timestamp() for at, _ in points]
            snapshots = [_one_level(t, None if d["bid"] is None else Decimal(d["bid"]),
                                    None if d["ask"] is None else Decimal(d["ask"])) for t, (_, d) in zip(
                                        times, points, strict=True)]
            books[ticker] = OutcomeBooks(ticker, ticker, "yes", times, snapshots.__getitem__)
            candles[ticker] = (times, [_candle_bar(at, d) for at, d in points])
            resolves_at, winner = _resolution(info.get("settled_outcome"), times[-1], hi, period * 60, any(
                data["bid"] is not None or data["ask"] is not None for _, data in later))
            result_markets[ticker] = PredictionMarket(
                ticker, str(info.get("title") or ticker), str(info.get("event_ticker") or ""), "", ZERO, ("yes", "no"),
                (ticker, ticker), times[0], resolves_at, winner)
    finally:
        client.close()
    if not result_markets:
        raise DataError(f"kalshi has no candlesticks of {', '.join(tickers)} from {iso(lo.timestamp())} to "
                        f"{iso(hi.timestamp())}")
    return BookData("kalshi", result_markets, books, candles)


def _candle_bar(at: datetime, data: dict[str, Any]) -> dict[str, Any]:
    """A candle as `get_candlesticks` answers it in paper (the adapter's bars: price OHLC at the period's end)."""
    close = data["price"] or data["bid"] or data["ask"]
    return {"t": iso(at.timestamp()), "o": data["open"] or close, "h": data["high"] or close,
            "l": data["low"] or close, "c": close, "v": data["volume"]}
