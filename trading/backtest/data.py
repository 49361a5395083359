"""Backtest data: bar series (a user's CSV, venue history) and recorded prediction-market books.

One interface for the engine (`MarketData`): the moments the data has (`event_times`), what a
script may read as of a moment (`bars_as_of`, `book_as_of`, …: nothing after it, whatever the
arguments), where an order signalled at a moment fills (`next_bar`, `next_book`), and when a
market resolves. Prices are Decimals parsed once; replies are the venues' JSON shapes.
"""

from __future__ import annotations

import bisect
import csv
import io
import itertools
import json.encoder
import math
import operator
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from trading.venues.domain import BookLevel, OrderBook

ONE = Decimal(1)
TIME_COLUMNS = ("date", "time", "timestamp", "datetime")
PRICE_COLUMNS = ("open", "high", "low", "close")


class DataError(ValueError):
    """Data that cannot be backtested on; the message names the file, the row or the column."""


@dataclass(frozen=True)
class Bar:
    start: float  # epoch seconds, UTC: the bar's own timestamp (its open)
    close_at: float  # when the bar is complete and may be seen
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal

    def as_alpaca(self) -> dict[str, Any]:
        return {"t": iso(self.start), "o": str(self.open), "h": str(self.high), "l": str(self.low),
                "c": str(self.close), "v": str(self.volume)}


def iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat().replace("+00:00", "Z")


EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
FIRST_SECOND, END_SECOND = -62135596800, 253402300800  # 0001-01-01 and 10000-01-01: the years a date can hold


def iso_many(moments: Iterable[float]) -> list[str]:
    """`iso` of each moment, at a third of its cost for whole seconds (a series' bars): each day's date and each
    time of day is formatted once. Anything else goes through `iso` itself."""
    days: dict[int, str] = {}
    clocks: dict[int, str] = {}
    out = []
    for moment in moments:
        if not (type(moment) is float and moment.is_integer() and FIRST_SECOND <= moment < END_SECOND):
            out.append(iso(moment))
            continue
        day, second = divmod(int(moment), 86400)
        prefix = days.get(day)
        if prefix is None:
            prefix = days[day] = date.fromordinal(EPOCH_ORDINAL + day).isoformat() + "T"
        clock = clocks.get(second)
        if clock is None:
            clock = clocks[second] = f"{second // 3600:02d}:{second // 60 % 60:02d}:{second % 60:02d}Z"
        out.append(prefix + clock)
    return out


