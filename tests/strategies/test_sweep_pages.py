"""The Backtests tab's sweep form: a sweep started there, its progress (the section polls itself while it runs), the
ranking with the trials, the deflated Sharpe and the out-of-sample check; refusals named; another user sees none."""

from __future__ import annotations

import pytest
from django.test import Client

from strategies.backtests import sweep_step
from strategies.models import Sweep
from strategies.services import strategy_deploy
from tests.api.test_backtests import sma_on_aapl

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("venues_on_simulator")]
GRID = '{"fast": [5, 10], "slow": [20, 30]}'


def test_the_tab_offers_a_sweep_of_the_configs_own_parameters(client: Client, alice) -> None:
    strategy = strategy_deploy(owner=alice, files=sma_on_aapl()).strategy
    client.force_login(alice)
    html = client.get(f"/strategies/{strategy.pk}/backtests/").content.decode()
    assert "data-sweep-form" in html and "at most 200 points" in html
    assert '{&quot;fast&quot;: [5, 10, 20], &quot;slow&quot;: [10, 20, 40]}' in html  # a start, from config.json


def test_a_sweep_started_on_the_tab_shows_its_progress_then_the_ranking(client: Client, alice, settings) -> None:
    settings.BACKTEST_LOOKAHEAD_CHECK = False
    strategy = strategy_deploy(owner=alice, files=sma_on_aapl()).strategy
    client.force_login(alice)
    response = client.post(f"/strategies/{strategy.pk}/backtests/sweeps/start/",
                           {"parameters": GRID, "method": "grid", "metric": "sortino", "holdout": "0.3",
                            "cash": "10,000"})
    sweep = Sweep.objects.get(strategy=strategy)
    assert response.status_code == 302 and response["Location"].endswith(f"/backtests/?sweep={sweep.pk}")
    assert sweep.metric == "sortino" and sweep.holdout == 0.3 and sweep.total == 4

    html = client.get(response["Location"]).content.decode()
    assert f'data-sweep="{sweep.pk}" data-status="queued"' in html
    assert f'hx-get="/strategies/{strategy.pk}/backtests/sweeps/{sweep.pk}/" hx-trigger="every 2s"' in html
    assert "0 of 4 points done" in html

    sweep_step(sweep_id=sweep.pk, enqueue=lambda _: None)  # one lane's turn: one point
    partial = client.get(f"/strategies/{strategy.pk}/backtests/sweeps/{sweep.pk}/").content.decode()
    assert 'data-status="running"' in partial and "1 of 4 points done (25.0 %)" in partial

    for _ in range(3):  # the other three points; the last turn ranks the sweep
        sweep_step(sweep_id=sweep.pk, enqueue=lambda _: None)
    sweep.refresh_from_db()
    assert sweep.status == "succeeded", sweep.error
    partial = client.get(f"/strategies/{strategy.pk}/backtests/sweeps/{sweep.pk}/").content.decode()
    assert "hx-trigger" not in partial  # finished: no more polling
    polled = client.get(f"/strategies/{strategy.pk}/backtests/sweeps/{sweep.pk}/", headers={"HX-Request": "true"})
    assert polled["HX-Refresh"] == "true"  # the last poll reloads the page, its lists with it
    assert "4 of 4 points done" in partial and '<dd data-sweep-trials>4</dd>' in partial
    assert "data-sweep-dsr" in partial and "data-sweep-luck" in partial and "data-sweep-oos-return" in partial
    assert partial.count("<tr><td><a href=\"?backtest=") == 4
    page = client.get(f"/strategies/{strategy.pk}/backtests/").content.decode()
    assert "data-sweep-list" in page and f'<a href="?sweep={sweep.pk}">{sweep.pk}</a>' in page
    assert "No backtests yet" in page  # a sweep's points are not listed as the strategy's own backtests


@pytest.mark.parametrize(("form", "message"), [
    ({"parameters": "{fast: [5]}"}, "parameters: not JSON"),
    ({"parameters": '{"fast": [5, 8, 10, 12]}'}, "parameters.fast: 4 values, more than SWEEP_MAX_POINTS (3)"),
    ({"parameters": '{"fast": [5, 8], "slow": [20, 30]}'}, "parameters: the grid has 4 points, more than"),
    ({"parameters": '{"fast": {"min": 2, "max": 20}}', "method": "random", "samples": "9"},
     "samples: at most SWEEP_MAX_POINTS (3)"),
    ({"parameters": '{"fast": [5]}', "holdout": "lots"}, "holdout must be a number"),
])
def test_a_bad_sweep_form_says_which_field_and_starts_nothing(client: Client, alice, settings, form,
                                                              message) -> None:
    settings.SWEEP_MAX_POINTS = 3
    strategy = strategy_deploy(owner=alice, files=sma_on_aapl()).strategy
    client.force_login(alice)
    response = client.post(f"/strategies/{strategy.pk}/backtests/sweeps/start/", form)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Sweep.objects.exists()


def test_another_user_sees_no_sweep_of_it(client: Client, alice, make_user) -> None:
    strategy = strategy_deploy(owner=alice, files=sma_on_aapl()).strategy
    client.force_login(alice)
    client.post(f"/strategies/{strategy.pk}/backtests/sweeps/start/", {"parameters": GRID})
    sweep = Sweep.objects.get()
    client.force_login(make_user("mallory"))
    assert client.get(f"/strategies/{strategy.pk}/backtests/sweeps/{sweep.pk}/").status_code == 404
    assert client.post(f"/strategies/{strategy.pk}/backtests/sweeps/start/", {"parameters": GRID}).status_code == 404
    assert Sweep.objects.count() == 1
