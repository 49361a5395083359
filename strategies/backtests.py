"""The strategies side of a backtest: load a version's files, drive them step by step, store the run.

The engine (`trading.backtest`) owns the clock, the data, the fills and the books; this module only
runs the strategy for it: in the sandbox (one long-lived process for the whole run,
`runtime.step_session`), or in this process for tests of the engine itself.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import json
import logging
import math
import random
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone
from redis.exceptions import RedisError

from runtime import Sandbox, SandboxLimits, SandboxUnavailable, VenueCallError
from runtime.backtest_session import OneRunOutcome, OneRunSession
from runtime.cycle import run_cycle_in_process
from runtime.loader import load_strategy
from runtime.sdk import VENUE_METHODS, VenueError
from runtime.step_session import StepSession
from strategies.events import backtest_broadcast
from strategies.models import Backtest, BacktestCsv, StrategyVersion, Sweep, SweepMethod
from strategyhub.lib.deflated_sharpe import deflated_sharpe, sharpe_per_period
from strategyhub.lib.gc_pause import collection_paused
from strategyhub.lib.refusal import Refused, issue
from strategyhub.lib.workers import process_gone, worker_id
from trading.backtest.data import BarSeries, DataError, iso, load_csv, pack_bars, recorded_polymarket
from trading.backtest.engine import (
    BacktestCallError,
    BacktestCancelled,
    BacktestEngine,
    BacktestResult,
    BacktestSpec,
    OnCall,
    StepOutcome,
)
from trading.backtest.history import (
    DEFAULT_HALF_SPREAD,
    KALSHI_PERIODS,
    alpaca_history,
    kalshi_candles,
    polymarket_history,
)
from trading.backtest.metrics import compute_metrics
from trading.backtest.replay import BookCheck, RecordFeed, ReplayRunner, RunTampered
from trading.capital import CapitalPlan

logger = logging.getLogger(__name__)

STATE_BYTES = 64 * 1024


class _InProcessTransport:
    def __init__(self, on_call: OnCall) -> None:
        self.on_call = on_call
        self.logs: list[tuple[str, str]] = []

    def call(self, venue: str, method: str, kwargs: dict[str, Any]) -> Any:
        try:
            return self.on_call(venue, method, kwargs)
        except BacktestCallError as error:
            raise VenueError(str(error)) from None

    def log(self, level: str, message: str) -> None:
        self.logs.append((level, message))


class InProcessRunner:
    """Runs the strategy's cycles in this process: only for trusted code (tests, the reference case)."""

    def __init__(self, files: Mapping[str, str]) -> None:
        self.definition = load_strategy(files)

    def step(self, frame: dict[str, Any], on_call: OnCall) -> StepOutcome:
        transport = _InProcessTransport(on_call)
        result = run_cycle_in_process(self.definition, frame, transport, state_bytes_limit=STATE_BYTES)
        state = result["state"] if result["state"] is not None else dict(frame.get("state") or {})
        return StepOutcome("failed" if result["error"] else "succeeded", result["entries"], result["exits"], state,
                           result["error"], result["traceback"], transport.logs)

    def close(self) -> None:
        pass


class SandboxRunner:
    """Runs the strategy in ONE sandboxed process for the whole backtest (`StepSession`).

    It takes the bars closed so far with each step (`streams_bars`): the run answers its bar reads
    from them, never holding a bar that closes after `ctx.now`.
    """

    streams_bars = True

    def __init__(self, files: Mapping[str, str], *, strategy_id: str, platform: str,
                 limits: SandboxLimits, sandbox: Sandbox | None = None, desk: BacktestSpec | None = None) -> None:
        ctx = {"strategy_id": strategy_id, "platform": platform, "mode": "backtest", "dry_run": False}
        # `desk`: the run answers its orders itself from the desk each step sends (`answers_orders`; a sealed
        # re-run: trading.backtest.replay places them after the step and compares).
        self.answers_orders = desk is not None
        self.session = StepSession(files, ctx, limits, sandbox,
                                   payload={"desk_spec": desk.as_json()} if desk is not None else None)
        self.weak = self.session.weak

    def step(self, frame: dict[str, Any], on_call: OnCall) -> StepOutcome:
        def answer(venue: str, method: str, kwargs: dict[str, Any]) -> Any:
            try:
                return on_call(venue, method, kwargs)
            except BacktestCallError as error:
                raise VenueCallError(str(error)) from None

        result = self.session.step(frame, answer)
        return StepOutcome(result.status, result.entries, result.exits, result.state, result.error, result.traceback,
                           [(line.level, line.message) for line in result.logs], result.orders)

    def end(self) -> None:
        self.session.end()

    def close(self) -> None:
        self.session.close()

    @property
    def max_rss_kb(self) -> int | None:
        """The run's peak resident memory once it has exited (after `close`), as the zygote reaped it."""
        return self.session.max_rss_kb


# --- running one: data, engine, runner, results ---------------------------------------------------


# The arguments of a backtest, as a request names them: a refusal's message starts with the one at fault.
BACKTEST_FIELDS = ("start", "end", "cash", "symbol", "commission", "data_source", "markets", "interval",
                   "half_spread")


class BacktestInvalid(Refused, ValueError):
    """A backtest that cannot start: the message names the argument and what would be valid."""

    type = "validation_error"
    status = 400

    def issues_json(self) -> list[dict[str, Any]]:
        word = self.message.split(":")[0].split(" ")[0]
        return [issue(self.message, path=word if word in BACKTEST_FIELDS else None)]


@dataclass(frozen=True)
class BacktestData:
    """Where a backtest's history comes from (one of `Backtest.Source`) and how to read it."""

    source: str
    spec: dict[str, Any]
    # A CSV parsed when it was stored (`csv_store`): the command runs on it without parsing it again.
    parsed: BarSeries | None = field(default=None, compare=False, repr=False)

    def load(self, platform: str, *, start: datetime | None, end: datetime | None,
             offline: bool = False) -> dict[str, Any]:
        """The engine's keyword arguments: `bars={symbol: series}` or `books=...`.

        Venue history comes from the database's cache, the venue asked only for what it lacks
        (`offline`: never asked, for pages that show a finished run's data)."""
        if self.source == Backtest.Source.CSV and self.parsed is not None:
            return {"bars": {self.spec["symbol"]: self.parsed}}
        if self.source == Backtest.Source.CSV:
            symbol = str(self.spec["symbol"])
            return {"bars": {symbol: csv_series(str(self.spec["sha256"]), symbol=symbol,
                                                filename=str(self.spec.get("filename") or "data.csv"))}}
        if self.source == Backtest.Source.POLYMARKET_RECORDED:
            return {"books": recorded_polymarket(str(self.spec.get("set") or "books"), self.spec.get("markets"))}
        if self.source == Backtest.Source.ALPACA_HISTORY:
            symbols = [str(s) for s in self.spec.get("symbols") or []]
            timeframe = str(self.spec.get("timeframe") or "1Day")
            return {"bars": {s: alpaca_history(s, timeframe=timeframe, start=start, end=end, offline=offline)
                             for s in symbols}}
        if self.source == Backtest.Source.POLYMARKET_HISTORY:
            spread = self.spec.get("half_spread")
            return {"books": polymarket_history(
                [str(m) for m in self.spec.get("markets") or []], start=start, end=end,
                fidelity=int(self.spec.get("interval") or 60),
                half_spread=DEFAULT_HALF_SPREAD if spread is None else Decimal(str(spread)), offline=offline,
                wallets=[str(w) for w in self.spec.get("wallets") or []])}
        if self.source == Backtest.Source.KALSHI_CANDLES:
            return {"books": kalshi_candles([str(t) for t in self.spec.get("tickers") or []], start=start, end=end,
                                            period=int(self.spec.get("interval") or 60), offline=offline)}
        raise BacktestInvalid(f"data_source {self.source!r} is not supported: use one of "
                              f"{', '.join(Backtest.Source.values)}")


