"""The reference case, in the engine with the strategy run in-process: backtesting.py's trades, exactly."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

import pytest

from strategies.backtests import InProcessRunner
from tests.backtest.conftest import goog_csv, sma_cross_files
from trading.backtest.data import load_csv
from trading.backtest.engine import BacktestEngine, BacktestResult, BacktestSpec
from trading.backtest.metrics import compute_metrics
from trading.capital import CapitalPlan


def run_reference(config: dict[str, Any]) -> BacktestResult:
    config["capital"]["total_capital"] = 10_000  # what --cash does
    spec = BacktestSpec("alpaca", CapitalPlan.from_config(config, "alpaca"), config["polling_interval"],
                        commission=Decimal("0.002"), params=config["parameters"])
    engine = BacktestEngine(spec, bars={"GOOG": load_csv(goog_csv(), symbol="GOOG")})
    return engine.run(InProcessRunner(sma_cross_files()))


def day(text: str) -> str:
    return text[:10]


def test_it_gives_backtesting_py_s_trades_exactly(reference_stats: Any, sma_cross_config: dict[str, Any]) -> None:
    result = run_reference(sma_cross_config)
    expected = reference_stats._trades
    assert result.status == "succeeded"
    assert len(result.trades) == len(expected) == 46
    for ours, (_, theirs) in zip(result.trades, expected.iterrows(), strict=True):
        assert day(ours["entry_time"]) == theirs.EntryTime.date().isoformat()
        assert day(ours["exit_time"]) == theirs.ExitTime.date().isoformat()
        assert Decimal(ours["entry_price"]) == Decimal(str(theirs.EntryPrice))
        assert Decimal(ours["exit_price"]) == Decimal(str(theirs.ExitPrice))
        # net of both legs' 0.2 %: the same per unit whatever the quantity
        assert ours["return_pct"] / 100 == pytest.approx(theirs.ReturnPct, abs=1e-8)
        gross = Decimal(ours["quantity"]) * (Decimal(ours["exit_price"]) - Decimal(ours["entry_price"]))
        assert abs(Decimal(ours["pnl"]) - (gross - Decimal(ours["fees"]))) <= Decimal("0.000002")
    # backtesting.py leaves the last trade open (finalize_trades=False): so do we, from the same bar
    assert len(result.open_positions) == 1
    assert result.open_positions[0]["opened_at"][:10] == "2012-12-03"


def test_metrics_match_backtesting_py_s_stats(reference_stats: Any, sma_cross_config: dict[str, Any]) -> None:
    result = run_reference(sma_cross_config)
    metrics = compute_metrics(
        equity=result.equity, trade_returns=[t["return_pct"] / 100 for t in result.trades],
        trade_pnls=[Decimal(t["pnl"]) for t in result.trades], exposure_steps=result.exposure_steps,
        fees_usd=result.fees_usd, first_price=result.first_price, last_price=result.last_price,
        open_positions=len(result.open_positions))
    s = reference_stats
    # Per trade: the same returns, so exactly the same figures.
    assert metrics["trades"] == s["# Trades"]
    for ours, theirs in [("win_rate_pct", "Win Rate [%]"), ("profit_factor", "Profit Factor"),
                         ("expectancy_pct", "Expectancy [%]"), ("best_trade_pct", "Best Trade [%]"),
                         ("worst_trade_pct", "Worst Trade [%]"), ("avg_trade_pct", "Avg. Trade [%]")]:
        assert metrics[ours] == pytest.approx(s[theirs], rel=1e-9), ours
    # Exposure: backtesting.py counts the bars of closed trades only; ours also counts the position
    # still open at the end (it was in the market), here from its entry bar to the last bar.
    bars = len(s._equity_curve)
    open_bars = sum(1 for moment in s._equity_curve.index if moment.date().isoformat() >= "2012-12-03")
    assert metrics["exposure_pct"] == pytest.approx((s["Exposure Time [%]"] * bars / 100 + open_bars) / bars * 100)
    # Equity figures: backtesting.py buys whole shares, we buy fractional ones (6 decimals), so a
    # little less cash sits idle in ours; the curves agree to a fraction of a percent.
    for ours, theirs, tolerance in [("return_pct", "Return [%]", 0.03), ("cagr_pct", "CAGR [%]", 0.02),
                                    ("return_ann_pct", "Return (Ann.) [%]", 0.02),
                                    ("volatility_ann_pct", "Volatility (Ann.) [%]", 0.02),
                                    ("sharpe", "Sharpe Ratio", 0.02), ("sortino", "Sortino Ratio", 0.02),
                                    ("calmar", "Calmar Ratio", 0.02), ("max_drawdown_pct", "Max. Drawdown [%]", 0.02)]:
        assert metrics[ours] == pytest.approx(s[theirs], rel=tolerance), ours
    assert metrics["max_drawdown_duration_days"] == s["Max. Drawdown Duration"].days
    # backtesting.py's commissions are the closed trades' (the open one's entry fee is left out of it)
    closed_fees = sum(Decimal(t["fees"]) for t in result.trades)
    assert float(closed_fees) == pytest.approx(s["Commissions [$]"], rel=0.03)
    assert Decimal(metrics["fees_usd"]) == (closed_fees + Decimal("111.776666")).quantize(Decimal("0.01"))
    # Buy and hold from the first bar (backtesting.py starts after its indicators' warm-up: documented).
    closes = s._equity_curve.index  # same bars
    assert len(result.equity) == len(closes)


def test_metrics_on_backtesting_py_s_own_curve_are_its_stats(reference_stats: Any) -> None:
    """The formulas alone: fed backtesting.py's equity curve and trades, they give its numbers."""
    s = reference_stats
    curve = s._equity_curve
    trades = s._trades
    equity = [(moment.timestamp(), Decimal(str(value))) for moment, value in curve["Equity"].items()]
    exposure = sum(1 for i in range(len(curve)) if any(t.EntryBar <= i <= t.ExitBar for t in trades.itertuples()))
    metrics = compute_metrics(equity=equity, trade_returns=list(trades.ReturnPct), trade_pnls=[
        Decimal(str(p)) for p in trades.PnL], exposure_steps=exposure, fees_usd=Decimal(0), first_price=None,
        last_price=None, open_positions=0)
    for ours, theirs in [("return_pct", "Return [%]"), ("cagr_pct", "CAGR [%]"),
                         ("return_ann_pct", "Return (Ann.) [%]"), ("volatility_ann_pct", "Volatility (Ann.) [%]"),
                         ("sharpe", "Sharpe Ratio"), ("sortino", "Sortino Ratio"), ("calmar", "Calmar Ratio"),
                         ("max_drawdown_pct", "Max. Drawdown [%]"), ("win_rate_pct", "Win Rate [%]"),
                         ("profit_factor", "Profit Factor"), ("expectancy_pct", "Expectancy [%]"),
                         ("exposure_pct", "Exposure Time [%]")]:
        assert metrics[ours] == pytest.approx(float(s[theirs]), rel=1e-9), ours
    assert math.isclose(metrics["max_drawdown_duration_days"], s["Max. Drawdown Duration"].days)
