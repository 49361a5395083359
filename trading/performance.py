"""A book's record, marked to market: the one definition of P&L, win rate, drawdown and the equity curve.

The Overview's performance panel, the equity curve, the graduation checklist and the API all read a strategy's
record through `book_record` (gathered by `trading.selectors.book_trades`), so they cannot disagree:
- a trade is a position: closed, its realized P&L; open, its realized P&L so far plus its unrealized P&L at
  the current mark (`unrealized`: a holding never marked counts at its cost, as the capital engine has it);
- the win rate counts closed winners over closed trades plus open positions at a loss: an open loser is a
  loss today, an open winner is not a win until it is closed; no counted trade, no win rate (None);
- the equity curve starts at the allocation, steps at each close, and ends now at today's marks;
- the drawdown is the largest fall from a peak of that curve, as a fraction of the peak.

Pure functions of plain values (no database), with the statistics beside each number: a Wilson interval for
the win rate, a one-sided lower confidence bound of the mean P&L per trade (Student's t), and, on prediction
markets, the calibration of the wins against the prices paid.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from statistics import NormalDist

from trading.capital import held_value

ZERO = Decimal(0)
ONE = Decimal(1)
CONFIDENCE = 0.95  # of every interval and bound shown beside a graduation check


def unrealized(*, quantity: Decimal, price: Decimal | None, cost_usd: Decimal) -> Decimal:
    """An open holding's P&L at the current mark, against its cost basis (fees included)."""
    return held_value(quantity=quantity, price=price, cost_usd=cost_usd) - cost_usd


@dataclass(frozen=True)
class Trade:
    """One position, as the record counts it."""

    opened_at: datetime
    closed_at: datetime | None  # None while open
    realized_usd: Decimal  # closed: all of its P&L; open: what partial exits realized so far
    unrealized_usd: Decimal = ZERO  # open: at the current mark; closed: 0
    entry_price: Decimal | None = None  # the average price its opening fills paid, fees excluded

    @property
    def pnl_usd(self) -> Decimal:
        return self.realized_usd + self.unrealized_usd

    @property
    def counted(self) -> bool:
        """In the win rate: every closed trade, and an open one at a loss."""
        return self.closed_at is not None or self.pnl_usd < 0

    @property
    def won(self) -> bool:
        return self.closed_at is not None and self.pnl_usd > 0


@dataclass(frozen=True)
class EquityPoint:
    at: datetime
    equity_usd: Decimal


@dataclass(frozen=True)
class Record:
    total_capital: Decimal
    trades: tuple[Trade, ...]
    equity: tuple[EquityPoint, ...]  # from the allocation, a step at each close, today's marks last
    max_drawdown: Decimal
    daily_pnl: tuple[Decimal, ...]  # P&L per UTC day with a close, today's marks in the last day

    @property
    def closed_trades(self) -> int:
        return sum(1 for trade in self.trades if trade.closed_at is not None)

    @property
    def counted(self) -> tuple[Trade, ...]:
        return tuple(trade for trade in self.trades if trade.counted)

    @property
    def wins(self) -> int:
        return sum(1 for trade in self.trades if trade.won)

    @property
    def win_rate(self) -> Decimal | None:
        counted = len(self.counted)
        return Decimal(self.wins) / counted if counted else None

    @property
    def realized_usd(self) -> Decimal:
        return sum((trade.realized_usd for trade in self.trades), ZERO)

    @property
    def unrealized_usd(self) -> Decimal:
        return sum((trade.unrealized_usd for trade in self.trades), ZERO)

    @property
    def pnl_usd(self) -> Decimal:
        return self.realized_usd + self.unrealized_usd

    @property
    def equity_usd(self) -> Decimal:
        return self.total_capital + self.pnl_usd


def book_record(trades: Sequence[Trade], *, total_capital: Decimal, start: datetime, now: datetime) -> Record:
    """The record of a book's trades on `total_capital`: the curve starts at `start` (or a minute before the first
    close), steps at each close in closing order, and ends at `now` at today's marks while any position is open."""
    closed = sorted((trade for trade in trades if trade.closed_at is not None),
                    key=lambda trade: (trade.closed_at, trade.opened_at))
    held = [trade for trade in trades if trade.closed_at is None]
    steps: list[tuple[datetime, Decimal]] = [(trade.closed_at, trade.pnl_usd) for trade in closed
                                             if trade.closed_at is not None]
    if held:
        steps.append((max(now, steps[-1][0]) if steps else now, sum((trade.pnl_usd for trade in held), ZERO)))
    first = min([start, *(at - timedelta(minutes=1) for at, _ in steps[:1])])
    equity = [EquityPoint(first, total_capital)]
    value = peak = total_capital
    drawdown = ZERO
    daily: dict[str, Decimal] = {}
    for at, pnl in steps:
        value += pnl
        peak = max(peak, value)
        drawdown = max(drawdown, (peak - value) / peak if peak > 0 else ONE)
        if int(equity[-1].at.timestamp()) >= int(at.timestamp()):  # a chart needs strictly increasing seconds
            equity[-1] = EquityPoint(equity[-1].at, value)
        else:
            equity.append(EquityPoint(at, value))
        day = at.date().isoformat()
        daily[day] = daily.get(day, ZERO) + pnl
    return Record(total_capital, tuple(trades), tuple(equity), drawdown, tuple(daily.values()))


