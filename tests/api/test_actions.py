"""Pause, Enable, Test Run (a dry run, answered with its result) and Run now (202, a queued execution)."""

from __future__ import annotations

import pytest

from strategies.models import Execution, Strategy
from strategies.services import strategy_deploy
from strategies.tasks import execution_cycle
from tests.api.conftest import error, kalshi_files

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("venues_on_simulator")]

BUYER = """\
from strategies.sdk import EntrySignal


def should_enter(ctx):
    ctx.log("buying the fed market")
    return [EntrySignal(market_id="KXSIMFED-26DEC31-T4.00", side="yes", reason="test", confidence=0.7,
                        limit_price=0.65)]
"""


def buyer_files():
    files = kalshi_files(name="Buyer")
    files["entry.py"] = BUYER
    return files


@pytest.fixture
def approved(alice, staff) -> Strategy:
    return strategy_deploy(owner=alice, files=buyer_files(), approve_by=staff).strategy


def test_pause_then_enable(api, approved) -> None:
    response = api.post(f"/api/v1/strategies/{approved.pk}/pause/", {"reason": "investigating"})
    assert response.status_code == 200
    assert (response.json()["enabled"], response.json()["paused_reason"]) == (False, "investigating")
    response = api.post(f"/api/v1/strategies/{approved.pk}/enable/")
    assert response.status_code == 200 and response.json()["enabled"] and response.json()["next_run_at"]


def test_test_run_is_a_dry_run_with_its_result_in_the_answer(api, alice) -> None:
    pending = strategy_deploy(owner=alice, files=buyer_files()).strategy  # not approved: a dry run is allowed
    response = api.post(f"/api/v1/strategies/{pending.pk}/test-run/")
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["trigger"]) == ("succeeded", "dry_run")
    assert [a["kind"] for a in body["actions"]] == ["order_would_place"]
    assert body["logs"][1]["message"] == "buying the fed market"  # after the worker's "run started"
    assert not pending.orders.exists() and not pending.positions.exists()


def test_run_now_queues_an_execution_and_answers_202(api, approved) -> None:
    response = api.post(f"/api/v1/strategies/{approved.pk}/run/")
    assert response.status_code == 202
    body = response.json()
    execution = Execution.objects.get(pk=body["execution_id"])
    assert (execution.status, execution.trigger, body["status"]) == ("queued", "manual", "queued")
    assert response["Location"] == f"/api/v1/executions/{execution.pk}/"
    execution_cycle(execution.pk)  # what the worker does with the task sent on commit
    detail = api.get(f"/api/v1/executions/{execution.pk}/").json()
    assert detail["status"] == "succeeded" and [a["kind"] for a in detail["actions"]] == ["order_placed"]


def test_run_now_while_a_cycle_is_queued_is_409_already_running(api, approved) -> None:
    first = api.post(f"/api/v1/strategies/{approved.pk}/run/").json()
    response = api.post(f"/api/v1/strategies/{approved.pk}/run/")
    assert response.status_code == 409
    body = error(response)
    assert body["type"] == "already_running" and first["execution_id"] in body["message"]
    assert Execution.objects.filter(strategy=approved).count() == 1


def test_run_now_of_an_unapproved_or_paused_strategy_is_409_not_runnable(api, alice, approved) -> None:
    pending = strategy_deploy(owner=alice, files=kalshi_files()).strategy
    response = api.post(f"/api/v1/strategies/{pending.pk}/run/")
    assert response.status_code == 409 and error(response)["type"] == "not_runnable"
    api.post(f"/api/v1/strategies/{approved.pk}/pause/")
    response = api.post(f"/api/v1/strategies/{approved.pk}/run/")
    assert response.status_code == 409 and "paused" in error(response)["message"]


def test_a_read_key_can_do_none_of_them(reader, approved) -> None:
    for action in ("pause", "enable", "test-run", "run"):
        response = reader.post(f"/api/v1/strategies/{approved.pk}/{action}/")
        assert response.status_code == 403, action
        assert error(response)["type"] == "permission_denied"
    approved.refresh_from_db()
    assert approved.enabled and not approved.executions.exists()
