"""The strategies side of a backtest: load a version's files, drive them step by step, store the run.

The engine (`trading.backtest`) owns the clock, the data, the fills and the books; this module only
runs the strategy for it: in the sandbox (one long-lived process for the whole run,
`runtime.step_session`), or in this process for tests of the engine itself.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from runtime import Sandbox, SandboxLimits, SandboxUnavailable, VenueCallError
from runtime.backtest_session import OneRunOutcome, OneRunSession
from runtime.cycle import run_cycle_in_process
from runtime.loader import load_strategy
from runtime.sdk import VenueError
from runtime.step_session import StepSession
from strategies.events import backtest_broadcast
from strategies.models import Backtest, BacktestCsv, StrategyVersion
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
from trading.backtest.lookahead import lookahead_check
from trading.backtest.metrics import compute_metrics
from trading.backtest.replay import RecordFeed, ReplayRunner, RunTampered
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
                 limits: SandboxLimits, sandbox: Sandbox | None = None) -> None:
        ctx = {"strategy_id": strategy_id, "platform": platform, "mode": "backtest", "dry_run": False}
        self.session = StepSession(files, ctx, limits, sandbox)
        self.weak = self.session.weak

    def step(self, frame: dict[str, Any], on_call: OnCall) -> StepOutcome:
        def answer(venue: str, method: str, kwargs: dict[str, Any]) -> Any:
            try:
                return on_call(venue, method, kwargs)
            except BacktestCallError as error:
                raise VenueCallError(str(error)) from None

        result = self.session.step(frame, answer)
        return StepOutcome(result.status, result.entries, result.exits, result.state, result.error, result.traceback,
                           [(line.level, line.message) for line in result.logs])

    def close(self) -> None:
        self.session.close()


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
            text = csv_text(str(self.spec["sha256"]))
            name = str(self.spec.get("filename") or "data.csv")
            return {"bars": {self.spec["symbol"]: load_csv(name, symbol=str(self.spec["symbol"]), text=text)}}
        if self.source == Backtest.Source.POLYMARKET_RECORDED:
            return {"books": recorded_polymarket(str(self.spec.get("set") or "books"), self.spec.get("markets"))}
        if self.source == Backtest.Source.ALPACA_HISTORY:
            symbols = [str(s) for s in self.spec.get("symbols") or []]
            timeframe = str(self.spec.get("timeframe") or "1Day")
            return {"bars": {s: alpaca_history(s, timeframe=timeframe, start=start, end=end, offline=offline)
                             for s in symbols}}
        if self.source == Backtest.Source.POLYMARKET_HISTORY:
            return {"books": polymarket_history(
                [str(m) for m in self.spec.get("markets") or []], start=start, end=end,
                fidelity=int(self.spec.get("interval") or 60),
                half_spread=Decimal(str(self.spec.get("half_spread") or DEFAULT_HALF_SPREAD)), offline=offline)}
        if self.source == Backtest.Source.KALSHI_CANDLES:
            return {"books": kalshi_candles([str(t) for t in self.spec.get("tickers") or []], start=start, end=end,
                                            period=int(self.spec.get("interval") or 60), offline=offline)}
        raise BacktestInvalid(f"data_source {self.source!r} is not supported: use one of "
                              f"{', '.join(Backtest.Source.values)}")


def csv_text(sha256: str) -> str:
    """A stored CSV's text (`csv_store`), from the database: any worker host can run its backtest."""
    stored = BacktestCsv.objects.filter(sha256=sha256).values_list("content", flat=True).first()
    if stored is None:
        raise DataError(f"the CSV {sha256[:12]}… of this backtest is not stored: upload it again")
    return stored


def csv_store(text: str, *, symbol: str, filename: str) -> BacktestData:
    """Check a user's CSV now (a clear error names the line) and keep it by content hash for the worker."""
    series = load_csv(filename, symbol=symbol, text=text)
    digest = hashlib.sha256(text.encode()).hexdigest()
    BacktestCsv.objects.get_or_create(sha256=digest, defaults={"filename": filename, "content": text})
    return BacktestData(Backtest.Source.CSV, {"symbol": symbol, "sha256": digest, "filename": filename}, series)


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


