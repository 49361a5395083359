"""Inside the sandbox: a backtest's long-lived run, one cycle per step frame (see step_session.py).

The worker sends ``{"type": "step", "step": n, "ctx": {now, positions, capital, state, ...}}``; the
run answers each with one ``{"type": "result", "step": n, ...}`` frame (the same result a live cycle
sends), its venue calls going out as ``call`` frames in between. ``{"type": "end"}`` or end of file
ends the run. Each step gets a fresh strategy object *and fresh module globals* (the files' compiled
code is re-executed), so nothing but ``ctx.state`` carries over from one step to the next: exactly
as across live cycles, where every cycle is a new process. A sealed re-run (the spec has ``desk_spec``)
gets the desk as of its step with it (``"desk"``) and answers its orders itself; the result lists them
(``"orders"``) for the worker to place and compare.
"""

from __future__ import annotations

import bisect
import json
import traceback
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from runtime.channel import BlockingChannel
from runtime.cycle import run_cycle_in_process, user_traceback
from runtime.loader import StrategyLoadError, load_strategy_fresh, strategy_hash
from runtime.sdk import BAR_COLUMNS, BarColumns, VenueError
from trading.backtest.data import Bar, BarSeries
from trading.backtest.engine import ORDER_METHODS, BacktestCallError, BacktestEngine, BacktestSpec
from trading.venues.platforms import TRAITS

MAX_BARS_REPLY = 1000  # as trading.backtest.engine: a call without `start` gets the latest this many
BAR_KEYS = ("t", "o", "h", "l", "c", "v")  # a bar's texts, as Alpaca's get_bars answers them (and the worker sends)


class KeptBars:
    """The bars that have closed so far, as the worker streamed them: only ever data from before `now`.

    Alpaca's bar reads are answered from here, the very way the worker's engine answers them
    (trading.backtest.engine `_bar_read`), so a step costs one exchange instead of one per read. A script
    that edits these only changes what it sees itself; fills and P&L are the worker's.
    """

    def __init__(self) -> None:
        self.bars: dict[str, list[dict[str, Any]]] = {}
        self.starts: dict[str, list[float]] = {}
        self.period: dict[str, float] = {}
        self.columns: dict[str, tuple[list[Any], ...]] = {}  # time, open, high, low, close, volume: columnar reads

    def add(self, frame: dict[str, Any]) -> None:
        """Newly closed bars, as the worker sends them: columns (step_session `_bar_columns`), starts as floats."""
        symbol = str(frame["symbol"])
        self.period[symbol] = float(frame["period"])
        texts = [frame[key] for key in BAR_KEYS]
        self.bars.setdefault(symbol, []).extend({"t": t, "o": o, "h": h, "l": low, "c": c, "v": v}
                                                for t, o, h, low, c, v in zip(*texts, strict=True))
        self.starts.setdefault(symbol, []).extend(float(start) for start in frame["s"])
        columns = self.columns.setdefault(symbol, ([], [], [], [], [], []))
        columns[0].extend(texts[0])
        for column, values in zip(columns[1:], texts[1:], strict=True):
            column.extend(map(float, values))

    def answer(self, venue: str, method: str, kwargs: dict[str, Any]) -> Any:
        """The reply, or _FORWARD when the worker must answer (another read, or a bad argument to report)."""
        venue_traits = TRAITS.get(venue)
        if venue_traits is None or not venue_traits.bars or str(kwargs.get("symbol")) not in self.bars:
            return _FORWARD
        symbol = str(kwargs["symbol"])
        kept, starts = self.bars[symbol], self.starts[symbol]
        if method == "get_bars":
            try:
                start, end = _time_arg(kwargs.get("start")), _time_arg(kwargs.get("end"))
                limit = int(kwargs["limit"]) if kwargs.get("limit") else None
            except (TypeError, ValueError):
                return _FORWARD
            if limit is not None and limit <= 0:
                return _FORWARD
            hi = len(kept) if end is None else bisect.bisect_right(starts, end)
            if start is None:
                lo = max(0, hi - (limit or MAX_BARS_REPLY))
            else:
                lo = bisect.bisect_left(starts, start, 0, hi)
                hi = min(hi, lo + (limit or MAX_BARS_REPLY * 10))
            if kwargs.get("columns"):
                return tuple(column[lo:hi] for column in self.columns[symbol])  # fresh lists, as the engine's
            return [dict(bar) for bar in kept[lo:hi]]  # copies: a script editing one must not edit the next read
        if method in ("get_latest_quote", "get_latest_trade") and kept:
            bar = kept[-1]
            at = datetime.fromtimestamp(starts[-1] + self.period[symbol], UTC).isoformat().replace("+00:00", "Z")
            if method == "get_latest_trade":
                return {"p": bar["c"], "s": "0", "t": at}
            return {"bp": bar["c"], "ap": bar["c"], "bs": "0", "as": "0", "t": at}
        return _FORWARD

    def last_bars(self) -> dict[str, BarSeries]:
        """Each symbol's last closed bar, as the engine's series: what an order's sizing reads of the bars."""
        return {symbol: BarSeries(symbol, [Bar(self.starts[symbol][-1], self.starts[symbol][-1] + self.period[symbol],
                                               *(Decimal(str(kept[-1][key])) for key in "ohlcv"))],
                                  self.period[symbol])
                for symbol, kept in self.bars.items() if kept}