PARSED_CSVS = 2  # parsed series kept per worker process: a 100,000-bar one is tens of MiB
_parsed: OrderedDict[tuple[str, str, str], BarSeries] = OrderedDict()
_parsed_lock = threading.Lock()


def _parsed_csv(sha256: str, symbol: str, filename: str, text: Callable[[], str]) -> BarSeries:
    """A CSV's bars, parsed once per worker process (content addressed, so never stale): a sweep's points, a re-run
    and the command's store-then-run share them. The engine only reads a series (its reply caches fill alike)."""
    key = (sha256, symbol, filename)
    with _parsed_lock:
        if key in _parsed:
            _parsed.move_to_end(key)
            return _parsed[key]
    series = load_csv(filename, symbol=symbol, text=text())
    with _parsed_lock:
        _parsed[key] = series
        while len(_parsed) > PARSED_CSVS:
            _parsed.popitem(last=False)
    return series


def csv_series(sha256: str, *, symbol: str, filename: str) -> BarSeries:
    """A stored CSV's bars (`csv_store`), read from the database and parsed on first use in this process."""
    return _parsed_csv(sha256, symbol, filename, lambda: csv_text(sha256))


def csv_text(sha256: str) -> str:
    """A stored CSV's text (`csv_store`), from the database: any worker host can run its backtest."""
    stored = BacktestCsv.objects.filter(sha256=sha256).values_list("content", flat=True).first()
    if stored is None:
        raise DataError(f"the CSV {sha256[:12]}… of this backtest is not stored: upload it again")
    return stored


def csv_parse(text: str, *, symbol: str, filename: str) -> BacktestData:
    """Check a user's CSV now (a clear error names the line), kept nowhere: a run in this process (a folder's)."""
    digest = hashlib.sha256(text.encode()).hexdigest()
    series = _parsed_csv(digest, symbol, filename, lambda: text)
    return BacktestData(Backtest.Source.CSV, {"symbol": symbol, "sha256": digest, "filename": filename}, series)


def csv_store(text: str, *, symbol: str, filename: str) -> BacktestData:
    """`csv_parse`, and keep it by content hash for the worker (a saved backtest, a sweep's points)."""
    data = csv_parse(text, symbol=symbol, filename=filename)
    BacktestCsv.objects.get_or_create(sha256=data.spec["sha256"], defaults={"filename": filename, "content": text})
    return data


VENUE_SOURCES: dict[str, str] = {  # the venue history each platform's strategies may backtest on
    Backtest.Source.POLYMARKET_RECORDED: "polymarket", Backtest.Source.POLYMARKET_HISTORY: "polymarket",
    Backtest.Source.KALSHI_CANDLES: "kalshi", Backtest.Source.ALPACA_HISTORY: "alpaca",
}
DEFAULT_SOURCE: dict[str, str] = {
    "polymarket": Backtest.Source.POLYMARKET_RECORDED, "kalshi": Backtest.Source.KALSHI_CANDLES,
    "alpaca": Backtest.Source.ALPACA_HISTORY,
}


def _markets_named(config: dict[str, Any], markets: list[str] | None, *keys: str) -> list[str]:
    """The markets given, else the strategy's own parameters (the first of `keys` it has, one or a list)."""
    if markets:
        return [str(m) for m in markets]
    params = config.get("parameters") or {}
    for key in keys:
        value = params.get(key)
        if isinstance(value, str) and value:
            return [value]
        if isinstance(value, list) and value:
            return [str(v) for v in value]
    return []


# The parameters by which a Polymarket strategy names the wallets it follows (the copy trader's `tracked_traders`).
WALLET_PARAMETERS = ("tracked_traders", "wallets")


def followed_wallets(config: dict[str, Any]) -> list[str]:
    """The wallets a Polymarket strategy's parameters say it follows: their trades are its data. Only a venue whose
    SDK reads a wallet's trades (`get_trade_history`) has followed wallets."""
    if "get_trade_history" not in VENUE_METHODS.get(str(config.get("platform")), {}):
        return []
    return [w for w in _markets_named(config, None, *WALLET_PARAMETERS) if w.startswith("0x")]


def default_data(config: dict[str, Any], symbol: str | None, *, source: str | None = None,
                 markets: list[str] | None = None, interval: int | None = None,
                 half_spread: Decimal | None = None) -> BacktestData:
    """The venue data a backtest runs on: `source` (one of `Backtest.Source`, not csv), else the platform's
    default (recorded Polymarket books, Kalshi candlesticks, Alpaca daily bars; a Polymarket strategy that follows
    wallets: their trades and the prices-history of the markets they traded)."""
    platform = config["platform"]
    wallets = followed_wallets(config)
    if source is None and wallets and not markets and not symbol:
        source = Backtest.Source.POLYMARKET_HISTORY
    source = source or DEFAULT_SOURCE[platform]
    if source not in VENUE_SOURCES:
        raise BacktestInvalid(f"data_source must be one of {', '.join(VENUE_SOURCES)} (a CSV is uploaded), "
                              f"got {source!r}")
    if VENUE_SOURCES[source] != platform:
        raise BacktestInvalid(f"data_source {source} is {VENUE_SOURCES[source]} data; this strategy trades on "
                              f"{platform}")
    if interval is not None and source not in (Backtest.Source.POLYMARKET_HISTORY, Backtest.Source.KALSHI_CANDLES):
        raise BacktestInvalid("interval: minutes between points apply to polymarket_history and kalshi_candles")
    if half_spread is not None and source != Backtest.Source.POLYMARKET_HISTORY:
        raise BacktestInvalid("half_spread applies to polymarket_history only (Kalshi candles carry bid and ask)")
    named = markets or ([s.strip() for s in symbol.split(",") if s.strip()] if symbol else None)
    if source == Backtest.Source.POLYMARKET_RECORDED:
        return BacktestData(source, {"set": "books", **({"markets": named} if named else {})})
    if source == Backtest.Source.ALPACA_HISTORY:
        symbols = _markets_named(config, named, "symbols", "symbol")
        if not symbols:
            raise BacktestInvalid("symbol: name the symbol to backtest on (--symbol, or parameters.symbol)")
        return BacktestData(source, {"symbols": symbols, "timeframe": "1Day"})
    if source == Backtest.Source.KALSHI_CANDLES:
        tickers = _markets_named(config, named, "tickers", "ticker", "market_ids", "market_id")
        if not tickers:
            raise BacktestInvalid("markets: name the Kalshi tickers to backtest on (--symbol, the API's markets, "
                                  "or parameters.ticker)")
        period = interval or 60
        if period not in KALSHI_PERIODS:
            raise BacktestInvalid(f"interval must be 1, 60 or 1440 minutes for Kalshi candlesticks, got {period}")
        return BacktestData(source, {"tickers": tickers, "interval": period})
    found = _markets_named(config, named, "markets", "market_ids", "market_id", "condition_id")
    if not found and not wallets:
        raise BacktestInvalid("markets: name the Polymarket markets (condition ids or slugs) to backtest on "
                              "(--symbol, the API's markets, or parameters.markets)")
    fidelity = interval or 60
    if not 1 <= fidelity <= 1440:
        raise BacktestInvalid(f"interval must be whole minutes in [1, 1440], got {fidelity}")
    # A followed wallet's prices are the prices it traded at: no spread is added unless asked.
    spread = (Decimal(0) if wallets else DEFAULT_HALF_SPREAD) if half_spread is None else half_spread
    if not Decimal(0) <= spread < Decimal("0.5"):
        raise BacktestInvalid(f"half_spread must be in [0, 0.5), got {spread}")
    return BacktestData(source, {"markets": found, "interval": fidelity, "half_spread": str(spread),
                                 **({"wallets": wallets} if wallets else {})})