def default_data(config: dict[str, Any], symbol: str | None, *, source: str | None = None,
                 markets: list[str] | None = None, interval: int | None = None,
                 half_spread: Decimal | None = None) -> BacktestData:
    """The venue data a backtest runs on: `source` (one of `Backtest.Source`, not csv), else the platform's
    default (recorded Polymarket books, Kalshi candlesticks, Alpaca daily bars)."""
    platform = config["platform"]
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
    if not found:
        raise BacktestInvalid("markets: name the Polymarket markets (condition ids or slugs) to backtest on "
                              "(--symbol, the API's markets, or parameters.markets)")
    fidelity = interval or 60
    if not 1 <= fidelity <= 1440:
        raise BacktestInvalid(f"interval must be whole minutes in [1, 1440], got {fidelity}")
    spread = DEFAULT_HALF_SPREAD if half_spread is None else half_spread
    if not Decimal(0) <= spread < Decimal("0.5"):
        raise BacktestInvalid(f"half_spread must be in [0, 0.5), got {spread}")
    return BacktestData(source, {"markets": found, "interval": fidelity, "half_spread": str(spread)})


@dataclass
class BacktestRun:
    """What the command and the task need of a finished run."""

    result: BacktestResult
    metrics: dict[str, Any]
    lookahead: dict[str, Any]
    weak: bool
    phases: dict[str, float] | None = None  # seconds per phase of a run on bars (the benchmark's profile)


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
    main = runner()
    try:
        result = BacktestEngine(spec, **loaded).run(main, progress=progress, cancelled=cancelled)
    finally:
        main.close()
    metrics = _metrics(result)
    checked: dict[str, Any] = {}
    if lookahead is None:
        lookahead = bool(settings.BACKTEST_LOOKAHEAD_CHECK)
    if lookahead and result.status == "succeeded":
        checked = lookahead_check(result.signals, engine_at=lambda cut: BacktestEngine(spec, **loaded, cutoff=cut),
                                  runner=runner, close=lambda r: r.close(),  # type: ignore[attr-defined]
                                  cancelled=cancelled)
    return BacktestRun(result, metrics, checked, main.weak)


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
                sealed.append(runner())  # the sealed run starts while the main one runs
                replay = ReplayRunner(engine, feed, sealed=lambda: sealed[0],
                                      sample=settings.BACKTEST_LOOKAHEAD_SAMPLE, seed=_lookahead_seed())
                try:
                    result = engine.run(replay, progress=progress, cancelled=cancelled)
                except RunTampered as tampered:
                    stop.set()
                    result = _ended(BacktestEngine(spec, bars=bars), f"tampered: {tampered}")
                if replay.coverage.difference is not None:
                    stop.set()
            except BaseException:
                stop.set()
                raise
            finally:
                thread.join()
    finally:
        for opened in sealed:
            opened.close()
    outcome = ran[0]
    if outcome.error == "cancelled" and not stop.is_set():
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
    return BacktestRun(result, _metrics(result), replay.coverage.as_json(), weak, phases)


def _lookahead_seed() -> int:
    seed = settings.BACKTEST_LOOKAHEAD_SEED
    return secrets.randbelow(2**31) if seed is None else int(seed)  # unknown to the script unless set


def run_json(run: BacktestRun, backtest_id: int | None) -> dict[str, Any]:
    """The command's --json shape (and the API's): pnl net of fees."""
    result = run.result
    return {
        "id": None if backtest_id is None else str(backtest_id),
        "status": result.status,
        "error": result.error,
        "metrics": run.metrics,
        "trades": [{key: trade[key] for key in TRADE_KEYS} for trade in result.trades],
        "equity": [[iso(moment), str(value.quantize(CENT))] for moment, value in result.equity],
        "open_positions": result.open_positions,
        "lookahead": run.lookahead,
        "phases": run.phases,
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
    busy = Backtest.objects.filter(created_by=user, status__in=[Backtest.Status.QUEUED, Backtest.Status.RUNNING])
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
    try:
        run = backtest_execute_files(
            version.source_files(), version.config, BacktestData(backtest.data_source, backtest.data_spec),
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
    return failed
