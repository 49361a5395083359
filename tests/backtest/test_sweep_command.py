"""`manage.py strategy_backtest ID --sweep`: the reference case over a small grid, run by lanes in the command's
own threads (each with its database connection: a transactional test, so they see the strategy)."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from strategies.models import Backtest, Sweep
from strategies.services import strategy_deploy
from tests.backtest.conftest import goog_csv, sma_cross_files

pytestmark = pytest.mark.django_db(transaction=True)
REFERENCE = ["--csv", str(goog_csv()), "--symbol", "GOOG", "--cash", "10000", "--commission", "0.002"]


def test_a_sweep_of_the_reference_case_runs_each_point_as_its_own_backtest_and_ranks_them(
        alice, capsys: pytest.CaptureFixture[str]) -> None:
    strategy = strategy_deploy(owner=alice, files=sma_cross_files()).strategy
    out, err = StringIO(), StringIO()
    call_command("strategy_backtest", str(strategy.pk), *REFERENCE, "--sweep", '{"fast": [5, 10], "slow": [20]}',
                 "--metric", "sharpe", "--holdout", "0.3", "--lanes", "2", "--json", stdout=out, stderr=err)
    shaped = json.loads(out.getvalue())

    assert shaped["status"] == "succeeded" and shaped["trials"] == 2
    assert shaped["progress"] == {"done": 2, "total": 2, "percent": 100.0}
    assert "/2 points" in capsys.readouterr().err  # progress on stderr, never in the JSON
    reference = Backtest.objects.get(sweep_id=shaped["id"], parameters__overrides={"fast": 10, "slow": 20})
    assert reference.metrics["trades"] == 46  # the reference point is the reference case, trade for trade count
    other = Backtest.objects.get(sweep_id=shaped["id"], parameters__overrides={"fast": 5, "slow": 20})
    assert other.metrics["trades"] != 46  # and the other point ran with its own fast average
    sharpes = [row["in_sample"]["sharpe"] for row in shaped["ranking"]]
    assert sharpes == sorted(sharpes, reverse=True)
    assert shaped["split_at"][:4] == "2010"  # 70 % of 2004-08 … 2013-03
    assert shaped["deflated_sharpe"]["trials"] == 2 and shaped["out_of_sample"]["trades"] >= 1


def test_a_sweep_beyond_the_most_points_exits_2_naming_the_field(alice, settings) -> None:
    settings.SWEEP_MAX_POINTS = 3
    strategy = strategy_deploy(owner=alice, files=sma_cross_files()).strategy
    with pytest.raises(CommandError) as refused:
        call_command("strategy_backtest", str(strategy.pk), *REFERENCE, "--sweep", '{"fast": [5, 8, 10, 12]}',
                     stdout=StringIO(), stderr=StringIO())
    assert refused.value.returncode == 2
    assert str(refused.value).startswith("parameters.fast: 4 values, more than SWEEP_MAX_POINTS (3)")
    assert not Sweep.objects.exists() and not Backtest.objects.exists()
