"""Backtest speed: the reference case through `strategy_backtest` (sandbox included) beside backtesting.py.

    python benchmarks/bench_backtest.py [--runs 5] [--minute-bars 100000] [--minute-runs 3] [--sections …]

Sections, each in a fresh process so its peak memory (ru_maxrss) is its own; each also prints our sandboxed runs' peak
(the zygote reaps them and reports theirs):
- reference: backtesting.py's SMA(10/20) crossover, long only, on its GOOG.csv (2,148 daily bars, read
  from the installed package), through `manage.py strategy_backtest DIR --csv … --json` in this
  process (sandbox included: one sandboxed run for the whole backtest), beside backtesting.py's
  `Backtest.run()` of the same strategy; cold = the first run (it starts the sandbox's zygote);
- minute: the same strategy on N synthetic one-minute bars (a seeded random walk written to a CSV at
  run time), both engines;
- quotes / books: a strategy reading one token's midpoint every step over the recorded Polymarket
  quotes (40 markets) and books (18 markets), through the same engine and sandbox, with the look-ahead check on
  books (every signal step and 64 quiet steps re-run sealed beside the run).
On bars the look-ahead check is always on (every signal step and 64 quiet steps re-run sealed): it is in our
figures. backtesting.py's figures include reading the CSV (`pd.read_csv`), as ours do; the two run alternately,
and each figure is the median.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
EXAMPLE = ROOT / "tests" / "backtest" / "sma_cross"

MIDPOINT_READER = '''
def should_enter(ctx):
    markets = ctx.polymarket.get_markets()["data"]
    if markets:
        ctx.state["mid"] = ctx.polymarket.get_midpoint(markets[0]["tokens"][0]["token_id"])["mid"]
    return []
'''
NO_EXIT = "def should_exit(ctx, position):\n    return None\n"
POLY_CONFIG = {
    "name": "reader", "thesis": "none: a benchmark", "platform": "polymarket", "polling_interval": 5,
    "capital": {"total_capital": 1000, "capital_per_trade": 10, "max_positions": 1, "max_position_size": 10,
                "max_daily_loss": 100, "sizing_method": "fixed"},
    "risk_limits": {"allowed_services": ["polymarket"]}, "parameters": {},
}


def goog_csv() -> Path:
    import backtesting

    return Path(backtesting.__file__).parent / "test" / "GOOG.csv"


def sma_cross_long() -> Any:
    from backtesting import Strategy
    from backtesting.lib import crossover
    from backtesting.test import SMA

    class SmaCrossLong(Strategy):  # type: ignore[misc]
        def init(self) -> None:
            self.fast = self.I(SMA, self.data.Close, 10)
            self.slow = self.I(SMA, self.data.Close, 20)

        def next(self) -> None:
            if crossover(self.fast, self.slow):
                if not self.position:
                    self.buy()
            elif crossover(self.slow, self.fast):
                self.position.close()

    return SmaCrossLong


def backtesting_py(csv: Path, runs: int) -> list[float]:
    """backtesting.py's `Backtest.run()` of the same strategy, reading the CSV each time as the command does."""
    import pandas as pd
    from backtesting import Backtest

    times = []
    for _ in range(runs):
        started = time.perf_counter()
        data = pd.read_csv(csv, index_col=0, parse_dates=True)
        data.columns = [c.capitalize() for c in data.columns]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            Backtest(data, sma_cross_long(), cash=10_000, commission=0.002).run()
        times.append(time.perf_counter() - started)
    return times


def alternating(folder: Path, csv: Path, runs: int) -> tuple[list[float], list[float], dict[str, Any]]:
    """Ours and theirs one after the other, `runs` times: both see the same moments of a shared machine."""
    mine: list[float] = []
    theirs: list[float] = []
    shaped: dict[str, Any] = {}
    for _ in range(runs):
        took, shaped = ours(folder, csv, 1)
        mine += took
        theirs += backtesting_py(csv, 1)
    return mine, theirs, shaped


