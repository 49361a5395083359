"""The deflated Sharpe ratio against values worked by hand and the paper's own numerical example."""

from __future__ import annotations

import math

import pytest

from strategyhub.lib.deflated_sharpe import (
    deflated_sharpe,
    expected_max_sharpe,
    moments,
    probabilistic_sharpe,
    sharpe_per_period,
)


def test_the_papers_example_deflates_an_annual_sharpe_of_2_5_among_100_trials_to_0_9004() -> None:
    # Bailey & López de Prado (2014), section 6: 100 trials whose annualised Sharpe ratios vary by 0.5, the best
    # 2.5 annualised over 5 years of daily returns (T = 1250, 250 a year), skew -3, kurtosis 10: DSR 0.9004.
    benchmark = expected_max_sharpe(100, 0.5 / 250)
    assert benchmark == pytest.approx(0.1132, abs=5e-5)
    dsr = probabilistic_sharpe(2.5 / math.sqrt(250), benchmark, observations=1250, skew=-3, kurtosis=10)
    assert dsr == pytest.approx(0.9004, abs=5e-5)


def test_expected_max_sharpe_by_hand_for_ten_trials() -> None:
    # sqrt(0.01) · ((1 − 0.5772157) · Φ⁻¹(0.9) + 0.5772157 · Φ⁻¹(1 − 1/(10e)))
    #   = 0.1 · (0.4227843 · 1.2815516 + 0.5772157 · 1.7892418) = 0.1 · (0.5418211 + 1.0327786) = 0.1574600
    assert expected_max_sharpe(10, 0.01) == pytest.approx(0.1574600, abs=1e-6)


def test_one_trial_or_no_spread_deflates_nothing() -> None:
    assert expected_max_sharpe(1, 0.04) == 0.0
    assert expected_max_sharpe(50, 0.0) == 0.0


def test_moments_of_a_small_sample_by_hand() -> None:
    # returns 1, 2, 3, 10: mean 4; deviations -3, -2, -1, 6; m2 = 50/4 = 12.5, m3 = 180/4 = 45, m4 = 1394/4 = 348.5
    mean, std, skew, kurtosis = moments([1.0, 2.0, 3.0, 10.0])
    assert mean == 4.0
    assert std == pytest.approx(math.sqrt(50 / 3))
    assert skew == pytest.approx(45 / 12.5 ** 1.5)  # 1.0182338
    assert kurtosis == pytest.approx(348.5 / 12.5 ** 2)  # 2.2304
    assert sharpe_per_period([1.0, 2.0, 3.0, 10.0]) == pytest.approx(4 / math.sqrt(50 / 3))  # 0.9797959


def test_the_deflated_sharpe_of_a_best_trial_by_hand() -> None:
    # the best: returns 0.01, -0.005, 0.02, 0.0, 0.015: mean 0.008, deviations from it below,
    # sum of squares 0.00043, so std (ddof 1) sqrt(0.00043 / 4) = 0.0103682 and SR 0.008 / 0.0103682 = 0.7715885
    best = [0.01, -0.005, 0.02, 0.0, 0.015]
    deviations = [0.002, -0.013, 0.012, -0.008, 0.007]
    m2 = sum(d ** 2 for d in deviations) / 5  # 0.000086
    m3 = sum(d ** 3 for d in deviations) / 5  # (8 - 2197 + 1728 - 512 + 343)e-9 / 5 = -126e-9
    m4 = sum(d ** 4 for d in deviations) / 5
    assert m2 == pytest.approx(0.000086) and m3 == pytest.approx(-630e-9 / 5) and m4 == pytest.approx(
        (16 + 28561 + 20736 + 4096 + 2401) * 1e-12 / 5)
    sharpe = 0.008 / math.sqrt(0.00043 / 4)
    assert sharpe == pytest.approx(0.7715885, abs=1e-7)
    # three trials with Sharpe ratios 0.7715885, 0.2 and -0.1: V = var(ddof 1)
    trials = [sharpe, 0.2, -0.1]
    mean = sum(trials) / 3
    variance = sum((t - mean) ** 2 for t in trials) / 2
    benchmark = math.sqrt(variance) * ((1 - 0.5772156649) * 0.4307272993 + 0.5772156649 * 1.1619569289)
    #                                  Φ⁻¹(1 − 1/3) = 0.4307273    Φ⁻¹(1 − 1/(3e)) = Φ⁻¹(0.8773735) = 1.1619569
    skew, kurtosis = m3 / m2 ** 1.5, m4 / m2 ** 2
    z = (sharpe - benchmark) * math.sqrt(4) / math.sqrt(1 - skew * sharpe + (kurtosis - 1) / 4 * sharpe ** 2)
    phi = 0.5 * (1 + math.erf(z / math.sqrt(2)))

    found = deflated_sharpe(best, trials)
    assert found is not None
    assert found.trials == 3 and found.observations == 5
    assert found.sharpe == pytest.approx(sharpe)
    assert found.trials_variance == pytest.approx(variance)
    assert found.expected_max_sharpe == pytest.approx(benchmark, abs=1e-7)
    assert found.skew == pytest.approx(skew) and found.kurtosis == pytest.approx(kurtosis)
    assert found.deflated_sharpe == pytest.approx(phi, abs=1e-7)


def test_more_trials_of_the_same_spread_deflate_the_same_best_more() -> None:
    best = [0.01, -0.005, 0.02, 0.0, 0.015, 0.004, -0.002, 0.011]
    few = deflated_sharpe(best, [0.3, 0.1, -0.1])
    many = deflated_sharpe(best, [0.3, 0.1, -0.1] * 30)
    assert few is not None and many is not None
    assert few.deflated_sharpe is not None and many.deflated_sharpe is not None
    assert many.expected_max_sharpe > few.expected_max_sharpe
    assert many.deflated_sharpe < few.deflated_sharpe


def test_a_flat_best_has_no_deflated_sharpe() -> None:
    assert deflated_sharpe([0.0, 0.0, 0.0], [0.1, 0.2]) is None