def data_words(data: BacktestData) -> str:
    """What a backtest on `data` runs over, in words for the Backtests tab."""
    wallets = [str(w) for w in data.spec.get("wallets") or []]
    if wallets:
        named = ", ".join(f"{w[:6]}…{w[-4:]}" for w in wallets)
        return (f"the trades of the wallet{'s' if len(wallets) > 1 else ''} it follows ({named}) and Polymarket's "
                "prices-history of the markets they traded (by default the week up to their last trade at least a "
                "week old, and the day after it)")
    if data.source == Backtest.Source.POLYMARKET_RECORDED:
        return "the recorded Polymarket books and quotes"
    return "the venue's own history"


@dataclass
class BacktestRun:
    """What the command and the task need of a finished run."""

    result: BacktestResult
    metrics: dict[str, Any]
    lookahead: dict[str, Any]
    weak: bool
    phases: dict[str, float] | None = None  # seconds per phase (the benchmark's profile; on books the sealed check)
    time_texts: Mapping[float, str] | None = None  # `iso` of the bars' starts, built once per series (run_json)
    # The sandboxed runs' peak resident memory in MiB, as the kernel counted it (the zygote's shared pages included)
    peak_rss_mb: dict[str, float] | None = None


def _plan(config: dict[str, Any], cash: Decimal | None) -> tuple[dict[str, Any], CapitalPlan]:
    config = json.loads(json.dumps(config))
    if cash is not None:
        config["capital"]["total_capital"] = cash  # a Decimal: CapitalPlan keeps it exact
    return config, CapitalPlan.from_config(config, config["platform"])


def backtest_limits() -> SandboxLimits:
    """A cycle's limits per step; the CPU limit is for the whole run (settings.BACKTEST_CPU_SECONDS)."""
    limits = dict(settings.SANDBOX)
    limits["cpu_seconds"] = int(getattr(settings, "BACKTEST_CPU_SECONDS", 600))
    return SandboxLimits.from_settings(limits)


def backtest_execute_files(
    files: Mapping[str, str], config: dict[str, Any], data: BacktestData, *, start: datetime | None,
    end: datetime | None, cash: Decimal | None, commission: Decimal | None, strategy_id: str,
    progress: Callable[[int, int], None] | None = None, cancelled: Callable[[], bool] | None = None,
    lookahead: bool | None = None, sandbox: Sandbox | None = None,
) -> BacktestRun:
    """Run a backtest of `files` in the sandbox: the one path the command and the task share."""
    config, plan = _plan(config, cash)
    platform = config["platform"]
    if commission is not None and data.source != Backtest.Source.CSV:
        raise BacktestInvalid("commission: a relative fee applies to CSV data only; venues charge their own fees")
    loaded = data.load(platform, start=start, end=end)
    spec = BacktestSpec(platform, plan, int(config["polling_interval"]), start=start, end=end, commission=commission,
                        strategy_id=strategy_id, params=dict(config.get("parameters") or {}), config=config)
    limits = backtest_limits()

    def runner() -> SandboxRunner:
        return SandboxRunner(files, strategy_id=strategy_id, platform=platform, limits=limits, sandbox=sandbox)

    if "bars" in loaded:  # the whole loop in one sandboxed run, replayed and checked here
        return _backtest_one_run(files, spec, loaded["bars"], limits=limits, runner=runner, progress=progress,
                                 cancelled=cancelled, sandbox=sandbox)
    # On books the run is stepped from here (it never holds a later book); the look-ahead check re-runs each
    # signal and a sample of quiet steps sealed, beside it (trading.backtest.replay.BookCheck).
    if lookahead is None:
        lookahead = bool(settings.BACKTEST_LOOKAHEAD_CHECK)
    engine = BacktestEngine(spec, **loaded)
    main = runner()
    stepper: SandboxRunner | BookCheck = main
    if lookahead:
        stepper = BookCheck(main, engine, sealed=runner, total=len(engine.steps()),
                            sample=settings.BACKTEST_LOOKAHEAD_SAMPLE, seed=_lookahead_seed())
    try:
        result = engine.run(stepper, progress=progress, cancelled=cancelled)
    finally:
        stepper.close()
    checked = stepper.coverage.as_json() if isinstance(stepper, BookCheck) else {}
    phases = {"sealed_check": round(stepper.sealed_s, 3)} if isinstance(stepper, BookCheck) else None
    sealed_rss = getattr(stepper.sealed, "max_rss_kb", None) if isinstance(stepper, BookCheck) else None
    return BacktestRun(result, _metrics(result), checked, main.weak, phases,
                       peak_rss_mb=_peak_mb(sandbox_run=main.max_rss_kb, sealed_run=sealed_rss))


def _metrics(result: BacktestResult) -> dict[str, Any]:
    metrics = compute_metrics(
        equity=result.equity, trade_returns=[t["return_pct"] / 100 for t in result.trades],
        trade_pnls=[Decimal(t["pnl"]) for t in result.trades], exposure_steps=result.exposure_steps,
        fees_usd=result.fees_usd, first_price=result.first_price, last_price=result.last_price,
        open_positions=len(result.open_positions))
    metrics["steps"] = result.steps
    metrics["duration_s"] = round(result.duration_s, 3)
    return metrics


class _RunEnded:
    """A StepRunner for a sandboxed run that ended without a result: nothing it did counts."""

    def __init__(self, message: str) -> None:
        self.message = message

    def step(self, frame: dict[str, Any], on_call: OnCall) -> StepOutcome:
        return StepOutcome("failed", [], [], dict(frame.get("state") or {}), self.message)


def _ended(engine: BacktestEngine, message: str) -> BacktestResult:
    """A run nothing of which counts: failed at its first step with `message`."""
    result = engine.run(_RunEnded(message))
    result.error = message
    return result


def _backtest_one_run(files: Mapping[str, str], spec: BacktestSpec, bars: dict[str, Any], *, limits: SandboxLimits,
                      runner: Callable[[], SandboxRunner], progress: Callable[[int, int], None] | None,
                      cancelled: Callable[[], bool] | None, sandbox: Sandbox | None) -> BacktestRun:
    """A backtest on bars: the loop inside ONE sandboxed run (runtime.backtest_session), and here, following close
    behind it, its orders replayed through this worker's engine and its decisions re-run sealed
    (trading.backtest.replay); at the end its claim is compared. Every figure is the replay's."""
    ctx = {"strategy_id": spec.strategy_id, "platform": spec.platform, "mode": "backtest", "dry_run": False}
    payload = {"backtest": {"spec": spec.as_json(), "bars": pack_bars(bars)}}
    engine = BacktestEngine(spec, bars=bars)
    feed = RecordFeed(len(engine.steps()), calls_per_step=int(limits.calls_per_cycle))
    stop = threading.Event()  # the replay is done with the run (it found a difference, or failed)
    ran: list[OneRunOutcome] = []
    sealed: list[SandboxRunner] = []
    try:
        with OneRunSession(files, ctx, limits, sandbox, payload=payload) as session:
            weak = session.weak

            def pump() -> None:  # the run's frames, in their own thread: the replay below reads them as they come
                try:
                    ran.append(session.run(
                        wall_seconds=float(settings.BACKTEST_TIME_LIMIT_SECONDS), on_records=feed.add,
                        cancelled=lambda: stop.is_set() or bool(cancelled is not None and cancelled())))
                finally:
                    feed.finish(ran[0].error if ran else "the worker stopped reading the run")

            thread = threading.Thread(target=pump, name="backtest-run", daemon=True)
            thread.start()
            try:
                sealed.append(SandboxRunner(files, strategy_id=spec.strategy_id, platform=spec.platform, limits=limits,
                                            sandbox=sandbox, desk=spec))  # it starts while the main one runs
                replay = ReplayRunner(engine, feed, sealed=lambda: sealed[0],
                                      sample=settings.BACKTEST_LOOKAHEAD_SAMPLE, seed=_lookahead_seed())
                try:
                    result = engine.run(replay, progress=progress, cancelled=cancelled)
                except RunTampered as tampered:
                    stop.set()
                    result = _ended(BacktestEngine(spec, bars=bars), f"tampered: {tampered}")
                if replay.coverage.difference is not None:
                    stop.set()
                for opened in sealed:  # it exits while the figures below are computed; reaped at the end
                    opened.end()
            except BaseException:
                stop.set()
                raise
            finally:
                thread.join()
        run = _one_run_figures(result, ran[0], replay, feed, bars, weak, stopped=stop.is_set())
        for opened in sealed:  # its exit status, with its peak memory
            opened.close()
        run.peak_rss_mb = _peak_mb(sandbox_run=session.max_rss_kb, sealed_run=sealed[0].max_rss_kb if sealed else None)
        return run
    finally:
        for opened in sealed:
            opened.close()