def ours(folder: Path, csv: Path, runs: int) -> tuple[list[float], dict[str, Any]]:
    from django.core.management import call_command

    times, shaped = [], {}
    for _ in range(runs):
        out, err = io.StringIO(), io.StringIO()
        started = time.perf_counter()
        call_command("strategy_backtest", str(folder), "--csv", str(csv), "--symbol", "GOOG", "--cash", "10000",
                     "--commission", "0.002", "--json", stdout=out, stderr=err)
        times.append(time.perf_counter() - started)
        shaped = json.loads(out.getvalue())
    return times, shaped


def minute_csv(path: Path, bars: int) -> None:
    rng = random.Random(12)  # noqa: S311 - a seeded benchmark series
    price, start = 100.0, 1_704_067_200
    lines = ["timestamp,open,high,low,close,volume"]
    for index in range(bars):
        opened = price
        price = max(1.0, price * (1 + rng.gauss(0, 0.001)))
        lines.append(f"{start + index * 60},{opened:.4f},{max(opened, price) + 0.01:.4f},"
                     f"{min(opened, price) - 0.01:.4f},{price:.4f},100")
    path.write_text("\n".join(lines) + "\n")


def minute_folder(parent: Path) -> Path:
    folder = parent / "sma_minute"
    folder.mkdir()
    for path in EXAMPLE.iterdir():
        if path.is_file():
            (folder / path.name).write_text(path.read_text())
    config = json.loads((folder / "config.json").read_text())
    config["polling_interval"] = 60
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def section(name: str, runs: int, minute_bars: int, minute_runs: int) -> dict[str, Any]:
    import django

    django.setup()
    if name == "reference":
        cold, _ = ours(EXAMPLE, goog_csv(), 1)
        theirs_cold = backtesting_py(goog_csv(), 1)
        warm, theirs, shaped = alternating(EXAMPLE, goog_csv(), runs)
        return {"bars": 2148, "ours_cold": cold[0], "ours": statistics.median(warm), "ours_all": warm,
                "theirs_first": theirs_cold[0], "theirs": statistics.median(theirs), "theirs_all": theirs,
                "steps": shaped["metrics"]["steps"], "trades": shaped["metrics"]["trades"],
                "lookahead": shaped["lookahead"].get("summary", ""), "phases": shaped.get("phases"),
                "runs_peak_mb": shaped.get("peak_rss_mb")}
    if name == "minute":
        with tempfile.TemporaryDirectory() as scratch:
            csv = Path(scratch) / "minute.csv"
            minute_csv(csv, minute_bars)
            mine, theirs, shaped = alternating(minute_folder(Path(scratch)), csv, minute_runs)
        assert shaped["status"] == "succeeded", shaped["error"]
        return {"bars": minute_bars, "ours": statistics.median(mine), "theirs": statistics.median(theirs),
                "trades": shaped["metrics"]["trades"], "lookahead": shaped["lookahead"].get("summary", ""),
                "phases": shaped.get("phases"), "runs_peak_mb": shaped.get("peak_rss_mb")}
    from strategies.backtests import BacktestData, backtest_execute_files

    files = {"entry.py": MIDPOINT_READER, "exit.py": NO_EXIT, "config.json": json.dumps(POLY_CONFIG)}
    started = time.perf_counter()
    run = backtest_execute_files(files, POLY_CONFIG, BacktestData("polymarket_recorded", {"set": name}),
                                 start=None, end=None, cash=None, commission=None, strategy_id="bench",
                                 lookahead=True)  # the check on books: every signal step and 64 quiet ones
    elapsed = time.perf_counter() - started
    assert run.result.status == "succeeded", run.result.error
    return {"bars": run.result.steps, "ours": elapsed, "engine_only": run.result.duration_s,
            "lookahead": run.lookahead["summary"], "phases": run.phases, "runs_peak_mb": run.peak_rss_mb}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--minute-bars", type=int, default=100_000)
    parser.add_argument("--minute-runs", type=int, default=3)
    parser.add_argument("--sections", default="reference,minute,quotes,books")
    parser.add_argument("--section", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.section:
        result = section(args.section, args.runs, args.minute_bars, args.minute_runs)
        result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(result))
        return
    stop = _database()
    try:
        results = _sections(args)
    finally:
        stop()
    _report(args, results)


