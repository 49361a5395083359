"""The recorded Polymarket data shipped in data/: markets, their quotes and their books, and a bot's trades."""

from __future__ import annotations

import bisect
import csv
import gzip
import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

from trading.simulator.books import Book, Level, ReplayClock, ladder

DATA_DIR = Path(__file__).resolve().parent / "data"
ONE = Decimal(1)
TICK = Decimal("0.01")
QUOTES_LEAD = 2 * 86400  # start the quote replay two recorded days in: 2026-07-12 20:25 UTC
BOOKS_LEAD = 3600  # and the book replay one hour in
# Taker fee rates by category (docs.polymarket.com/trading/fees); crypto markets charge the most.
FEE_RATES = {"crypto": Decimal("0.07"), "sports": Decimal("0.03"), "politics": Decimal("0.04"),
             "finance": Decimal("0.04"), "macro": Decimal("0.05"), "culture": Decimal("0.05")}


def token_id_for(condition_id: str, outcome: str) -> str:
    """A stable uint256 token id (decimal string, like the CLOB's) for a recorded outcome."""
    digest = hashlib.sha256(f"{condition_id}:{outcome}".encode()).hexdigest()
    return str(int(digest, 16) % 10**76 + 10**76)


@dataclass
class RecordedMarket:
    condition_id: str
    gamma_id: str
    slug: str
    question: str
    category: str
    outcomes: tuple[str, str]
    token_ids: tuple[str, str]
    first_ts: float
    last_ts: float
    winner: int | None  # index of the winning outcome, if the recording saw it resolve
    times: list[float] = field(default_factory=list, repr=False)
    # quotes markets: (bid, ask) of the first outcome; books markets: raw levels per outcome
    quotes: list[tuple[Decimal, Decimal]] = field(default_factory=list, repr=False)
    books: dict[int, tuple[list[float], list[tuple[str, str]]]] = field(default_factory=dict, repr=False)
    # bot-trade markets: each outcome's traded prices (times, prices), oldest first
    traded: dict[int, tuple[list[float], list[Decimal]]] = field(default_factory=dict, repr=False)

    @property
    def fee_rate(self) -> Decimal:
        return FEE_RATES.get(self.category, Decimal("0.05"))


def _slug(question: str) -> str:
    return "-".join("".join(ch if ch.isalnum() else " " for ch in question.lower()).split())[:80]


def _epoch(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC).timestamp()


# The recorded files are read once a process: every simulator a test session starts replays the same rows.
@lru_cache(maxsize=8)
def _quote_rows(path: Path) -> tuple[tuple[str, float, Decimal, Decimal], ...]:
    """(slug, time, bid, ask) of every recorded quote."""
    with gzip.open(path, "rt", newline="") as handle:
        reader = csv.reader(handle)
        next(reader)
        return tuple((slug, _epoch(ts), Decimal(bid), Decimal(ask)) for ts, slug, bid, ask in reader)


@dataclass(frozen=True)
class RecordedTrade:
    """One fill of the recorded bot (data/polymarket_bot_trades.csv): a closed trade is a buy and a sell."""

    at: float
    market: RecordedMarket
    outcome: int
    side: str  # BUY | SELL
    price: Decimal
    size: Decimal
    transaction_hash: str


def _iso_epoch(text: str) -> float:
    parsed = datetime.fromisoformat(text)
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


@lru_cache(maxsize=8)
def _book_rows(path: Path) -> tuple[tuple[str, float, str, str, str], ...]:
    """(market id, time, side, bids, asks) of every recorded book."""
    with gzip.open(path, "rt", newline="") as handle:
        reader = csv.reader(handle)
        next(reader)
        return tuple((market_id, int(ts_ms) / 1000, side, bids, asks) for market_id, ts_ms, side, bids, asks in reader)


def _parse_levels(raw: str) -> tuple[Level, ...]:
    levels = []
    for pair in raw.split():
        price, size = pair.split(":")
        levels.append(Level(Decimal(price), Decimal(size)))
    return tuple(levels)


@lru_cache(maxsize=4096)
def _levels(raw: str) -> tuple[Level, ...]:
    return _parse_levels(raw)