def _one_run_figures(result: BacktestResult, outcome: OneRunOutcome, replay: ReplayRunner, feed: RecordFeed,
                     bars: dict[str, BarSeries], weak: bool, *, stopped: bool) -> BacktestRun:
    """The replay's figures, and the run's claim held against them."""
    if outcome.error == "cancelled" and not stopped:
        raise BacktestCancelled(f"cancelled at step {replay.index} of {feed.total_steps}")
    claim = outcome.claim
    if claim is None and result.status == "succeeded":
        result.status, result.error = "failed", f"the backtest's sandbox run ended without a result: {outcome.error}"
    elif claim is not None and replay.coverage.difference is None and not (result.error or "").startswith(
            "tampered") and result.digest() != claim.get("digest"):
        # Figures stay the replay's; the run that claimed others fails.
        result.status, result.error = "failed", (
            f"tampered: the run claimed {claim.get('trades')!r} trades ending at equity "
            f"{claim.get('final_equity')!r}; the replay outside the sandbox gives "
            f"{len(result.trades)} ending at {result.equity[-1][1] if result.equity else None}")
    replay_s = result.duration_s
    result.duration_s = max(outcome.duration_s, replay_s)
    result.logs = [{"time": None, "level": line.level, "message": line.message} for line in outcome.logs] + result.logs
    phases = {"sandbox_run": round(outcome.duration_s, 3), "sealed_check": round(replay.sealed_s, 3),
              "replay_with_check": round(replay_s, 3)}  # the replay follows the run: they overlap
    # The equity curve is labelled with bar starts: their texts are already built for shipping the bars.
    texts = {start: text for series in bars.values() for start, text in zip(series.starts, series.times(), strict=True)}
    return BacktestRun(result, _metrics(result), replay.coverage.as_json(), weak, phases, texts)


def _peak_mb(**kilobytes: int | None) -> dict[str, float]:
    return {name: round(kb / 1024, 1) for name, kb in kilobytes.items() if kb is not None}


def _lookahead_seed() -> int:
    seed = settings.BACKTEST_LOOKAHEAD_SEED
    return secrets.randbelow(2**31) if seed is None else int(seed)  # unknown to the script unless set


def run_json(run: BacktestRun, backtest_id: int | None) -> dict[str, Any]:
    """The command's --json shape (and the API's): pnl net of fees."""
    result = run.result
    texts = run.time_texts or {}
    return {
        "id": None if backtest_id is None else str(backtest_id),
        "status": result.status,
        "error": result.error,
        "metrics": run.metrics,
        "trades": [{key: trade[key] for key in TRADE_KEYS} for trade in result.trades],
        "equity": [[texts.get(moment) or iso(moment), str(value.quantize(CENT))] for moment, value in result.equity],
        "open_positions": result.open_positions,
        "lookahead": run.lookahead,
        "phases": run.phases,
        "peak_rss_mb": run.peak_rss_mb,
    }


TRADE_KEYS = ("market_id", "side", "entry_time", "exit_time", "entry_price", "exit_price", "quantity", "pnl", "fees")
CENT = Decimal("0.01")


# --- the Backtest row -------------------------------------------------------------------------------


class BacktestsBusy(BacktestInvalid):
    """The user's BACKTESTS_IN_FLIGHT_PER_USER backtests are queued or running: one more waits for one to end."""

    type = "throttled"
    status = 429
    retry_after = 30


def backtest_create(*, version: StrategyVersion, created_by: Any, data: BacktestData, start: datetime | None = None,
                    end: datetime | None = None, cash: Decimal | None = None,
                    commission: Decimal | None = None) -> Backtest:
    """A queued backtest of `version`; checked first, so nothing is written for a bad request."""
    if start is not None and end is not None and start >= end:
        raise BacktestInvalid(f"start must be before end, got {start.isoformat()} and {end.isoformat()}")
    if cash is not None and cash <= 0:
        raise BacktestInvalid(f"cash must be > 0 USD, got {cash}")
    if commission is not None and not Decimal(0) <= commission < Decimal("0.1"):
        raise BacktestInvalid(f"commission must be a relative fee in [0, 0.1), got {commission}")
    if commission is not None and data.source != Backtest.Source.CSV:
        raise BacktestInvalid("commission: a relative fee applies to CSV data only; venues charge their own fees")
    with transaction.atomic():
        if created_by is not None:
            _backtest_room(created_by)
        return Backtest.objects.create(
            strategy=version.strategy, version=version, created_by=created_by, data_source=data.source,
            data_spec=data.spec, start=start, end=end,
            parameters={"cash": None if cash is None else str(cash),
                        "commission": None if commission is None else str(commission),
                        "polling_interval": version.config["polling_interval"]})


def _backtest_room(user: Any) -> None:
    """BacktestsBusy unless `user` has room for one more backtest queued or running (their row locked, so two
    requests at once count one after the other)."""
    get_user_model().objects.select_for_update().filter(pk=user.pk).first()
    busy = Backtest.objects.filter(created_by=user, status__in=[Backtest.Status.QUEUED, Backtest.Status.RUNNING],
                                   sweep__isnull=True)  # a sweep's points are bounded by SWEEPS_IN_FLIGHT_PER_USER
    count = busy.count()
    if count >= settings.BACKTESTS_IN_FLIGHT_PER_USER:
        raise BacktestsBusy(f"you have {count} backtests queued or running, the most at once "
                            f"(BACKTESTS_IN_FLIGHT_PER_USER): retry when one ends, or cancel one")


def backtest_start(*, enqueue: Callable[[int], object], **create: Any) -> Backtest:
    """Create a queued backtest (see `backtest_create`); `enqueue(backtest_id)` sends it to a worker once committed
    (the caller's task, `strategies.tasks.backtest_run.delay`)."""
    with transaction.atomic():
        backtest = backtest_create(**create)
        transaction.on_commit(lambda: enqueue(backtest.pk))
    return backtest


def backtest_cancel(*, backtest: Backtest) -> Backtest:
    """Ask a backtest to stop: a queued one is cancelled now, a running one between two steps."""
    now = timezone.now()
    Backtest.objects.filter(pk=backtest.pk, status=Backtest.Status.QUEUED).update(
        status=Backtest.Status.CANCELLED, cancel_requested=True, finished_at=now, error="cancelled before it started")
    Backtest.objects.filter(pk=backtest.pk, status=Backtest.Status.RUNNING).update(cancel_requested=True)
    backtest.refresh_from_db()
    transaction.on_commit(lambda: backtest_broadcast(backtest))
    return backtest


