"""A sweep's ranking is worked out point by point in the lanes (each point's figures kept as it finishes), and is
the ranking its stored runs give; with the kept figures gone, the last lane works it out from the stored runs."""

from __future__ import annotations

import json
from decimal import Decimal
from io import StringIO
from typing import Any

import pytest
from django.core.cache import cache
from django.core.management import call_command

from strategies.backtests import csv_store, sweep_create, sweep_rank, sweep_step
from strategies.models import Backtest, Sweep
from strategies.services import strategy_deploy
from tests.backtest.conftest import goog_csv, sma_cross_files

pytestmark = pytest.mark.django_db(transaction=True)  # the command's lanes are processes of their own


def _ranked_from_stored_runs(sweep: Sweep) -> dict[str, Any]:
    points = [dict(row) for row in sweep.points.filter(status=Backtest.Status.SUCCEEDED).order_by(
        "sweep_index").values("pk", "sweep_index", "parameters", "metrics", "equity", "trades", "open_positions")]
    ranked = sweep_rank(points, metric=sweep.metric, holdout=sweep.holdout)
    stored: dict[str, Any] = json.loads(json.dumps(ranked))  # as the sweep's row holds it
    return stored


def test_the_ranking_the_lanes_work_out_is_the_one_the_stored_runs_give(alice) -> None:
    strategy = strategy_deploy(owner=alice, files=sma_cross_files()).strategy
    out = StringIO()
    call_command("strategy_backtest", str(strategy.pk), "--csv", str(goog_csv()), "--symbol", "GOOG", "--cash",
                 "10000", "--commission", "0.002", "--sweep", '{"fast": [5, 10, 12]}', "--metric", "sortino",
                 "--holdout", "0.3", "--lanes", "2", "--json", stdout=out, stderr=StringIO())
    sweep = Sweep.objects.get(pk=json.loads(out.getvalue())["id"])

    assert sweep.status == "succeeded" and sweep.results["trials"] == 3
    assert sweep.results == _ranked_from_stored_runs(sweep)


def test_a_sweep_whose_kept_figures_are_gone_is_ranked_from_its_stored_runs(alice) -> None:
    strategy = strategy_deploy(owner=alice, files=sma_cross_files()).strategy
    data = csv_store(goog_csv().read_text(), symbol="GOOG", filename="GOOG.csv")
    made = sweep_create(version=strategy.versions.get(), created_by=alice, data=data,
                        parameters={"fast": [5, 10]}, metric="sharpe", holdout=0.25, cash=Decimal(10_000),
                        commission=Decimal("0.002"))
    sweep_step(sweep_id=made.pk, enqueue=lambda _: None)  # the first point; its figures kept
    cache.clear()  # evicted (or Redis restarted) before the last point
    sweep_step(sweep_id=made.pk, enqueue=lambda _: None)  # the second, then the ranking
    sweep = Sweep.objects.get(pk=made.pk)

    assert sweep.status == "succeeded" and sweep.results["trials"] == 2
    assert sweep.results == _ranked_from_stored_runs(sweep)