def sharpe(start_usd: Decimal, daily_pnl: Sequence[Decimal]) -> Decimal | None:
    """Annualised (365 days) from daily returns on the running equity; None with fewer than two days or no
    variation."""
    if len(daily_pnl) < 2:
        return None
    returns, equity = [], start_usd
    for pnl in daily_pnl:
        returns.append(pnl / equity if equity > 0 else ZERO)
        equity += pnl
    mean = sum(returns, ZERO) / len(returns)
    variance = sum(((value - mean) ** 2 for value in returns), ZERO) / (len(returns) - 1)
    if variance == 0:
        return None
    return (mean / variance.sqrt() * Decimal(365).sqrt()).quantize(Decimal("0.01"))


# --- The uncertainty of each graduation number.


def wilson_interval(wins: int, trials: int, *, confidence: float = CONFIDENCE) -> tuple[float, float] | None:
    """The Wilson score interval (two-sided) of a success rate; None with no trial. Unlike the normal
    approximation it stays inside [0, 1] and is honest at 0 or all wins and small samples."""
    if trials <= 0:
        return None
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    rate = wins / trials
    centre = (rate + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z / (1 + z * z / trials) * math.sqrt(rate * (1 - rate) / trials + z * z / (4 * trials * trials))
    return max(0.0, centre - half), min(1.0, centre + half)


def _t_density(x: float, df: int) -> float:
    return math.exp(_t_log_norm(df) - (df + 1) / 2 * math.log1p(x * x / df))


def _t_log_norm(df: int) -> float:
    return math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)


def _t_cdf(x: float, df: int) -> float:
    """P(T ≤ x) for Student's t: 1/2 plus the density integrated from 0 to x by Simpson's rule (256 panels:
    under 1e-9 off for the quantiles a confidence bound uses)."""
    if x == 0:
        return 0.5
    steps, log_norm, power = 256, _t_log_norm(df), (df + 1) / 2
    width = x / steps
    weights = (1 if i in (0, steps) else 4 if i % 2 else 2 for i in range(steps + 1))
    area = sum(weight * math.exp(log_norm - power * math.log1p((i * width) ** 2 / df))
               for i, weight in enumerate(weights))
    return 0.5 + area * width / 3


def t_quantile(probability: float, df: int) -> float:
    """The `probability` quantile of Student's t with `df` degrees of freedom (Newton's method from the normal's)."""
    if not 0 < probability < 1 or df < 1:
        raise ValueError(f"t_quantile needs 0 < probability < 1 and df ≥ 1, got {probability}, {df}")
    x = NormalDist().inv_cdf(probability)
    for _ in range(50):
        step = (_t_cdf(x, df) - probability) / _t_density(x, df)
        x -= step
        if abs(step) < 1e-10:
            break
    return x


def mean_lower_bound(values: Sequence[Decimal], *, confidence: float = CONFIDENCE) -> tuple[Decimal, Decimal] | None:
    """The mean and its one-sided lower confidence bound, mean − t(confidence, n − 1) · s / √n: the mean P&L per
    trade is above the bound with that confidence (trades taken as independent). None with fewer than two values."""
    n = len(values)
    if n < 2:
        return None
    mean = sum(values, ZERO) / n
    spread = math.sqrt(float(sum(((value - mean) ** 2 for value in values), ZERO) / (n - 1)))
    margin = Decimal(str(t_quantile(confidence, n - 1) * spread / math.sqrt(n)))
    return mean, mean - margin


@dataclass(frozen=True)
class Calibration:
    """On a prediction market a contract bought at price c pays out with probability c if the market is right:
    buying favourites at 0.90 "wins" 90 % of the time and can still lose money. The strategy's edge is how far
    its win rate is above the prices it paid."""

    trades: int
    wins: int
    expected_wins: float  # the sum of the prices paid: the wins a calibrated market predicts
    variance: float  # the sum of c(1 − c): the spread of that prediction

    @property
    def win_rate(self) -> float:
        return self.wins / self.trades

    @property
    def price_paid(self) -> float:
        return self.expected_wins / self.trades

    @property
    def edge(self) -> float:
        return self.win_rate - self.price_paid

    @property
    def z(self) -> float | None:
        """Wins above what the prices predicted, in standard deviations of that prediction (Poisson binomial)."""
        return None if self.variance <= 0 else (self.wins - self.expected_wins) / math.sqrt(self.variance)


def calibration(trades: Sequence[Trade]) -> Calibration | None:
    """Wins against the prices paid, over the counted trades whose entry price is known; None without one."""
    priced = [trade for trade in trades if trade.counted and trade.entry_price is not None]
    if not priced:
        return None
    prices = [float(trade.entry_price) for trade in priced if trade.entry_price is not None]
    return Calibration(trades=len(priced), wins=sum(1 for trade in priced if trade.won), expected_wins=sum(prices),
                       variance=sum(price * (1 - price) for price in prices))