@dataclass
class BarSeries:
    """One symbol's bars, oldest first; a bar is visible from its close (start + the data's period)."""

    symbol: str
    bars: list[Bar]
    period: float
    starts: list[float] = field(init=False, repr=False)
    closes_at: list[float] = field(init=False, repr=False)
    _replies: list[dict[str, Any] | None] = field(init=False, repr=False)
    _columns: tuple[list[Any], ...] | None = field(init=False, repr=False)
    _times: list[str] | None = field(init=False, repr=False)
    _packed: dict[str, Any] | None = field(init=False, repr=False)
    _json_columns: dict[str, list[str]] | None = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.starts = [bar.start for bar in self.bars]
        self.closes_at = [bar.close_at for bar in self.bars]
        self._replies = [None] * len(self.bars)
        self._columns = None
        self._times = None
        self._packed = None
        self._json_columns = None

    def times(self) -> list[str]:
        """The bars' `t` texts (`iso` of each start), built once: shipped with the packed bars, so a run need not
        format 2,148 of them again (a sweep's every point ships the same range)."""
        if self._times is None:
            self._times = iso_many(self.starts)
        return self._times

    def packed(self) -> dict[str, Any]:
        """This series as `pack_bars` ships it into a run, built once per series (a sweep's points share it)."""
        if self._packed is None:
            self._packed = {"period": self.period, "t": self.starts, "ts": self.times(),
                            **{key: ",".join(map(str, map(operator.attrgetter(name), self.bars)))
                               for key, name in (("o", "open"), ("h", "high"), ("l", "low"), ("c", "close"),
                                                 ("v", "volume"))}}
        return self._packed

    def json_columns(self) -> dict[str, list[str]] | None:
        """Each bar's start (`s`) and reply texts (`t`, `o`, `h`, `l`, `c`, `v`) as JSON, one text per bar, built once:
        a sealed run's newly closed bars are sent as these joined (json.dumps of each column's values, without
        encoding them again at every step). None if a start is not finite (JSON has no text for it)."""
        if self._json_columns is None:
            if not all(math.isfinite(start) for start in self.starts):
                return None
            quoted = json.encoder.encode_basestring  # what json.dumps(text, ensure_ascii=False) gives
            packed = self.packed()  # each price's text, as the run was sent it (a Decimal's text has no comma)
            self._json_columns = {"s": [float.__repr__(start) for start in self.starts],
                                  "t": [quoted(text) for text in self.times()],
                                  **{key: list(map(quoted, packed[key].split(","))) for key in "ohlcv"}}
        return self._json_columns

    def columns(self, lo: int, hi: int) -> tuple[list[Any], ...]:
        """Bars lo..hi as columns (`get_bars(..., columns=True)`): their `t` texts, then open, high, low, close and
        volume as floats (each the float of the reply's own text), fresh lists a script may edit."""
        if self._columns is None:  # built once, on the first columnar read
            bars = self.bars
            self._columns = (self.times(), [float(bar.open) for bar in bars], [float(bar.high) for bar in bars],
                             [float(bar.low) for bar in bars], [float(bar.close) for bar in bars],
                             [float(bar.volume) for bar in bars])
        times, opens, highs, lows, closes, volumes = self._columns  # no generator: read at every step
        return times[lo:hi], opens[lo:hi], highs[lo:hi], lows[lo:hi], closes[lo:hi], volumes[lo:hi]

    def replies(self, lo: int, hi: int) -> list[dict[str, Any]]:
        """Bars lo..hi in Alpaca's JSON shape, each built once (a run reads the same bars many times)."""
        cache = self._replies
        window = cache[lo:hi]
        if None in window:  # built on first read; a read of bars read before is one slice
            for index in range(lo, hi):
                if cache[index] is None:
                    cache[index] = self.bars[index].as_alpaca()
            window = cache[lo:hi]
        return window  # type: ignore[return-value]

    def visible(self, now: float) -> int:
        """How many bars have closed by `now`."""
        return bisect.bisect_right(self.closes_at, now)

    def next_open(self, after: float) -> Bar | None:
        """The first bar that opens at or after `after`: where a market order signalled then fills."""
        index = bisect.bisect_left(self.starts, after)
        return self.bars[index] if index < len(self.bars) else None

    def last_close(self, now: float) -> Decimal | None:
        count = self.visible(now)
        return self.bars[count - 1].close if count else None


def pack_bars(series: dict[str, BarSeries]) -> dict[str, Any]:
    """Bars as columns, prices in their exact decimal text: one list or string per column, not a dict per bar
    (how a backtest ships its range into its sandboxed run once)."""
    return {symbol: s.packed() for symbol, s in series.items()}


def unpack_bars(packed: dict[str, Any]) -> dict[str, BarSeries]:
    out: dict[str, BarSeries] = {}
    for symbol, columns in packed.items():
        prices = [[Decimal(text) for text in str(columns[key]).split(",")] for key in ("o", "h", "l", "c", "v")]
        rows = list(zip([float(t) for t in columns["t"]], *prices, strict=True))
        out[symbol] = series = bars_from_rows(symbol, rows, float(columns["period"]))
        times = columns.get("ts")
        if isinstance(times, list) and len(times) == len(rows):  # the worker's `times()`: not formatted again
            series._times = [str(text) for text in times]
    return out


def _period(starts: list[float]) -> float:
    """The data's bar length: the most common gap between timestamps (weekends and holidays are rarer)."""
    gaps = Counter(round(b - a, 3) for a, b in itertools.pairwise(starts) if b > a)
    if not gaps:
        return 86400.0
    return float(max(gaps.items(), key=lambda item: (item[1], -item[0]))[0])


def _parse_moment(text: str, where: str) -> float:
    if not text.strip():
        raise DataError(f"{where}: the timestamp is empty")
    try:
        return _moment(text)
    except ValueError:
        raise DataError(f"{where}: {text.strip()!r} is not an ISO 8601 time or a unix timestamp") from None


def _moment(text: str) -> float:
    """A timestamp's epoch seconds: unix seconds or milliseconds, or ISO 8601 (UTC when it names no zone). Raises
    ValueError, also for an empty text."""
    value = text.strip()
    if value.replace(".", "", 1).isdigit():
        number = float(value)
        return number / 1000 if number > 1e11 else number  # milliseconds or seconds since the epoch
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


def _decimal(text: str, where: str) -> Decimal:
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise DataError(f"{where}: {text!r} is not a number") from None
    if not value.is_finite():
        raise DataError(f"{where}: {text!r} is not a finite number")
    return value