class RecordedPolymarket:
    """Replays the recorded quotes (40 markets) and full books (18 BTC up/down markets)."""

    def __init__(self, clock: ReplayClock, data_dir: Path = DATA_DIR):
        self.clock = clock
        self.markets: list[RecordedMarket] = []
        self._load_quote_markets(data_dir)
        self._load_book_markets(data_dir)
        # The bot's markets are found by id (Gamma, condition, token) but not listed: no book of theirs is replayed.
        self.bot_markets: list[RecordedMarket] = []
        self.bot_trades: list[RecordedTrade] = []  # newest first, as the Data API pages them
        self._load_bot_trades(data_dir)
        known = [*self.markets, *self.bot_markets]
        self.by_condition = {m.condition_id: m for m in known}
        self.by_slug = {m.slug: m for m in known}
        self.by_gamma_id = {m.gamma_id: m for m in known}
        self.by_token: dict[str, tuple[RecordedMarket, int]] = {
            token: (m, index) for m in known for index, token in enumerate(m.token_ids)
        }
        quote_markets = [m for m in self.markets if m.quotes]
        book_markets = [m for m in self.markets if m.books]
        self.quote_span = (min(m.first_ts for m in quote_markets), max(m.last_ts for m in quote_markets))
        self.book_span = (min(m.first_ts for m in book_markets), max(m.last_ts for m in book_markets))

    def _load_quote_markets(self, data_dir: Path) -> None:
        by_slug: dict[str, RecordedMarket] = {}
        with open(data_dir / "polymarket_quote_markets.csv", newline="") as handle:
            for index, row in enumerate(csv.DictReader(handle)):
                condition_id = "0x" + hashlib.sha256(row["slug"].encode()).hexdigest()
                winner = None
                if row["label_source"] == "api" and row["y"] in ("0", "1"):
                    winner = 0 if row["y"] == "1" else 1
                by_slug[row["slug"]] = RecordedMarket(
                    condition_id=condition_id,
                    gamma_id=str(700000 + index),
                    slug=row["slug"],
                    question=row["question"],
                    category=row["category"],
                    outcomes=("Yes", "No"),
                    token_ids=(token_id_for(condition_id, "Yes"), token_id_for(condition_id, "No")),
                    first_ts=_epoch(row["first_ts"]),
                    last_ts=_epoch(row["last_ts"]),
                    winner=winner,
                )
        for slug, at, bid, ask in _quote_rows(data_dir / "polymarket_quotes.csv.gz"):
            market = by_slug[slug]
            market.times.append(at)
            market.quotes.append((bid, ask))
        self.markets.extend(m for m in by_slug.values() if m.quotes)

    def _load_book_markets(self, data_dir: Path) -> None:
        by_id: dict[str, RecordedMarket] = {}
        with open(data_dir / "polymarket_book_markets.csv", newline="") as handle:
            for index, row in enumerate(csv.DictReader(handle)):
                condition_id = row["market_id"]
                winner = 0 if float(row["payout_up"]) > 0 else 1
                by_id[condition_id] = RecordedMarket(
                    condition_id=condition_id,
                    gamma_id=str(800000 + index),
                    slug=row["slug"],
                    question=row["question"],
                    category="crypto",
                    outcomes=("Up", "Down"),
                    token_ids=(token_id_for(condition_id, "Up"), token_id_for(condition_id, "Down")),
                    first_ts=int(row["start_ts"]) / 1000,
                    last_ts=int(row["end_ts"]) / 1000,
                    winner=winner,
                )
        for market_id, at, side, bids, asks in _book_rows(data_dir / "polymarket_books.csv.gz"):
            market = by_id[market_id]
            times, levels = market.books.setdefault(0 if side == "UP" else 1, ([], []))
            times.append(at)
            levels.append((bids, asks))
        for market in by_id.values():
            market.first_ts = min(market.books[0][0][0], market.books[1][0][0])
            market.last_ts = max(market.books[0][0][-1], market.books[1][0][-1])
        self.markets.extend(m for m in by_id.values() if m.books)

    def _load_bot_trades(self, data_dir: Path) -> None:
        """The bot's 308 closed trades, each a buy at its entry and a sell at its exit, at their recorded times."""
        by_id: dict[str, RecordedMarket] = {}
        fills: list[tuple[float, RecordedMarket, int, str, Decimal, Decimal, str]] = []
        with open(data_dir / "polymarket_bot_trades.csv", newline="") as handle:
            for row in csv.DictReader(handle):
                market = by_id.get(row["market_id"])
                if market is None:
                    condition_id = "0x" + hashlib.sha256(f"gamma:{row['market_id']}".encode()).hexdigest()
                    market = by_id[row["market_id"]] = RecordedMarket(
                        condition_id=condition_id, gamma_id=row["market_id"],
                        slug=f"{_slug(row['question'])}-{row['market_id']}", question=row["question"], category="",
                        outcomes=("Yes", "No"),
                        token_ids=(token_id_for(condition_id, "Yes"), token_id_for(condition_id, "No")),
                        first_ts=_iso_epoch(row["entry_time"]), last_ts=_iso_epoch(row["exit_time"]), winner=None)
                outcome = 0 if row["outcome_label"] == "Yes" else 1
                shares = Decimal(row["shares"])
                for side, moment, price in (("BUY", row["entry_time"], row["entry_price"]),
                                            ("SELL", row["exit_time"], row["exit_price"])):
                    tx = "0x" + hashlib.sha256(f"bot:{row['trade_id']}:{side}".encode()).hexdigest()
                    fills.append((_iso_epoch(moment), market, outcome, side, Decimal(price), shares, tx))
        fills.sort(key=lambda fill: (fill[0], fill[6]))
        recording_end = fills[-1][0]
        for at, market, outcome, side, price, shares, tx in fills:
            market.first_ts, market.last_ts = min(market.first_ts, at), recording_end
            times, prices = market.traded.setdefault(outcome, ([], []))
            times.append(at)
            prices.append(price)
            self.bot_trades.append(RecordedTrade(at, market, outcome, side, price, shares, tx))
        self.bot_trades.reverse()
        self.bot_markets = list(by_id.values())

    def bot_history(self, market: RecordedMarket, outcome: int, start: float, end: float,
                    step: float) -> list[tuple[float, Decimal]]:
        """A bot market's prices: each of its trades at its own time, and every `step` seconds the outcome's last
        traded price (the other outcome's mirrored), from the market's first trade to the recording's last."""
        traded = market.traded.get(outcome)
        other = market.traded.get(1 - outcome)
        moments: list[tuple[float, Decimal]] = []
        if traded:
            moments += zip(traded[0], traded[1], strict=True)
        if other:
            moments += [(t, ONE - p) for t, p in zip(other[0], other[1], strict=True)]
        moments.sort(key=lambda item: item[0])
        times = [t for t, _ in moments]
        points = [(t, p) for t, p in moments if start <= t <= end]
        moment = max(start, market.first_ts) // step * step
        while moment <= min(end, market.last_ts):
            index = bisect.bisect_right(times, moment)
            if index and moment >= start:
                points.append((moment, moments[index - 1][1]))
            moment += step
        return sorted(points, key=lambda point: point[0])

    def replay_time(self, market: RecordedMarket) -> float:
        if market.quotes:
            return self.clock.position(*self.quote_span, lead=QUOTES_LEAD)
        return self.clock.position(*self.book_span, lead=BOOKS_LEAD)

    def book(self, token_id: str) -> Book | None:
        found = self.by_token.get(token_id)
        if found is None:
            return None
        market, outcome = found
        if not market.quotes and not market.books:
            return None  # a bot-trade market: its prices are history, not a book replayed now
        moment = self.replay_time(market)
        if market.books:
            times, levels = market.books[outcome]
            index = max(0, bisect.bisect_right(times, moment) - 1)
            bids, asks = levels[index]
            return Book(_levels(bids), _levels(asks))
        index = max(0, bisect.bisect_right(market.times, moment) - 1)
        bid, ask = market.quotes[index]
        if outcome == 1:  # the NO book mirrors the YES book
            bid, ask = ONE - ask, ONE - bid
        seed = f"{token_id}:{index}"
        return Book(
            ladder(bid, TICK, 5, seed + ":bids", up=False, floor=TICK, cap=ONE - TICK),
            ladder(ask, TICK, 5, seed + ":asks", up=True, floor=TICK, cap=ONE - TICK),
        )

    def history(self, token_id: str, start: float, end: float, now: float,
                step: float = 600) -> list[tuple[float, Decimal]]:
        """Midpoints between two wall-clock moments; recorded time is mapped onto wall time. A bot-trade
        market's are its traded prices every `step` seconds, at their own (past) times."""
        found = self.by_token.get(token_id)
        if found is None:
            return []
        market, outcome = found
        if market.traded:
            return self.bot_history(market, outcome, start, min(end, now), step)
        scale = self.clock.history_scale()
        replay_now = self.replay_time(market)
        # A wall moment w shows the recording at replay_now - (now - w) * scale.
        recorded_start = replay_now - (now - start) * scale
        recorded_end = replay_now - (now - end) * scale
        points: list[tuple[float, Decimal]] = []
        if market.books:
            times, levels = market.books[outcome]
            lo, hi = bisect.bisect_left(times, recorded_start), bisect.bisect_right(times, recorded_end)
            for i in range(lo, hi):
                bids, asks = _levels(levels[i][0]), _levels(levels[i][1])
                if bids and asks:
                    points.append((times[i], (bids[0].price + asks[0].price) / 2))
        else:
            lo, hi = bisect.bisect_left(market.times, recorded_start), bisect.bisect_right(market.times, recorded_end)
            for i in range(lo, hi):
                bid, ask = market.quotes[i]
                mid = (bid + ask) / 2
                points.append((market.times[i], ONE - mid if outcome == 1 else mid))
        return [(now - (replay_now - t) / scale, price) for t, price in points]