class _Progress:
    """Persists progress (percent, ETA) at most every `every` seconds, then broadcasts it; reads cancel."""

    def __init__(self, backtest: Backtest, *, every: float = 0.5, echo: Callable[[str], None] | None = None) -> None:
        self.backtest, self.every, self.echo = backtest, every, echo
        self.started = time.monotonic()
        self.last = 0.0
        self.cancel = False

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self.last < self.every and done < total:
            return
        self.last = now
        elapsed = now - self.started
        percent = min(100.0, done / total * 100)
        eta = elapsed / done * (total - done) if done else None
        Backtest.objects.filter(pk=self.backtest.pk).update(progress=percent, eta_seconds=eta, steps=done)
        self.cancel = Backtest.objects.filter(pk=self.backtest.pk, cancel_requested=True).exists()
        self.backtest.progress, self.backtest.eta_seconds, self.backtest.steps = percent, eta, done
        backtest_broadcast(self.backtest)
        if self.echo is not None:
            self.echo(f"backtest {self.backtest.pk}: {percent:5.1f}% ({done}/{total} steps"
                      f"{f', ETA {eta:.0f} s' if eta is not None else ''})")

    def cancelled(self) -> bool:
        return self.cancel


def backtest_execute(*, backtest_id: int, echo: Callable[[str], None] | None = None,
                     lookahead: bool | None = None) -> Backtest:
    """Run a queued backtest (claimed once: a redelivered task finds it taken) and store its result."""
    with collection_paused():  # the bars, the curve and the records: a large heap with next to no cycles
        return _backtest_execute(backtest_id=backtest_id, echo=echo, lookahead=lookahead)


def _backtest_execute(*, backtest_id: int, echo: Callable[[str], None] | None, lookahead: bool | None) -> Backtest:
    claimed = Backtest.objects.filter(pk=backtest_id, status=Backtest.Status.QUEUED).update(
        status=Backtest.Status.RUNNING, started_at=timezone.now(), worker=worker_id())
    backtest = Backtest.objects.select_related("version", "strategy").get(pk=backtest_id)
    if not claimed:
        return backtest
    backtest_broadcast(backtest)
    version = backtest.version
    params = backtest.parameters
    progress = _Progress(backtest, echo=echo)
    started = time.monotonic()
    fields: dict[str, Any]
    config = version.config
    if params.get("overrides"):  # a sweep's point: its parameters over the version's own
        config = {**config, "parameters": {**(config.get("parameters") or {}), **params["overrides"]}}
    try:
        run = backtest_execute_files(
            version.source_files(), config, BacktestData(backtest.data_source, backtest.data_spec),
            start=backtest.start, end=backtest.end,
            cash=Decimal(params["cash"]) if params.get("cash") else None,
            commission=Decimal(params["commission"]) if params.get("commission") else None,
            strategy_id=str(backtest.strategy_id), progress=progress, cancelled=progress.cancelled,
            lookahead=lookahead)
    except BacktestCancelled as stopped:
        fields = {"status": Backtest.Status.CANCELLED, "error": str(stopped)}
    except (BacktestInvalid, DataError, SandboxUnavailable) as error:
        fields = {"status": Backtest.Status.FAILED, "error": str(error)}
    except Exception as error:  # the row must not stay "running" forever; the traceback goes to the log
        logger.exception("backtest %s failed", backtest_id)
        fields = {"status": Backtest.Status.FAILED, "error": f"the backtest failed ({type(error).__name__}: {error})"}
    else:
        shaped = run_json(run, backtest.pk)
        fields = {
            "status": Backtest.Status.SUCCEEDED if run.result.status == "succeeded" else Backtest.Status.FAILED,
            "error": run.result.error or "", "metrics": shaped["metrics"], "trades": run.result.trades,
            "equity": shaped["equity"], "open_positions": shaped["open_positions"],
            "actions": run.result.actions[:MAX_ACTIONS], "logs": run.result.logs, "lookahead": run.lookahead,
            "steps": run.result.steps, "progress": 100.0 if run.result.status == "succeeded" else backtest.progress,
        }
    fields.update(finished_at=timezone.now(), duration_ms=round((time.monotonic() - started) * 1000, 1),
                  eta_seconds=None)
    Backtest.objects.filter(pk=backtest_id).update(**fields)
    backtest.refresh_from_db()
    backtest_broadcast(backtest)
    return backtest


MAX_ACTIONS = 5000
LOST = "the worker running this backtest was lost (killed or restarted) before it finished"


def backtests_recover(*, now: datetime | None = None) -> int:
    """Fail running backtests whose process is gone or that outlived the task's time limit; how many."""
    now = now or timezone.now()
    stale = now - timedelta(seconds=settings.BACKTEST_TIME_LIMIT_SECONDS + 60)
    failed = 0
    for backtest in Backtest.objects.filter(status=Backtest.Status.RUNNING).select_related("version"):
        if backtest.started_at is not None and (backtest.started_at < stale or process_gone(backtest.worker)):
            failed += Backtest.objects.filter(pk=backtest.pk, status=Backtest.Status.RUNNING).update(
                status=Backtest.Status.FAILED, error=LOST, finished_at=now, eta_seconds=None)
            backtest.refresh_from_db()
            backtest_broadcast(backtest)
    # A sweep whose last point was lost has no lane left to rank it.
    open_points = Backtest.objects.filter(sweep=OuterRef("pk"), status__in=[Backtest.Status.QUEUED,
                                                                            Backtest.Status.RUNNING])
    for sweep_id in Sweep.objects.filter(status=Sweep.Status.RUNNING).exclude(Exists(open_points)).values_list(
            "pk", flat=True):
        sweep_finish(sweep_id=sweep_id)
    return failed


# --- parameter sweeps: one version over many `parameters` points, ranked, deflated, checked out of sample -----------

SWEEP_FIELDS = ("parameters", "method", "samples", "seed", "metric", "holdout")
# Metrics a sweep may rank by, each higher-is-better (max_drawdown_pct is negative: -5 beats -20).
SWEEP_METRICS = ("sharpe", "sortino", "calmar", "return_pct", "cagr_pct", "return_ann_pct", "max_drawdown_pct",
                 "win_rate_pct", "profit_factor", "expectancy_pct", "avg_trade_pct")
DEFAULT_HOLDOUT = 0.25
SAMPLE_FROM_RANGE = 1_000_000
RANKED_KEYS = ("return_pct", "sharpe", "sortino", "calmar", "max_drawdown_pct", "win_rate_pct", "profit_factor",
               "expectancy_pct", "trades", "cagr_pct", "return_ann_pct", "avg_trade_pct", "exposure_pct")


class SweepInvalid(BacktestInvalid):
    """A sweep that cannot start: the message starts with the field at fault (`parameters.fast: …`)."""

    def issues_json(self) -> list[dict[str, Any]]:
        word = self.message.split(":")[0].split(" ")[0]
        if word.split(".")[0] in SWEEP_FIELDS:
            return [issue(self.message, path=word)]
        return super().issues_json()


class SweepsBusy(BacktestsBusy):
    """The user's SWEEPS_IN_FLIGHT_PER_USER sweeps are queued or running."""