def bars_from_rows(symbol: str, rows: Iterable[tuple[float, Decimal, Decimal, Decimal, Decimal, Decimal]],
                   period: float | None = None) -> BarSeries:
    ordered = sorted(rows, key=operator.itemgetter(0))
    starts = [row[0] for row in ordered]
    length = period or _period(starts)
    bars = [_bar(t, t + length, o, h, lo, c, v) for t, o, h, lo, c, v in ordered]
    return BarSeries(symbol, bars, length)


def _bar(start: float, close_at: float, open_: Decimal, high: Decimal, low: Decimal, close: Decimal,
         volume: Decimal) -> Bar:
    """`Bar(...)` at a third of the cost (0.45 µs, not 1.6: a frozen dataclass's __init__ sets each field through
    object.__setattr__, and `update(**fields)` builds a dict of them first); a sandboxed run unpacks its whole range
    with it before its first step."""
    bar = object.__new__(Bar)
    fields = bar.__dict__
    fields["start"], fields["close_at"], fields["open"], fields["high"] = start, close_at, open_, high
    fields["low"], fields["close"], fields["volume"] = low, close, volume
    return bar


def load_csv(path: Path | str, *, symbol: str, text: str | None = None) -> BarSeries:
    """A user's CSV: a timestamp column (date/time/timestamp, or the unnamed first column a DataFrame
    index writes), then open/high/low/close and an optional volume; names are case-insensitive."""
    name = Path(path).name
    if text is None:
        try:
            text = Path(path).read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as error:
            raise DataError(f"{name}: cannot be read: {error}") from None
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header is None:
        raise DataError(f"{name}: the file is empty")
    columns = [column.strip().lower() for column in header]
    time_index = next((i for i, column in enumerate(columns) if column in TIME_COLUMNS), None)
    if time_index is None and columns and columns[0] == "":
        time_index = 0  # pandas' DataFrame.to_csv writes the index as an unnamed first column
    if time_index is None:
        raise DataError(f"{name}: no timestamp column: name one date, time or timestamp "
                        f"(or leave the first column unnamed), got {', '.join(header)}")
    missing = [column for column in PRICE_COLUMNS if column not in columns]
    if missing:
        raise DataError(f"{name}: missing column {', '.join(missing)}: the file needs open, high, low, close "
                        f"(any case) and optionally volume, got {', '.join(header)}")
    where = {column: columns.index(column) for column in (*PRICE_COLUMNS, "volume") if column in columns}
    rows = _rows_fast(reader, len(columns), time_index, where)
    if rows is None:  # a row the fast pass cannot take as it is: the checked pass names it (or skips it)
        reader = csv.reader(io.StringIO(text))
        next(reader)
        rows = _rows_checked(reader, name, header, time_index, where)
    if len(rows) < 2:
        raise DataError(f"{name}: needs at least two rows of bars, got {len(rows)}")
    return bars_from_rows(symbol, rows)


Row = tuple[float, Decimal, Decimal, Decimal, Decimal, Decimal]


def _rows_fast(reader: Iterable[list[str]], width: int, time_index: int, where: dict[str, int]) -> list[Row] | None:
    """The rows as `_rows_checked` reads them, at a third of its cost (no error text built per cell), or None at the
    first thing it would have to explain or skip: a short or blank row, a bad timestamp or number, a price that is
    not > 0, a timestamp twice. Then the caller reads the file again with `_rows_checked`."""
    opens, highs, lows, closes = (where[column] for column in PRICE_COLUMNS)
    volumes = where.get("volume")
    zero = Decimal(0)
    rows: list[Row] = []
    append = rows.append
    try:
        for row in reader:
            if len(row) < width:
                if any(cell.strip() for cell in row):
                    return None
                continue  # an empty line
            o, h, lo, c = Decimal(row[opens]), Decimal(row[highs]), Decimal(row[lows]), Decimal(row[closes])
            v = zero if volumes is None else Decimal(row[volumes])
            if not (o.is_finite() and h.is_finite() and lo.is_finite() and c.is_finite() and v.is_finite()
                    and o > 0 and h > 0 and lo > 0 and c > 0):
                return None
            append((_moment(row[time_index]), o, h, lo, c, v))
    except (ValueError, ArithmeticError):  # a timestamp's ValueError; Decimal's InvalidOperation
        return None
    if len({row[0] for row in rows}) != len(rows):
        return None
    return rows


