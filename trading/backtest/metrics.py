"""A backtest's metrics, defined as backtesting.py defines them (its `stats`), so a user can compare.

- return: last equity over first − 1; CAGR over the calendar years the data spans (365.25 days);
- daily returns: the equity resampled to its last value per day (per week, month or year when the
  bars are that long), percent change; their geometric mean compounded over the year's trading
  periods (252, or 365 when the data has weekends) is the annualised return;
- annualised volatility: sqrt((var + (1 + g)²)^N − (1 + g)^2N) of those daily returns (g the
  geometric mean, N periods a year, var with ddof 1); Sharpe = annualised return / volatility
  (risk-free 0); Sortino = annualised return / (root mean square of the negative daily returns × √N);
- drawdown: 1 − equity / running peak; its longest duration is the time from a peak to the moment
  the equity is back at it (or to the end); Calmar = annualised return / max drawdown;
- trades: win rate = share with P&L > 0; profit factor = sum of winning returns / |sum of losing
  returns|; expectancy = the mean return per trade; best / worst / geometric average trade;
- exposure: the share of bars at which a position was held at any moment of the bar;
- buy and hold: the primary series' close at the last step over its close at the first.

Returns and ratios are floats (statistics, not money); money (fees, equity) stays Decimal strings.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd

# numpy, not pandas: the same float operations in the same order (pandas adds ≈3 ms of Series and resampling
# overhead to every backtest, on the path between the replay and the result, and to every point a sweep ranks).
DAY = 86400.0
_MONDAY_FIRST = 3  # 1970-01-01 was a Thursday: (days + 3) // 7 groups Monday..Sunday, pandas' "W" (W-SUN)


def _finite(value: Any) -> float | None:
    number = float(value)
    return number if math.isfinite(number) else None


def _geometric_mean(returns: np.ndarray) -> float:
    grown = np.nan_to_num(returns, nan=0.0) + 1
    if len(grown) == 0 or bool(np.any(grown <= 0)):
        return 0.0
    return float(np.exp(np.log(grown).sum() / len(grown)) - 1)


def _period_rule(times: np.ndarray) -> tuple[str, int]:
    """The resampling rule and periods a year, from the median spacing of the last 100 points."""
    gaps = np.diff(times[-100:])
    days = int(np.median(gaps) // DAY) if len(gaps) else 0
    weekends = bool(np.mean((times // DAY + _MONDAY_FIRST) % 7 >= 5) > 2 / 7 * 0.6)
    per_year = {7: 52, 31: 12, 365: 1}.get(days, 365 if weekends else 252)
    rule = {7: "W", 31: "ME", 365: "YE"}.get(days, "D")
    return rule, per_year


def _period_keys(times: np.ndarray, rule: str) -> np.ndarray:
    """Which period (day, week, month, year) each moment falls in, as pandas' resample(rule) bins them."""
    days = times // DAY
    if rule == "W":
        return (days + _MONDAY_FIRST) // 7
    if rule in ("ME", "YE"):
        return (times * 1e9).astype("datetime64[ns]").astype("datetime64[M]" if rule == "ME" else "datetime64[Y]")
    return days


def _period_returns(times: np.ndarray, values: np.ndarray, rule: str) -> np.ndarray:
    """The percent change of each period's last value (resample(rule).last().dropna().pct_change().dropna())."""
    keys = _period_keys(times, rule)
    last: np.ndarray = values[np.r_[keys[1:] != keys[:-1], True]]
    changes: np.ndarray = last[1:] / last[:-1] - 1
    return changes