def _axis(name: str, spec: Any, *, method: str, limit: int) -> list[Any] | tuple[float, float, bool]:
    """One parameter's values: a list, or {min, max, step} expanded; without a step (random only) the
    (min, max, whole numbers) range it is drawn from."""
    where = f"parameters.{name}"
    if isinstance(spec, list):
        if not spec:
            raise SweepInvalid(f"{where}: give at least one value")
        if len(spec) > limit:
            raise SweepInvalid(f"{where}: {len(spec)} values, more than SWEEP_MAX_POINTS ({limit})")
        if any(isinstance(value, dict | list) for value in spec):
            raise SweepInvalid(f"{where}: values must be numbers, strings, booleans or null")
        if any(isinstance(value, str) and "\x00" in value for value in spec):
            raise SweepInvalid(f"{where}: a value holds a NUL character")
        return list(spec)
    if not isinstance(spec, dict) or set(spec) - {"min", "max", "step"} or not {"min", "max"} <= set(spec):
        raise SweepInvalid(f"{where}: a list of values or {{\"min\", \"max\", \"step\"}}, got {json.dumps(spec)}")
    bounds = [spec.get(key) for key in ("min", "max", "step")]
    if any(isinstance(b, bool) or not isinstance(b, int | float | type(None)) for b in bounds) or None in bounds[:2]:
        raise SweepInvalid(f"{where}: min, max and step must be numbers")
    low, high, step = bounds
    assert low is not None and high is not None
    if low > high:
        raise SweepInvalid(f"{where}: min must not exceed max, got {low} > {high}")
    whole = all(isinstance(b, int) for b in bounds if b is not None)
    if step is None:
        if method == SweepMethod.GRID:
            raise SweepInvalid(f"{where}: a grid needs a step (or a list of values); only a random sample draws "
                               "from a range without one")
        return (float(low), float(high), whole)
    if step <= 0:
        raise SweepInvalid(f"{where}: step must be > 0, got {step}")
    span = (high - low) / step + 1
    if not span <= limit:  # an infinite span too
        raise SweepInvalid(f"{where}: {span:.0f} values, more than SWEEP_MAX_POINTS ({limit})")
    count = int(span - 1 + 1e-9) + 1
    return [low + i * step if whole else round(low + i * step, 10) for i in range(count)]


def sweep_points(space: Any, *, method: str, samples: int | None, seed: int | None,
                 declared: Mapping[str, Any], limit: int) -> list[dict[str, Any]]:
    """The points of a sweep, each a {name: value} over the version's parameters: every combination of the
    grid, or `samples` seeded draws (distinct points of a finite space). SweepInvalid names the field."""
    if not isinstance(space, dict) or not space:
        raise SweepInvalid("parameters: name at least one parameter and its values, e.g. {\"fast\": [5, 10, 15]}")
    unknown = [name for name in space if name not in declared]
    if unknown:
        raise SweepInvalid(f"parameters.{unknown[0]}: not one of this version's parameters "
                           f"({', '.join(declared) or 'it has none'}); a sweep varies config.json's own parameters")
    axes = {name: _axis(name, spec, method=method, limit=limit) for name, spec in space.items()}
    names = list(axes)
    if method == SweepMethod.GRID:
        if samples is not None or seed is not None:
            raise SweepInvalid("samples: a grid runs every combination; samples and seed are for method random")
        size = math.prod(len(values) for values in axes.values())
        if size > limit:
            raise SweepInvalid(f"parameters: the grid has {size} points, more than SWEEP_MAX_POINTS ({limit}); "
                               f"narrow it, or sample it (method random, samples <= {limit})")
        return [dict(zip(names, combo, strict=True))
                for combo in itertools.product(*axes.values())]
    if samples is None:
        raise SweepInvalid("samples: how many points to draw (method random)")
    if not 1 <= samples <= limit:
        raise SweepInvalid(f"samples: at most SWEEP_MAX_POINTS ({limit}) and at least 1, got {samples}")
    rng = random.Random(seed)  # noqa: S311 - a reproducible sample, not a secret
    if all(isinstance(values, list) for values in axes.values()):
        lists: list[list[Any]] = [values for values in axes.values() if isinstance(values, list)]
        size = math.prod(len(values) for values in lists)
        if size <= SAMPLE_FROM_RANGE:
            chosen = sorted(rng.sample(range(size), min(samples, size)))
        else:  # too many to list: distinct indexes drawn one by one (samples is far below size)
            drawn: set[int] = set()
            while len(drawn) < samples:
                drawn.add(rng.randrange(size))
            chosen = sorted(drawn)
        return [dict(zip(names, _decode(index, lists), strict=True)) for index in chosen]
    points = []
    for _ in range(samples):
        point: dict[str, Any] = {}
        for name, values in axes.items():
            if isinstance(values, list):
                point[name] = rng.choice(values)
            else:
                low, high, whole = values
                point[name] = rng.randint(int(low), int(high)) if whole else round(rng.uniform(low, high), 10)
        points.append(point)
    return points


def _decode(index: int, lists: list[list[Any]]) -> list[Any]:
    """The index-th combination of `lists` in itertools.product's order."""
    picked = []
    for values in reversed(lists):
        index, at = divmod(index, len(values))
        picked.append(values[at])
    return picked[::-1]


def sweep_create(*, version: StrategyVersion, created_by: Any, data: BacktestData, parameters: Any,
                 method: str = SweepMethod.GRID, samples: int | None = None, seed: int | None = None,
                 metric: str = "sharpe", holdout: float = DEFAULT_HOLDOUT, start: datetime | None = None,
                 end: datetime | None = None, cash: Decimal | None = None,
                 commission: Decimal | None = None) -> Sweep:
    """A queued sweep and its queued points (one Backtest each); checked first, so nothing is written for a bad
    request."""
    if method not in SweepMethod.values:
        raise SweepInvalid(f"method must be one of {', '.join(SweepMethod.values)}, got {method!r}")
    if metric not in SWEEP_METRICS:
        raise SweepInvalid(f"metric must be one of {', '.join(SWEEP_METRICS)}, got {metric!r}")
    if not 0 <= holdout <= 0.9:
        raise SweepInvalid(f"holdout: the share of the range held back must be in [0, 0.9], got {holdout}")
    if method == SweepMethod.RANDOM and seed is None:
        seed = random.SystemRandom().randrange(2 ** 31)  # kept, so the sample can be drawn again
    points = sweep_points(parameters, method=method, samples=samples, seed=seed,
                          declared=version.config.get("parameters") or {}, limit=settings.SWEEP_MAX_POINTS)
    with transaction.atomic():
        template = backtest_create(version=version, created_by=None, data=data, start=start, end=end, cash=cash,
                                   commission=commission)  # the checks of one backtest; its row is the first point
        if created_by is not None:
            _sweep_room(created_by)
        sweep = Sweep.objects.create(
            strategy=version.strategy, version=version, created_by=created_by, method=method, space=parameters,
            seed=seed, metric=metric, holdout=holdout, total=len(points))
        Backtest.objects.filter(pk=template.pk).update(
            sweep=sweep, sweep_index=0, created_by=created_by,
            parameters={**template.parameters, "overrides": points[0]})
        Backtest.objects.bulk_create([
            Backtest(strategy=template.strategy, version=version, created_by=created_by, data_source=data.source,
                     data_spec=data.spec, start=start, end=end, sweep=sweep, sweep_index=index,
                     parameters={**template.parameters, "overrides": point})
            for index, point in enumerate(points) if index])
    return sweep


def _sweep_room(user: Any) -> None:
    get_user_model().objects.select_for_update().filter(pk=user.pk).first()
    count = Sweep.objects.filter(created_by=user, status__in=[Sweep.Status.QUEUED, Sweep.Status.RUNNING]).count()
    if count >= settings.SWEEPS_IN_FLIGHT_PER_USER:
        raise SweepsBusy(f"you have {count} sweeps queued or running, the most at once (SWEEPS_IN_FLIGHT_PER_USER): "
                         "retry when one ends, or cancel one")


