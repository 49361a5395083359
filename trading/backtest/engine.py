"""The backtest engine: steps a strategy through history, answers its reads as of `ctx.now`, fills
its orders, keeps the books and the equity curve. Out of the script's reach: it runs in the worker.

How a run goes (docs/backtest.md):
- `ctx.now` steps through the data's own timestamps: each step is the first bar close (or book
  snapshot) at or after the previous step plus the polling interval;
- at each step, first the orders signalled at earlier steps fill (bars: at the open of the first
  bar that opens at or after the signal; prediction markets: against the first book snapshot after
  it, walking its levels with the venue's fee, `trading.paper`), resolved markets settle at $1 or $0
  a contract, positions are marked, and the equity point is recorded; then the strategy runs one
  cycle and its orders are sized (`trading.capital.entry_size`), checked (`trading.risk`) and left
  waiting for their fill, reserving their worst cost against every limit like a working order;
- every read answers from what had happened by `ctx.now`: a bar is visible once closed, nothing
  after `now` is returned whatever the arguments.

The strategy is reached only through a `StepRunner` (in-process for tests, the sandbox for real
runs): it gets a frame (now, positions, capital, state) and makes venue calls that come back to
`BacktestEngine.call`.
"""

from __future__ import annotations

import bisect
import functools
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_DOWN, Decimal
from typing import Any, Protocol

from trading.backtest.data import BarSeries, BookData, BookSnapshot, DataError, iso, parse_time, utc
from trading.capital import (
    QUANTITY_STEP,
    CapitalPlan,
    Exposures,
    Key,
    Lot,
    affordable_quantity,
    cents,
    lot_sell,
    money,
)
from trading.desk_core import entry_decide, entry_side_refusal
from trading.fees import TradeSide, trade_fee
from trading.paper import outcome_book, paper_fill
from trading.risk import Authority, Refusal, exit_refusal
from trading.venues.domain import MAX_WALLET_TRADES
from trading.venues.platforms import traits

ZERO = Decimal(0)
ONE = Decimal(1)
MAX_BARS_REPLY = 1000  # Alpaca's own page size; a call without `start` gets the latest this many
PRICE_PLACES = Decimal("1e-8")  # trade prices: averages of fills can run long
MICRO_PRICE = Decimal("1e-6")  # the average entry price `ctx.positions` shows
MAX_LOGS = 2000  # log lines kept for the result (the first ones: a failing strategy fails early)
CAPITAL_KEYS = ("total", "deployed", "available", "pnl_today")  # `ctx.capital`'s fields, in `_capital`'s order
ORDER_METHODS = frozenset({"create_order", "cancel_order"})  # the calls `call` answers on the desk, not as reads

OnCall = Callable[[str, str, dict[str, Any]], Any]


class BacktestCallError(Exception):
    """A script's call the engine refuses; the message is shown to the script."""


class BacktestCancelled(Exception):
    """The run was cancelled between two steps."""


@dataclass(frozen=True)
class StepOutcome:
    """What one cycle of the strategy returned (validated by whoever ran it)."""

    status: str  # succeeded | failed | timed_out
    entries: list[dict[str, Any]]
    exits: list[dict[str, Any]]
    state: dict[str, Any]
    error: str | None = None
    traceback: str | None = None
    logs: list[tuple[str, str]] = field(default_factory=list)
    # Orders the runner answered itself from the desk it was handed (`desk_json`), with the replies it gave: the
    # caller places them on its own desk and compares.
    orders: list[list[Any]] = field(default_factory=list)

    @classmethod
    def of_run(cls, status: str, entries: list[dict[str, Any]], exits: list[dict[str, Any]], state: dict[str, Any],
               error: str | None, traceback: str | None, logs: list[tuple[str, str]]) -> StepOutcome:
        """`StepOutcome(...)` with no orders, at half the cost (a run makes one a step): a frozen dataclass's
        __init__ sets each field through object.__setattr__."""
        outcome = object.__new__(cls)
        fields = outcome.__dict__
        fields["status"], fields["entries"], fields["exits"], fields["state"] = status, entries, exits, state
        fields["error"], fields["traceback"], fields["logs"], fields["orders"] = error, traceback, logs, []
        return outcome


class StepRunner(Protocol):
    """Runs one cycle of the strategy for a frame; its venue calls go to `on_call`."""

    def step(self, frame: dict[str, Any], on_call: OnCall) -> StepOutcome: ...


@dataclass(frozen=True)
class BacktestSpec:
    platform: str
    plan: CapitalPlan
    polling_interval: int
    start: datetime | None = None
    end: datetime | None = None
    commission: Decimal | None = None  # relative fee per side (CSV data); None: the venue's own fees
    strategy_id: str = "backtest"
    params: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)  # the (cash-adjusted) config `plan` was read from

    def as_json(self) -> dict[str, Any]:
        """What a sandboxed run needs to build this very engine (`from_json`)."""
        return {"platform": self.platform, "config": self.config, "polling_interval": self.polling_interval,
                "start": self.start.isoformat() if self.start else None,
                "end": self.end.isoformat() if self.end else None,
                "commission": None if self.commission is None else str(self.commission),
                "strategy_id": self.strategy_id, "params": self.params}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BacktestSpec:
        platform, config = str(data["platform"]), dict(data["config"])
        return cls(platform, CapitalPlan.from_config(config, platform), int(data["polling_interval"]),
                   start=datetime.fromisoformat(data["start"]) if data.get("start") else None,
                   end=datetime.fromisoformat(data["end"]) if data.get("end") else None,
                   commission=Decimal(data["commission"]) if data.get("commission") is not None else None,
                   strategy_id=str(data["strategy_id"]), params=dict(data.get("params") or {}), config=config)


@dataclass
class SimPosition:
    position_id: str
    market_id: str
    market_name: str
    side: str
    opened_at: float
    lot: Lot = field(default_factory=Lot)
    entry_fees: Decimal = ZERO  # entry fees still in the cost basis
    entry_value: Decimal = ZERO  # quantity × entry price still held (no fees): for the average entry price
    mark: Decimal | None = None

    @property
    def entry_price(self) -> Decimal:
        return self.entry_value / self.lot.quantity if self.lot.quantity else ZERO

    def value(self) -> Decimal:
        return self.lot.quantity * (self.mark if self.mark is not None else self.entry_price)