def _rows_checked(reader: Iterable[list[str]], name: str, header: list[str], time_index: int,
                  where: dict[str, int]) -> list[Row]:
    """The rows, each checked: blank lines skipped, anything else that cannot be backtested on raised as a
    DataError naming the file, the line and the column."""
    rows: list[Row] = []
    seen: set[float] = set()
    for number, row in enumerate(reader, start=2):
        if not any(cell.strip() for cell in row):
            continue
        line = f"{name}: line {number}"
        if len(row) < len(header):
            raise DataError(f"{line}: {len(row)} columns, the header has {len(header)}")
        moment = _parse_moment(row[time_index], f"{line}, column {header[time_index] or 'index'}")
        if moment in seen:
            raise DataError(f"{line}: the timestamp {row[time_index]} appears twice")
        seen.add(moment)
        values = {column: _decimal(row[index], f"{line}, column {header[index]}") for column, index in where.items()}
        if min(values[column] for column in PRICE_COLUMNS) <= 0:
            raise DataError(f"{line}: prices must be > 0")
        rows.append((moment, values["open"], values["high"], values["low"], values["close"],
                     values.get("volume", Decimal(0))))
    return rows


# --- prediction markets: recorded books ------------------------------------------------------------


@dataclass(frozen=True)
class BookSnapshot:
    at: float
    bids: tuple[BookLevel, ...]  # best first
    asks: tuple[BookLevel, ...]

    @property
    def midpoint(self) -> Decimal | None:
        if not self.bids or not self.asks:
            return None
        return (self.bids[0].price + self.asks[0].price) / 2

    def order_book(self, token_id: str) -> OrderBook:
        return OrderBook(token_id, self.bids, self.asks, utc(self.at))

    def as_polymarket(self, token_id: str) -> dict[str, Any]:
        return {"asset_id": token_id, "timestamp": iso(self.at),
                "bids": [{"price": str(level.price), "size": str(level.size)} for level in self.bids],
                "asks": [{"price": str(level.price), "size": str(level.size)} for level in self.asks]}


class OutcomeBooks:
    """One outcome token's snapshots, oldest first; each built from the recording on first use."""

    def __init__(self, token_id: str, condition_id: str, outcome: str, times: list[float],
                 build: Callable[[int], BookSnapshot]) -> None:
        self.token_id, self.condition_id, self.outcome = token_id, condition_id, outcome
        self.times = times
        self._build = build
        self._built: dict[int, BookSnapshot] = {}

    def snapshot(self, index: int) -> BookSnapshot:
        found = self._built.get(index)
        if found is None:
            found = self._built[index] = self._build(index)
        return found

    def between(self, lo: int, hi: int) -> list[BookSnapshot]:
        return [self.snapshot(index) for index in range(lo, hi)]

    def as_of(self, now: float) -> BookSnapshot | None:
        index = bisect.bisect_right(self.times, now)
        return self.snapshot(index - 1) if index else None

    def after(self, moment: float) -> BookSnapshot | None:
        """The first snapshot strictly after `moment`: where an order signalled then fills."""
        index = bisect.bisect_right(self.times, moment)
        return self.snapshot(index) if index < len(self.times) else None


@dataclass
class PredictionMarket:
    condition_id: str
    question: str
    slug: str
    category: str
    fee_rate: Decimal
    outcomes: tuple[str, str]
    token_ids: tuple[str, str]
    opens_at: float
    resolves_at: float | None  # when the market settles, if the data saw it resolve
    winner: int | None  # index of the outcome that pays $1

    def as_polymarket(self, now: float) -> dict[str, Any]:
        resolved = self.resolves_at is not None and now >= self.resolves_at and self.winner is not None
        return {
            "condition_id": self.condition_id, "question": self.question, "market_slug": self.slug,
            "category": self.category, "active": not resolved, "closed": resolved,
            "tokens": [
                {"token_id": token, "outcome": outcome,
                 "winner": bool(resolved and index == self.winner)}
                for index, (token, outcome) in enumerate(zip(self.token_ids, self.outcomes, strict=True))
            ],
        }


@dataclass
class WalletTrades:
    """One wallet's trades in the range, oldest first, each as `get_trade_history` answers it."""

    wallet: str
    times: list[float]
    trades: list[dict[str, Any]]

    def as_of(self, now: float, limit: int) -> list[dict[str, Any]]:
        """The latest `limit` trades made at or before `now`, newest first: never one after it."""
        visible = bisect.bisect_right(self.times, now)
        return self.trades[max(0, visible - limit):visible][::-1]