_FORWARD = object()


def _time_arg(value: Any) -> float | None:
    """As the engine's parse_time: unix seconds (or milliseconds), or ISO 8601 with naive meaning UTC."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError("a time, not a boolean")
    if isinstance(value, int | float):
        return float(value)
    if not isinstance(value, str):
        raise TypeError("a time must be a number or a string")
    text = value.strip()
    if not text:
        raise ValueError("empty time")
    if text.replace(".", "", 1).isdigit():
        number = float(text)
        return number / 1000 if number > 1e11 else number
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


class _LocalFirst:
    """The run's transport with bar reads answered from the kept bars, and, in a sealed re-run, orders answered
    from the desk as it stood at the step (`desk`, sent with the step): one exchange less per order. The worker
    places the orders it is told of (`orders`) on its own desk after the step and fails the backtest on any reply
    that differs."""

    def __init__(self, transport: Any, kept: KeptBars, desk_spec: BacktestSpec | None = None) -> None:
        self.transport, self.kept, self.desk_spec = transport, kept, desk_spec
        self.desk: dict[str, Any] | None = None
        self.engine: BacktestEngine | None = None
        self.orders: list[list[Any]] = []

    def start_step(self, desk: Any) -> None:
        self.desk = desk if self.desk_spec is not None and isinstance(desk, dict) else None
        self.engine, self.orders = None, []

    def call(self, venue: str, method: str, kwargs: dict[str, Any]) -> Any:
        if self.desk is not None and method in ORDER_METHODS:
            return self._order(venue, method, kwargs)
        answer = self.kept.answer(venue, method, kwargs)
        return self.transport.call(venue, method, kwargs) if answer is _FORWARD else answer

    def _order(self, venue: str, method: str, kwargs: dict[str, Any]) -> Any:
        """As the worker answers it (trading.backtest.engine `call` on the same desk), sent and answered as JSON."""
        try:
            sent = json.loads(json.dumps(kwargs, ensure_ascii=False, allow_nan=False))
        except (TypeError, ValueError) as error:  # as the channel refuses to send it
            raise TypeError(f"ctx.{venue}.{method}() arguments must be JSON values: {error}") from None
        if self.engine is None:
            assert self.desk_spec is not None and self.desk is not None
            self.engine = BacktestEngine.at_desk(self.desk_spec, self.kept.last_bars(), self.desk)
        try:
            reply = json.loads(json.dumps(self.engine.call(venue, method, sent)))
        except Exception as error:  # as the worker's refusal says it
            text = (str(error) if isinstance(error, BacktestCallError)
                    else f"{venue}.{method} failed ({type(error).__name__})")
            self.orders.append([venue, method, sent, {"error": text}])
            raise VenueError(text[:1000]) from None
        self.orders.append([venue, method, sent, reply])
        return reply

    def bar_columns(self, venue: str, kwargs: dict[str, Any]) -> tuple[list[Any], ...]:
        """`get_bars(..., columns=True)` from the kept bars; what they cannot answer goes to the worker as a plain
        `get_bars`, its reply turned into columns as in paper and live."""
        answer = self.kept.answer(venue, "get_bars", {**kwargs, "columns": True})
        if answer is _FORWARD:
            rows = BarColumns.from_rows(self.transport.call(venue, "get_bars", kwargs))
            return tuple(getattr(rows, name) for name in BAR_COLUMNS)
        columns: tuple[list[Any], ...] = answer
        return columns

    def log(self, level: str, message: str) -> None:
        self.transport.log(level, message)


def serve_steps(channel: BlockingChannel, spec: dict[str, Any], transport: Any, state_bytes_limit: int,
                flush: Any) -> None:
    files = spec["files"]
    base_ctx = dict(spec["ctx"])
    version_hash = strategy_hash(files)
    kept = KeptBars()
    local = _LocalFirst(transport, kept, BacktestSpec.from_json(spec["desk_spec"]) if spec.get("desk_spec") else None)
    while True:
        frame = channel.receive()
        if frame.get("type") == "bars":
            kept.add(frame)
            continue
        if frame.get("type") != "step":
            return
        for fresh in frame.get("bars") or ():  # bars that closed by this step's now, never later
            kept.add(fresh)
        local.start_step(frame.get("desk"))
        result: dict[str, Any]
        try:
            definition = load_strategy_fresh(files, version_hash)
        except StrategyLoadError as error:
            result = {"entries": [], "exits": [], "state": None, "error": str(error), "traceback": None}
        except BaseException as error:  # the module body of a user file raised
            names = frozenset(name for name in files if name.endswith(".py"))
            summary = "".join(traceback.format_exception_only(type(error), error)).strip()
            result = {"entries": [], "exits": [], "state": None, "error": summary,
                      "traceback": user_traceback(error, names)}
        else:
            ctx = {**base_ctx, **dict(frame.get("ctx") or {})}
            result = run_cycle_in_process(definition, ctx, local, state_bytes_limit=state_bytes_limit)
        if local.orders:
            result["orders"] = local.orders
        flush()
        channel.send({"type": "result", "step": frame.get("step"), **result})
