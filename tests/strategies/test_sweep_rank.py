"""The ranking of a sweep's finished points (strategies.backtests.sweep_rank), on runs whose figures are worked by hand:
the split of the held-back tail, the in-sample and out-of-sample metrics, the order, the trials, the deflated Sharpe."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import pytest

from strategies.backtests import sweep_rank
from strategyhub.lib.deflated_sharpe import deflated_sharpe, sharpe_per_period


def run(pk: int, values: Sequence[float], trades: list[dict[str, Any]], **overrides: Any) -> dict[str, Any]:
    """A stored point: one equity value a day from 2024-01-01, its closed trades."""
    equity = [[f"2024-01-{day + 1:02d}T00:00:00Z", f"{value:.2f}"] for day, value in enumerate(values)]
    return {"pk": pk, "sweep_index": pk, "parameters": {"overrides": overrides}, "metrics": {}, "equity": equity,
            "trades": trades, "open_positions": []}


def trade(entry_day: int, exit_day: int, pnl: str, return_pct: float) -> dict[str, Any]:
    return {"entry_time": f"2024-01-{entry_day:02d}T00:00:00Z", "exit_time": f"2024-01-{exit_day:02d}T00:00:00Z",
            "pnl": pnl, "fees": "1.00", "return_pct": return_pct, "quantity": "1", "entry_price": "100"}


STEADY: list[float] = [100, 101, 103, 102, 105, 107, 108, 106, 104, 103, 101]  # day 1 … 11: up in sample, down in the tail
FLAT: list[float] = [100, 100.5, 100, 100.5, 101, 101.5, 101, 102, 103, 104, 105]


def test_the_tail_is_held_back_and_each_part_is_measured_on_its_own() -> None:
    points = [run(1, STEADY, [trade(2, 4, "2.00", 2.0), trade(6, 9, "-4.00", -4.0)], fast=5),
              run(2, FLAT, [trade(3, 10, "4.00", 4.0)], fast=10)]
    ranked = sweep_rank(points, metric="return_pct", holdout=0.4)
    # the range is day 1 … day 11 (10 days): the last 40 % starts on day 7
    assert ranked["split_at"] == "2024-01-07T00:00:00Z" and ranked["trials"] == 2
    best, other = ranked["ranking"]
    assert best["parameters"] == {"fast": 5} and other["parameters"] == {"fast": 10}  # 8 % beats 1 % in sample
    assert best["in_sample"]["return_pct"] == pytest.approx(8.0)  # 100 → 108 on day 7
    assert best["out_of_sample"]["return_pct"] == pytest.approx((101 / 108 - 1) * 100)  # 108 → 101
    assert other["in_sample"]["return_pct"] == pytest.approx(1.0)
    assert best["in_sample"]["trades"] == 1 and best["out_of_sample"]["trades"] == 1  # counted where each closed
    assert other["in_sample"]["trades"] == 0 and other["out_of_sample"]["trades"] == 1
    assert best["in_sample"]["exposure_pct"] == pytest.approx(5 / 7 * 100)  # held on days 2–4 and 6–7 of 1–7
    assert ranked["best"] == best and ranked["out_of_sample"] == best["out_of_sample"]
    assert [row["rank"] for row in ranked["ranking"]] == [1, 2]

    in_sample = [[v / u - 1 for u, v in itertools.pairwise(values[:7])] for values in (STEADY, FLAT)]  # days 1–7
    expected = deflated_sharpe(in_sample[0], [sharpe_per_period(r) for r in in_sample])  # type: ignore[misc]
    assert expected is not None
    assert ranked["deflated_sharpe"]["trials"] == 2 and ranked["deflated_sharpe"]["observations"] == 6
    assert ranked["deflated_sharpe"]["deflated_sharpe"] == pytest.approx(expected.deflated_sharpe)
    assert ranked["deflated_sharpe"]["expected_max_sharpe"] == pytest.approx(expected.expected_max_sharpe)


def test_without_a_tail_the_whole_runs_stored_metrics_are_ranked() -> None:
    points = [run(1, STEADY, [], fast=5), run(2, FLAT, [], fast=10)]
    points[0]["metrics"], points[1]["metrics"] = {"sharpe": 0.5}, {"sharpe": 1.5}
    ranked = sweep_rank(points, metric="sharpe", holdout=0)
    assert [row["parameters"] for row in ranked["ranking"]] == [{"fast": 10}, {"fast": 5}]
    assert ranked["split_at"] is None and ranked["out_of_sample"] is None


def test_a_point_without_the_metric_ranks_last() -> None:
    points = [run(1, [100, 100, 100], [], fast=5), run(2, [100, 101, 102], [], fast=10)]
    points[0]["metrics"], points[1]["metrics"] = {"profit_factor": None}, {"profit_factor": 0.2}
    ranked = sweep_rank(points, metric="profit_factor", holdout=0)
    assert [row["parameters"] for row in ranked["ranking"]] == [{"fast": 10}, {"fast": 5}]
