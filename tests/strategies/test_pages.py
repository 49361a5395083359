"""The /strategies page, the front door, the health check and the published schema."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from strategies.services import strategy_deploy
from strategies.validation import strategy_files_validate
from tests.conftest import example_files

pytestmark = pytest.mark.django_db


def test_strategies_needs_a_login(client: Client) -> None:
    response = client.get("/strategies/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/strategies/"


def test_a_user_logs_in_and_sees_their_strategies_with_status_and_schedule(client: Client, alice, staff) -> None:
    strategy_deploy(owner=alice, files=example_files("polymarket_copy_trader"), approve_by=staff)
    strategy_deploy(owner=alice, files=example_files("kalshi_favourite_longshot"))
    response = client.post(
        "/accounts/login/", {"username": "alice", "password": "pw-for-tests-1", "next": "/strategies/"}
    )
    assert response.status_code == 302 and response["Location"] == "/strategies/"
    page = client.get("/strategies/").content.decode()
    assert "Polymarket Copy Trader" in page and "Kalshi Favourite-Longshot" in page
    assert "Runs every 60 seconds" in page and "Runs every 5 minutes" in page
    assert ">Active<" in page and ">Pending approval<" in page


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/", "javascript:alert(1)"])
def test_a_login_never_follows_next_off_this_site(client: Client, alice, target: str) -> None:
    response = client.post("/accounts/login/", {"username": "alice", "password": "pw-for-tests-1", "next": target})
    assert response.status_code == 302 and response["Location"] == "/strategies/"


def test_users_see_only_their_own_strategies(client: Client, alice, make_user) -> None:
    bob = make_user("bob")
    strategy_deploy(owner=bob, files=example_files("alpaca_mean_reversion"))
    client.force_login(alice)
    page = client.get("/strategies/").content.decode()
    assert "Alpaca ETF Mean Reversion" not in page
    assert "No strategies yet" in page


def test_a_wrong_password_is_refused(client: Client, alice) -> None:
    response = client.post("/accounts/login/", {"username": "alice", "password": "wrong"})
    assert response.status_code == 200
    assert "Your username and password didn't match" in response.content.decode()


def test_the_config_schema_is_published_and_is_the_one_enforced(client: Client) -> None:
    response = client.get("/api/v1/schema/strategy-config.json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert set(schema["required"]) == {"name", "thesis", "platform", "polling_interval", "capital"}
    assert schema["properties"]["polling_interval"]["minimum"] == 5
    config = json.loads(example_files("kalshi_favourite_longshot")["config.json"])
    assert strategy_files_validate(example_files("kalshi_favourite_longshot")).config == config


def test_the_health_check_touches_the_database(client: Client) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}


def test_the_favicon_is_linked_from_every_page_and_answered_at_favicon_ico(client: Client, alice) -> None:
    client.force_login(alice)
    page = client.get("/strategies/").content.decode()
    assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in page
    response = client.get("/favicon.ico")  # what browsers ask for on their own, whatever the page links
    assert response.status_code == 302 and response["Location"] == "/static/favicon.svg"
    icon = client.get(response["Location"])
    assert icon.status_code == 200 and icon["Content-Type"] == "image/svg+xml"


def test_the_openapi_schema_is_served(client: Client, alice) -> None:
    client.force_login(alice)
    response = client.get("/api/v1/schema/")
    assert response.status_code == 200
    assert b"StrategyHub API" in response.content


def test_live_activity_follows_its_strategy_after_loading_its_recent_runs(
        client: Client, alice, make_user, venues_on_simulator) -> None:
    from strategies.cycle.run import execution_run

    strategy = strategy_deploy(owner=alice, files=example_files("kalshi_favourite_longshot")).strategy
    run = execution_run(strategy_id=strategy.pk, trigger="manual", dry_run=True)
    client.force_login(alice)
    page = client.get(f"/strategies/{strategy.pk}/live/").content.decode()
    assert f'data-live-strategy="{strategy.pk}"' in page and "/static/js/live.js" in page
    history = client.get(f"/strategies/{strategy.pk}/activity.json").json()
    [event] = history["executions"]  # the websocket's event shape, so the page de-duplicates both alike
    assert event["execution"]["id"] == str(run.pk) and event["execution"]["status"] == "succeeded"
    assert [line["seq"] for line in event["logs"]] == list(range(1, run.logs.count() + 1))

    client.force_login(make_user("mallory"))
    assert client.get(f"/strategies/{strategy.pk}/activity.json").status_code == 404  # not theirs
