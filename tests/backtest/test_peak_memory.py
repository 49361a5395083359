"""A backtest reports its sandboxed runs' peak memory, as the kernel counted it (the zygote reaped them), so a
benchmark can print it beside the worker's own."""

from __future__ import annotations

import pytest

from tests.backtest.test_lookahead import sma_on_zigzag

pytestmark = pytest.mark.django_db  # the CSV is stored in the database

HOLD_64_MIB = """

_decide = should_enter


def should_enter(ctx):
    held = bytearray(64 * 1024 * 1024)  # 64 MiB for the length of each step, then freed
    return _decide(ctx) if held else []
"""


def _run(*, extra: str = "") -> dict[str, float]:
    run = sma_on_zigzag(entry_tail=extra)
    assert run.result.status == "succeeded", run.result.error
    assert run.peak_rss_mb is not None
    return run.peak_rss_mb


def test_the_run_and_the_sealed_run_report_their_peak_and_it_follows_what_the_strategy_holds(settings) -> None:
    plain, holding = _run(), _run(extra=HOLD_64_MIB)

    assert set(plain) == set(holding) == {"sandbox_run", "sealed_run"}
    assert all(5 < figure < 1024 for figure in plain.values()), plain
    assert holding["sandbox_run"] >= plain["sandbox_run"] + 60, (plain, holding)
    assert holding["sealed_run"] >= plain["sealed_run"] + 60, (plain, holding)