def _drawdown_durations(drawdown: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Each drawdown's length in seconds: from the peak before it to the moment the equity recovers (or the end)."""
    at_peak = np.flatnonzero(drawdown == 0)
    marks = np.unique(np.r_[at_peak, len(drawdown) - 1])
    begin, end = marks[:-1], marks[1:]
    apart = end > begin + 1
    lengths: np.ndarray = times[end[apart]] - times[begin[apart]]
    return lengths


def _moment(moment: float) -> pd.Timestamp:
    """As pandas reads the moment (nanoseconds): the texts and the span in years are its. A whole second (every bar
    start so far) is exact either way; the Timestamp is built directly (≈3 µs, not ≈110: to_datetime's array path)."""
    if float(moment).is_integer() and abs(moment) < 9e9:  # inside pandas' nanosecond range (years 1677-2262)
        return pd.Timestamp(int(moment) * 1_000_000_000, tz="UTC")
    return pd.to_datetime(np.array([moment]), unit="s", utc=True)[0]


def compute_metrics(
    *,
    equity: Sequence[tuple[float, Decimal]],
    trade_returns: Sequence[float],
    trade_pnls: Sequence[Decimal],
    exposure_steps: int,
    fees_usd: Decimal,
    first_price: Decimal | None,
    last_price: Decimal | None,
    open_positions: int,
) -> dict[str, Any]:
    """The metric set of a run; `trade_returns` are fractions (0.05 for +5 %), net of fees."""
    times = np.array([moment for moment, _ in equity], dtype=float)
    values = np.array([float(value) for _, value in equity], dtype=float)
    start_value, end_value = values[0], values[-1]
    first, last = _moment(times[0]), _moment(times[-1])
    metrics: dict[str, Any] = {
        "start": first.isoformat(), "end": last.isoformat(), "bars": len(values),
        "equity_final": str(equity[-1][1].quantize(Decimal("0.01"))),
        "equity_peak": str(max(value for _, value in equity).quantize(Decimal("0.01"))),
        "return_pct": _finite((end_value - start_value) / start_value * 100),
    }
    years = (last - first).total_seconds() / 86400 / 365.25
    metrics["cagr_pct"] = _finite(((end_value / start_value) ** (1 / years) - 1) * 100) if years > 0 else None

    rule, per_year = _period_rule(times) if len(times) > 1 else ("D", 252)
    day_returns = _period_returns(times, values, rule)
    mean = _geometric_mean(day_returns)
    annual = (1 + mean) ** per_year - 1
    variance = float(np.var(day_returns, ddof=1)) if len(day_returns) > 1 else math.nan
    volatility = math.sqrt(max(0.0, (variance + (1 + mean) ** 2) ** per_year - (1 + mean) ** (2 * per_year))) \
        if math.isfinite(variance) else math.nan
    metrics["return_ann_pct"] = _finite(annual * 100)
    metrics["volatility_ann_pct"] = _finite(volatility * 100)
    metrics["sharpe"] = _finite(annual / volatility) if volatility else None
    downside = math.sqrt(float(np.mean(np.minimum(day_returns, 0) ** 2))) * math.sqrt(per_year) \
        if len(day_returns) else 0.0
    metrics["sortino"] = _finite(annual / downside) if downside else None

    peaks = np.maximum.accumulate(values)
    drawdown = 1 - values / peaks
    max_drawdown = float(np.nan_to_num(np.nanmax(drawdown))) if not np.all(np.isnan(drawdown)) else 0.0
    metrics["max_drawdown_pct"] = -max_drawdown * 100
    durations = _drawdown_durations(drawdown, times)
    metrics["max_drawdown_duration_days"] = _finite(durations.max() / 86400) if len(durations) else None
    metrics["calmar"] = _finite(annual / max_drawdown) if max_drawdown else None

    returns = np.array(list(trade_returns), dtype=float)
    pnls = [float(p) for p in trade_pnls]
    count = len(returns)
    metrics["trades"] = count
    metrics["win_rate_pct"] = _finite(sum(1 for p in pnls if p > 0) / count * 100) if count else None
    metrics["best_trade_pct"] = _finite(np.nanmax(returns) * 100) if count else None
    metrics["worst_trade_pct"] = _finite(np.nanmin(returns) * 100) if count else None
    metrics["avg_trade_pct"] = _finite(_geometric_mean(returns) * 100) if count else None
    losses = abs(float(returns[returns < 0].sum()))
    metrics["profit_factor"] = _finite(float(returns[returns > 0].sum()) / losses) if count and losses else None
    metrics["expectancy_pct"] = _finite(np.nanmean(returns) * 100) if count else None
    metrics["exposure_pct"] = exposure_steps / len(values) * 100
    metrics["fees_usd"] = str(fees_usd.quantize(Decimal("0.01")))
    metrics["buy_and_hold_return_pct"] = (
        _finite((last_price - first_price) / first_price * 100) if first_price and last_price else None)
    metrics["open_positions"] = open_positions
    return metrics
