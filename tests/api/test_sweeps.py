"""Parameter sweeps through the API: start one (202), watch its progress, read the ranking with the number of
trials, the best's deflated Sharpe and its out-of-sample metrics; refusals name the field; tenancy; cancel."""

from __future__ import annotations

from typing import Any

import pytest
import redis
from django.conf import settings

from strategies.backtests import sweep_step
from strategies.models import Backtest, Sweep
from strategies.services import strategy_deploy
from strategyhub.celery import app
from tests.api.conftest import error
from tests.api.test_backtests import sma_on_aapl

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("venues_on_simulator")]

GRID = {"fast": [5, 10], "slow": [20, 30]}


@pytest.fixture
def worker(settings, redis_url) -> Any:
    """Sweep lanes queued on commit run here, at once, as the slow lane's worker would run them."""
    eager = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = eager


@pytest.fixture
def strategy(alice) -> Any:
    return strategy_deploy(owner=alice, files=sma_on_aapl()).strategy


def sweeps_url(strategy: Any) -> str:
    return f"/api/v1/strategies/{strategy.pk}/backtests/sweeps/"


def test_a_grid_sweep_runs_every_point_and_ranks_them_beside_trials_deflated_sharpe_and_out_of_sample(
        api, strategy, worker, django_capture_on_commit_callbacks) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(sweeps_url(strategy), {"parameters": GRID, "metric": "return_pct", "cash": "10000",
                                                   "holdout": 0.3})
    assert response.status_code == 202, response.content
    queued = response.json()
    assert queued["total"] == 4 and response["Location"] == f"/api/v1/sweeps/{queued['sweep_id']}/"

    body = api.get(f"/api/v1/sweeps/{queued['sweep_id']}/").json()
    assert body["status"] == "succeeded", body["error"]
    assert body["progress"] == {"done": 4, "total": 4, "percent": 100.0}
    assert body["trials"] == 4 and len(body["ranking"]) == 4
    assert sorted(tuple(sorted(row["parameters"].items())) for row in body["ranking"]) == [
        (("fast", 5), ("slow", 20)), (("fast", 5), ("slow", 30)), (("fast", 10), ("slow", 20)),
        (("fast", 10), ("slow", 30))]
    scores = [row["in_sample"]["return_pct"] for row in body["ranking"]]
    assert scores == sorted(scores, reverse=True) and [row["rank"] for row in body["ranking"]] == [1, 2, 3, 4]
    assert len(set(scores)) > 1  # the points ran with their own parameters, not the config's
    assert body["best"] == body["ranking"][0]
    deflated = body["deflated_sharpe"]
    assert deflated["trials"] == 4 and 0 <= deflated["deflated_sharpe"] <= 1
    assert deflated["expected_max_sharpe"] > 0 and deflated["observations"] > 10
    assert body["split_at"] is not None and body["out_of_sample"] == body["ranking"][0]["out_of_sample"]
    assert body["out_of_sample"]["return_pct"] is not None

    best = api.get(f"/api/v1/backtests/{body['best']['backtest_id']}/").json()
    assert best["sweep_id"] == queued["sweep_id"] and best["overrides"] == body["best"]["parameters"]
    assert best["equity"][-1][0] > body["split_at"] > best["equity"][0][0]  # the tail is inside the range
    # the points are the sweep's, not the strategy's own backtests
    assert api.get(f"/api/v1/strategies/{strategy.pk}/backtests/").json() == []
    listed = api.get(sweeps_url(strategy)).json()
    assert [s["id"] for s in listed] == [queued["sweep_id"]] and "ranking" not in listed[0]


def test_a_grid_beyond_the_most_points_is_refused_naming_parameters(api, strategy, settings) -> None:
    settings.SWEEP_MAX_POINTS = 5
    response = api.post(sweeps_url(strategy), {"parameters": {"fast": [5, 8, 10], "slow": [20, 30]}})
    assert response.status_code == 400, response.content
    body = error(response)
    assert body["type"] == "validation_error" and body["issues"][0]["path"] == "parameters"
    assert "6 points, more than SWEEP_MAX_POINTS (5)" in body["message"]
    assert not Sweep.objects.exists() and not Backtest.objects.exists()


def test_a_random_sample_beyond_the_most_points_is_refused_naming_samples(api, strategy) -> None:
    response = api.post(sweeps_url(strategy), {"parameters": {"fast": {"min": 2, "max": 15}}, "method": "random",
                                               "samples": settings.SWEEP_MAX_POINTS + 1})
    assert response.status_code == 400, response.content
    assert error(response)["issues"][0]["path"] == "samples"
    assert not Sweep.objects.exists() and not Backtest.objects.exists()


@pytest.mark.parametrize(("parameters", "path"), [
    ({"fats": [5, 10]}, "parameters.fats"),
    ({"fast": []}, "parameters.fast"),
    ({"fast": {"min": 10, "max": 2, "step": 1}}, "parameters.fast"),
    ({"fast": {"min": 2, "max": 10}}, "parameters.fast"),  # a grid needs a step
    ({}, "parameters"),
    ({"fast": {"min": 0, "max": 1e300, "step": 1e-300}}, "parameters.fast"),  # no endless range
    ({"symbol": ["AAPL", "MS\u0000FT"]}, "parameters.symbol"),  # nothing Postgres's JSON cannot hold
])
def test_a_bad_space_is_refused_naming_the_parameter(api, strategy, parameters, path) -> None:
    response = api.post(sweeps_url(strategy), {"parameters": parameters})
    assert response.status_code == 400, response.content
    assert error(response)["issues"][0]["path"] == path
    assert not Sweep.objects.exists()


