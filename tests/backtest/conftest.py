"""The reference case: backtesting.py's SMA(10/20) crossover on its own GOOG.csv, long only.

GOOG.csv ships inside the `backtesting` package (AGPL-3.0): it is read from the installed package
at run time, never copied into this repository.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from runtime.backtest_child import OneRunRunner, _Transport
from tests.api.conftest import agent_key, api  # noqa: F401 - the API's fixtures, for the API's backtests here
from trading.backtest.data import load_csv
from trading.backtest.engine import BacktestEngine, BacktestSpec
from trading.capital import CapitalPlan

EXAMPLE = Path(__file__).resolve().parent / "sma_cross"  # not a shipped example: its caps are out of the way


def goog_csv() -> Path:
    import backtesting

    return Path(backtesting.__file__).parent / "test" / "GOOG.csv"


def sma_cross_files() -> dict[str, str]:
    return {path.name: path.read_text() for path in sorted(EXAMPLE.iterdir()) if path.is_file()}


def reference_run(config: dict[str, Any], files: dict[str, str] | None = None,
                  max_log_chars: int = 4096) -> tuple[BacktestEngine, OneRunRunner]:
    """The reference case's engine ($10,000, 0.2 % a side, GOOG's daily bars) and the run's own step runner over it,
    in this process: what the run inside the sandbox builds, for tests that look at each step's `ctx`."""
    config["capital"]["total_capital"] = 10_000
    spec = BacktestSpec("alpaca", CapitalPlan.from_config(config, "alpaca"), config["polling_interval"],
                        commission=Decimal("0.002"), params=config["parameters"], strategy_id="sma")
    engine = BacktestEngine(spec, bars={"GOOG": load_csv(goog_csv(), symbol="GOOG")})
    runner = OneRunRunner(files or sma_cross_files(), _Transport(max_log_chars), 1 << 16,
                          lambda records, upto: None, engine)
    return engine, runner


@pytest.fixture(scope="session")
def reference_stats() -> Any:
    """backtesting.py's own run of the documented SmaCross, long only, cash 10,000, 0.2 % per side."""
    from backtesting import Backtest, Strategy
    from backtesting.lib import crossover
    from backtesting.test import GOOG, SMA

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

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "some trades remain open": the last one is, in both engines
        return Backtest(GOOG, SmaCrossLong, cash=10_000, commission=0.002).run()


@pytest.fixture
def sma_cross_config() -> dict[str, Any]:
    config: dict[str, Any] = json.loads(sma_cross_files()["config.json"])
    return config


@pytest.fixture
def own_simulator(settings: Any) -> Iterator[Any]:
    """A simulator of this test's own, so the test can stop it."""
    from trading.simulator import SimulatorConfig, VenueSimulator
    from trading.venues import simulator_key_dir

    simulator = VenueSimulator(SimulatorConfig(port=0, speed=0, key_dir=simulator_key_dir())).start()
    settings.VENUE_SIMULATOR_URL = simulator.url
    settings.VENUES = {venue: {**settings.VENUES[venue], **urls} for venue, urls in simulator.venue_urls().items()}
    running = [True]
    yield simulator, running
    if running[0]:
        simulator.stop()