def sweep_start(*, enqueue: Callable[[int], object], **create: Any) -> Sweep:
    """Create a queued sweep (see `sweep_create`); once committed, `enqueue(sweep_id)` SWEEP_POINTS_AT_ONCE times:
    each is a lane that runs one point and enqueues itself again while points wait (`sweep_step`)."""
    with transaction.atomic():
        sweep = sweep_create(**create)
        lanes = min(settings.SWEEP_POINTS_AT_ONCE, sweep.total)
        transaction.on_commit(lambda: [enqueue(sweep.pk) for _ in range(lanes)])
    return sweep


def sweep_step(*, sweep_id: int, enqueue: Callable[[int], object]) -> None:
    """One lane's turn: run the sweep's next queued point, then pass the turn on (`enqueue`) while points wait;
    the lane that sees none left and none running ranks the sweep (`sweep_finish`)."""
    Sweep.objects.filter(pk=sweep_id, status=Sweep.Status.QUEUED).update(
        status=Sweep.Status.RUNNING, started_at=timezone.now())
    waiting = Backtest.objects.filter(sweep_id=sweep_id, status=Backtest.Status.QUEUED).order_by("sweep_index")
    point = waiting.values_list("pk", flat=True).first()
    if point is not None:
        # Checked as any backtest is (on books: BACKTEST_LOOKAHEAD_CHECK). Another lane may have claimed it: a no-op.
        ran = backtest_execute(backtest_id=point)
        if ran.status == Backtest.Status.SUCCEEDED:
            _point_figures_keep(ran, sweep_id=sweep_id)
        _sweep_count(sweep_id)
    if waiting.exists():
        enqueue(sweep_id)
    elif not Backtest.objects.filter(sweep_id=sweep_id, status=Backtest.Status.RUNNING).exists():
        sweep_finish(sweep_id=sweep_id)


def _sweep_count(sweep_id: int) -> None:
    done = Backtest.objects.filter(sweep_id=sweep_id).exclude(
        status__in=[Backtest.Status.QUEUED, Backtest.Status.RUNNING]).count()
    Sweep.objects.filter(pk=sweep_id).update(done=done)


def sweep_cancel(*, sweep: Sweep) -> Sweep:
    """Stop a sweep: its waiting points are cancelled now, a running one between two steps; what finished is
    ranked as the sweep's (partial) result. A finished sweep is left as it is."""
    now = timezone.now()
    if not Sweep.objects.filter(pk=sweep.pk, status__in=[Sweep.Status.QUEUED, Sweep.Status.RUNNING]).update(
            cancel_requested=True):
        sweep.refresh_from_db()
        return sweep
    Backtest.objects.filter(sweep=sweep, status=Backtest.Status.QUEUED).update(
        status=Backtest.Status.CANCELLED, cancel_requested=True, finished_at=now, error="the sweep was cancelled")
    Backtest.objects.filter(sweep=sweep, status=Backtest.Status.RUNNING).update(cancel_requested=True)
    _sweep_count(sweep.pk)
    if not Backtest.objects.filter(sweep=sweep, status=Backtest.Status.RUNNING).exists():
        sweep_finish(sweep_id=sweep.pk)
    sweep.refresh_from_db()
    return sweep


def sweep_finish(*, sweep_id: int) -> None:
    """Rank a sweep whose points have all ended (once: the row is locked and must still be open)."""
    with transaction.atomic():
        sweep = Sweep.objects.select_for_update().filter(
            pk=sweep_id, status__in=[Sweep.Status.QUEUED, Sweep.Status.RUNNING]).first()
        if sweep is None:
            return
        _sweep_count(sweep_id)
        sweep.refresh_from_db()
        succeeded = sweep.points.filter(status=Backtest.Status.SUCCEEDED).order_by("sweep_index")
        points: list[dict[str, Any]] = [dict(row) for row in succeeded.values(
            "pk", "sweep_index", "parameters", "finished_at")]
        figures = _point_figures_kept(points, sweep.holdout)
        if figures is None:  # worked out here from the stored runs
            points = [dict(row) for row in succeeded.values(
                "pk", "sweep_index", "parameters", "metrics", "equity", "trades", "open_positions")]
        failed = sweep.points.filter(status=Backtest.Status.FAILED).values_list("error", flat=True).first()
        sweep.results = sweep_rank(points, metric=sweep.metric, holdout=sweep.holdout, figures=figures)
        if sweep.cancel_requested:
            sweep.status = Sweep.Status.CANCELLED
        elif points:
            sweep.status = Sweep.Status.SUCCEEDED
        else:
            sweep.status, sweep.error = Sweep.Status.FAILED, f"every point failed; the first: {failed or 'unknown'}"
        sweep.finished_at = timezone.now()
        sweep.save(update_fields=["results", "status", "error", "finished_at", "done"])


