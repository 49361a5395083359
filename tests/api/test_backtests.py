"""Backtests through the API: start one (202), read its progress and results, list, cancel; bad bodies named."""

from __future__ import annotations

import json
from typing import Any

import pytest

from strategies.models import Backtest
from strategies.services import strategy_deploy
from strategyhub.celery import app
from tests.api.conftest import error, kalshi_files
from tests.backtest.conftest import sma_cross_files

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("venues_on_simulator")]


def sma_on_aapl() -> dict[str, str]:
    """The SMA 10/20 reference strategy on a stock the simulator serves bars of."""
    files = sma_cross_files()
    config = json.loads(files["config.json"])
    config["parameters"]["symbol"] = "AAPL"
    files["config.json"] = json.dumps(config)
    return files


@pytest.fixture
def worker(settings, redis_url) -> Any:
    """Backtests queued on commit run here, at once, as a worker would run them."""
    settings.BACKTEST_LOOKAHEAD_CHECK = False
    eager = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = eager


def test_a_backtest_starts_202_runs_and_reads_back_with_its_results(api, alice, worker,
                                                                   django_capture_on_commit_callbacks) -> None:
    strategy = strategy_deploy(owner=alice, files=sma_on_aapl()).strategy
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(f"/api/v1/strategies/{strategy.pk}/backtests/",
                            {"start": "2026-01-01T00:00:00Z", "cash": "10000"})
    assert response.status_code == 202, response.content
    queued = response.json()
    assert queued["status"] == "queued" and response["Location"] == f"/api/v1/backtests/{queued['backtest_id']}/"

    body = api.get(f"/api/v1/backtests/{queued['backtest_id']}/").json()
    assert body["status"] == "succeeded", body["error"]
    assert body["progress"] == 100.0 and body["cash"] == "10000.00" and body["data_source"] == "alpaca_history"
    assert body["metrics"]["trades"] == len(body["trades"]) and body["metrics"]["return_pct"] is not None
    assert body["equity"] and body["equity"][0][1] == "10000.00"
    assert body["equity"][0][0] >= "2026-01-01"  # nothing before start
    assert all(set(t) == {"market_id", "side", "entry_time", "exit_time", "entry_price", "exit_price", "quantity",
                          "pnl", "fees"} for t in body["trades"])
    assert {"open_positions", "lookahead"} <= set(body)

    listed = api.get(f"/api/v1/strategies/{strategy.pk}/backtests/").json()
    assert [b["id"] for b in listed] == [queued["backtest_id"]] and "trades" not in listed[0]


def test_an_idempotent_retry_starts_one_backtest(api, alice) -> None:
    strategy = strategy_deploy(owner=alice, files=sma_on_aapl()).strategy
    first = api.post(f"/api/v1/strategies/{strategy.pk}/backtests/", {}, **{"Idempotency-Key": "bt-1"})
    again = api.post(f"/api/v1/strategies/{strategy.pk}/backtests/", {}, **{"Idempotency-Key": "bt-1"})
    assert first.status_code == again.status_code == 202
    assert again["Idempotent-Replayed"] == "true" and again.json() == first.json()
    assert Backtest.objects.filter(strategy=strategy).count() == 1


def test_a_user_with_the_most_backtests_in_flight_gets_a_429_saying_when_to_retry(api, alice, settings) -> None:
    settings.BACKTESTS_IN_FLIGHT_PER_USER = 2
    strategy = strategy_deploy(owner=alice, files=sma_on_aapl()).strategy
    url = f"/api/v1/strategies/{strategy.pk}/backtests/"
    started = [api.post(url, {}) for _ in range(2)]
    assert [response.status_code for response in started] == [202, 202]  # queued: nothing runs them here
    refused = api.post(url, {})
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
    body = error(refused)
    assert body["type"] == "throttled" and "2 backtests queued or running" in body["message"]
    assert Backtest.objects.filter(strategy=strategy).count() == 2  # nothing written for the refused one
    assert api.delete(f"/api/v1/backtests/{started[0].json()['backtest_id']}/").status_code == 200
    assert api.post(url, {}).status_code == 202  # one was cancelled: room again


def test_delete_cancels_a_queued_backtest(api, alice) -> None:
    strategy = strategy_deploy(owner=alice, files=sma_on_aapl()).strategy
    backtest_id = api.post(f"/api/v1/strategies/{strategy.pk}/backtests/", {}).json()["backtest_id"]
    response = api.delete(f"/api/v1/backtests/{backtest_id}/")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    assert api.get(f"/api/v1/backtests/{backtest_id}/").json()["status"] == "cancelled"


@pytest.mark.parametrize(("body", "path"), [
    ({"start": "yesterday"}, "start"),
    ({"cash": "-5"}, "cash"),
    ({"cash": "lots"}, "cash"),
    ({"start": "2026-02-01T00:00:00Z", "end": "2026-01-01T00:00:00Z"}, "end"),
])
def test_a_bad_body_is_a_validation_error_naming_the_field(api, alice, body, path) -> None:
    strategy = strategy_deploy(owner=alice, files=sma_on_aapl()).strategy
    response = api.post(f"/api/v1/strategies/{strategy.pk}/backtests/", body)
    assert response.status_code == 400, response.content
    assert error(response)["type"] == "validation_error" and error(response)["issues"][0]["path"] == path
    assert not Backtest.objects.exists()


def test_kalshi_history_without_markets_to_test_on_is_refused_naming_the_field(api, alice) -> None:
    strategy = strategy_deploy(owner=alice, files=kalshi_files(parameters={})).strategy
    response = api.post(f"/api/v1/strategies/{strategy.pk}/backtests/", {})
    assert response.status_code == 400 and "Kalshi tickers" in error(response)["message"]
    assert error(response)["issues"][0]["path"] == "markets"
    assert not Backtest.objects.exists()