def _database() -> Any:
    """The command stores the CSV in the database: with DATABASE_URL unset, the tests' embedded PostgreSQL
    (started here if it is not running, stopped at the end if so), migrated."""
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    from strategyhub.lib import embedded_postgres

    cluster = embedded_postgres.project_cluster() if settings.EMBEDDED_POSTGRES else None
    started = bool(cluster and cluster.ensure_running())
    call_command("migrate", verbosity=0)
    return cluster.stop if cluster is not None and started else (lambda: None)


def _sections(args: argparse.Namespace) -> dict[str, Any]:
    results = {}
    for name in args.sections.split(","):
        done = subprocess.run([sys.executable, __file__, "--section", name, "--runs", str(args.runs),
                               "--minute-bars", str(args.minute_bars), "--minute-runs", str(args.minute_runs)],
                              capture_output=True, text=True, check=False)
        if done.returncode:
            print(f"{name}: failed\n{done.stderr[-2000:]}")
            continue
        results[name] = json.loads(done.stdout.strip().splitlines()[-1])
    return results


def _report(args: argparse.Namespace, results: dict[str, Any]) -> None:
    ref = results.get("reference")
    if ref:
        print("reference case: SMA(10/20) long only on GOOG.csv, 2,148 daily bars, 0.2 % per side; both sides read "
              "the CSV; alternating runs")
        print(f"{'':36}{'strategy_backtest':>20}{'backtesting.py':>18}{'ratio':>8}")
        print(f"{'median of ' + str(args.runs) + ' runs (s)':36}{ref['ours']:>20.3f}{ref['theirs']:>18.3f}"
              f"{ref['ours'] / ref['theirs']:>7.2f}x")
        print(f"{'first run (s)':36}{ref['ours_cold']:>20.3f}{ref['theirs_first']:>18.3f}"
              f"{ref['ours_cold'] / ref['theirs_first']:>7.2f}x")
        print(f"{'per bar (µs)':36}{ref['ours'] / ref['bars'] * 1e6:>20.0f}{ref['theirs'] / ref['bars'] * 1e6:>18.0f}")
        print(f"{'trades':36}{ref['trades']:>20}")
        print(f"every run: ours {', '.join(f'{t:.3f}' for t in ref['ours_all'])} s; backtesting.py "
              f"{', '.join(f'{t:.3f}' for t in ref['theirs_all'])} s")
        print(f"look-ahead check (always on, in our figures): {ref['lookahead']}")
        print(f"where the last run's time went (s): {ref['phases']}")
        print(f"peak RSS of the process running both: {ref['peak_rss_mb']:.0f} MiB; of our sandboxed runs (the "
              f"zygote's shared pages included): {ref['runs_peak_mb']}\n")
    minute = results.get("minute")
    if minute:
        print(f"one-minute bars: {minute['bars']:,}, median of {args.minute_runs} alternating runs: ours "
              f"{minute['ours']:.2f} s, backtesting.py {minute['theirs']:.2f} s, "
              f"{minute['ours'] / minute['theirs']:.2f}x; {minute['trades']} trades; {minute['lookahead']}; "
              f"phases (s): {minute['phases']}; our sandboxed runs' peak RSS (MiB): {minute['runs_peak_mb']}\n")
    print(f"{'data':34}{'bars/steps':>12}{'ours (s)':>10}{'bars/s':>10}{'backtesting.py bars/s':>23}{'peak MiB':>10}")
    for name, label in (("minute", "synthetic one-minute bars"), ("quotes", "recorded Polymarket quotes"),
                        ("books", "recorded Polymarket books")):
        r = results.get(name)
        if not r:
            continue
        theirs = f"{r['bars'] / r['theirs']:>23,.0f}" if "theirs" in r else f"{'-':>23}"
        print(f"{label:34}{r['bars']:>12,}{r['ours']:>10.2f}{r['bars'] / r['ours']:>10,.0f}{theirs}"
              f"{r['peak_rss_mb']:>10.0f}")
    for name in ("quotes", "books"):
        r = results.get(name)
        if r:
            print(f"{name}: look-ahead check (in the figure above): {r['lookahead']}; phases (s): {r['phases']}; "
                  f"sandboxed runs' peak RSS (MiB): {r['runs_peak_mb']}")
    print("\npeak MiB is the process running both engines; a sandboxed run's peak is the kernel's count for that "
          "process, the zygote's pages it shares included (≈4 MiB of them private per cycle, docs/sandbox.md)")


if __name__ == "__main__":
    main()