@dataclass
class BookData:
    """Recorded prediction-market books: markets, each outcome's snapshots, and resolutions."""

    platform: str
    markets: dict[str, PredictionMarket]
    books: dict[str, OutcomeBooks]  # token id (Kalshi: ticker, its YES book) -> snapshots
    # Kalshi: each ticker's candle times and bars, for `get_candlesticks` (venue shape, as of a moment)
    candles: dict[str, tuple[list[float], list[dict[str, Any]]]] = field(default_factory=dict)
    # Polymarket: the followed wallets' trades (lower-case address ->), for `get_trade_history`
    wallets: dict[str, WalletTrades] = field(default_factory=dict)

    def market_of(self, token_id: str) -> PredictionMarket | None:
        books = self.books.get(token_id)
        return self.markets.get(books.condition_id) if books else None


def recorded_polymarket(kind: str = "books", markets: Iterable[str] | None = None) -> BookData:
    """The recorded Polymarket data the simulator ships (trading/simulator/data), as backtest data.

    `kind` "books" is the full books of 18 resolved 15-minute BTC markets; "quotes" the best bid and
    ask of 40 markets (depth laddered as the simulator does; resolved when the recording says so).
    """
    if kind not in ("books", "quotes"):
        raise DataError(f"recorded Polymarket data is 'books' or 'quotes', got {kind!r}")
    recording = _recording()
    wanted = set(markets) if markets is not None else None
    result_markets: dict[str, PredictionMarket] = {}
    result_books: dict[str, OutcomeBooks] = {}
    for market in recording.markets:
        if (kind == "books") != bool(market.books):
            continue
        if wanted is not None and market.condition_id not in wanted and market.slug not in wanted:
            continue
        resolves_at = market.last_ts if market.winner is not None else None
        result_markets[market.condition_id] = PredictionMarket(
            market.condition_id, market.question, market.slug, market.category, market.fee_rate,
            market.outcomes, market.token_ids, market.first_ts, resolves_at, market.winner)
        for outcome, token in enumerate(market.token_ids):
            if market.books:
                times, levels = market.books[outcome]
                build = _book_builder(times, levels)
            else:
                times = market.times
                build = _quote_builder(recording, token, times)
            result_books[token] = OutcomeBooks(token, market.condition_id, market.outcomes[outcome], list(times), build)
    if wanted is not None and not result_markets:
        raise DataError(f"no recorded Polymarket {kind} market matches {', '.join(sorted(wanted))}")
    return BookData("polymarket", result_markets, result_books)


def _book_builder(times: list[float], levels: list[tuple[str, str]]) -> Callable[[int], BookSnapshot]:
    from trading.simulator.recorded import _levels

    def build(index: int) -> BookSnapshot:
        bids, asks = levels[index]
        return BookSnapshot(times[index], _book_levels(_levels(bids)), _book_levels(_levels(asks)))

    return build


def _quote_builder(recording: Any, token: str, times: list[float]) -> Callable[[int], BookSnapshot]:
    """The simulator's own depth ladder around a recorded best bid and ask, pinned at that moment."""
    from trading.simulator.recorded import RecordedPolymarket

    def build(index: int) -> BookSnapshot:
        book = RecordedPolymarket.book(_frozen_at(recording, times[index]), token)
        assert book is not None
        return BookSnapshot(times[index], _book_levels(book.bids), _book_levels(book.asks))

    return build


def _book_levels(levels: Iterable[Any]) -> tuple[BookLevel, ...]:
    return tuple(BookLevel(level.price, level.size) for level in levels)


_recorded: Any = None


def _recording() -> Any:
    """The simulator's loaded recording (parsed once per process)."""
    global _recorded
    if _recorded is None:
        from trading.simulator.books import ReplayClock
        from trading.simulator.recorded import RecordedPolymarket

        _recorded = RecordedPolymarket(ReplayClock(speed=0))
    return _recorded


class _FrozenClock:
    """Pins the simulator's replay to one recorded moment, so its own book code builds that snapshot."""

    def __init__(self, moment: float) -> None:
        self.moment = moment

    def position(self, first: float, last: float, lead: float = 0.0) -> float:
        return self.moment


def _frozen_at(recording: Any, moment: float) -> Any:
    recording.clock = _FrozenClock(moment)
    return recording


def utc(moment: float) -> datetime:
    return datetime.fromtimestamp(moment, UTC)


def parse_time(value: Any, name: str) -> float | None:
    """A time argument from a script: unix seconds, or ISO 8601 (naive means UTC)."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise DataError(f"{name} must be a time, got {value!r}")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        return _parse_moment(value, name)
    raise DataError(f"{name} must be a unix timestamp or an ISO 8601 string, got {value!r}")


DAY = timedelta(days=1).total_seconds()
