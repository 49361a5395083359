"""The reference backtest's per-step loops in this process, no sandbox: the CPU of the run's loop (the engine stepping
`runtime.backtest_child.OneRunRunner`, as the sandboxed run does) and of the worker's replay of its records
(`trading.backtest.replay.ReplayRunner`, with a sealed run that answers each checked step with what the run recorded:
the replay's own work, not the sealed exchange), and an empty strategy's loop (the cost of a step around a strategy).

    python benchmarks/bench_backtest_loop.py [--runs 7]

CPU (process_time), median of `--runs`; compare versions by running this in each, alternating (docs/backtest.md,
"Speed"). Needs backtesting.py installed (its GOOG.csv) and no database.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from runtime.backtest_child import OneRunRunner, _Transport  # noqa: E402
from trading.backtest.data import load_csv  # noqa: E402
from trading.backtest.engine import BacktestEngine, BacktestResult, BacktestSpec, OnCall, StepOutcome  # noqa: E402
from trading.backtest.replay import RecordFeed, ReplayRunner  # noqa: E402
from trading.capital import CapitalPlan  # noqa: E402

EXAMPLE = ROOT / "tests" / "backtest" / "sma_cross"
EMPTY = {"entry.py": "def should_enter(ctx):\n    return []\n",
         "exit.py": "def should_exit(ctx, position):\n    return None\n"}
Records = list[tuple[list[dict[str, Any]], int]]


def _reference() -> tuple[dict[str, str], BacktestSpec, dict[str, Any]]:
    import backtesting

    files = {path.name: path.read_text() for path in sorted(EXAMPLE.iterdir()) if path.is_file()}
    config = json.loads(files["config.json"])
    config["capital"]["total_capital"] = 10_000
    spec = BacktestSpec("alpaca", CapitalPlan.from_config(config, "alpaca"), config["polling_interval"],
                        commission=Decimal("0.002"), params=config["parameters"], strategy_id="sma")
    bars = {"GOOG": load_csv(Path(backtesting.__file__).parent / "test" / "GOOG.csv", symbol="GOOG")}
    return files, spec, bars


def run_loop(files: dict[str, str], spec: BacktestSpec, bars: dict[str, Any]) -> tuple[float, BacktestResult, Records]:
    engine = BacktestEngine(spec, bars=bars)
    records: Records = []
    runner = OneRunRunner(files, _Transport(4096), 1 << 16, lambda sent, upto: records.append((sent, upto)), engine)
    started = time.process_time()
    result = engine.run(runner, state={})
    runner.flush()
    return time.process_time() - started, result, records


class _Echo:
    """A sealed run that answers with what the run recorded for the step (its orders placed on the worker's desk)."""

    def __init__(self, feed: RecordFeed, replay: Callable[[], ReplayRunner]) -> None:
        self.feed, self.replay = feed, replay

    def step(self, frame: dict[str, Any], on_call: OnCall) -> StepOutcome:
        record = self.feed.record(self.replay().index - 1)
        assert record is not None
        for venue, method, kwargs, _ in record.orders:
            on_call(venue, method, dict(kwargs))
        state = record.state if record.state is not None else frame["state"]
        return StepOutcome("succeeded", record.entries, record.exits, state)


def replay_loop(spec: BacktestSpec, bars: dict[str, Any], records: Records) -> tuple[float, BacktestResult]:
    engine = BacktestEngine(spec, bars=bars)
    feed = RecordFeed(len(engine.steps()))
    for sent, upto in records:
        feed.add(json.loads(json.dumps(sent)), upto)  # as they come over the channel
    feed.finish(None)
    replays: list[ReplayRunner] = []
    echo = _Echo(feed, lambda: replays[0])
    replays.append(ReplayRunner(engine, feed, sealed=lambda: echo, sample=64, seed=1))
    started = time.process_time()
    result = engine.run(replays[0])
    return time.process_time() - started, result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    files, spec, bars = _reference()
    empty = {**EMPTY, "config.json": files["config.json"]}
    runs: list[float] = []
    replays: list[float] = []
    empties: list[float] = []
    for _ in range(args.runs):
        seconds, result, records = run_loop(files, spec, bars)
        runs.append(seconds)
        replayed, again = replay_loop(spec, bars, records)
        replays.append(replayed)
        assert again.digest() == result.digest() and len(result.trades) == 46
        empties.append(run_loop(empty, spec, bars)[0])
    steps = result.steps
    for name, figures in (("the run's loop", runs), ("the replay (sealed run echoing)", replays),
                          ("an empty strategy's loop", empties)):
        median = statistics.median(figures)
        print(f"{name:34s} {median * 1000:6.1f} ms CPU ({median / steps * 1e6:4.1f} µs a step; min "
              f"{min(figures) * 1000:.1f} ms), median of {len(figures)}")
    print(f"results' digest {result.digest()[:12]}, {len(result.trades)} trades over {steps} steps")


if __name__ == "__main__":
    main()
