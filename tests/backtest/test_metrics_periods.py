"""The annualised figures bin the equity by day, week, month or year exactly as pandas' resample does (the
definitions backtesting.py's stats use), whatever the bars' length and time of day."""

from __future__ import annotations

import math
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from trading.backtest.metrics import compute_metrics

DAY = 86400


def _curve(points: int, start: float, step: float, seed: int) -> list[tuple[float, Decimal]]:
    """`points` moments `step` apart, and every fifth one a moment six days before it too (two in a week)."""
    rng, value = np.random.default_rng(seed), 10_000.0
    moments = sorted({start + n * step for n in range(points)} | {start + n * step - 6 * DAY + 3600
                                                                   for n in range(5, points, 5)})
    out = []
    for moment in moments:
        out.append((moment, Decimal(str(round(value, 2)))))
        value *= 1 + rng.normal(0.0005, 0.02)
    return out


def _pandas_figures(equity: list[tuple[float, Decimal]], rule: str, per_year: int) -> tuple[float, float, float]:
    """Annual return, volatility and Sortino from pandas' own resampling, by the formulas in metrics.py."""
    index = pd.to_datetime(np.array([t for t, _ in equity]), unit="s", utc=True)
    returns = pd.Series([float(v) for _, v in equity], index=index).resample(rule).last().dropna().pct_change().dropna()
    mean = float(np.exp(np.log(returns + 1).sum() / len(returns)) - 1)
    annual = (1 + mean) ** per_year - 1
    variance = float(returns.var(ddof=1))
    volatility = math.sqrt((variance + (1 + mean) ** 2) ** per_year - (1 + mean) ** (2 * per_year))
    downside = math.sqrt(float(np.mean(returns.clip(upper=0) ** 2))) * math.sqrt(per_year)
    return annual * 100, volatility * 100, annual / downside


@pytest.mark.parametrize(("start", "step", "rule", "per_year"), [
    (1_700_000_000 + 5 * 3600, 3600, "D", 365),  # hourly bars from 05:00: days binned at UTC midnight
    (1_600_000_000, DAY, "D", 365),  # daily bars, weekends included
    (1_600_002_000, 7 * DAY, "W", 52),  # weekly bars on Sunday afternoons (2020-09-13 13:00 on), a Monday too
    (1_500_000_000, 31 * DAY, "ME", 12),  # monthly
])
def test_annual_figures_bin_the_curve_as_pandas_resample_does(start: float, step: float, rule: str,
                                                             per_year: int) -> None:
    equity = _curve(400, start, step, seed=int(step))

    metrics = compute_metrics(equity=equity, trade_returns=[], trade_pnls=[], exposure_steps=0,
                              fees_usd=Decimal(0), first_price=None, last_price=None, open_positions=0)

    annual, volatility, sortino = _pandas_figures(equity, rule, per_year)
    assert metrics["return_ann_pct"] == pytest.approx(annual, rel=1e-12)
    assert metrics["volatility_ann_pct"] == pytest.approx(volatility, rel=1e-12)
    assert metrics["sortino"] == pytest.approx(sortino, rel=1e-12)
    assert metrics["start"] == pd.Timestamp(equity[0][0], unit="s", tz="UTC").isoformat()


@pytest.mark.parametrize("moment", [0.0, 1092873600.0, 1092873600.5, 1092873600.123456789, -86400.0, 4102444800.0,
                                    1e9 + 1e-6, 8999999999.0, 9e9, 9999999999.0])
def test_a_moment_is_the_timestamp_pandas_reads(moment: float) -> None:
    from trading.backtest.metrics import _moment

    def pandas_read() -> pd.Timestamp:
        return pd.to_datetime(np.array([moment]), unit="s", utc=True)[0]

    try:
        read = pandas_read()
    except Exception as error:  # past pandas' range: the same error, as before
        with pytest.raises(type(error)):
            _moment(moment)
        return
    mine = _moment(moment)
    assert mine is pd.NaT if read is pd.NaT else (mine == read and mine.isoformat() == read.isoformat())
    assert repr(mine) == repr(read)
