"""Backtest a deployed strategy (ID: its current version) or a strategy folder (DIR: validated, not saved); with
--sweep, a deployed strategy over a grid or a seeded sample of its parameters."""

from __future__ import annotations

import json
import sys
import threading
import time
from argparse import ArgumentParser
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.core.serializers.json import DjangoJSONEncoder

from runtime import SandboxUnavailable
from strategies.backtests import (
    VENUE_SOURCES,
    BacktestData,
    BacktestInvalid,
    backtest_create,
    backtest_execute,
    backtest_execute_files,
    csv_parse,
    csv_store,
    default_data,
    run_json,
    sweep_create,
    sweep_finish,
    sweep_json,
    sweep_step,
)
from strategies.management.commands.strategy_deploy import Command as DeployCommand
from strategies.models import Backtest, Strategy, Sweep
from strategies.validation import StrategyInvalid, strategy_files_validate
from strategyhub.lib.gc_pause import collection_paused
from trading.backtest.data import DataError


def _moment(value: str | None, flag: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise CommandError(f"{flag}: {value!r} is not an ISO 8601 time (e.g. 2012-01-31 or 2012-01-31T16:00Z)",
                           returncode=2) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _decimal(value: str | None, flag: str) -> Decimal | None:
    if value is None:
        return None
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise CommandError(f"{flag}: {value!r} is not a number", returncode=2) from None
    if not number.is_finite():
        raise CommandError(f"{flag}: {value!r} is not a finite number", returncode=2)
    return number


class Command(BaseCommand):
    help = ("Backtest strategy ID (its current version) or the strategy in DIR (validated like a deploy, nothing "
            "saved as a strategy) over a CSV of bars or the venue's history. Progress goes to stderr.")

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("target", metavar="ID|DIR")
        parser.add_argument("--csv", metavar="FILE", help="bars: a date/time/timestamp column, open, high, low, close"
                            " and optionally volume (or a DataFrame's to_csv)")
        parser.add_argument("--symbol", metavar="SYMBOL", help="the market id the CSV's bars are for; with venue data "
                            "the symbol, ticker(s) or Polymarket market(s) (comma-separated) to backtest on")
        parser.add_argument("--source", choices=[str(source) for source in VENUE_SOURCES],
                            help="venue data instead of a CSV (default: the platform's: polymarket_recorded, "
                            "kalshi_candles, alpaca_history)")
        parser.add_argument("--interval", metavar="MINUTES", type=int, help="minutes between points: Polymarket "
                            "prices-history's fidelity (60), Kalshi's candle period_interval (1, 60 or 1440)")
        parser.add_argument("--half-spread", metavar="PRICE", help="polymarket_history: the bid and ask sit this far "
                            "either side of each price (0.01)")
        parser.add_argument("--start", metavar="ISO")
        parser.add_argument("--end", metavar="ISO")
        parser.add_argument("--cash", metavar="USD", help="replaces capital.total_capital")
        parser.add_argument("--commission", metavar="RATE", help="relative fee per side for CSV data, e.g. 0.002")
        parser.add_argument("--json", action="store_true",
                            help='print {"id", "status", "metrics", "trades", "equity", "open_positions"}')
        sweep = parser.add_argument_group("parameter sweep (ID only; docs/backtest.md#parameter-sweeps)")
        sweep.add_argument("--sweep", metavar="JSON", help='run one backtest per point of these parameters, e.g. '
                           '\'{"fast": [5, 10, 15], "slow": {"min": 20, "max": 60, "step": 10}}\', and rank them')
        sweep.add_argument("--method", choices=["grid", "random"], default="grid",
                           help="grid: every combination (default); random: --samples seeded draws")
        sweep.add_argument("--samples", metavar="N", type=int, help="random: how many points")
        sweep.add_argument("--seed", metavar="N", type=int, help="random: the sample's seed")
        sweep.add_argument("--metric", default="sharpe", help="what to rank by, higher first (default sharpe)")
        sweep.add_argument("--holdout", metavar="SHARE", type=float, default=0.25,
                           help="the share of the range held back as the out-of-sample tail (0.25)")
        sweep.add_argument("--lanes", metavar="N", type=int, help="points run at once, each lane a thread "
                           "of this command (default SWEEP_POINTS_AT_ONCE)")

    def handle(self, *args: Any, **options: Any) -> None:
        start, end = _moment(options["start"], "--start"), _moment(options["end"], "--end")
        if start is not None and end is not None and start >= end:
            raise CommandError("--start must be before --end", returncode=2)
        cash = _decimal(options["cash"], "--cash")
        if cash is not None and cash <= 0:
            raise CommandError(f"--cash must be > 0 USD, got {cash}", returncode=2)
        commission = _decimal(options["commission"], "--commission")
        if commission is not None and not Decimal(0) <= commission < Decimal("0.1"):
            raise CommandError(f"--commission must be a relative fee in [0, 0.1), got {commission}", returncode=2)
        if options["csv"] and not options["symbol"]:
            raise CommandError("--symbol SYMBOL is required with --csv: the market id its bars are for", returncode=2)
        if options["csv"] and options["source"]:
            raise CommandError("--source names venue data; --csv FILE is its own source: give one", returncode=2)
        if commission is not None and not options["csv"]:
            raise CommandError("--commission applies to CSV data only (--csv FILE); venues charge their own fees",
                               returncode=2)
        echo = (lambda line: sys.stderr.write(line + "\n")) if options["json"] else (
            lambda line: self.stderr.write(line))
        target = options["target"]
        if options["sweep"] is not None and not target.isdigit():
            raise CommandError("--sweep runs a deployed strategy: give its ID, not a folder", returncode=2)
        with collection_paused():  # as a saved backtest runs (strategies.backtests.backtest_execute): a large heap
            try:
                if options["sweep"] is not None:
                    shaped = self._sweep(int(target), options, start, end, cash, commission, echo)
                elif target.isdigit():
                    shaped = self._saved(int(target), options, start, end, cash, commission, echo)
                else:
                    shaped = self._folder(Path(target), options, start, end, cash, commission, echo)
            except (BacktestInvalid, DataError) as error:
                raise CommandError(str(error), returncode=2) from None
            except SandboxUnavailable as error:
                raise CommandError(f"the sandbox is unavailable: {error}", returncode=1) from None
            if options["json"]:
                self.stdout.write(json.dumps(shaped, cls=DjangoJSONEncoder))  # a sweep's times are datetimes
            else:
                self._summary(shaped)
        if shaped["status"] != "succeeded":
            what = "sweep" if "ranking" in shaped else "backtest"
            raise CommandError(f"{what} {shaped['status']}: {shaped.get('error')}", returncode=1)

    def _data(self, options: dict[str, Any], config: dict[str, Any], *, store: bool = True) -> BacktestData:
        """The backtest's data; a CSV is stored for a saved backtest or a sweep (`store`), not for a folder's run."""
        if options["csv"]:
            path = Path(options["csv"])
            try:
                text = path.read_text(encoding="utf-8-sig")
            except (OSError, UnicodeDecodeError) as error:
                raise CommandError(f"--csv: cannot read {path}: {error}", returncode=2) from None
            return (csv_store if store else csv_parse)(text, symbol=options["symbol"], filename=path.name)
        return default_data(config, options["symbol"], source=options["source"], interval=options["interval"],
                            half_spread=_decimal(options["half_spread"], "--half-spread"))

    def _saved(self, strategy_id: int, options: dict[str, Any], start: datetime | None, end: datetime | None,
               cash: Decimal | None, commission: Decimal | None, echo: Any) -> dict[str, Any]:
        strategy = Strategy.objects.filter(pk=strategy_id).first()
        if strategy is None:
            raise CommandError(f"ID: no strategy {strategy_id}", returncode=2)
        version = strategy.versions.order_by("-number").first()
        if version is None:
            raise CommandError(f"ID: strategy {strategy_id} has no version", returncode=2)
        backtest = backtest_create(version=version, created_by=None, data=self._data(options, version.config),
                                   start=start, end=end, cash=cash, commission=commission)
        backtest = backtest_execute(backtest_id=backtest.pk, echo=echo)
        return _row_json(backtest)

    def _folder(self, directory: Path, options: dict[str, Any], start: datetime | None, end: datetime | None,
                cash: Decimal | None, commission: Decimal | None, echo: Any) -> dict[str, Any]:
        files = DeployCommand()._read_folder(directory)
        try:
            validated = strategy_files_validate(files)
        except StrategyInvalid as exc:
            raise CommandError("\n".join(str(issue) for issue in exc.issues), returncode=2) from None
        data = self._data(options, validated.config, store=False)  # run here, saved nowhere
        progress = _Echo(echo)
        run = backtest_execute_files(files, validated.config, data, start=start, end=end, cash=cash,
                                     commission=commission, strategy_id=directory.name, progress=progress)
        return run_json(run, None)

    def _sweep(self, strategy_id: int, options: dict[str, Any], start: datetime | None, end: datetime | None,
               cash: Decimal | None, commission: Decimal | None, echo: Any) -> dict[str, Any]:
        """The sweep's points, run here (`--lanes` at once, each its own sandboxed run), then ranked."""
        try:
            space = json.loads(options["sweep"])
        except json.JSONDecodeError as error:
            raise CommandError(f"--sweep: not JSON: {error}", returncode=2) from None
        strategy = Strategy.objects.filter(pk=strategy_id).first()
        version = strategy.versions.order_by("-number").first() if strategy is not None else None
        if version is None:
            raise CommandError(f"ID: no strategy {strategy_id} with a version", returncode=2)
        sweep = sweep_create(version=version, created_by=None, data=self._data(options, version.config),
                             parameters=space, method=options["method"], samples=options["samples"],
                             seed=options["seed"], metric=options["metric"], holdout=options["holdout"], start=start,
                             end=end, cash=cash, commission=commission)
        lanes = max(1, options["lanes"] or settings.SWEEP_POINTS_AT_ONCE)
        started = time.monotonic()
        threads = [threading.Thread(target=_lane, args=(sweep.pk,), name=f"sweep-lane-{n}") for n in range(lanes)]
        for thread in threads:
            thread.start()
        while any(thread.is_alive() for thread in threads):
            for thread in threads:
                thread.join(timeout=1.0)
            sweep.refresh_from_db(fields=["done", "total"])
            echo(f"sweep {sweep.pk}: {sweep.done}/{sweep.total} points ({time.monotonic() - started:.1f} s)")
        sweep_finish(sweep_id=sweep.pk)  # a no-op when the last lane ranked it
        sweep = Sweep.objects.select_related("version").get(pk=sweep.pk)
        shaped = sweep_json(sweep, detail=True)
        shaped["duration_s"] = round(time.monotonic() - started, 3)
        return shaped

    def _summary(self, shaped: dict[str, Any]) -> None:
        if "ranking" in shaped:
            deflated = shaped.get("deflated_sharpe") or {}
            best = shaped.get("best") or {}
            self.stdout.write(f"sweep {shaped['id']}: {shaped['status']}, {shaped['trials']} trials ranked by "
                              f"{shaped['metric']}; best {best.get('parameters')} scored {best.get('score')}; "
                              f"deflated Sharpe {deflated.get('deflated_sharpe')}; out of sample from "
                              f"{shaped.get('split_at')}: {shaped.get('out_of_sample')}")
            return

        m = shaped["metrics"]
        self.stdout.write(f"backtest {shaped['id'] or '(not saved)'}: {shaped['status']}, {m.get('trades')} trades, "
                          f"return {m.get('return_pct'):.2f} %, max drawdown {m.get('max_drawdown_pct'):.2f} %, "
                          f"Sharpe {m.get('sharpe')}, fees ${m.get('fees_usd')}")
        lookahead = shaped.get("lookahead") or {}
        flagged = lookahead.get("flagged") or []
        if lookahead.get("summary"):  # on bars: the sealed re-runs, always
            self.stdout.write(f"look-ahead check: {lookahead['summary']}")
        elif flagged:
            self.stdout.write(f"look-ahead: {len(flagged)} signal(s) change when the data is cut after them")


def _lane(sweep_id: int) -> None:
    """One lane in this process: point after point while any waits (each thread its own database connection)."""
    from django.db import connection

    try:
        while Backtest.objects.filter(sweep_id=sweep_id, status=Backtest.Status.QUEUED).exists():
            sweep_step(sweep_id=sweep_id, enqueue=lambda _sweep_id: None)
    finally:
        connection.close()


class _Echo:
    """Progress lines for a folder's run (nothing persisted): at most twice a second."""

    def __init__(self, echo: Any) -> None:
        import time

        self.echo, self.clock, self.last = echo, time.monotonic, 0.0

    def __call__(self, done: int, total: int) -> None:
        now = self.clock()
        if now - self.last >= 0.5 or done == total:
            self.last = now
            self.echo(f"backtest: {done / total * 100:5.1f}% ({done}/{total} steps)")


def _row_json(backtest: Backtest) -> dict[str, Any]:
    from strategies.backtests import TRADE_KEYS

    return {
        "id": str(backtest.pk), "status": backtest.status, "error": backtest.error or None,
        "metrics": backtest.metrics,
        "trades": [{key: trade[key] for key in TRADE_KEYS} for trade in backtest.trades],
        "equity": backtest.equity, "open_positions": backtest.open_positions, "lookahead": backtest.lookahead,
    }
