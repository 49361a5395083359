"""The look-ahead check on books (recorded Polymarket): every step that signalled and a seeded sample of the quiet
ones re-run sealed beside the run, ctx.state as it was, reads and orders answered by an engine on the data cut at
that step. A difference fails the backtest naming the step; the check places nothing on the backtest's own desk."""

from __future__ import annotations

import json
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command

from strategies.backtests import BacktestData, backtest_execute_files
from strategies.models import Backtest
from strategies.services import strategy_deploy
from trading.backtest.data import OutcomeBooks

TRADER = '''
from strategies.sdk import EntrySignal


def should_enter(ctx):
    ctx.state["steps"] = ctx.state.get("steps", 0) + 1
    if ctx.positions or ctx.state["steps"] % ctx.params.get("every", 3):
        return []
    markets = ctx.polymarket.get_markets()["data"]
    if not markets:
        return []
    market = sorted(markets, key=lambda m: m["market_slug"])[0]
    token = market["tokens"][0]["token_id"]
    mid = ctx.polymarket.get_midpoint(token)["mid"]
    if mid is None or not 0.05 < float(mid) < 0.95:
        return []
    return [EntrySignal(token, "yes", f"mid {mid}", market_name=market["question"], size_usd=5)]
'''
EXIT_AFTER_TWO_MINUTES = '''
from strategies.sdk import ExitSignal


def should_exit(ctx, position):
    if (ctx.now - position.opened_at).total_seconds() >= 120:
        return ExitSignal(position.position_id, "held two minutes")
    return None
'''
COIN_FLIP = '''
import random

from strategies.sdk import EntrySignal


def should_enter(ctx):
    markets = ctx.polymarket.get_markets()["data"]
    if markets and not ctx.positions and random.random() < 0.3:  # not a function of what it read
        return [EntrySignal(markets[0]["tokens"][0]["token_id"], "yes", "coin flip", size_usd=5)]
    return []
'''
CONFIG = {
    "name": "books trader", "thesis": "none: a test", "platform": "polymarket", "polling_interval": 60,
    "capital": {"total_capital": 1000, "capital_per_trade": 5, "max_positions": 2, "max_position_size": 50,
                "max_daily_loss": 500, "sizing_method": "fixed"},
    "risk_limits": {"allowed_services": ["polymarket"]}, "parameters": {},
}


def _run(entry: str, *, lookahead: bool) -> Any:
    files = {"entry.py": entry, "exit.py": EXIT_AFTER_TWO_MINUTES, "config.json": json.dumps(CONFIG)}
    return backtest_execute_files(files, CONFIG, BacktestData("polymarket_recorded", {"set": "books"}), start=None,
                                  end=None, cash=None, commission=None, strategy_id="t", lookahead=lookahead)


def test_an_honest_strategy_passes_every_signal_step_checked_and_nothing_of_the_check_on_the_desk(settings) -> None:
    settings.BACKTEST_LOOKAHEAD_SEED = 11

    checked, unchecked = _run(TRADER, lookahead=True), _run(TRADER, lookahead=False)

    result = checked.result
    assert result.status == "succeeded", result.error
    signal_steps = len(result.signals)
    quiet = result.steps - signal_steps
    assert signal_steps >= 10 and len(result.trades) >= 5  # it traded, in and out
    coverage = checked.lookahead
    assert (coverage["signals"], coverage["flagged"], coverage["biased"]) == (signal_steps, [], False)
    assert coverage["quiet"] == min(64, quiet) and coverage["seed"] == 11
    assert coverage["summary"] == f"checked {signal_steps} signal steps and {min(64, quiet)} quiet steps: identical"
    # The sealed re-runs' orders went to the cut engine: the backtest's own desk saw each order once.
    assert unchecked.lookahead == {} and unchecked.phases is None
    assert (result.trades, result.actions, result.equity) == (
        unchecked.result.trades, unchecked.result.actions, unchecked.result.equity)
    assert checked.phases is not None and checked.phases["sealed_check"] > 0
    assert checked.peak_rss_mb is not None and set(checked.peak_rss_mb) == {"sandbox_run", "sealed_run"}
    assert unchecked.peak_rss_mb is not None and set(unchecked.peak_rss_mb) == {"sandbox_run"}


def test_the_quiet_sample_is_seeded_and_its_size_a_setting(settings) -> None:
    settings.BACKTEST_LOOKAHEAD_SAMPLE, settings.BACKTEST_LOOKAHEAD_SEED = 5, 42

    run = _run(TRADER, lookahead=True)

    assert run.result.status == "succeeded", run.result.error
    assert (run.lookahead["quiet"], run.lookahead["sample"], run.lookahead["seed"]) == (5, 5, 42)


def test_a_strategy_that_does_not_repeat_fails_the_backtest_naming_the_step_and_its_reads(settings) -> None:
    run = _run(COIN_FLIP, lookahead=True)

    assert run.result.status == "failed"
    assert run.lookahead["biased"] is True
    flagged = run.lookahead["flagged"][0]
    assert flagged["changed"] and "polymarket.get_markets()" in flagged["reads"]
    assert f"look-ahead check: step {flagged['step']} (" in (run.result.error or "")
    assert run.result.steps == flagged["step"]  # it stopped there
    assert run.lookahead["summary"].endswith(f"different at step {flagged['step']}")


def test_an_engine_answer_from_after_the_step_is_caught_by_the_cut_data(settings, monkeypatch) -> None:
    # A planted engine bug: a book read answers the snapshot after `now`. The run's reads get it; the sealed
    # re-run's engine holds no data past the step, so the strategy decides differently there.
    def one_ahead(self: OutcomeBooks, now: float) -> Any:
        index = min(len(self.times) - 1, sum(1 for moment in self.times if moment <= now))
        return self.snapshot(index)

    monkeypatch.setattr(OutcomeBooks, "as_of", one_ahead)

    run = _run(TRADER, lookahead=True)

    assert run.result.status == "failed"
    assert "look-ahead check: step" in (run.result.error or "")
    assert "polymarket.get_midpoint(" in run.lookahead["flagged"][0]["reads"]


@pytest.mark.django_db(transaction=True)  # the sweep's lanes are threads with connections of their own
def test_each_point_of_a_sweep_on_books_is_checked_as_a_backtest_is(alice) -> None:
    config = {**CONFIG, "parameters": {"every": 3}}
    files = {"entry.py": TRADER, "exit.py": EXIT_AFTER_TWO_MINUTES, "config.json": json.dumps(config)}
    strategy = strategy_deploy(owner=alice, files=files).strategy
    out = StringIO()

    call_command("strategy_backtest", str(strategy.pk), "--source", "polymarket_recorded", "--sweep",
                 '{"every": [2, 5]}', "--lanes", "1", "--json", stdout=out, stderr=StringIO())

    assert json.loads(out.getvalue())["status"] == "succeeded"
    points = list(Backtest.objects.filter(sweep__isnull=False).order_by("sweep_index"))
    assert [p.parameters["overrides"] for p in points] == [{"every": 2}, {"every": 5}]
    for point in points:
        assert point.status == Backtest.Status.SUCCEEDED, point.error
        signals = point.lookahead["signals"]
        assert signals >= 5 and point.lookahead["summary"].startswith(f"checked {signals} signal steps and 64 quiet")