def test_a_seeded_random_sample_is_the_same_sample_again(api, strategy) -> None:
    body = {"parameters": {"fast": {"min": 2, "max": 15, "step": 1}, "slow": [20, 25, 30, 40]},
            "method": "random", "samples": 6, "seed": 42}
    drawn = []
    for _ in range(2):
        response = api.post(sweeps_url(strategy), body)
        assert response.status_code == 202, response.content
        sweep = Sweep.objects.get(pk=response.json()["sweep_id"])
        drawn.append([p.parameters["overrides"] for p in sweep.points.order_by("sweep_index")])
        assert api.delete(f"/api/v1/sweeps/{sweep.pk}/").json()["status"] == "cancelled"
    assert drawn[0] == drawn[1] and len(drawn[0]) == 6
    assert len({tuple(sorted(point.items())) for point in drawn[0]}) == 6  # distinct points of the grid


def test_progress_shows_points_done_of_total(api, strategy, settings) -> None:
    settings.BACKTEST_LOOKAHEAD_CHECK = False
    sweep_id = api.post(sweeps_url(strategy), {"parameters": GRID}).json()["sweep_id"]
    assert api.get(f"/api/v1/sweeps/{sweep_id}/").json()["progress"] == {"done": 0, "total": 4, "percent": 0.0}
    passed_on: list[int] = []
    sweep_step(sweep_id=int(sweep_id), enqueue=passed_on.append)  # one lane's turn: one point, then pass it on
    body = api.get(f"/api/v1/sweeps/{sweep_id}/").json()
    assert body["status"] == "running" and body["progress"] == {"done": 1, "total": 4, "percent": 25.0}
    assert passed_on == [int(sweep_id)]


def test_a_user_with_a_sweep_in_flight_gets_a_429(api, strategy) -> None:
    assert api.post(sweeps_url(strategy), {"parameters": GRID}).status_code == 202
    refused = api.post(sweeps_url(strategy), {"parameters": GRID})
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
    assert error(refused)["type"] == "throttled" and Sweep.objects.count() == 1


def test_a_sweeps_points_do_not_count_against_the_backtests_in_flight(api, strategy, settings) -> None:
    settings.BACKTESTS_IN_FLIGHT_PER_USER = 1
    assert api.post(sweeps_url(strategy), {"parameters": GRID}).status_code == 202
    assert api.post(f"/api/v1/strategies/{strategy.pk}/backtests/", {}).status_code == 202


def test_delete_cancels_a_sweep_and_its_waiting_points(api, strategy) -> None:
    sweep_id = api.post(sweeps_url(strategy), {"parameters": GRID}).json()["sweep_id"]
    response = api.delete(f"/api/v1/sweeps/{sweep_id}/")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    assert set(Backtest.objects.filter(sweep_id=sweep_id).values_list("status", flat=True)) == {"cancelled"}
    assert response.json()["progress"]["done"] == 4 and response.json()["trials"] == 0
    again = api.delete(f"/api/v1/sweeps/{sweep_id}/")  # a finished sweep stays as it ended
    assert again.status_code == 200 and again.json() == response.json()


def test_another_users_sweeps_are_404(api, bob, bobs_strategy) -> None:
    from strategies.backtests import default_data, sweep_create

    version = bobs_strategy.versions.get()
    config = version.config
    sweep = sweep_create(version=version, created_by=bob, data=default_data(config, None),
                         parameters={next(iter(config["parameters"])): [1, 2]})
    for response in (api.get(f"/api/v1/sweeps/{sweep.pk}/"), api.delete(f"/api/v1/sweeps/{sweep.pk}/"),
                     api.get(sweeps_url(bobs_strategy)), api.post(sweeps_url(bobs_strategy), {"parameters": GRID})):
        assert response.status_code == 404, response.content
    sweep.refresh_from_db()
    assert sweep.status == "queued" and not sweep.cancel_requested


def test_the_lanes_go_to_the_slow_lane_never_the_cycles_queue(api, strategy, redis_url,
                                                              django_capture_on_commit_callbacks) -> None:
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL.replace("redis+socket://", "unix://", 1))
    slow, cycles = settings.CELERY_SLOW_QUEUE, settings.CELERY_TASK_DEFAULT_QUEUE
    before = client.llen(slow), client.llen(cycles)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            assert api.post(sweeps_url(strategy), {"parameters": GRID}).status_code == 202
        assert client.llen(slow) - before[0] == settings.SWEEP_POINTS_AT_ONCE  # the lanes, no more
        assert client.llen(cycles) == before[1]
    finally:
        client.delete(slow)


def test_a_random_sample_of_a_space_too_large_to_list_draws_distinct_points(api, strategy) -> None:
    space = {"fast": list(range(1, 201)), "slow": list(range(1, 201)), "symbol": [f"S{index}" for index in range(200)]}
    response = api.post(sweeps_url(strategy), {"parameters": space, "method": "random", "samples": 7, "seed": 3})
    assert response.status_code == 202, response.content
    points = [p.parameters["overrides"] for p in Sweep.objects.get().points.all()]
    assert len({tuple(sorted(point.items())) for point in points}) == 7
