"""A backtest reports its sandboxed runs' peak memory, as the kernel counted it (the zygote reaped them), so a
benchmark can print it beside the worker's own."""

from __future__ import annotations

import json

import pytest

from strategies.backtests import backtest_execute_files, csv_store
from tests.backtest.conftest import sma_cross_files
from tests.backtest.test_lookahead import zigzag_csv

pytestmark = pytest.mark.django_db  # the CSV is stored in the database

HOLD_64_MIB = """

_decide = should_enter


def should_enter(ctx):
    held = bytearray(64 * 1024 * 1024)  # 64 MiB for the length of each step, then freed
    return _decide(ctx) if held else []
"""


def _run(*, extra: str = "") -> dict[str, float]:
    files = sma_cross_files()
    files["entry.py"] += extra
    config = json.loads(files["config.json"])
    config["parameters"]["symbol"] = "TEST"
    files["config.json"] = json.dumps(config)
    data = csv_store(zigzag_csv(), symbol="TEST", filename="zigzag.csv")
    run = backtest_execute_files(files, config, data, start=None, end=None, cash=None, commission=None,
                                 strategy_id="t", lookahead=True)
    assert run.result.status == "succeeded", run.result.error
    assert run.peak_rss_mb is not None
    return run.peak_rss_mb


def test_the_run_and_the_sealed_run_report_their_peak_and_it_follows_what_the_strategy_holds(settings) -> None:
    plain, holding = _run(), _run(extra=HOLD_64_MIB)

    assert set(plain) == set(holding) == {"sandbox_run", "sealed_run"}
    assert all(5 < figure < 1024 for figure in plain.values()), plain
    assert holding["sandbox_run"] >= plain["sandbox_run"] + 60, (plain, holding)
    assert holding["sealed_run"] >= plain["sealed_run"] + 60, (plain, holding)
