"""A sweep's point ran other parameters than the version's own: it is not the version's backtest, neither for the
reviewer's "latest backtest" nor for REQUIRE_BACKTEST_FOR_PAPER."""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils import timezone

from strategies.backtests import BacktestData, sweep_create
from strategies.models import Backtest
from strategies.services import ApprovalError, strategy_deploy, strategy_version_approve
from tests.api.test_backtests import sma_on_aapl

pytestmark = pytest.mark.django_db


@pytest.fixture
def swept(alice) -> Backtest:
    """A pending strategy whose only succeeded backtest is a point of a sweep."""
    version = strategy_deploy(owner=alice, files=sma_on_aapl())
    sweep = sweep_create(version=version, created_by=alice, parameters={"fast": [5]},
                         data=BacktestData(Backtest.Source.ALPACA_HISTORY, {"symbols": ["AAPL"], "timeframe": "1Day"}))
    now = timezone.now()
    sweep.points.update(status="succeeded", progress=100.0, started_at=now, finished_at=now,
                        metrics={"return_pct": 99.0, "trades": 3})
    return Backtest.objects.get(sweep=sweep)


def test_a_sweep_point_does_not_satisfy_require_backtest_for_paper(settings, staff, swept: Backtest) -> None:
    settings.REQUIRE_BACKTEST_FOR_PAPER = True
    with pytest.raises(ApprovalError, match="no succeeded backtest"):
        strategy_version_approve(version=swept.version, by=staff)


def test_the_reviewer_is_not_shown_a_sweep_point_as_the_versions_latest_backtest(admin_client: Client,
                                                                                 swept: Backtest) -> None:
    page = admin_client.get(f"/admin/strategies/strategy/{swept.strategy_id}/change/").content.decode()
    assert "Latest backtest of the current version" in page and "none yet" in page
    assert f"?backtest={swept.pk}" not in page
