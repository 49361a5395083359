"""The deflated Sharpe ratio (Bailey and López de Prado, "The Deflated Sharpe Ratio", 2014), from its formulas.

The best of N backtests has a Sharpe ratio that is high partly by luck: with N trials whose Sharpe ratios vary
with variance V, the expected maximum of N draws of a Sharpe ratio of true value 0 is

    SR0 = sqrt(V) · ((1 − γ) · Φ⁻¹(1 − 1/N) + γ · Φ⁻¹(1 − 1/(N·e)))      (γ: the Euler–Mascheroni constant)

and the deflated Sharpe ratio is the probability that the best's true Sharpe ratio exceeds SR0, given its T
returns, their skewness γ3 and kurtosis γ4 (the probabilistic Sharpe ratio against SR0):

    DSR = Φ((SR − SR0) · sqrt(T − 1) / sqrt(1 − γ3 · SR + (γ4 − 1) / 4 · SR²))

Every Sharpe ratio here is per period (not annualised): mean over standard deviation of the returns.
Plain floats in and out: no Django, no app.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

EULER_GAMMA = 0.5772156649015329
_NORMAL = NormalDist()


def expected_max_sharpe(trials: int, variance: float) -> float:
    """SR0: the expected maximum Sharpe ratio of `trials` trials of true Sharpe 0 whose estimates vary by
    `variance`; 0 for a single trial (nothing to deflate by)."""
    if trials < 2 or variance <= 0:
        return 0.0
    return math.sqrt(variance) * ((1 - EULER_GAMMA) * _NORMAL.inv_cdf(1 - 1 / trials)
                                  + EULER_GAMMA * _NORMAL.inv_cdf(1 - 1 / (trials * math.e)))


def probabilistic_sharpe(sharpe: float, benchmark: float, *, observations: int, skew: float,
                         kurtosis: float) -> float | None:
    """P(true Sharpe > benchmark) for an estimate `sharpe` from `observations` returns of that skew and
    (non-excess) kurtosis; None when it is not defined (fewer than 2 returns, a non-positive variance term)."""
    if observations < 2:
        return None
    spread = 1 - skew * sharpe + (kurtosis - 1) / 4 * sharpe ** 2
    if spread <= 0:
        return None
    return _NORMAL.cdf((sharpe - benchmark) * math.sqrt(observations - 1) / math.sqrt(spread))


def moments(returns: Sequence[float]) -> tuple[float, float, float, float]:
    """(mean, standard deviation with ddof 1, skewness, non-excess kurtosis) of `returns`; skewness and kurtosis
    are the population moments m3 / m2^1.5 and m4 / m2², as the paper uses them (a normal sample: 0 and 3)."""
    count = len(returns)
    mean = sum(returns) / count
    deviations = [value - mean for value in returns]
    m2 = sum(d * d for d in deviations) / count
    if m2 == 0:
        return mean, 0.0, 0.0, 3.0
    m3 = sum(d ** 3 for d in deviations) / count
    m4 = sum(d ** 4 for d in deviations) / count
    std = math.sqrt(m2 * count / (count - 1)) if count > 1 else 0.0
    return mean, std, m3 / m2 ** 1.5, m4 / m2 ** 2


def sharpe_per_period(returns: Sequence[float]) -> float | None:
    """Mean over standard deviation (ddof 1) of the returns; None for fewer than 2 or no variation."""
    if len(returns) < 2:
        return None
    mean, std, _, _ = moments(returns)
    return mean / std if std > 0 else None


@dataclass(frozen=True)
class DeflatedSharpe:
    trials: int  # how many trials had a Sharpe ratio (the N of SR0)
    sharpe: float  # the best's Sharpe ratio per period
    trials_variance: float  # V: the variance (ddof 1) of the trials' Sharpe ratios per period
    expected_max_sharpe: float  # SR0
    observations: int  # T: the best's returns
    skew: float
    kurtosis: float
    deflated_sharpe: float | None  # the probability that the best's true Sharpe ratio exceeds SR0


def deflated_sharpe(best_returns: Sequence[float], trial_sharpes: Sequence[float]) -> DeflatedSharpe | None:
    """The deflated Sharpe ratio of the trial whose per-period returns are `best_returns`, among trials whose
    per-period Sharpe ratios are `trial_sharpes` (the best's own included); None when the best has none."""
    sharpe = sharpe_per_period(best_returns)
    if sharpe is None:
        return None
    trials = len(trial_sharpes)
    variance = 0.0
    if trials > 1:
        mean = sum(trial_sharpes) / trials
        variance = sum((value - mean) ** 2 for value in trial_sharpes) / (trials - 1)
    benchmark = expected_max_sharpe(trials, variance)
    _, _, skew, kurtosis = moments(best_returns)
    return DeflatedSharpe(
        trials=trials, sharpe=sharpe, trials_variance=variance, expected_max_sharpe=benchmark,
        observations=len(best_returns), skew=skew, kurtosis=kurtosis,
        deflated_sharpe=probabilistic_sharpe(sharpe, benchmark, observations=len(best_returns), skew=skew,
                                             kurtosis=kurtosis))