@dataclass
class WorkingOrder:
    order_id: str
    intent: str  # entry | exit
    market_id: str
    side: str
    market_name: str
    signal_time: float
    reserved_usd: Decimal  # entries: the worst cost held against the limits until the fill
    quantity: Decimal  # exits (and prediction-market entries): what to trade
    limit_price: Decimal | None
    position_id: str | None = None


@dataclass
class BacktestResult:
    status: str
    error: str | None
    steps: int
    trades: list[dict[str, Any]]
    equity: list[tuple[float, Decimal]]
    open_positions: list[dict[str, Any]]
    actions: list[dict[str, Any]]
    logs: list[dict[str, Any]]
    signals: list[dict[str, Any]]  # per step that signalled: time, entries, exits (for the look-ahead check)
    fees_usd: Decimal
    final_state: dict[str, Any]
    exposure_steps: int  # steps at which a position was open
    first_price: Decimal | None  # the primary series' close at the first and last step (buy and hold)
    last_price: Decimal | None
    duration_s: float = 0.0

    def digest(self) -> str:
        """One hash of what the figures come from: trades, the equity curve, open positions, fees, steps."""
        shaped = {"trades": self.trades, "equity": [[t, str(v)] for t, v in self.equity],
                  "open": self.open_positions, "fees": str(self.fees_usd), "steps": self.steps}
        return hashlib.sha256(json.dumps(shaped, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def step_times(events: list[float], interval: float, start: float | None, end: float | None) -> list[float]:
    """The moments `ctx.now` takes: each the first event at or after the previous one plus `interval`."""
    steps: list[float] = []
    due = float("-inf")
    for moment in events:
        if (start is not None and moment < start) or (end is not None and moment > end):
            continue
        if moment >= due:
            steps.append(moment)
            due = moment + interval
    return steps


class BacktestEngine:
    """One backtest run over bar series (Alpaca or a CSV) or recorded prediction-market books."""

    def __init__(self, spec: BacktestSpec, *, bars: dict[str, BarSeries] | None = None,
                 books: BookData | None = None, cutoff: float | None = None) -> None:
        if (bars is None) == (books is None):
            raise DataError("a backtest runs on bars or on books, exactly one of them")
        self.spec = spec
        self.plan = spec.plan
        self.venue = spec.platform
        self.traits = traits(self.venue)
        self.bars = bars or {}
        self._primary_series = next(iter(self.bars.values()), None)  # asked three times a step
        self.books = books
        self.cutoff = cutoff  # the look-ahead check's cut: nothing after it exists
        self.step = QUANTITY_STEP[self.venue]
        self.cash = self.plan.total_capital
        self.realized = ZERO
        self.fees = ZERO
        self.positions: dict[str, SimPosition] = {}
        self.working: list[WorkingOrder] = []
        self.trades: list[dict[str, Any]] = []
        self.actions: list[dict[str, Any]] = []
        self.logs: list[dict[str, Any]] = []
        self.signals: list[dict[str, Any]] = []
        self.equity: list[tuple[float, Decimal]] = []
        self.spent: dict[str, Decimal] = {}  # UTC day -> entry fills' cost
        self.realized_by_day: dict[str, Decimal] = {}
        self.paused_reason = ""
        self.now = 0.0
        self._ids = 0
        self.settled: set[str] = set()
        self.exposure_steps = 0
        self.calls = 0
        self._streamed: dict[str, int] = {}
        self._capital_shown: tuple[tuple[Decimal, ...], dict[str, str]] = ((), {})  # the last frame's, as text

    # -- the timeline --

    def events(self) -> list[float]:
        moments: set[float] = set()
        if self.books is not None:
            for books in self.books.books.values():
                moments.update(books.times)
            for followed in self.books.wallets.values():  # a copy trader sees a trade when it is made
                moments.update(followed.times)
        for series in self.bars.values():
            moments.update(series.closes_at)
        ordered = sorted(moments)
        if self.cutoff is not None:
            ordered = [moment for moment in ordered if moment <= self.cutoff]
        return ordered

    def steps(self) -> list[float]:
        start = self.spec.start.timestamp() if self.spec.start else None
        end = self.spec.end.timestamp() if self.spec.end else None
        return step_times(self.events(), float(self.spec.polling_interval), start, end)

    def _primary(self) -> BarSeries | None:
        return self._primary_series

    def run(self, runner: StepRunner, *, state: dict[str, Any] | None = None,
            progress: Callable[[int, int], None] | None = None,
            cancelled: Callable[[], bool] | None = None) -> BacktestResult:
        started = time.monotonic()
        steps = self.steps()
        if not steps:
            raise DataError("the data has no bar closes or book snapshots in the backtest's range")
        status, error = "succeeded", None
        state = dict(state or {})
        first_price = last_price = None
        done = 0
        # A runner that keeps the bars closed so far answers bar reads itself (one exchange per step).
        streams = bool(getattr(runner, "streams_bars", False)) and self.books is None and self.traits.bars
        # A runner that builds the frame itself only when it needs one (the replay: its sealed steps) gets the
        # state alone; `frame()` gives the rest as of this step.
        state_only = bool(getattr(runner, "frames_on_demand", False))
        for index, now in enumerate(steps):
            if cancelled is not None and cancelled():
                raise BacktestCancelled(f"cancelled at step {index} of {len(steps)}")
            self._advance(now)
            primary = self._primary()
            if primary is not None:
                price = primary.last_close(now)
                first_price = first_price if first_price is not None else price
                last_price = price if price is not None else last_price
            frame = {"state": state} if state_only else self._frame(now, state)
            if streams:
                frame["bars"] = self.closed_bars(now)
            outcome = runner.step(frame, self.call)
            for level, message in outcome.logs:
                if len(self.logs) < MAX_LOGS:
                    self.logs.append({"time": iso(now), "level": level, "message": message})
            if outcome.entries or outcome.exits:
                self.signals.append({"time": now, "entries": outcome.entries, "exits": outcome.exits})
            done = index + 1
            if outcome.status != "succeeded":
                status = "failed"
                error = f"the strategy failed at {iso(now)} (step {index + 1} of {len(steps)}): {outcome.error}"
                if outcome.traceback:
                    error = f"{error}\n{outcome.traceback}"
                break
            state = outcome.state
            if progress is not None:
                progress(done, len(steps))
        if status == "succeeded":
            # Orders signalled at the last step fill if the data goes on; then the final mark.
            end = self.events()[-1]
            if self.spec.end is not None:
                end = min(end, self.spec.end.timestamp())
            if end > self.now:
                self._advance(end)
        for order in self.working:
            self._action("order_cancelled", f"order {order.order_id} never filled: the data ended", order.signal_time)
        self.working = []
        return BacktestResult(
            status=status, error=error, steps=done, trades=self.trades, equity=self.equity,
            open_positions=[self._position_json(p) for p in self.positions.values()],
            actions=self.actions, logs=self.logs, signals=self.signals, fees_usd=self.fees,
            final_state=state, exposure_steps=self.exposure_steps, first_price=first_price, last_price=last_price,
            duration_s=time.monotonic() - started)

    def _advance(self, now: float) -> None:
        """Fill what is due, settle what resolved, mark, and record equity at `now`."""
        held = bool(self.positions)  # exposure: a position held at any moment since the last step
        self._fill_due(now)
        self._settle(now)
        self.now = now
        self._mark(now)
        if held or self.positions:
            self.exposure_steps += 1
        equity = self._equity()
        # Bars label their close with their own timestamp (as the data and backtesting.py do).
        primary = self._primary()
        label = now - primary.period if primary is not None else now
        if self.equity and self.equity[-1][0] == label:
            self.equity[-1] = (label, equity)
        else:
            self.equity.append((label, equity))
        self._check_daily_loss(now)

    # -- what the script sees --

    def frame(self, state: dict[str, Any]) -> dict[str, Any]:
        """What the script sees at the current step (`ctx`'s data), for a runner with `frames_on_demand`."""
        return self._frame(self.now, state)

    def _frame(self, now: float, state: dict[str, Any]) -> dict[str, Any]:
        return {
            "strategy_id": self.spec.strategy_id, "platform": self.venue, "mode": "backtest", "dry_run": False,
            "now": utc(now).isoformat(), "params": self.spec.params, "state": state,
            "capital": dict(self.capital_texts()),
            "positions": [self._position_json(p) for p in self.positions.values()],
        }

    def capital_texts(self) -> dict[str, str]:
        """`ctx.capital` as the frame carries it (cents, as text); the same dict while it does not change: do not
        edit it."""
        values = self._capital()
        shown_values, shown = self._capital_shown
        if values != shown_values:  # unchanged from step to step while nothing is held or waiting
            # A held position's mark moves today's P&L alone: only a figure that changed is formatted again (an
            # equal Decimal of the same sign has the same text in cents).
            texts = {key: shown[key] if shown_values and value == old and value.is_signed() == old.is_signed()
                     else str(cents(value)) for key, value, old in zip(CAPITAL_KEYS, values, shown_values or values,
                                                                       strict=True)}
            self._capital_shown = (values, texts)
            return texts
        return shown

    def desk_json(self) -> dict[str, Any]:
        """All `order` and `cancel` read of the desk, as it stands now (nothing after `now` is in it): a sealed
        re-run answers its own orders from it (`at_desk`), the worker placing them after it on this desk."""
        return {
            "now": self.now, "ids": self._ids, "realized": str(self.realized), "paused": self.paused_reason,
            "spent_today": str(self.spent.get(_day(self.now), ZERO)),
            "positions": [[p.position_id, p.market_id, p.market_name, p.side, p.opened_at, str(p.lot.quantity),
                           str(p.lot.cost_usd), str(p.entry_fees), str(p.entry_value),
                           None if p.mark is None else str(p.mark)] for p in self.positions.values()],
            "working": [[o.order_id, o.intent, o.market_id, o.side, o.market_name, o.signal_time,
                         str(o.reserved_usd), str(o.quantity), None if o.limit_price is None else str(o.limit_price),
                         o.position_id] for o in self.working],
        }

    @classmethod
    def at_desk(cls, spec: BacktestSpec, bars: dict[str, BarSeries] | None, desk: dict[str, Any], *,
                books: BookData | None = None, cutoff: float | None = None) -> BacktestEngine:
        """An engine whose desk is `desk_json()`'s: it answers `call`'s orders (and, on `books` cut at `cutoff`,
        its reads) as that engine would at that moment."""
        engine = cls(spec, bars=bars, cutoff=cutoff) if books is None else cls(spec, books=books, cutoff=cutoff)
        engine.now, engine._ids = float(desk["now"]), int(desk["ids"])
        engine.realized, engine.paused_reason = Decimal(desk["realized"]), str(desk["paused"])
        engine.spent[_day(engine.now)] = Decimal(desk["spent_today"])
        for position_id, market_id, name, side, opened_at, quantity, cost, fees, value, mark in desk["positions"]:
            engine.positions[position_id] = SimPosition(
                position_id, market_id, name, side, float(opened_at), Lot(Decimal(quantity), Decimal(cost)),
                Decimal(fees), Decimal(value), None if mark is None else Decimal(mark))
        engine.working = [
            WorkingOrder(order_id, intent, market_id, side, name, float(at), Decimal(reserved), Decimal(quantity),
                         None if limit is None else Decimal(limit), position_id)
            for order_id, intent, market_id, side, name, at, reserved, quantity, limit, position_id in desk["working"]]
        return engine

    def closed_bars(self, now: float) -> dict[str, Any]:
        """The bars that closed since the last step, per symbol: never one closing after `now`. `json`: the same
        bars' columns as JSON texts, one per bar (`BarSeries.json_columns`), or None."""
        fresh: dict[str, Any] = {}
        for symbol, series in self.bars.items():
            sent = self._streamed.get(symbol, 0)
            visible = series.visible(now)
            if visible > sent:
                texts = series.json_columns()
                fresh[symbol] = {"period": series.period, "bars": series.replies(sent, visible),
                                 "starts": series.starts[sent:visible],
                                 "json": None if texts is None else {key: column[sent:visible]
                                                                     for key, column in texts.items()}}
                self._streamed[symbol] = visible
        return fresh

    def _position_json(self, position: SimPosition) -> dict[str, Any]:
        size, quantity, entry_price, mark, unrealized = self.position_figures(position)
        return {
            "position_id": position.position_id, "platform": self.venue, "market_id": position.market_id,
            "market_name": position.market_name, "side": position.side, "size": str(size),
            "quantity": str(quantity), "entry_price": str(entry_price),
            "current_price": None if mark is None else str(mark), "unrealized_pnl": str(unrealized),
            "opened_at": utc(position.opened_at).isoformat(),
        }

    @staticmethod
    def position_figures(position: SimPosition) -> tuple[Decimal, Decimal, Decimal, Decimal | None, Decimal]:
        """A position's size, quantity, entry price, mark and unrealized P&L as `ctx.positions` shows them."""
        mark = position.mark
        unrealized = position.lot.quantity * mark - position.lot.cost_usd if mark is not None else ZERO
        return (cents(position.lot.cost_usd), position.lot.quantity, position.entry_price.quantize(MICRO_PRICE), mark,
                money(unrealized))

    # An empty book's sums are ZERO itself, as `sum` of nothing starting at ZERO gives: no generator for them. The
    # sums asked at every step while a position is held are loops: the same additions in the same order as `sum`'s,
    # without a generator's cost (one or two positions, several sums a step).

    def _reserved(self) -> Decimal:
        if not self.working:
            return ZERO
        return sum((o.reserved_usd for o in self.working if o.intent == "entry"), ZERO)

    def _exposures(self) -> Exposures:
        """The book as the limits see it, the shape the paper and live desks read from the ledger."""
        positions: dict[Key, Decimal] = {}
        reserved: dict[Key, Decimal] = {}
        for position in self.positions.values():
            key = (self.venue, position.market_id, position.side)
            positions[key] = positions.get(key, ZERO) + position.lot.cost_usd
        for order in self.working:
            if order.intent == "entry":
                key = (self.venue, order.market_id, order.side)
                reserved[key] = reserved.get(key, ZERO) + order.reserved_usd
        return Exposures(total_capital=self.plan.total_capital, realized_usd=self.realized, positions=positions,
                         reserved=reserved, filled_today_usd=self.spent.get(_day(self.now), ZERO),
                         unrealized_usd=self._unrealized())

    def _capital(self) -> tuple[Decimal, Decimal, Decimal, Decimal]:
        """Total, deployed, available and today's P&L (`CAPITAL_KEYS`)."""
        total = self.plan.total_capital + self.realized
        deployed = ZERO
        for position in self.positions.values():
            deployed += position.lot.cost_usd
        return total, deployed, total - deployed - self._reserved(), self._pnl_today(self.now)

    def _unrealized(self) -> Decimal:
        unrealized = ZERO
        for position in self.positions.values():
            if position.mark is not None:
                unrealized += position.lot.quantity * position.mark - position.lot.cost_usd
        return unrealized

    def _equity(self) -> Decimal:
        held = ZERO
        for position in self.positions.values():
            held += position.value()
        return self.cash + held

    def _pnl_today(self, now: float) -> Decimal:
        return self.realized_by_day.get(_day(now), ZERO) + self._unrealized()

    def _check_daily_loss(self, now: float) -> None:
        if self.paused_reason:
            return
        loss = self._pnl_today(now)
        if loss <= -self.plan.max_daily_loss:
            self.paused_reason = (f"today's P&L ${cents(loss)} reached capital.max_daily_loss "
                                  f"${self.plan.max_daily_loss}")
            self._action("strategy_paused", f"strategy paused: {self.paused_reason}; no new entries", now)

    # -- reads, as of now --

    def call(self, venue: str, method: str, kwargs: dict[str, Any]) -> Any:
        """A script's venue call: a read answered as of `ctx.now`, or an order."""
        self.calls += 1
        if venue != self.venue:
            raise BacktestCallError(f"ctx.{venue} is not available: this strategy trades on {self.venue}")
        if method == "create_order":
            return self.order(kwargs)
        if method == "cancel_order":
            return self.cancel(str(kwargs.get("order_id") or ""))
        try:
            if self.books is not None and self.traits.outcomes_share_a_ticker:
                return self._kalshi_read(method, kwargs)
            if self.books is not None:
                return self._book_read(method, kwargs)
            return self._bar_read(method, kwargs)
        except DataError as error:
            raise BacktestCallError(str(error)) from None
        except KeyError as missing:
            raise BacktestCallError(f"{venue}.{method} needs the argument {missing.args[0]}") from None

    def _series(self, symbol: Any) -> BarSeries:
        series = self.bars.get(str(symbol))
        if series is None:
            raise BacktestCallError(f"no backtest data for symbol {symbol!r}; the data has {', '.join(self.bars)}")
        return series

    def _bar_read(self, method: str, kw: dict[str, Any]) -> Any:
        now = self.now
        if method == "get_candlesticks":  # Kalshi on bars: the same answer, its own names
            bars = self._bar_read("get_bars", {"symbol": kw["ticker"], "start": kw.get("start_ts"),
                                               "end": kw.get("end_ts")})
            return {"candlesticks": bars}
        if method == "get_bars":
            series = self._series(kw["symbol"])
            visible = series.visible(now)  # only closed bars, whatever `end` says
            start = parse_time(kw.get("start"), "start")
            end = parse_time(kw.get("end"), "end")
            limit = int(kw["limit"]) if kw.get("limit") else None
            if limit is not None and limit <= 0:
                raise BacktestCallError(f"limit must be > 0, got {limit}")
            hi = visible if end is None else min(visible, _bisect_right(series.starts, end, visible))
            if start is None:
                lo = max(0, hi - (limit or MAX_BARS_REPLY))
            else:
                lo = _bisect_left(series.starts, start, hi)
                hi = min(hi, lo + (limit or MAX_BARS_REPLY * 10))
            return series.columns(lo, hi) if kw.get("columns") else series.replies(lo, hi)
        if method in ("get_latest_quote", "get_latest_trade"):
            series = self._series(kw["symbol"])
            count = series.visible(now)
            if not count:
                raise BacktestCallError(f"no bar of {series.symbol} has closed by {iso(now)}")
            bar = series.bars[count - 1]
            at = iso(bar.close_at)
            if method == "get_latest_trade":
                return {"p": str(bar.close), "s": "0", "t": at}
            return {"bp": str(bar.close), "ap": str(bar.close), "bs": "0", "as": "0", "t": at}
        raise BacktestCallError(f"{self.venue}.{method} has no backtest data on bars")

    def _book(self, token: Any) -> tuple[Any, Any]:
        assert self.books is not None
        books = self.books.books.get(str(token))
        if books is None:
            raise BacktestCallError(f"no backtest data for token {token!r}")
        snapshot = books.as_of(self.now)
        if snapshot is None or (self.cutoff is not None and snapshot.at > self.cutoff):
            raise BacktestCallError(f"no book of {token} exists yet at {iso(self.now)}")
        return books, snapshot

    def _outcome(self, snapshot: BookSnapshot, side: str) -> BookSnapshot:
        """The book of the contract a side holds: on Kalshi a NO book is the YES book mirrored."""
        if not self.traits.outcomes_share_a_ticker or side != "no":
            return snapshot
        book = outcome_book(snapshot.order_book(""), venue=self.venue, side=side)
        return BookSnapshot(snapshot.at, book.bids, book.asks)

    def _kalshi_read(self, method: str, kw: dict[str, Any]) -> Any:
        """Kalshi's reads on candle data, in the shapes paper answers them (strategies.cycle.venue_reads)."""
        assert self.books is not None
        now = self.now
        if method == "get_markets":
            listed = [self._kalshi_market(m.condition_id) for m in self.books.markets.values()
                      if m.opens_at <= now and not (m.resolves_at is not None and now >= m.resolves_at)]
            limit = int(kw.get("limit") or 20)
            return {"markets": listed[:max(0, limit)]}
        if method == "get_market":
            return self._kalshi_market(str(kw["ticker"]))
        if method == "get_orderbook":
            _, snapshot = self._book(kw["ticker"])
            return {**snapshot.as_polymarket(str(kw["ticker"])), "timestamp": utc(snapshot.at).isoformat()}
        if method == "get_candlesticks":
            ticker = str(kw["ticker"])
            times, bars = self.books.candles.get(ticker, ([], []))
            if not times:
                raise BacktestCallError(f"no backtest data for ticker {ticker!r}")
            visible = _bisect_right(times, now, len(times))  # a candle is seen at its period's end
            end = parse_time(kw.get("end_ts"), "end_ts")
            start = parse_time(kw.get("start_ts"), "start_ts")
            hi = visible if end is None else min(visible, _bisect_right(times, end, visible))
            lo = max(0, hi - MAX_BARS_REPLY) if start is None else _bisect_left(times, start, hi)
            return {"candlesticks": bars[lo:hi]}
        raise BacktestCallError(f"kalshi.{method} has no backtest data")

    def _kalshi_market(self, ticker: str) -> dict[str, Any]:
        assert self.books is not None
        market = self.books.markets.get(ticker)
        if market is None or market.opens_at > self.now:
            raise BacktestCallError(f"no market {ticker!r} exists at {iso(self.now)}")
        resolved = market.resolves_at is not None and self.now >= market.resolves_at and market.winner is not None
        snapshot = self.books.books[ticker].as_of(self.now)
        bid = snapshot.bids[0].price if snapshot is not None and snapshot.bids else None
        ask = snapshot.asks[0].price if snapshot is not None and snapshot.asks else None
        return {"ticker": ticker, "title": market.question, "event_ticker": market.slug,
                "status": "finalized" if resolved else "active",
                "result": market.outcomes[market.winner] if resolved and market.winner is not None else "",
                "yes_bid_dollars": None if bid is None else str(bid),
                "yes_ask_dollars": None if ask is None else str(ask), "synthetic": False}

    def _book_read(self, method: str, kw: dict[str, Any]) -> Any:
        assert self.books is not None
        now = self.now
        if method == "get_markets":
            markets = [m.as_polymarket(now) for m in self.books.markets.values()
                       if m.opens_at <= now and not (m.resolves_at is not None and now >= m.resolves_at)]
            return {"data": markets, "next_cursor": "LTE="}
        if method == "get_market":
            market = self.books.markets.get(str(kw["condition_id"]))
            if market is None or market.opens_at > now:
                raise BacktestCallError(f"no market {kw['condition_id']!r} exists at {iso(now)}")
            return market.as_polymarket(now)
        if method == "get_order_book":
            _, snapshot = self._book(kw["token_id"])
            return snapshot.as_polymarket(str(kw["token_id"]))
        if method in ("get_midpoint", "get_last_trade_price"):
            _, snapshot = self._book(kw["token_id"])
            mid = snapshot.midpoint
            return {"mid": None if mid is None else str(mid)} if method == "get_midpoint" else {
                "price": None if mid is None else str(mid)}
        if method == "get_price":
            _, snapshot = self._book(kw["token_id"])
            side = str(kw.get("side") or "buy").lower()
            levels = snapshot.asks if side == "buy" else snapshot.bids
            return {"price": str(levels[0].price) if levels else None}
        if method == "get_spread":
            _, snapshot = self._book(kw["token_id"])
            spread = snapshot.asks[0].price - snapshot.bids[0].price if snapshot.asks and snapshot.bids else None
            return {"spread": None if spread is None else str(spread)}
        if method == "get_tick_size":
            return {"minimum_tick_size": "0.01"}
        if method == "get_trade_history":
            return self._trade_history(kw)
        if method == "get_prices_history":
            books = self.books.books.get(str(kw["market"]))
            if books is None:
                raise BacktestCallError(f"no backtest data for token {kw['market']!r}")
            end = min(now, parse_time(kw.get("end_ts"), "end_ts") or now)
            start = parse_time(kw.get("start_ts"), "start_ts")
            start = end - 86400 if start is None else start
            count = len(books.times)
            lo, hi = _bisect_left(books.times, start, count), _bisect_right(books.times, end, count)
            history = [{"t": int(s.at), "p": str(s.midpoint)} for s in books.between(lo, hi)
                       if s.midpoint is not None]
            return {"history": history}
        raise BacktestCallError(f"polymarket.{method} has no backtest data")

    def _trade_history(self, kw: dict[str, Any]) -> list[dict[str, Any]]:
        """A followed wallet's latest trades made by `now` (and the look-ahead check's cut), newest first, with
        live's bounds and errors (strategies/cycle/venue_reads.py): never a trade after `now`, whatever is asked."""
        assert self.books is not None
        wallet = kw["maker_address"]
        limit = kw.get("limit") or 100
        try:
            limit = int(limit)
        except (TypeError, ValueError, OverflowError):
            raise BacktestCallError(f"polymarket.get_trade_history: limit must be a whole number, got {limit!r}") \
                from None
        if not 0 < limit <= MAX_WALLET_TRADES:
            raise BacktestCallError(f"polymarket.get_trade_history: limit must be between 1 and "
                                    f"{MAX_WALLET_TRADES}, got {limit}")
        followed = self.books.wallets.get(str(wallet).lower())
        if followed is None:
            known = ", ".join(self.books.wallets) or "none"
            raise BacktestCallError(f"polymarket.get_trade_history has no backtest data of wallet {wallet!r}: the data "
                                    f"holds the trades of the wallets the strategy follows ({known})")
        moment = self.now if self.cutoff is None else min(self.now, self.cutoff)
        return followed.as_of(moment, limit)

    # -- orders --

    def _next_id(self, prefix: str) -> str:
        self._ids += 1
        return f"{prefix}-{self._ids}"

    def _action(self, kind: str, message: str, at: float, **payload: Any) -> None:
        self.actions.append({"time": iso(at), "kind": kind, "message": message, **payload})

    def _refuse(self, refusal: Refusal, what: dict[str, Any]) -> dict[str, Any]:
        self._action("order_refused", f"order refused ({refusal.check}): {refusal.reason}", self.now,
                     check=refusal.check, **what)
        return {"status": "refused", "check": refusal.check, "reason": refusal.reason}

    def cancel(self, order_id: str) -> dict[str, Any]:
        for order in self.working:
            if order.order_id == order_id:
                self.working.remove(order)
                self._action("order_cancelled", f"order {order_id} cancelled by the strategy", self.now)
                return {"status": "cancelled", "client_order_id": order_id}
        return {"status": "not_found", "client_order_id": order_id}

    def order(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        intent = kwargs.get("intent")
        what = {"intent": intent, "signal_index": kwargs.get("signal_index")}
        if intent == "exit":
            return self._exit(kwargs, what)
        if intent != "entry":
            return self._refuse(Refusal("signal", f"create_order needs intent 'entry' or 'exit', got {intent!r}"), what)
        return self._entry(kwargs, what)

    def _signal_numbers(self, kwargs: dict[str, Any]) -> tuple[Decimal, Decimal | None, Decimal | None]:
        def number(name: str, default: Any = None) -> Decimal | None:
            value = kwargs.get(name, default)
            if value is None:
                return None
            if isinstance(value, bool) or not isinstance(value, int | float | str):
                raise ValueError(f"{name} must be a number, got {value!r}")
            parsed = Decimal(str(value))
            if not parsed.is_finite():
                raise ValueError(f"{name} must be finite, got {value!r}")
            return parsed

        confidence = number("confidence", 0.5)
        assert confidence is not None
        if not ZERO <= confidence <= ONE:
            raise ValueError(f"confidence must be in [0, 1], got {confidence}")
        size_usd, limit = number("size_usd"), number("limit_price")
        if size_usd is not None and size_usd <= 0:
            raise ValueError(f"size_usd must be > 0, got {size_usd}")
        if limit is not None and (limit <= 0 or (self.books is not None and limit >= 1)):
            raise ValueError(f"limit_price out of range, got {limit}")
        return confidence, size_usd, limit

    def _entry(self, kwargs: dict[str, Any], what: dict[str, Any]) -> dict[str, Any]:
        market_id, side = str(kwargs.get("market_id") or ""), str(kwargs.get("side") or "")
        what.update(market_id=market_id, side=side)
        refusal = exit_refusal(self.plan, self.venue, Authority(False, False, False))
        if refusal:
            return self._refuse(refusal, what)
        if side not in self.traits.sides:
            return self._refuse(Refusal("signal", f"side must be {' or '.join(self.traits.sides)}, got {side!r}"),
                                what)
        refusal = entry_side_refusal(self.venue, side)
        if refusal:
            return self._refuse(refusal, what)
        try:
            confidence, size_usd, limit = self._signal_numbers(kwargs)
        except ValueError as error:
            return self._refuse(Refusal("signal", str(error)), what)
        rate: Decimal | None = None
        if self.books is not None:
            market = self.books.market_of(market_id)
            books = self.books.books.get(market_id)
            snapshot = books.as_of(self.now) if books else None
            if market is None or snapshot is None:
                return self._refuse(Refusal("market_data", f"no book for {market_id} at {iso(self.now)}"), what)
            rate = market.fee_rate
            asks = self._outcome(snapshot, side).asks
            reference = limit if limit is not None else (asks[0].price if asks else None)
        else:
            series = self.bars.get(market_id)
            reference = limit if limit is not None else (series.last_close(self.now) if series else None)
        if reference is None:
            return self._refuse(Refusal("market_data", f"no price for {market_id} at {iso(self.now)}"), what)
        decided = entry_decide(self.plan, self._exposures(), key=(self.venue, market_id, side), confidence=confidence,
                               size_usd=size_usd, limit_price=reference, rate=rate,
                               authority=Authority(live=False, approved_for_live=False, kill_switch=False,
                                                   paused_reason=self.paused_reason))
        if decided.refusal:
            return self._refuse(decided.refusal, what)
        sizing = decided.sizing
        order = WorkingOrder(self._next_id("bt-o"), "entry", market_id, side, str(kwargs.get("market_name") or ""),
                             self.now, sizing.worst_cost_usd, sizing.quantity, limit)
        self.working.append(order)
        self._action("order_placed", f"buy {market_id} {side}: up to ${cents(order.reserved_usd)}, fills at the "
                     f"{'next book snapshot' if self.books is not None else 'next bar open'}", self.now,
                     client_order_id=order.order_id, sizing=sizing.as_json())
        return {"status": "submitted", "client_order_id": order.order_id, "quantity": str(sizing.quantity),
                "filled_quantity": "0", "limit_price": None if limit is None else str(limit),
                "reserved_usd": str(cents(order.reserved_usd)), "fees_usd": "0"}

    def _position_for(self, market_id: str, side: str) -> SimPosition | None:
        return next((p for p in self.positions.values() if (p.market_id, p.side) == (market_id, side)), None)

    def _exit(self, kwargs: dict[str, Any], what: dict[str, Any]) -> dict[str, Any]:
        position_id = str(kwargs.get("position_id") or "")
        what["position_id"] = position_id
        refusal = exit_refusal(self.plan, self.venue, Authority(False, False, False))
        if refusal:
            return self._refuse(refusal, what)
        position = self.positions.get(position_id)
        if position is None:
            return self._refuse(Refusal("position", f"no open position {position_id}"), what)
        fraction = kwargs.get("fraction", 1.0)
        if isinstance(fraction, bool) or not isinstance(fraction, int | float) or not 0 < fraction <= 1:
            return self._refuse(Refusal("signal", f"fraction must be in (0, 1], got {fraction!r}"), what)
        exiting = sum((o.quantity for o in self.working if o.position_id == position_id), ZERO)
        free = position.lot.quantity - exiting  # never sell more than is held net of working exits
        quantity = free if fraction >= 1 else min(free, (position.lot.quantity * Decimal(str(fraction))).quantize(
            self.step, rounding=ROUND_DOWN))
        if quantity <= 0:
            return self._refuse(Refusal("sizing", f"nothing left to sell of position {position_id}"), what)
        order = WorkingOrder(self._next_id("bt-c"), "exit", position.market_id, position.side, position.market_name,
                             self.now, ZERO, quantity, None, position_id)
        self.working.append(order)
        self._action("order_placed", f"sell {quantity} of position {position_id}", self.now,
                     client_order_id=order.order_id)
        return {"status": "submitted", "client_order_id": order.order_id, "quantity": str(quantity),
                "filled_quantity": "0", "limit_price": None, "fees_usd": "0"}

    # -- fills and settlement --

    def _fee(self, side: TradeSide, quantity: Decimal, price: Decimal, rate: Decimal | None = None) -> Decimal:
        if self.spec.commission is not None:
            return money(quantity * price * self.spec.commission)
        return trade_fee(self.venue, side=side, quantity=quantity, price=price, polymarket_rate=rate)

    def _fill_due(self, until: float) -> None:
        if not self.working:
            return
        still: list[WorkingOrder] = []
        for order in self.working:
            done = self._fill_on_book(order, until) if self.books is not None else self._fill_on_bar(order, until)
            if not done:
                still.append(order)
        self.working = still

    def _fill_on_bar(self, order: WorkingOrder, until: float) -> bool:
        series = self.bars[order.market_id]
        bar = series.next_open(order.signal_time)
        if bar is None or bar.start > until or (self.cutoff is not None and bar.start > self.cutoff):
            return False
        price = bar.open
        if order.intent == "entry":
            if order.limit_price is not None and price > order.limit_price:
                self._action("order_cancelled", f"order {order.order_id}: opened at {price}, above its limit "
                             f"{order.limit_price}", bar.start)
                return True
            # A market order for an amount: the quantity is what the reserved amount buys at the open, fees included.
            if self.spec.commission is not None:
                per_unit = price * (ONE + self.spec.commission)
                quantity = (order.reserved_usd / per_unit).quantize(self.step, rounding=ROUND_DOWN)
            else:  # the venue's fee: the largest quantity whose worst cost at this price fits the reserve
                quantity = affordable_quantity(self.venue, budget=order.reserved_usd, limit_price=price)
            if quantity <= 0:
                self._action("order_cancelled", f"order {order.order_id}: ${order.reserved_usd} buys nothing at "
                             f"{price}", bar.start)
                return True
            self._buy(order, quantity, price, self._fee("buy", quantity, price), bar.start)
        else:
            self._sell(order, order.quantity, price, self._fee("sell", order.quantity, price), bar.start)
        return True

    def _fill_on_book(self, order: WorkingOrder, until: float) -> bool:
        assert self.books is not None
        books = self.books.books[order.market_id]
        market = self.books.market_of(order.market_id)
        assert market is not None
        snapshot = books.after(order.signal_time)
        if snapshot is None or (market.resolves_at is not None and snapshot.at > market.resolves_at):
            if market.resolves_at is not None and until >= market.resolves_at:
                self._action("order_cancelled", f"order {order.order_id}: the market resolved first", until)
                return True
            return False
        if snapshot.at > until or (self.cutoff is not None and snapshot.at > self.cutoff):
            return False
        book = outcome_book(snapshot.order_book(order.market_id), venue=self.venue, side=order.side)
        if order.intent == "entry":
            execution = paper_fill(book, venue=self.venue, side="buy", quantity=order.quantity,
                                   limit_price=order.limit_price or (book.asks[0].price if book.asks else None),
                                   polymarket_rate=market.fee_rate)
        else:
            if not book.bids:
                self._action("order_cancelled", f"order {order.order_id}: no bids to sell into", snapshot.at)
                return True
            execution = paper_fill(book, venue=self.venue, side="sell", quantity=order.quantity,
                                   limit_price=book.bids[-1].price, polymarket_rate=market.fee_rate)
        if not execution.fills:
            self._action("order_cancelled", f"order {order.order_id}: nothing at an acceptable price", snapshot.at)
            return True
        average = execution.average_price
        assert average is not None
        quantity = execution.filled_quantity
        if quantity < order.quantity:
            self._action("order_cancelled", f"order {order.order_id}: {quantity} of {order.quantity} filled, the "
                         "rest cancelled (immediate-or-cancel)", snapshot.at)
        fills = [[str(fill.quantity), str(fill.price)] for fill in execution.fills]
        if order.intent == "entry":
            self._buy(order, quantity, average, execution.fees, snapshot.at, gross=execution.gross_usd, fills=fills)
        else:
            self._sell(order, quantity, average, execution.fees, snapshot.at, gross=execution.gross_usd, fills=fills)
        return True

    def _buy(self, order: WorkingOrder, quantity: Decimal, price: Decimal, fee: Decimal, at: float,
             gross: Decimal | None = None, fills: list[list[str]] | None = None) -> None:
        gross = quantity * price if gross is None else gross
        position = self._position_for(order.market_id, order.side)
        if position is None:
            position = SimPosition(self._next_id("bt-p"), order.market_id, order.market_name, order.side, at)
            self.positions[position.position_id] = position
        position.lot = Lot(position.lot.quantity + quantity, money(position.lot.cost_usd + gross + fee))
        position.entry_fees += fee
        position.entry_value += gross
        position.mark = position.mark if position.mark is not None else price
        position.opened_at = position.opened_at if position.lot.quantity != quantity else at
        cost = money(gross + fee)
        self.cash -= cost
        self.fees += fee
        self.spent[_day(at)] = self.spent.get(_day(at), ZERO) + cost
        self._action("order_filled", f"bought {quantity} {order.market_id} at {price} (fee {fee})", at,
                     client_order_id=order.order_id, fee=str(fee),
                     fills=fills if fills is not None else [[str(quantity), str(price)]])

    def _sell(self, order: WorkingOrder, quantity: Decimal, price: Decimal, fee: Decimal, at: float,
              gross: Decimal | None = None, kind: str = "exit", fills: list[list[str]] | None = None) -> None:
        position = self.positions.get(order.position_id or "")
        if position is None:
            return
        quantity = min(quantity, position.lot.quantity)
        held = position.lot.quantity
        share = ONE if quantity == held else quantity / held
        entry_fee = position.entry_fees if quantity == held else money(position.entry_fees * share)
        entry_value = position.entry_value if quantity == held else money(position.entry_value * share)
        proceeds = quantity * price if gross is None else gross
        lot, realized = lot_sell(position.lot, quantity=quantity, price=proceeds / quantity, fee=fee)
        position.lot, position.entry_fees, position.entry_value = lot, position.entry_fees - entry_fee, \
            position.entry_value - entry_value
        self.cash += money(proceeds - fee)
        self.fees += fee
        self.realized += realized
        self.realized_by_day[_day(at)] = self.realized_by_day.get(_day(at), ZERO) + realized
        entry_price = entry_value / quantity
        self.trades.append({
            "market_id": position.market_id, "side": position.side, "position_id": position.position_id,
            "entry_time": iso(position.opened_at), "exit_time": iso(at),
            "entry_price": str(entry_price.quantize(PRICE_PLACES)), "exit_price": str(price.quantize(PRICE_PLACES)),
            "quantity": str(quantity), "pnl": str(money(realized)), "fees": str(money(entry_fee + fee)),
            "return_pct": float(realized / entry_value) * 100 if entry_value else 0.0, "exit_kind": kind,
        })
        if kind != "settle":
            self._action("order_filled", f"sold {quantity} {position.market_id} at {price} (fee {fee})", at,
                         client_order_id=order.order_id, fee=str(fee),
                         fills=fills if fills is not None else [[str(quantity), str(price)]])
        if lot.quantity <= 0:
            del self.positions[position.position_id]

    def _settle(self, until: float) -> None:
        if self.books is None:
            return
        for market in self.books.markets.values():
            if market.resolves_at is None or market.winner is None or market.resolves_at > until:
                continue
            if self.cutoff is not None and market.resolves_at > self.cutoff:
                continue
            if market.condition_id in self.settled:
                continue
            self.settled.add(market.condition_id)
            for position in list(self.positions.values()):
                if position.market_id not in market.token_ids:
                    continue
                if self.traits.outcomes_share_a_ticker:  # one ticker for both sides: the side that won
                    won = position.side == market.outcomes[market.winner]
                else:
                    won = market.token_ids.index(position.market_id) == market.winner
                payout = ONE if won else ZERO
                order = WorkingOrder(self._next_id("bt-s"), "settle", position.market_id, position.side, "",
                                     market.resolves_at, ZERO, position.lot.quantity, None, position.position_id)
                self._sell(order, position.lot.quantity, payout, ZERO, market.resolves_at, kind="settle")
                self._action("position_closed", f"settled: {market.question} resolved "
                             f"{market.outcomes[market.winner]}, ${payout:.2f} a contract", market.resolves_at)
            self.working = [o for o in self.working if o.market_id not in market.token_ids]

    def _mark(self, now: float) -> None:
        for position in self.positions.values():
            if self.books is not None:
                snapshot = self.books.books[position.market_id].as_of(now)
                mid = self._outcome(snapshot, position.side).midpoint if snapshot is not None else None
                if mid is not None:
                    position.mark = mid
            else:
                close = self.bars[position.market_id].last_close(now)
                if close is not None:
                    position.mark = close


@functools.lru_cache(maxsize=4096)
def _day(moment: float) -> str:  # asked several times a step for the same moment
    return datetime.fromtimestamp(moment, UTC).date().isoformat()


def _bisect_left(values: list[float], target: float, hi: int) -> int:
    return bisect.bisect_left(values, target, 0, hi)


def _bisect_right(values: list[float], target: float, hi: int) -> int:
    return bisect.bisect_right(values, target, 0, hi)