def sweep_rank(points: list[dict[str, Any]], *, metric: str, holdout: float,
               figures: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The ranking of finished points by `metric` over the in-sample part (the range before its last `holdout`
    share), the number of trials, the deflated Sharpe ratio of the best, and the best's out-of-sample metrics.
    `figures`: each point's `_point_figures`, worked out already (then `points` need no equity or trades)."""
    if not points:
        return {"metric": metric, "holdout": holdout, "trials": 0, "ranking": []}
    if figures is None:
        parsed: dict[str, float] = {}  # the points' equity shares its times: each parsed once
        split = _sweep_split([_epoch(moment, parsed) for moment, _ in points[0]["equity"]], holdout)
        figures = [_point_figures(point, split, parsed) for point in points]
    split = figures[0]["split"]
    rows = [{"backtest_id": str(point["pk"]), "index": point["sweep_index"],
             "parameters": point["parameters"].get("overrides") or {}, "score": kept["in_sample"].get(metric),
             "in_sample": kept["in_sample"], "out_of_sample": kept["out_of_sample"], "_returns": kept["returns"]}
            for point, kept in zip(points, figures, strict=True)]
    rows.sort(key=lambda row: (row["score"] is None, -(row["score"] or 0.0), row["index"]))
    trial_sharpes = [s for s in (sharpe_per_period(row["_returns"]) for row in rows) if s is not None]
    best = rows[0]
    deflated = deflated_sharpe(best["_returns"], trial_sharpes)
    for rank, row in enumerate(rows, 1):
        row["rank"] = rank
        del row["_returns"]
    return {
        "metric": metric, "holdout": holdout, "split_at": None if split is None else iso(split),
        "trials": len(rows), "best": rows[0],
        "deflated_sharpe": None if deflated is None else {
            "trials": deflated.trials, "sharpe": deflated.sharpe, "trials_sharpe_variance": deflated.trials_variance,
            "expected_max_sharpe": deflated.expected_max_sharpe, "observations": deflated.observations,
            "skew": deflated.skew, "kurtosis": deflated.kurtosis, "deflated_sharpe": deflated.deflated_sharpe,
            "per": "period of the equity's daily returns (not annualised)"},
        "out_of_sample": best["out_of_sample"],
        "ranking": rows,
    }


def _sweep_split(times: list[float], holdout: float) -> float | None:
    """Where the held-back tail starts: the last `holdout` share of the range of a run's equity."""
    return times[0] + (times[-1] - times[0]) * (1 - holdout) if holdout and len(times) > 1 else None


def _point_figures(point: dict[str, Any], split: float | None, parsed: dict[str, float]) -> dict[str, Any]:
    """What the ranking needs of one finished point: its metrics before and after `split`, and its daily returns
    before it (the deflated Sharpe's)."""
    run = _StoredRun.of(point, parsed)
    inside = run.segment(None, split) if split is not None else point["metrics"]
    outside = run.segment(split, None) if split is not None else None
    return {"split": split, "in_sample": {k: inside.get(k) for k in RANKED_KEYS},
            "out_of_sample": None if outside is None else {k: outside.get(k) for k in RANKED_KEYS},
            "returns": run.daily_returns(split)}


POINT_FIGURES_KEPT_SECONDS = 24 * 3600


def _point_figures_key(point: dict[str, Any], holdout: float) -> str:
    """The point's run named by its row and the moment it finished: a database made afresh (tests) reuses ids."""
    return f"sweep-point-figures:{point['pk']}:{point['finished_at'].isoformat()}:{holdout!r}"


def _point_figures_keep(point: Backtest, *, sweep_id: int) -> None:
    """Work a finished point's ranking figures out in its lane, beside the other lanes' runs, and keep them in the
    cache: the ranking after the last point then only sorts (on one core, while the sweep waits). The figures are
    the ones `sweep_rank` would work out from the stored run; a point whose figures are gone is worked out then."""
    holdout = Sweep.objects.values_list("holdout", flat=True).get(pk=sweep_id)
    parsed: dict[str, float] = {}
    stored = {"metrics": point.metrics, "equity": point.equity, "trades": point.trades,
              "open_positions": point.open_positions}
    figures = _point_figures(stored, _sweep_split([_epoch(moment, parsed) for moment, _ in point.equity], holdout),
                             parsed)
    try:
        cache.set(_point_figures_key({"pk": point.pk, "finished_at": point.finished_at}, holdout), figures,
                  POINT_FIGURES_KEPT_SECONDS)
    except (RedisError, OSError) as error:  # only a speed-up: the ranking works them out without
        logger.warning("sweep point %s: figures not kept: %r", point.pk, error)


def _point_figures_kept(points: list[dict[str, Any]], holdout: float) -> list[dict[str, Any]] | None:
    """The kept figures of every point, in order; None unless all are kept and share one split (the points ran
    over the same range, so their equity starts and ends alike)."""
    keys = [_point_figures_key(point, holdout) for point in points]
    try:
        kept = cache.get_many(keys)
    except (RedisError, OSError):
        return None
    figures: list[dict[str, Any]] = [kept[key] for key in keys if key in kept]
    if len(figures) < len(keys) or any(f["split"] != figures[0]["split"] for f in figures):
        return None
    return figures


def sweep_json(sweep: Sweep, *, detail: bool) -> dict[str, Any]:
    """A sweep as the API, the tools and the command show it (`ranking` only with `detail`)."""
    results = sweep.results or {}
    running = sweep.points.filter(status=Backtest.Status.RUNNING).values_list("progress", flat=True) \
        if sweep.status == Sweep.Status.RUNNING else []
    percent = (sweep.done + sum(running) / 100) / sweep.total * 100 if sweep.total else 100.0
    first = sweep.points.order_by("sweep_index").only("data_source", "start", "end", "parameters").first()
    data: dict[str, Any] = {
        "id": str(sweep.pk), "strategy_id": str(sweep.strategy_id), "version": sweep.version.number,
        "status": sweep.status, "progress": {"done": sweep.done, "total": sweep.total, "percent": round(percent, 1)},
        "method": sweep.method, "parameters": sweep.space, "seed": sweep.seed, "metric": sweep.metric,
        "holdout": sweep.holdout, "data_source": first.data_source if first else None,
        "start": first.start if first else None, "end": first.end if first else None,
        "cash": first.parameters.get("cash") if first else None, "error": sweep.error or None,
        "created_at": sweep.created_at, "finished_at": sweep.finished_at, "trials": results.get("trials", 0),
        "best": results.get("best"), "deflated_sharpe": results.get("deflated_sharpe"),
        "out_of_sample": results.get("out_of_sample"), "split_at": results.get("split_at"),
    }
    if detail:
        data["ranking"] = results.get("ranking", [])
    return data


def _epoch(moment: str, parsed: dict[str, float] | None = None) -> float:
    """An ISO time as epoch seconds; `parsed` remembers the ones already seen."""
    if parsed is not None and moment in parsed:
        return parsed[moment]
    epoch = datetime.fromisoformat(moment.replace("Z", "+00:00")).timestamp()
    if parsed is not None:
        parsed[moment] = epoch
    return epoch


@dataclass
class _StoredRun:
    """A finished point's equity and trades, their times and values parsed once (the times ascending, as a run
    records them)."""

    times: list[float]
    values: list[Decimal]
    trades: list[tuple[float, float, dict[str, Any]]]  # (entry, exit, trade)
    spans: list[tuple[float, float]]  # when a position was held, merged; an open one lasts to infinity

    @classmethod
    def of(cls, point: dict[str, Any], parsed: dict[str, float]) -> _StoredRun:
        trades = [(_epoch(t["entry_time"], parsed), _epoch(t["exit_time"], parsed), t) for t in point["trades"]]
        spans = sorted([(entry, exit_) for entry, exit_, _ in trades]
                       + [(_epoch(str(p.get("opened_at") or p.get("entry_time")), parsed), math.inf)
                          for p in point["open_positions"] if p.get("opened_at") or p.get("entry_time")])
        merged: list[tuple[float, float]] = []
        for a, b in spans:
            if merged and a <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], b))
            else:
                merged.append((a, b))
        return cls([_epoch(m, parsed) for m, _ in point["equity"]], [Decimal(v) for _, v in point["equity"]], trades,
                   merged)

    def held_steps(self, times: list[float]) -> int:
        """How many of `times` (ascending) fall inside a span a position was held (the spans are merged: disjoint)."""
        return sum(bisect.bisect_right(times, b) - bisect.bisect_left(times, a) for a, b in self.spans)

    def segment(self, low: float | None, high: float | None) -> dict[str, Any]:
        """The metrics between two moments, with the same formulas as a whole run's: the equity inside, the trades
        that closed inside (a trade opened before `low` counts where it closed), exposure from the trades' spans."""
        first = 0 if low is None else bisect.bisect_left(self.times, low)
        last = len(self.times) if high is None else bisect.bisect_right(self.times, high)
        equity = list(zip(self.times[first:last], self.values[first:last], strict=True))
        if len(equity) < 2:
            return {}
        trades = [trade for _, at, trade in self.trades if (low is None or at > low) and (high is None or at <= high)]
        end = equity[-1][0]
        return compute_metrics(
            equity=equity, trade_returns=[_trade_return(t) for t in trades],
            trade_pnls=[Decimal(t["pnl"]) for t in trades], exposure_steps=self.held_steps(self.times[first:last]),
            fees_usd=sum((Decimal(t["fees"]) for t in trades), Decimal(0)), first_price=None, last_price=None,
            open_positions=sum(1 for a, b, _ in self.trades if a <= end < b)
            + sum(1 for a, b in self.spans if b == math.inf and a <= end))

    def daily_returns(self, high: float | None) -> list[float]:
        """The returns of the equity's last value per UTC day up to `high`: what the deflated Sharpe is taken over."""
        last_by_day: dict[int, float] = {}
        for at, value in zip(self.times, self.values, strict=True):
            if high is None or at <= high:
                last_by_day[int(at // 86400)] = float(value)
        values = [last_by_day[day] for day in sorted(last_by_day)]
        return [b / a - 1 for a, b in itertools.pairwise(values) if a]


def _trade_return(trade: dict[str, Any]) -> float:
    if "return_pct" in trade:
        return float(trade["return_pct"]) / 100
    cost = Decimal(trade["quantity"]) * Decimal(trade["entry_price"])
    return float(Decimal(trade["pnl"]) / cost) if cost else 0.0
